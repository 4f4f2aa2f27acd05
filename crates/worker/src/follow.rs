//! Following the chain: verified blocks from a [`BlockSource`], applied in order.

use std::future::Future;
use std::time::Duration;

use fat_proto::ChainApi;
use fat_proto::follow::{BlockSource, Follower, genesis_of};

use crate::error::{Result, WorkerError};
use crate::worker::Worker;

/// When no block follows for this long, the commits so far are made durable.
const IDLE_FLUSH: Duration = Duration::from_millis(5);
/// How many verified blocks may wait for their turn to be applied: the next blocks are read
/// and their certificates and signatures checked while one executes and commits.
const VERIFIED_AHEAD: usize = 2;

/// Aborts the task when dropped, so that following stops its verifier with it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Worker {
    /// Follow the chain node at `url` until `shutdown` completes: verify each block, apply
    /// it, and reconnect when the stream breaks. Returns an error only when a block does not
    /// verify, the node serves another chain than the configured one, or the store fails.
    /// Blocks are made durable in groups, in the background; when no block follows for a
    /// few milliseconds, and when following stops, what was applied is made durable.
    pub async fn follow(&self, url: &str, shutdown: impl Future<Output = ()>) -> Result<()> {
        let api = ChainApi::new(url).map_err(|e| WorkerError::Chain {
            url: url.into(),
            message: e.to_string(),
        })?;
        *self.inner.chain.lock().expect("chain") = Some(api.clone());
        self.follow_source(api, shutdown).await
    }

    /// [`Worker::follow`] from any block source (the node's stream, or an in-memory twin).
    pub async fn follow_source<S>(
        &self,
        source: S,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()>
    where
        S: BlockSource + 'static,
        S::Stream: std::fmt::Debug,
    {
        let result = self.follow_until(source, shutdown).await;
        let flushed = self.flush().await;
        result.and(flushed)
    }

    async fn follow_until<S>(&self, source: S, shutdown: impl Future<Output = ()>) -> Result<()>
    where
        S: BlockSource + 'static,
        S::Stream: std::fmt::Debug,
    {
        tokio::pin!(shutdown);
        let genesis = tokio::select! {
            () = &mut shutdown => return Ok(()),
            genesis = genesis_of(&source) => genesis?,
        };
        if let Some(expected) = self.inner.genesis
            && genesis.block.hash() != expected
        {
            return Err(WorkerError::OtherChain {
                served: genesis.block.hash(),
                expected,
            });
        }
        *self.inner.params.lock().expect("params lock") = genesis.config.params.clone();
        let head = self.inner.store.start(&genesis.block.header)?;
        self.inner.head.send_replace(Some(head.clone()));
        // The follower checks the signatures of commands only to contracts this worker runs
        // as of its last commit (and of every other transaction); the executor checks those
        // of contracts it came to run since, when it runs them.
        // Weak: the follower's task may outlive the worker by a moment, the store must not.
        let inner = std::sync::Arc::downgrade(&self.inner);
        let mut follower = Follower::new(source, genesis.block.hash(), head, genesis.validators)
            .checking_commands_of(move |contracts| match inner.upgrade() {
                Some(inner) => inner.runs(contracts),
                None => contracts.clone(),
            });
        // The follower reads and verifies blocks on a task of its own, ahead of this loop,
        // which applies them in order; it stops at the first block that does not verify.
        let (verified, mut ahead) = tokio::sync::mpsc::channel(VERIFIED_AHEAD);
        let mut verifier = AbortOnDrop(tokio::spawn(async move {
            loop {
                let next = follower.next().await;
                let refused = next.is_err();
                if verified.send(next).await.is_err() || refused {
                    return;
                }
            }
        }));
        loop {
            // Without a block for a while: flush what is applied, and try again to receive
            // the state of a joined cluster when that is due.
            let idle = if self.has_unflushed() {
                Some(IDLE_FLUSH)
            } else {
                self.sync_due()
                    .map(|at| at.saturating_duration_since(std::time::Instant::now()))
            };
            let next = tokio::select! {
                () = &mut shutdown => return Ok(()),
                next = async {
                    match idle {
                        Some(idle) => tokio::time::timeout(idle, ahead.recv()).await.ok(),
                        None => Some(ahead.recv().await),
                    }
                } => next,
            };
            match next {
                Some(None) => {
                    let stopped = match (&mut verifier.0).await {
                        Err(e) => e.to_string(),
                        Ok(()) => "it ended".to_string(),
                    };
                    return Err(WorkerError::Corrupt(format!(
                        "the task verifying blocks stopped: {stopped}"
                    )));
                }
                Some(Some(followed)) => {
                    let followed = followed?;
                    self.apply_block_with_ids(
                        &followed.block,
                        &followed.receipts,
                        &followed.ids,
                        followed.checked,
                    )
                    .await?;
                }
                None => self.flush().await?,
            }
            if self.may_need_sync() {
                self.sync_joined().await;
            }
        }
    }
}
