//! Applying verified blocks: execute (with [`fat_executor`]), seal the cluster keys a block
//! provisions, commit in groups, announce.
//!
//! A block commits atomically with its header, without waiting for the disk. After every
//! [`GROUP_COMMIT_BLOCKS`]th block (or one after [`GROUP_COMMIT_WINDOW`]) a flush makes the
//! commits so far durable in the background, while the next block executes (the next commit
//! waits for it); the follower also makes what it applied durable when no block follows for a
//! few milliseconds, and when it stops. A crash loses only commits not yet durable, and they
//! re-execute identically.
//!
//! A signed receipt leaves the worker only from a durable block ([`Worker::receipt`]): one
//! asked for above the durable height is made durable first, by one flush that serves every
//! request waiting for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fat_consensus::{CheckedCommands, TxIds};
use fat_executor::{Executor, Keys};
use fat_runtime::Cache;
use fat_types::{Block, ChainReceipt, SignedExecutionReceipt, TxId};

use crate::error::{Result, WorkerError};
use crate::keys::seal_cluster_key;
use crate::shared::{Inner, Unflushed};
use crate::store::BlockChanges;
use crate::worker::Worker;

/// After at most this many blocks not yet durable, a flush starts in the background.
const GROUP_COMMIT_BLOCKS: u32 = 64;
/// A block applied this long after the first that is not yet durable starts a flush in the
/// background, while blocks keep coming.
const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(50);

impl Worker {
    /// Apply one block with the chain's receipts of its transactions, checking them against
    /// its header, and the signatures of the commands this worker runs. The links, the
    /// certificate and every other transaction's signature are a follower's to check: this is
    /// for blocks a follower has accepted (as `Worker::follow` applies them) or that the
    /// caller trusts.
    pub async fn apply_block(&self, block: &Block, receipts: &[ChainReceipt]) -> Result<()> {
        let ids = TxIds::unhashed(&block.txs);
        self.apply_block_with_ids(block, receipts, &ids, CheckedCommands::default())
            .await
    }

    /// [`Worker::apply_block`] with the ids of the block's transactions the follower hashed
    /// to check their signatures, and what the signatures of the commands it checked came to.
    pub(crate) async fn apply_block_with_ids(
        &self,
        block: &Block,
        receipts: &[ChainReceipt],
        ids: &TxIds,
        checked: CheckedCommands,
    ) -> Result<()> {
        let height = block.header.height;
        self.flushed_in_background(false).await?;
        self.compile_ahead(block).await?;
        let inner = &*self.inner;
        let mut store_changes = execute(inner, block, receipts, ids, checked).await?;
        let cache_ops = std::mem::take(&mut store_changes.cache_ops);
        if !store_changes.clusters.is_empty() || !store_changes.cluster_keys.is_empty() {
            inner
                .maybe_sync
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let receipts = {
            let worker = self.clone();
            let header = block.header.clone();
            blocking(move || worker.inner.store.commit(&header, store_changes, false)).await?
        };
        {
            let mut unflushed = inner.unflushed.lock().expect("unflushed lock");
            unflushed.blocks += 1;
            let since = *unflushed.since.get_or_insert_with(Instant::now);
            let due =
                unflushed.blocks >= GROUP_COMMIT_BLOCKS || since.elapsed() >= GROUP_COMMIT_WINDOW;
            // One flush at a time: while one runs, the blocks wait for the next.
            if due && unflushed.flush.is_none() {
                *unflushed = Unflushed {
                    flush: Some(self.start_flush()),
                    ..Unflushed::default()
                };
            }
        }
        let now = block.header.timestamp_ms;
        for (contract, ops) in cache_ops {
            inner.cache.apply(&contract, &ops, now);
        }
        tracing::debug!(height, receipts = receipts.len(), "applied block");
        inner.head.send_replace(Some(block.header.clone()));
        Ok(())
    }

    /// Compile, on a blocking thread, the code `block` uploads or will run that is not in
    /// memory, so the executor (which runs on the thread following the chain) finds it
    /// compiled. Code that fails to compile here is left to the executor, which fails the
    /// call that needs it as every worker does.
    async fn compile_ahead(&self, block: &Block) -> Result<()> {
        use fat_executor::CodeProvider;
        use fat_types::TxKind;
        use std::collections::BTreeSet;
        let inner = &*self.inner;
        let mut uploads = Vec::new();
        let mut stored = BTreeSet::new();
        let mut contracts = BTreeSet::new();
        for tx in &block.txs {
            match &tx.tx.kind {
                TxKind::UploadCode { code } => uploads.push(code.clone()),
                TxKind::Instantiate { code_hash, .. } => {
                    stored.insert(*code_hash);
                }
                TxKind::Command { contract, .. } => {
                    contracts.insert(*contract);
                }
                _ => {}
            }
        }
        if !contracts.is_empty() {
            let snapshot = inner.store.snapshot()?;
            for contract in &contracts {
                if let Some(record) = snapshot.contract(contract)? {
                    stored.insert(record.info.code_hash);
                }
            }
        }
        stored.retain(|h| inner.cached(h).is_none());
        if uploads.is_empty() && stored.is_empty() {
            return Ok(());
        }
        let worker = self.clone();
        tokio::task::spawn_blocking(move || {
            // `load` hashes the bytes and keeps what it compiles, so code uploaded here is
            // found in memory below.
            for code in uploads {
                let _ = worker.inner.runtime.load(&code.0);
            }
            for hash in stored {
                let _ = worker.inner.code(&hash);
            }
        })
        .await
        .map_err(|e| WorkerError::Corrupt(format!("compile task: {e}")))
    }

    /// The result of the flush running in the background, if there is one: once it is done,
    /// or, with `wait`, when it is done. A flush that failed fails what comes next.
    async fn flushed_in_background(&self, wait: bool) -> Result<()> {
        let flush = {
            let mut unflushed = self.inner.unflushed.lock().expect("unflushed lock");
            match &unflushed.flush {
                Some(flush) if wait || flush.is_finished() => unflushed.flush.take(),
                _ => None,
            }
        };
        match flush {
            Some(flush) => finish_flush(flush).await,
            None => Ok(()),
        }
    }

    /// Start making every commit so far durable, on a blocking thread.
    fn start_flush(&self) -> tokio::task::JoinHandle<Result<()>> {
        let worker = self.clone();
        tokio::task::spawn_blocking(move || worker.inner.store.flush())
    }

    /// Make every block applied so far durable on disk (blocks commit without waiting for
    /// the disk and are made durable in groups, in the background: see the module's notes).
    pub async fn flush(&self) -> Result<()> {
        self.flushed_in_background(true).await?;
        {
            let mut unflushed = self.inner.unflushed.lock().expect("unflushed lock");
            unflushed.since = None;
            unflushed.blocks = 0;
        }
        // By the durable height, not by the count of blocks: a background flush whose
        // result was lost (it failed, or whoever waited for it was cancelled) counted its
        // blocks as flushed.
        let head = self.head().map_or(0, |h| h.height);
        if self.durable_height() >= head {
            return Ok(());
        }
        finish_flush(self.start_flush()).await
    }

    /// The height of the last block durable on disk: a crash keeps it and every block
    /// before; blocks above it (applied, visible to queries) would execute again.
    pub fn durable_height(&self) -> u64 {
        self.inner.store.durable_height()
    }

    /// The signed receipt of a transaction this worker executed in block `height`, once
    /// that block is durable: a receipt of a block above the durable height is made durable
    /// first, so a receipt handed out never changes or disappears after a crash. `None` when
    /// the worker executed no such transaction in that block; [`WorkerError::Behind`] when it
    /// has not applied that block yet.
    ///
    /// The receipt is signed here, as it leaves: the store keeps it with a MAC that only
    /// this worker can make, checked before signing, so what the worker signs is what it
    /// executed. ed25519 signatures are deterministic: the same receipt, the same bytes.
    pub async fn receipt(&self, tx: &TxId, height: u64) -> Result<Option<SignedExecutionReceipt>> {
        let snapshot = self.inner.store.snapshot()?;
        let Some(receipt) = snapshot.receipt(tx, height)? else {
            if snapshot
                .started_head()?
                .is_none_or(|head| head.height < height)
            {
                return Err(WorkerError::Behind { height });
            }
            return Ok(None);
        };
        self.make_durable(receipt.height).await?;
        let signature = self.inner.key.sign(receipt.hash().as_bytes());
        Ok(Some(SignedExecutionReceipt {
            receipt,
            worker: self.id(),
            signature,
        }))
    }

    /// Make the blocks through `height` (all applied) durable, unless they already are; one
    /// flush at a time, so the requests waiting together share it.
    async fn make_durable(&self, height: u64) -> Result<()> {
        if self.durable_height() >= height {
            return Ok(());
        }
        let _one = self.inner.flushing.lock().await;
        if self.durable_height() >= height {
            return Ok(());
        }
        // A flush running in the background may cover the block already.
        self.flushed_in_background(true).await?;
        if self.durable_height() >= height {
            return Ok(());
        }
        finish_flush(self.start_flush()).await
    }

    /// Whether some applied blocks are not durable yet, or a flush runs in the background.
    pub(crate) fn has_unflushed(&self) -> bool {
        let unflushed = self.inner.unflushed.lock().expect("unflushed lock");
        unflushed.blocks > 0 || unflushed.flush.is_some()
    }
}

/// Run `commit`, which blocks on the store, for the task applying blocks, which waits for it
/// anyway. On a multi-threaded runtime it runs on this very thread (`block_in_place`), so the
/// task is not parked and woken again once a blocking thread is done: in session 24 the
/// worker bench's `commands` profile, on a busy 2-core machine, measured 0.35 to 0.5 ms of
/// that a block of 100 commands. On a worker thread the runtime gives the thread's other
/// tasks to another thread meanwhile; under `Runtime::block_on` (as `fat worker` follows the
/// chain) the futures polled beside this one wait for the commit, which may wait for a
/// background flush. A single-threaded runtime has no other thread for its tasks, so there
/// the commit runs on a blocking thread. Either way a panic of `commit` comes back as an
/// error, as from a task.
async fn blocking<T: Send + 'static>(
    commit: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let failed = |e: String| WorkerError::Corrupt(format!("commit task: {e}"));
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        return tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(commit))
                .map_err(|panic| failed(panic_message(&*panic)))?
        });
    }
    tokio::task::spawn_blocking(commit)
        .await
        .map_err(|e| failed(e.to_string()))?
}

/// What a caught panic says, as a task's join error says it.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic");
    format!("task panicked with message {message:?}")
}

/// The result of a flush started by [`Worker::start_flush`], once it is done.
async fn finish_flush(flush: tokio::task::JoinHandle<Result<()>>) -> Result<()> {
    flush
        .await
        .map_err(|e| WorkerError::Corrupt(format!("flush task: {e}")))?
}

/// Execute `block` on the committed state, then seal the cluster keys it provisioned and add
/// them to the keyring (the store encrypts the new contracts' state with them).
async fn execute(
    inner: &Inner,
    block: &Block,
    receipts: &[ChainReceipt],
    ids: &TxIds,
    checked: CheckedCommands,
) -> Result<BlockChanges> {
    let keys = Keys {
        identity: &inner.key,
        ecdh: &inner.secrets.ecdh,
        clusters: &*inner.keyring,
        agreements: &inner.agreements,
    };
    let snapshot = Arc::new(inner.store.snapshot()?);
    let params = inner.params.lock().expect("params lock").clone();
    let executed = Executor::new(&inner.runtime, inner, keys)
        .with_params(&params)
        .apply_block_with_ids(snapshot, block, receipts, ids, checked)
        .await?;
    let mut opened = Vec::new();
    let changes = executed.map_keys(|cluster, key| {
        let sealed = seal_cluster_key(inner.sealer.as_ref(), &key)?;
        opened.push((*cluster, key));
        Ok::<_, WorkerError>(sealed)
    })?;
    for (cluster, key) in opened {
        inner.keyring.add_cluster(cluster, key);
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::blocking;
    use crate::error::WorkerError;

    /// The thread the caller runs on, and the one [`blocking`] ran the commit on (read in the
    /// same poll: nothing is awaited before the commit runs).
    async fn threads_of_a_commit() -> (std::thread::ThreadId, std::thread::ThreadId) {
        let here = std::thread::current().id();
        let there = blocking(move || Ok(std::thread::current().id()))
            .await
            .unwrap();
        (here, there)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_runs_on_the_applying_thread_of_a_multi_threaded_runtime() {
        let (here, there) = threads_of_a_commit().await;
        assert_eq!(here, there);
    }

    /// The task applying blocks is a spawned task; with one worker thread, the runtime's
    /// other tasks run only if the commit hands that thread's work to another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn other_tasks_run_while_a_commit_holds_the_only_worker_thread() {
        let (here, there, others_ran) = tokio::spawn(async {
            let (ran, seen) = std::sync::mpsc::channel();
            tokio::spawn(async move { ran.send(()).unwrap() });
            let here = std::thread::current().id();
            let (there, others_ran) = blocking(move || {
                let others_ran = seen.recv_timeout(std::time::Duration::from_secs(10));
                Ok((std::thread::current().id(), others_ran.is_ok()))
            })
            .await
            .unwrap();
            (here, there, others_ran)
        })
        .await
        .unwrap();
        assert_eq!(here, there, "the commit ran on the task's own thread");
        assert!(
            others_ran,
            "another task ran while the commit held the thread"
        );
    }

    #[tokio::test]
    async fn a_commit_runs_on_a_blocking_thread_of_a_single_threaded_runtime() {
        let (here, there) = threads_of_a_commit().await;
        assert_ne!(here, there);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_that_panics_is_an_error_on_either_runtime() {
        let on_this_thread = blocking::<()>(|| panic!("the disk caught fire")).await;
        let on_a_blocking_thread = tokio::task::spawn_blocking(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(blocking::<()>(|| panic!("the disk caught fire")))
        })
        .await
        .unwrap();
        for result in [on_this_thread, on_a_blocking_thread] {
            match result {
                Err(WorkerError::Corrupt(message)) => {
                    assert!(message.contains("the disk caught fire"), "{message}")
                }
                other => panic!("expected the panic as an error, got {other:?}"),
            }
        }
    }
}
