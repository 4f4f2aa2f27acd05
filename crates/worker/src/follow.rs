//! Following the chain: verified blocks from a [`BlockSource`], applied in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fat_proto::ChainApi;
use fat_proto::follow::{BlockSource, Follower, genesis_of};
use fat_types::Block;
use fat_types::encoding::encoded_len;
use tokio::sync::Semaphore;

use crate::error::{Result, WorkerError};
use crate::worker::Worker;

/// When no block follows for this long, the commits so far are made durable.
const IDLE_FLUSH: Duration = Duration::from_millis(5);
/// How many verified blocks may wait for their turn to be applied: the next blocks are read
/// and their certificates and signatures checked while one executes and commits. Eight
/// rather than two absorb the moments the verifier falls behind (a flush, a burst of other
/// work on the cores): the worker bench's `commands` profile replayed 4.6% more commands a
/// second (medians of 20 replays each, binaries alternated).
const VERIFIED_AHEAD: usize = 8;
/// At most this many bytes of transactions wait verified, however many blocks hold them (a
/// larger block waits alone): what the blocks ahead may keep in memory, at most two blocks
/// of the largest size (`fat_types::genesis::MAX_BLOCK_BYTES`) rather than eight.
const VERIFIED_AHEAD_BYTES: u32 = 64 << 20;

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
        let budget = Arc::new(Semaphore::new(VERIFIED_AHEAD_BYTES as usize));
        let mut verifier = AbortOnDrop(tokio::spawn(async move {
            loop {
                let next = follower.next().await;
                let refused = next.is_err();
                // Held until the block is applied: it counts against the bytes ahead.
                let held = match &next {
                    Ok(followed) => {
                        let bytes = transaction_bytes(&followed.block).min(VERIFIED_AHEAD_BYTES);
                        match budget.clone().acquire_many_owned(bytes).await {
                            Ok(permit) => Some(permit),
                            Err(_) => return,
                        }
                    }
                    Err(_) => None,
                };
                if verified.send((next, held)).await.is_err() || refused {
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
                Some(Some((followed, _held))) => {
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

/// The encoded bytes of `block`'s transactions, as the chain counts them against
/// `MAX_BLOCK_BYTES` (saturating at `u32::MAX`).
fn transaction_bytes(block: &Block) -> u32 {
    let bytes: usize = block
        .txs
        .iter()
        .map(encoded_len)
        .fold(0, usize::saturating_add);
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use fat_types::encoding::encode;
    use fat_types::{BlockHeader, Bytes, Certificate, ContractId, Hash32, Transaction, TxKind};

    use super::*;

    /// The bytes held ahead are the transactions' encoded bytes, as the chain counts them.
    #[test]
    fn a_block_counts_its_transactions_encoded_bytes() {
        let alice = fat_crypto::dev_keypair("alice");
        let txs: Vec<_> = [10usize, 1_000, 100_000]
            .into_iter()
            .enumerate()
            .map(|(nonce, len)| {
                alice.sign_tx(Transaction {
                    chain: Hash32([1; 32]),
                    signer: alice.account_id(),
                    nonce: nonce as u64,
                    fee: 1,
                    kind: TxKind::Command {
                        contract: ContractId([2; 32]),
                        payload: Bytes(vec![7; len]),
                        gas_limit: 1,
                    },
                })
            })
            .collect();
        let block = Block {
            header: BlockHeader {
                height: 1,
                parent: Hash32([0; 32]),
                timestamp_ms: 0,
                tx_root: Hash32([0; 32]),
                receipts_root: Hash32([0; 32]),
                state_root: Hash32([0; 32]),
            },
            certificate: Certificate::Genesis,
            txs: txs.clone(),
        };
        let expected: usize = txs.iter().map(|tx| encode(tx).len()).sum();
        assert_eq!(transaction_bytes(&block) as usize, expected);
        assert!(expected > 101_010);
    }
}
