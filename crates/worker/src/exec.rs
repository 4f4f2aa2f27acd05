//! Execute a block: the transactions of this worker's contracts, in order, deterministically.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use fat_runtime::{BlockInfo, Call, Entry, LogLevel, Outcome, StateChanges, StateStore};
use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{
    Block, CommandPayload, ContractId, ContractInfo, ExecEvent, ExecReceipt, ExecStatus, Hash32,
    Receipt, SignedTransaction, TxKind, WorkerId,
};

use crate::error::Result;
use crate::store::{BlockChanges, ContractRecord, LogRecord, Snapshot};
use crate::worker::Inner;

/// The committed state under the writes of the block being executed.
pub(crate) struct BlockOverlay {
    base: Snapshot,
    inner: RwLock<Pending>,
}

#[derive(Default)]
struct Pending {
    writes: BTreeMap<ContractId, StateChanges>,
    counts: HashMap<ContractId, u64>,
}

impl BlockOverlay {
    fn new(base: Snapshot) -> Self {
        Self {
            base,
            inner: RwLock::new(Pending::default()),
        }
    }

    fn apply(&self, contract: &ContractId, changes: &StateChanges) -> fat_runtime::Result<()> {
        let mut count = self.entry_count(contract)?;
        for (key, value) in changes {
            let existed = self.get(contract, key)?.is_some();
            match (existed, value.is_some()) {
                (false, true) => count += 1,
                (true, false) => count -= 1,
                _ => {}
            }
            let mut pending = self.inner.write().expect("overlay lock");
            pending
                .writes
                .entry(*contract)
                .or_default()
                .insert(key.clone(), value.clone());
        }
        self.inner
            .write()
            .expect("overlay lock")
            .counts
            .insert(*contract, count);
        Ok(())
    }
}

impl StateStore for BlockOverlay {
    fn get(&self, contract: &ContractId, key: &[u8]) -> fat_runtime::Result<Option<Vec<u8>>> {
        let pending = self.inner.read().expect("overlay lock");
        if let Some(value) = pending.writes.get(contract).and_then(|w| w.get(key)) {
            return Ok(value.clone());
        }
        drop(pending);
        self.base.get(contract, key)
    }

    fn scan(
        &self,
        contract: &ContractId,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> fat_runtime::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let pending = self.inner.read().expect("overlay lock");
        let empty = StateChanges::new();
        let writes = pending.writes.get(contract).unwrap_or(&empty);
        let in_range = |k: &[u8]| k.starts_with(prefix) && after.is_none_or(|a| k > a);
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = writes
            .iter()
            .filter(|(k, _)| in_range(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let removed = merged.values().filter(|v| v.is_none()).count();
        for (k, v) in self.base.scan(contract, prefix, after, limit + removed)? {
            merged.entry(k).or_insert(Some(v));
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .take(limit)
            .collect())
    }

    fn entry_count(&self, contract: &ContractId) -> fat_runtime::Result<u64> {
        if let Some(count) = self
            .inner
            .read()
            .expect("overlay lock")
            .counts
            .get(contract)
        {
            return Ok(*count);
        }
        self.base.entry_count(contract)
    }
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

/// Execute `block` (whose chain receipts are `receipts`) on top of the committed state.
pub(crate) async fn execute_block(
    inner: &Inner,
    block: &Block,
    receipts: &[Receipt],
) -> Result<BlockChanges> {
    let base = inner.store.snapshot()?;
    let overlay = Arc::new(BlockOverlay::new(inner.store.snapshot()?));
    let me = inner.worker_id();
    let mut changes = BlockChanges::default();
    let info = BlockInfo {
        number: block.header.height,
        timestamp_ms: block.header.timestamp_ms,
        hash: block.hash(),
    };
    for (index, (signed, receipt)) in block.txs.iter().zip(receipts).enumerate() {
        if matches!(receipt.outcome, fat_types::Outcome::Failed(_)) {
            continue;
        }
        let tx = &signed.tx;
        match &tx.kind {
            TxKind::UploadCode { code } => {
                changes.codes.push((code_hash(&code.0), code.0.clone()));
            }
            TxKind::CreateCluster { workers } if workers.contains(&me) => {
                changes.clusters.push(cluster_id(&tx.signer, tx.nonce));
            }
            TxKind::AddClusterWorker { cluster, worker } if *worker == me => {
                tracing::warn!(%cluster, "joined a cluster late: its earlier commands are not replayed");
                changes.clusters.push(*cluster);
            }
            TxKind::Instantiate {
                code_hash,
                cluster,
                salt,
                args,
                gas_limit,
            } if changes.clusters.contains(cluster) || base.is_member(cluster)? => {
                let id = contract_id(&tx.signer, code_hash, cluster, &salt.0);
                let record = ContractRecord {
                    info: ContractInfo {
                        id,
                        code_hash: *code_hash,
                        cluster: *cluster,
                        deployer: tx.signer,
                        height: block.header.height,
                    },
                    state_root: Hash32::default(),
                    entries: 0,
                    logs: 0,
                };
                changes.contracts.insert(id, record);
                let args = String::from_utf8_lossy(&args.0).into_owned();
                let run = Run {
                    signed,
                    index: index as u32,
                    contract: id,
                    gas_limit: *gas_limit,
                    height: block.header.height,
                };
                run.execute(inner, &overlay, &info, &mut changes, Entry::init(args))
                    .await?;
            }
            TxKind::Command {
                contract,
                payload,
                gas_limit,
            } => {
                let known = match changes.contracts.get(contract) {
                    Some(_) => true,
                    None => match base.contract(contract)? {
                        Some(record) => {
                            changes.contracts.insert(*contract, record);
                            true
                        }
                        None => false,
                    },
                };
                if !known {
                    continue;
                }
                let run = Run {
                    signed,
                    index: index as u32,
                    contract: *contract,
                    gas_limit: *gas_limit,
                    height: block.header.height,
                };
                match CommandPayload::decode(&payload.0) {
                    Ok(p) => {
                        let entry = Entry::command(p.method, p.args);
                        run.execute(inner, &overlay, &info, &mut changes, entry)
                            .await?;
                    }
                    Err(e) => run.failed(&mut changes, e.to_string()),
                }
            }
            _ => {}
        }
    }
    let pending = overlay.inner.read().expect("overlay lock");
    for (contract, count) in &pending.counts {
        if let Some(record) = changes.contracts.get_mut(contract) {
            record.entries = *count;
        }
    }
    changes.writes = pending.writes.clone();
    Ok(changes)
}

/// One transaction to run against one contract.
struct Run<'a> {
    signed: &'a SignedTransaction,
    index: u32,
    contract: ContractId,
    gas_limit: u64,
    height: u64,
}

impl Run<'_> {
    async fn execute(
        &self,
        inner: &Inner,
        overlay: &Arc<BlockOverlay>,
        info: &BlockInfo,
        changes: &mut BlockChanges,
        entry: Entry,
    ) -> Result<()> {
        let code_hash = changes.contracts[&self.contract].info.code_hash;
        let pending_code = changes
            .codes
            .iter()
            .find(|(h, _)| *h == code_hash)
            .map(|(_, c)| c.clone());
        let code = match inner.code(&code_hash, pending_code) {
            Ok(code) => code,
            Err(e) => {
                self.failed(changes, format!("cannot load the code: {e}"));
                return Ok(());
            }
        };
        let mut call = Call::new(entry, overlay.clone(), inner.cache.clone());
        call.contract = self.contract;
        call.caller = self.signed.tx.signer;
        call.block = info.clone();
        call.tx_index = self.index;
        call.gas_limit = self.gas_limit;
        call.contract_secret = fat_crypto::contract_secret(&self.contract);
        // Every worker of the cluster must compute the same state, so a command does not see
        // which worker runs it (the runtime gives `worker-public-key` to commands too).
        call.worker_key = [0; 32];
        let outcome = inner.runtime.call(&code, call).await;
        self.record(overlay, info, changes, outcome)
    }

    fn record(
        &self,
        overlay: &BlockOverlay,
        info: &BlockInfo,
        changes: &mut BlockChanges,
        outcome: Outcome,
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
                    height: info.number,
                    index: self.index,
                    tx: self.signed.id(),
                    level: level_name(line.level).into(),
                    message: line.message.clone(),
                },
            ));
            record.logs += 1;
        }
        let (status, output, events) = match &outcome.result {
            Ok(bytes) => {
                overlay.apply(&self.contract, &outcome.changes)?;
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
        changes
            .receipts
            .push(self.receipt(status, output, events, outcome.gas_used));
        Ok(())
    }

    fn failed(&self, changes: &mut BlockChanges, error: String) {
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
    ) -> ExecReceipt {
        ExecReceipt {
            tx: self.signed.id(),
            contract: self.contract,
            height: self.height,
            index: self.index,
            status,
            output,
            events,
            gas_used,
            state_root: Hash32::default(),
        }
    }
}

/// The worker id of a key pair.
pub(crate) fn worker_id(key: &fat_crypto::Keypair) -> WorkerId {
    WorkerId(key.account_id().0)
}
