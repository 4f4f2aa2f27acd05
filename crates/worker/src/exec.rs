//! Execute a block: the transactions of this worker's contracts, in order, deterministically.

use std::sync::Arc;

use fat_crypto::envelope::{self, Direction, Envelope, ReplayGuard, Session};
use fat_crypto::{ClusterKey, EnvelopeError};
use fat_proto::windows::ENVELOPE_WINDOW_MS;
use fat_runtime::{BlockInfo, Call, Entry, LogLevel, Outcome, OverlayStore};
use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{
    Block, CommandPayload, ContractId, ContractInfo, ExecEvent, ExecReceipt, ExecStatus, Hash32,
    Receipt, SignedTransaction, TxKind,
};

use crate::error::{Result, WorkerError};
use crate::keys::CLUSTER_KEY_LABEL;
use crate::shared::Inner;
use crate::store::{BlockChanges, ContractRecord, LogRecord, Snapshot};

/// Open an envelope of a transaction: sealed to `secret`, for `contract` and `direction`,
/// by the transaction's signer (whose transaction signature, checked by the chain, covers
/// the envelope), fresh at the block's time. Deterministic: every worker of the cluster
/// reaches the same verdict.
fn open_tx_envelope(
    bytes: &[u8],
    secret: &fat_crypto::EcdhSecret,
    contract: &ContractId,
    direction: Direction,
    signer: &fat_types::AccountId,
    block_ms: u64,
) -> std::result::Result<(Vec<u8>, Session), EnvelopeError> {
    let envelope = Envelope::from_bytes(bytes)?;
    if envelope.header.sender != *signer {
        return Err(EnvelopeError::WrongSender {
            expected: *signer,
            found: envelope.header.sender,
        });
    }
    let mut guard = ReplayGuard::new(ENVELOPE_WINDOW_MS, 1);
    let opened =
        envelope::open_carried(&envelope, secret, contract, direction, &mut guard, block_ms)?;
    Ok((opened.plaintext, opened.session))
}

/// The committed state under the writes of the block being executed.
pub(crate) type BlockOverlay = OverlayStore<Snapshot>;

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
    let overlay = Arc::new(BlockOverlay::new(inner.store.snapshot()?));
    let base = overlay.base();
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
            TxKind::ProvisionKey {
                cluster,
                cluster_public,
                keys,
            } => {
                let member = changes.clusters.contains(cluster) || base.is_member(cluster)?;
                match keys.iter().find(|(w, _)| *w == me) {
                    Some((_, sealed)) => {
                        let key = match open_cluster_key(
                            inner,
                            cluster,
                            cluster_public,
                            sealed,
                            &tx.signer,
                        ) {
                            Ok(key) => key,
                            // Sealed to an ECDH key this worker no longer holds (its sealed
                            // keys were lost), or not a valid provision: it runs nothing of
                            // the cluster rather than stopping for good.
                            Err(e) => {
                                tracing::error!(%cluster, error = %e, "cannot open the provisioned cluster key");
                                continue;
                            }
                        };
                        let sealed = inner
                            .sealer
                            .seal(CLUSTER_KEY_LABEL, &key.to_bytes())
                            .map_err(|e| WorkerError::Keys(e.to_string()))?;
                        inner.keyring.add_cluster(*cluster, key);
                        changes.cluster_keys.push((*cluster, sealed));
                        tracing::info!(%cluster, "received the cluster key");
                    }
                    None if member && inner.keyring.cluster(cluster).is_none() => {
                        tracing::error!(
                            %cluster,
                            "the gatekeeper provisioned the cluster key without this worker: \
                             its attestation was not accepted; contracts of the cluster will not run here"
                        );
                    }
                    None => {}
                }
            }
            TxKind::Instantiate {
                code_hash,
                cluster,
                salt,
                args,
                gas_limit,
            } if changes.clusters.contains(cluster) || base.is_member(cluster)? => {
                let id = contract_id(&tx.signer, code_hash, cluster, &salt.0);
                let Some(cluster_key) = inner.keyring.cluster(cluster) else {
                    tracing::error!(
                        contract = %id,
                        %cluster,
                        "not running the contract: this worker holds no key of its cluster"
                    );
                    continue;
                };
                let record = ContractRecord {
                    info: ContractInfo {
                        id,
                        code_hash: *code_hash,
                        cluster: *cluster,
                        deployer: tx.signer,
                        height: block.header.height,
                        public_key: Some(Hash32(cluster_key.contract(&id).ecdh().public().0)),
                    },
                    state_root: Hash32::default(),
                    entries: 0,
                    logs: 0,
                };
                changes.contracts.insert(id, record);
                let run = Run {
                    signed,
                    index: index as u32,
                    contract: id,
                    gas_limit: *gas_limit,
                    height: block.header.height,
                };
                match open_tx_envelope(
                    &args.0,
                    &cluster_key.ecdh(),
                    &id,
                    Direction::InitArgs,
                    &tx.signer,
                    block.header.timestamp_ms,
                ) {
                    Ok((plain, session)) => match String::from_utf8(plain) {
                        Ok(args) => {
                            run.execute(
                                inner,
                                &overlay,
                                &info,
                                &mut changes,
                                Entry::init(args),
                                Some(session),
                            )
                            .await?;
                        }
                        Err(_) => run.failed(&mut changes, "init args are not UTF-8 text".into()),
                    },
                    Err(e) => run.failed(&mut changes, format!("init args refused: {e}")),
                }
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
                let cluster = changes.contracts[contract].info.cluster;
                let Some(crypt) = inner.keyring.contract(contract, &cluster) else {
                    return Err(WorkerError::NoClusterKey(cluster));
                };
                let opened = open_tx_envelope(
                    &payload.0,
                    crypt.keys.ecdh(),
                    contract,
                    Direction::Command,
                    &tx.signer,
                    block.header.timestamp_ms,
                );
                match opened {
                    Ok((plain, session)) => match CommandPayload::decode(&plain) {
                        Ok(p) if p.tx_nonce == tx.nonce => {
                            let entry = Entry::command(p.method, p.args);
                            run.execute(inner, &overlay, &info, &mut changes, entry, Some(session))
                                .await?;
                        }
                        Ok(p) => run.failed(
                            &mut changes,
                            format!(
                                "command refused: sealed for the transaction of nonce {}, carried by nonce {} (a replay)",
                                p.tx_nonce, tx.nonce
                            ),
                        ),
                        Err(e) => run.failed(&mut changes, format!("command refused: {e}")),
                    },
                    Err(e) => run.failed(&mut changes, format!("command refused: {e}")),
                }
            }
            _ => {}
        }
    }
    for (contract, count) in overlay.entry_counts()? {
        if let Some(record) = changes.contracts.get_mut(&contract) {
            record.entries = count;
        }
    }
    changes.writes = overlay.writes()?;
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
        session: Option<Session>,
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
        let cluster = changes.contracts[&self.contract].info.cluster;
        call.contract_secret = inner
            .keyring
            .contract(&self.contract, &cluster)
            .ok_or(WorkerError::NoClusterKey(cluster))?
            .keys
            .secret();
        // Every worker of the cluster must compute the same state, so a command does not see
        // which worker runs it (the runtime gives `worker-public-key` to commands too).
        call.worker_key = [0; 32];
        let outcome = inner.runtime.call(&code, call).await;
        let sealer = session.map(|s| (s, &inner.key));
        self.record(overlay, info, changes, outcome, sealer)
    }

    fn record(
        &self,
        overlay: &BlockOverlay,
        info: &BlockInfo,
        changes: &mut BlockChanges,
        outcome: Outcome,
        sealer: Option<(Session, &fat_crypto::Keypair)>,
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
        let mut receipt = self.receipt(status, output, events, outcome.gas_used);
        if let Some((session, key)) = sealer
            && matches!(receipt.status, ExecStatus::Ok)
        {
            // One response per session and worker, so a nonce derived from the transaction and
            // the worker is never reused under a key, and a restarted worker seals the same
            // bytes again.
            let mut material = self.signed.id().as_bytes().to_vec();
            material.extend_from_slice(key.account_id().as_bytes());
            let digest = blake3::derive_key("fat/worker/receipt-nonce/v2", &material);
            let mut nonce = [0u8; 24];
            nonce.copy_from_slice(&digest[..24]);
            let sealed = session.seal_response_with_nonce(
                key,
                receipt.output.as_bytes(),
                info.timestamp_ms,
                nonce,
            );
            receipt.output = String::new();
            receipt.sealed_output = Some(fat_types::Bytes(sealed.to_bytes()));
        }
        changes.receipts.push(receipt);
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
            sealed_output: None,
            events,
            gas_used,
            state_root: Hash32::default(),
        }
    }
}

/// Open a cluster key provisioned to this worker: sealed to its ECDH key by the gatekeeper
/// that signed the transaction, and matching the cluster key the chain publishes.
fn open_cluster_key(
    inner: &Inner,
    cluster: &fat_types::ClusterId,
    cluster_public: &Hash32,
    sealed: &fat_types::Bytes,
    gatekeeper: &fat_types::AccountId,
) -> Result<ClusterKey> {
    let refused =
        |why: String| WorkerError::Keys(format!("cluster key of {cluster} refused: {why}"));
    let envelope = Envelope::from_bytes(&sealed.0).map_err(|e| refused(e.to_string()))?;
    if envelope.header.sender != *gatekeeper {
        return Err(refused("not sealed by the provisioning gatekeeper".into()));
    }
    // The chain ordered it: freshness is the envelope's own time, so replaying the chain
    // later opens it the same way.
    let mut guard = ReplayGuard::new(ENVELOPE_WINDOW_MS, 1);
    let opened = envelope::open(
        &envelope,
        &inner.secrets.ecdh,
        &ContractId(cluster.0),
        Direction::ClusterKey,
        &mut guard,
        envelope.header.timestamp_ms,
    )
    .map_err(|e| refused(e.to_string()))?;
    let bytes: [u8; 32] = opened
        .plaintext
        .try_into()
        .map_err(|_| refused("not 32 bytes".into()))?;
    let key = ClusterKey::from_bytes(bytes);
    if key.ecdh_public().0 != cluster_public.0 {
        return Err(refused(
            "it does not match the cluster's published key".into(),
        ));
    }
    Ok(key)
}
