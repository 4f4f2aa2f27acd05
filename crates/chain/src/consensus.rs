//! The consensus seam: what orders transactions into committed blocks.

use std::future::Future;
use std::time::Duration;

use crate::error::{ChainError, Result};
use crate::node::Node;

/// Orders a node's pending transactions into committed blocks.
///
/// The single [`Sequencer`] is the first implementation; a BFT engine goes here later, using
/// the same node to build, execute and commit the blocks it finalizes.
pub trait Consensus: Send + 'static {
    /// Run until `shutdown` completes or a block fails to commit.
    fn run(
        self,
        node: Node,
        shutdown: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// One node produces every block: at most one every `block_time` when there is work, at once
/// when `block_time` is zero, none when idle.
#[derive(Debug, Clone, Copy)]
pub struct Sequencer {
    /// The least time between two blocks.
    pub block_time: Duration,
}

impl Consensus for Sequencer {
    async fn run(self, node: Node, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        tokio::pin!(shutdown);
        let mut last = tokio::time::Instant::now() - self.block_time;
        loop {
            if node.pending() == 0 {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = node.work_available() => {}
                }
            }
            if !self.block_time.is_zero() {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep_until(last + self.block_time) => {}
                }
            }
            last = tokio::time::Instant::now();
            let producer = node.clone();
            tokio::task::spawn_blocking(move || producer.produce_block())
                .await
                .map_err(|e| ChainError::Task(e.to_string()))??;
        }
    }
}
