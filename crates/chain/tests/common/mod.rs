//! Helpers shared by the chain's tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use fat_attestation::dev::DevQuoter;
use fat_attestation::{DEV_MEASUREMENT, Quoter, WorkerKeys, report_data};
use fat_chain::genesis::DEV_SEQUENCER;
use fat_chain::{Genesis, ManualClock, Node, NodeConfig};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::{
    Attestation, Hash32, Outcome, SignedTransaction, Transaction, TxKind, TxRejection, WorkerId,
};

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("fat-chain-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn open_with(dir: &TempDir, genesis: Genesis, mempool_limit: usize) -> Node {
    let config = NodeConfig {
        data_dir: dir.0.clone(),
        genesis,
        mempool_limit,
    };
    Node::open(
        config,
        Some(dev_keypair(DEV_SEQUENCER)),
        Arc::new(ManualClock::new(1_767_225_700_000)),
    )
    .unwrap()
}

pub fn open(dir: &TempDir) -> Node {
    open_with(dir, fat_chain::genesis::dev(), 1000)
}

/// The dev chain's id.
pub fn dev_chain() -> Hash32 {
    static ID: std::sync::OnceLock<Hash32> = std::sync::OnceLock::new();
    *ID.get_or_init(|| fat_chain::genesis::chain_id(&fat_chain::genesis::dev()))
}

/// A transaction for the dev chain.
pub fn sign(key: &Keypair, nonce: u64, kind: TxKind) -> SignedTransaction {
    sign_for(dev_chain(), key, nonce, kind)
}

/// A transaction for the chain `chain`, offering the least fee the dev chain's parameters
/// ask of it.
pub fn sign_for(chain: Hash32, key: &Keypair, nonce: u64, kind: TxKind) -> SignedTransaction {
    key.sign_tx(fat_chain::genesis::dev().params.priced(Transaction {
        chain,
        signer: key.account_id(),
        nonce,
        fee: 0,
        kind,
    }))
}

pub fn alice() -> Keypair {
    dev_keypair("alice")
}

pub fn bob() -> Keypair {
    dev_keypair("bob")
}

pub fn gatekeeper() -> Keypair {
    dev_keypair(fat_chain::genesis::DEV_GATEKEEPER)
}

/// Worker `n`'s ed25519 identity key.
pub fn worker_key(n: u8) -> Keypair {
    dev_keypair(&format!("worker-{n}"))
}

/// Worker `n`'s id (its identity key).
pub fn worker_id(n: u8) -> WorkerId {
    WorkerId(worker_key(n).account_id().0)
}

/// Worker `n`'s x25519 key (any 32 bytes do for the chain).
pub fn worker_ecdh(n: u8) -> Hash32 {
    Hash32([n; 32])
}

/// A dev report signed by `identity`, claiming `measurement`, whose report data commits to
/// `committed` (the keys the worker registers, unless a test says otherwise).
pub fn dev_report(identity: &Keypair, committed: &WorkerKeys, measurement: &[u8]) -> Attestation {
    DevQuoter::new(identity.clone(), measurement.to_vec())
        .quote(&report_data(committed))
        .unwrap()
}

/// A `RegisterWorker` of `identity` with `ecdh_public`, carrying a valid dev report (the dev
/// measurement, report data committing to both keys).
pub fn register_worker_with(identity: &Keypair, ecdh_public: Hash32) -> TxKind {
    let worker = WorkerId(identity.account_id().0);
    let keys = WorkerKeys {
        identity: worker.0,
        ecdh: ecdh_public.0,
    };
    TxKind::RegisterWorker {
        worker,
        ecdh_public,
        attestation: dev_report(identity, &keys, DEV_MEASUREMENT),
    }
}

/// The `RegisterWorker` of worker `n` (see [`worker_key`], [`worker_ecdh`]).
pub fn register_worker(n: u8) -> TxKind {
    register_worker_with(&worker_key(n), worker_ecdh(n))
}

/// The outcomes of the block at `height`, in order.
pub fn outcomes(node: &Node, height: u64) -> Vec<Outcome> {
    node.store()
        .receipts(height)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}

/// Produce a block and return its outcomes.
pub fn produce(node: &Node) -> Vec<Outcome> {
    let header = node.produce_block().unwrap().unwrap();
    outcomes(node, header.height)
}

/// The reason of an `AttestationRejected`, or a panic naming what came instead.
pub fn attestation_reason(result: Result<fat_types::TxId, TxRejection>) -> String {
    match result {
        Err(TxRejection::AttestationRejected { provider, reason }) => {
            assert_eq!(provider, "dev");
            reason
        }
        other => panic!("expected attestation_rejected, got {other:?}"),
    }
}

/// A WebAssembly component of exactly `size` bytes (at least 16): the component preamble and
/// one custom section, which validation skips. The chain stores only code that validates.
pub fn component(size: usize) -> fat_types::Bytes {
    const PREAMBLE: &[u8] = b"\0asm\x0d\x00\x01\x00";
    assert!(size >= 16, "a component of {size} bytes is too small");
    // A custom section: id 0, its length as a 5-byte LEB128 (padded, as the format
    // allows), the name "x" with its length, then zeros.
    let length = u32::try_from(size - 14).expect("a component under 4 GiB");
    let mut out = PREAMBLE.to_vec();
    out.push(0);
    for shift in [0, 7, 14, 21] {
        out.push(((length >> shift) & 0x7f) as u8 | 0x80);
    }
    out.push((length >> 28) as u8);
    out.extend([1, b'x']);
    out.resize(size, 0);
    fat_types::Bytes(out)
}
