//! Helpers shared by the chain's tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use fat_chain::genesis::DEV_SEQUENCER;
use fat_chain::{Genesis, ManualClock, Node, NodeConfig};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::{SignedTransaction, Transaction, TxKind};

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
    open_with(dir, Genesis::dev(), 1000)
}

pub fn sign(key: &Keypair, nonce: u64, kind: TxKind) -> SignedTransaction {
    key.sign_tx(Transaction {
        signer: key.account_id(),
        nonce,
        fee: 1,
        kind,
    })
}

pub fn alice() -> Keypair {
    dev_keypair("alice")
}

pub fn bob() -> Keypair {
    dev_keypair("bob")
}
