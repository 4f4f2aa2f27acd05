//! What every part of a worker shares: its store, runtime, keys, caches and the small state
//! of group commit and query sessions.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fat_attestation::seal::Sealer;
use fat_crypto::Keypair;
use fat_crypto::envelope::{ReplayGuard, ReplyNonces};
use fat_executor::CodeProvider;
use fat_runtime::{Code, MemoryCache, Runtime};
use fat_types::genesis::ChainParams;
use fat_types::{BlockHeader, Clock, CodeHash, ContractId, Hash32, WorkerId};
use tokio::sync::watch;

use crate::admission::Admission;
use crate::error::{Result, WorkerError};
use crate::keys::{Keyring, WorkerSecrets};
use crate::sessions::Sessions;
use crate::store::Store;

/// Commits not yet durable: how many, and since when; and the flush making the earlier ones
/// durable, when one runs in the background.
#[derive(Debug, Default)]
pub(crate) struct Unflushed {
    pub(crate) blocks: u32,
    pub(crate) since: Option<Instant>,
    pub(crate) flush: Option<tokio::task::JoinHandle<Result<()>>>,
}

/// The state behind a [`crate::Worker`] handle.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) runtime: Runtime,
    pub(crate) key: Keypair,
    pub(crate) secrets: WorkerSecrets,
    pub(crate) keyring: Arc<Keyring>,
    /// The key agreements of the command sessions seen lately (see
    /// [`fat_executor::Keys::agreements`]).
    pub(crate) agreements: fat_crypto::envelope::Agreements,
    pub(crate) sealer: Arc<dyn Sealer>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) replay: Mutex<ReplayGuard>,
    /// Query sessions kept for further queries.
    pub(crate) sessions: Mutex<Sessions>,
    /// The nonces of this run's session replies: never one used before, whatever arrives.
    pub(crate) reply_nonces: ReplyNonces,
    /// When this worker opened (its clock's milliseconds): a session message stamped before
    /// that belongs to its previous run, whose sessions and replay guard it no longer has.
    pub(crate) started_ms: u64,
    /// The latest time [`crate::Worker`]'s `now_ms` read: it never goes back.
    pub(crate) latest_ms: AtomicU64,
    pub(crate) unflushed: Mutex<Unflushed>,
    /// Held while a receipt's block is made durable on demand.
    pub(crate) flushing: tokio::sync::Mutex<()>,
    pub(crate) plaintext_queries: bool,
    pub(crate) cache: Arc<MemoryCache>,
    pub(crate) head: watch::Sender<Option<BlockHeader>>,
    pub(crate) admission: Admission,
    pub(crate) closing: watch::Sender<bool>,
    pub(crate) genesis: Option<Hash32>,
    /// The parameters of the chain followed (its genesis's; the defaults until it is read):
    /// the executor bounds gas by them.
    pub(crate) params: Mutex<ChainParams>,
    /// The chain node followed, once following starts: where cluster members are looked up.
    pub(crate) chain: Mutex<Option<fat_proto::ChainApi>>,
    /// Cluster members as last looked up.
    pub(crate) members: crate::jobs::MemberCache,
    /// Jobs run at once here (and given to each other member by a query of this worker).
    pub(crate) job_slots: usize,
    /// Jobs running or waiting here.
    pub(crate) job_admission: Admission,
    /// Test-only fault: corrupt the output of jobs run for other workers.
    pub(crate) corrupt_jobs: bool,
    /// Test-only fault: tamper with the state sent to joining members.
    pub(crate) corrupt_snapshots: Option<crate::sync::SnapshotFault>,
    /// One snapshot is read for another member at a time; others are answered "busy".
    pub(crate) snapshot_slot: tokio::sync::Semaphore,
    /// When the next try to receive a joined cluster's contracts is due, after one failed.
    pub(crate) sync_retry: Mutex<Option<(std::time::Instant, std::time::Duration)>>,
    /// Whether some joined cluster may still wait for its contracts' state (set when a block
    /// joins a cluster or provisions a key, cleared when none waits).
    pub(crate) maybe_sync: std::sync::atomic::AtomicBool,
    /// Queries publishing the progress of their jobs.
    pub(crate) progress: crate::jobs::ProgressBoard,
}

impl Inner {
    pub(crate) fn worker_id(&self) -> WorkerId {
        worker_id(&self.key)
    }

    /// Which of `contracts` this worker runs as of its last commit: the follower checks the
    /// signatures of commands to these. All of them when the store cannot tell, so that no
    /// command goes unchecked for a failed read.
    pub(crate) fn runs(&self, contracts: &BTreeSet<ContractId>) -> BTreeSet<ContractId> {
        let runs = || -> Result<BTreeSet<ContractId>> {
            let snapshot = self.store.snapshot()?;
            let mut runs = BTreeSet::new();
            for contract in contracts {
                if let Some(record) = snapshot.contract(contract)?
                    && snapshot.is_member(&record.info.cluster)?
                {
                    runs.insert(*contract);
                }
            }
            Ok(runs)
        };
        runs().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read which contracts this worker runs; checking every command's signature");
            contracts.clone()
        })
    }

    /// The compiled code of `hash`: from memory, else compiled from the store.
    pub(crate) fn code(&self, hash: &CodeHash) -> Result<Arc<Code>> {
        if let Some(code) = self.cached(hash) {
            return Ok(code);
        }
        let bytes = self
            .store
            .snapshot()?
            .code(hash)?
            .ok_or_else(|| WorkerError::Corrupt(format!("code {hash} missing")))?;
        Ok(self.compile(hash, &bytes)?)
    }
}

impl crate::worker::Worker {
    /// The compiled code of `hash`. Code not in memory is compiled from the store on a
    /// blocking thread: compiling takes milliseconds to seconds, which must not hold one of
    /// the threads serving requests and following the chain.
    pub(crate) async fn code(&self, hash: &CodeHash) -> Result<Arc<Code>> {
        if let Some(code) = self.inner.cached(hash) {
            return Ok(code);
        }
        let (worker, hash) = (self.clone(), *hash);
        tokio::task::spawn_blocking(move || worker.inner.code(&hash))
            .await
            .map_err(|e| WorkerError::Corrupt(format!("compile task: {e}")))?
    }
}

/// The worker's code cache, for the executor and for queries.
impl CodeProvider for Inner {
    fn cached(&self, hash: &CodeHash) -> Option<Arc<Code>> {
        self.runtime.cached(hash)
    }

    fn compile(&self, hash: &CodeHash, wasm: &[u8]) -> fat_runtime::Result<Arc<Code>> {
        let code = self.runtime.load(wasm)?;
        // Bytes read from the operator's disk must be the code they are named by (the
        // runtime's cache keys code by the hash of its bytes, never by a name it was given).
        if code.hash() != *hash {
            return Err(fat_runtime::Error::Store(format!(
                "the code stored as {hash} hashes to {}: the store was altered; refusing to run it",
                code.hash()
            )));
        }
        Ok(code)
    }
}

/// The worker id of a key pair.
pub(crate) fn worker_id(key: &Keypair) -> WorkerId {
    WorkerId(key.account_id().0)
}
