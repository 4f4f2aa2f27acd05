//! The executor: what it is given once, and applying a block with it.

use std::sync::Arc;

use fat_consensus::{CheckedCommands, TxIds};
use fat_runtime::Runtime;
use fat_types::block::receipts_root;
use fat_types::genesis::ChainParams;
use fat_types::{Block, BlockHeader, ChainReceipt, Outcome, SignedTransaction, WorkerId};

use crate::block::BlockRun;
use crate::changes::BlockChanges;
use crate::error::{ExecutorError, Result};
use crate::inputs::{CodeProvider, Keys, StateView};

/// Applies blocks to the contracts of the clusters a worker is a member of.
///
/// It reads only what it is given: the committed state of one call's [`StateView`], the code
/// through its [`CodeProvider`], the worker's [`Keys`]; it writes nothing, seals no key to
/// disk and reads no clock (a block's time is its header's). The same inputs give the same
/// [`BlockChanges`], byte for byte, which the worker then commits.
pub struct Executor<'a> {
    runtime: &'a Runtime,
    codes: &'a dyn CodeProvider,
    keys: Keys<'a>,
    /// The chain's `max_tx_gas` and `max_block_gas`.
    max_tx_gas: u64,
    max_block_gas: u64,
}

impl std::fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<'a> Executor<'a> {
    /// An executor running contracts on `runtime`, with code from `codes`, as the worker of
    /// `keys`.
    pub fn new(runtime: &'a Runtime, codes: &'a dyn CodeProvider, keys: Keys<'a>) -> Self {
        let params = ChainParams::default();
        Self {
            runtime,
            codes,
            keys,
            max_tx_gas: params.max_tx_gas,
            max_block_gas: params.max_block_gas,
        }
    }

    /// Bound the gas of calls by the chain's `params` (by default, [`ChainParams::default`]'s).
    /// The chain refuses transactions asking for more, but the executor does not trust a
    /// block to hold only what the chain allows: a call gets at most `max_tx_gas`, and the
    /// calls of a block at most `max_block_gas` together (counted, in block order, over the
    /// gas each transaction the chain committed asks for, so every worker counts the same).
    pub fn with_params(mut self, params: &ChainParams) -> Self {
        self.max_tx_gas = params.max_tx_gas;
        self.max_block_gas = params.max_block_gas;
        self
    }

    /// The worker it executes as.
    pub fn worker(&self) -> WorkerId {
        WorkerId(self.keys.identity.account_id().0)
    }

    /// [`Executor::apply`] to a block.
    pub async fn apply_block<S: StateView + 'static>(
        &self,
        state: Arc<S>,
        block: &Block,
        receipts: &[ChainReceipt],
    ) -> Result<BlockChanges> {
        self.apply(state, &block.header, &block.txs, receipts).await
    }

    /// [`Executor::apply_block`] with the ids of the block's transactions hashed already
    /// (those of `block.txs`), and the contracts whose commands' signatures are checked
    /// already (`checked`), as `fat_consensus::BlockVerifier::accept_for` gives them while
    /// checking the block: the ids are not hashed again (any other is hashed when needed),
    /// and only the commands this worker runs whose signatures were not checked are checked
    /// here. Ids that are not one per transaction stop the block.
    pub async fn apply_block_with_ids<S: StateView + 'static>(
        &self,
        state: Arc<S>,
        block: &Block,
        receipts: &[ChainReceipt],
        ids: &TxIds,
        checked: CheckedCommands,
    ) -> Result<BlockChanges> {
        if ids.len() != block.txs.len() {
            return Err(ExecutorError::IdsMismatch {
                height: block.header.height,
                ids: ids.len(),
                txs: block.txs.len(),
            });
        }
        self.apply_ids(state, &block.header, &block.txs, receipts, ids, checked)
            .await
    }

    /// Apply the block of `header` and `txs`, whose chain receipts are `receipts` (checked
    /// against the header's receipts root), on top of `state`, the committed state of the
    /// block before. Transactions the chain failed are skipped; so is anything of a cluster
    /// this worker is not a member of. The signatures of the commands it runs are checked
    /// here (no other transaction's is).
    pub async fn apply<S: StateView + 'static>(
        &self,
        state: Arc<S>,
        header: &BlockHeader,
        txs: &[SignedTransaction],
        receipts: &[ChainReceipt],
    ) -> Result<BlockChanges> {
        self.apply_ids(
            state,
            header,
            txs,
            receipts,
            &TxIds::unhashed(txs),
            CheckedCommands::default(),
        )
        .await
    }

    async fn apply_ids<S: StateView + 'static>(
        &self,
        state: Arc<S>,
        header: &BlockHeader,
        txs: &[SignedTransaction],
        receipts: &[ChainReceipt],
        ids: &TxIds,
        checked: CheckedCommands,
    ) -> Result<BlockChanges> {
        if txs.len() != receipts.len() || receipts_root(receipts) != header.receipts_root {
            return Err(ExecutorError::ReceiptsMismatch {
                height: header.height,
            });
        }
        let mut block = BlockRun::new(
            self.runtime,
            self.codes,
            self.keys,
            state,
            header,
            (txs, ids),
            checked,
        );
        block.prepare(txs, receipts);
        let mut block_gas = self.max_block_gas;
        for (index, (signed, receipt)) in txs.iter().zip(receipts).enumerate() {
            if matches!(receipt.outcome, Outcome::Failed(_)) {
                continue;
            }
            let gas = signed
                .tx
                .kind
                .gas_limit()
                .min(self.max_tx_gas)
                .min(block_gas);
            block_gas -= gas;
            block.transaction(index as u32, signed, gas).await?;
        }
        block.finish()
    }
}
