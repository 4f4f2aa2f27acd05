//! One transaction run against one contract: the call it makes and the receipt, logs and
//! writes its outcome leaves.

use std::sync::Arc;

use fat_crypto::envelope::Session;
use fat_runtime::{BlockInfo, Cache, CacheOp, Call, Entry, LogLevel, Outcome, StateStore};
use fat_types::{
    ContractId, ExecEvent, ExecStatus, ExecutionReceipt, Hash32, SignedTransaction, TxId,
};

use crate::changes::{BlockChanges, LogRecord};
use crate::error::Result;
use crate::parallel::ToSeal;

/// The cache a command sees: none. The runtime never reads the cache in command mode and
/// records a command's cache writes in its outcome instead ([`Outcome::cache_ops`]), which
/// the worker applies after the block commits; so execution needs no cache of the worker's.
struct NoCache;

impl Cache for NoCache {
    fn get(&self, _: &ContractId, _: &[u8], _: u64) -> Option<Vec<u8>> {
        None
    }

    fn set(&self, _: &ContractId, _: Vec<u8>, _: Vec<u8>, _: u64, _: u64) -> bool {
        false
    }

    fn remove(&self, _: &ContractId, _: &[u8]) {}

    fn apply(&self, _: &ContractId, _: &[CacheOp], _: u64) {}
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

/// One transaction to run against one contract.
pub(crate) struct Run<'a> {
    pub(crate) signed: &'a SignedTransaction,
    /// The transaction's id (hashed once).
    pub(crate) id: TxId,
    pub(crate) index: u32,
    pub(crate) contract: ContractId,
    pub(crate) gas_limit: u64,
    pub(crate) info: BlockInfo,
}

impl Run<'_> {
    /// The call running `entry` on `state` with the contract's `secret`.
    pub(crate) fn call(&self, entry: Entry, state: Arc<dyn StateStore>, secret: [u8; 32]) -> Call {
        let mut call = Call::new(entry, state, Arc::new(NoCache));
        call.contract = self.contract;
        call.caller = self.signed.tx.signer;
        call.block = self.info.clone();
        call.tx_index = self.index;
        call.gas_limit = self.gas_limit;
        call.contract_secret = secret;
        // Every worker of the cluster must compute the same state, so a command does not see
        // which worker runs it (the runtime gives `worker-public-key` to commands too).
        call.worker_key = [0; 32];
        call
    }

    /// Record what the call did: its logs, and if it succeeded its writes (through `apply`)
    /// and cache operations; then its receipt, its output to be sealed to `session` (added
    /// to `to_seal`).
    pub(crate) fn record(
        &self,
        changes: &mut BlockChanges,
        outcome: Outcome,
        apply: impl FnOnce(&fat_runtime::StateChanges) -> fat_runtime::Result<()>,
        sealer: (Session, &mut Vec<ToSeal>),
    ) -> Result<()> {
        let record = changes
            .contracts
            .get_mut(&self.contract)
            .expect("contract recorded before it runs");
        for line in &outcome.logs {
            changes.logs.push((
                self.contract,
                LogRecord {
                    seq: record.logs,
                    height: self.info.number,
                    index: self.index,
                    tx: self.id,
                    level: level_name(line.level).into(),
                    message: line.message.clone(),
                },
            ));
            record.logs += 1;
        }
        let (status, output, events) = match &outcome.result {
            Ok(bytes) => {
                apply(&outcome.changes)?;
                changes
                    .cache_ops
                    .push((self.contract, outcome.cache_ops.clone()));
                let events = outcome
                    .events
                    .iter()
                    .map(|e| ExecEvent {
                        topic: e.topic.clone(),
                        data: e.data.clone().into(),
                    })
                    .collect();
                (
                    ExecStatus::Ok,
                    String::from_utf8_lossy(bytes).into_owned(),
                    events,
                )
            }
            Err(e) => (
                ExecStatus::Failed {
                    error: e.to_string(),
                },
                String::new(),
                Vec::new(),
            ),
        };
        let receipt = self.receipt(status, output, events, outcome.gas_used);
        if matches!(receipt.status, ExecStatus::Ok) {
            // Sealed when the block is done (`parallel::seal_outputs`).
            let (session, to_seal) = sealer;
            to_seal.push(ToSeal {
                receipt: changes.receipts.len(),
                requester: self.signed.tx.signer,
                session,
            });
        }
        changes.receipts.push(receipt);
        Ok(())
    }

    /// Record a receipt of a transaction that did not get to run.
    pub(crate) fn failed(&self, changes: &mut BlockChanges, error: String) {
        tracing::debug!(contract = %self.contract, index = self.index, %error, "transaction not run");
        changes.receipts.push(self.receipt(
            ExecStatus::Failed { error },
            String::new(),
            Vec::new(),
            0,
        ));
    }

    fn receipt(
        &self,
        status: ExecStatus,
        output: String,
        events: Vec<ExecEvent>,
        gas_used: u64,
    ) -> ExecutionReceipt {
        ExecutionReceipt {
            tx: self.id,
            contract: self.contract,
            height: self.info.number,
            index: self.index,
            status,
            output,
            sealed_output: None,
            events,
            gas_used,
            state_root: Hash32::default(),
        }
    }
}
