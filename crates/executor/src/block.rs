//! Applying one block: its transactions in order over an overlay of the committed state, with
//! the cluster keys it provisions laid over the ones the worker held.

use std::collections::BTreeMap;
use std::sync::Arc;

use fat_consensus::{CheckedCommands, TxIds};
use fat_crypto::envelope::{Direction, Envelope, Session};
use fat_crypto::{ClusterKey, ContractKeys};
use fat_runtime::{BlockInfo, Code, Entry, OverlayStore, Runtime};
use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{
    BlockHeader, Bytes, ChainReceipt, ClusterId, CodeHash, CommandPayload, ContractId,
    ContractInfo, Hash32, SignedTransaction, TxKind, WorkerId,
};

use crate::changes::{BlockChanges, ContractRecord};
use crate::error::{ExecutorError, Result};
use crate::inputs::{CodeProvider, Keys, StateView};
use crate::open;
use crate::parallel::{self, Prepared, ToSeal};
use crate::run::Run;

/// The state of one block being applied.
pub(crate) struct BlockRun<'a, S: StateView + 'static> {
    runtime: &'a Runtime,
    codes: &'a dyn CodeProvider,
    keys: Keys<'a>,
    me: WorkerId,
    /// The committed state under the block's writes so far.
    overlay: Arc<OverlayStore<S>>,
    info: BlockInfo,
    changes: BlockChanges,
    /// Cluster keys opened from the block's `ProvisionKey`s, over [`Keys::clusters`].
    opened: BTreeMap<ClusterId, ClusterKey>,
    /// Contract keys derived during the block.
    contract_keys: BTreeMap<ContractId, ContractKeys>,
    /// Command envelopes opened ahead of the run ([`BlockRun::prepare`]).
    prepared: Prepared,
    /// Outputs to seal to their commands' sessions when the block is done.
    to_seal: Vec<ToSeal>,
    /// The block's transactions and their ids (hashed when first needed, if the follower did
    /// not), to check commands' signatures the follower did not, and for receipts.
    txs: &'a [SignedTransaction],
    ids: &'a TxIds,
    /// What the signatures of the commands to each contract checked came to.
    checked: CheckedCommands,
    /// The indexes of each contract's commands, once one has to be checked here.
    command_indexes: Option<BTreeMap<ContractId, Vec<u32>>>,
}

impl<'a, S: StateView + 'static> BlockRun<'a, S> {
    pub(crate) fn new(
        runtime: &'a Runtime,
        codes: &'a dyn CodeProvider,
        keys: Keys<'a>,
        state: Arc<S>,
        header: &BlockHeader,
        (txs, ids): (&'a [SignedTransaction], &'a TxIds),
        checked: CheckedCommands,
    ) -> Self {
        Self {
            runtime,
            codes,
            keys,
            me: WorkerId(keys.identity.account_id().0),
            overlay: Arc::new(OverlayStore::shared(state)),
            info: BlockInfo {
                number: header.height,
                timestamp_ms: header.timestamp_ms,
                hash: header.hash(),
            },
            changes: BlockChanges::default(),
            opened: BTreeMap::new(),
            contract_keys: BTreeMap::new(),
            prepared: Prepared::default(),
            to_seal: Vec::new(),
            txs,
            ids,
            checked,
            command_indexes: None,
        }
    }

    /// Open the envelopes of the block's commands ahead of the run, on every core (see
    /// [`parallel`]); the run takes those opened with the key it would open them with.
    pub(crate) fn prepare(&mut self, txs: &[SignedTransaction], receipts: &[ChainReceipt]) {
        self.prepared = Prepared::open(
            self.overlay.base(),
            self.keys,
            self.info.number,
            self.info.timestamp_ms,
            txs,
            receipts,
        );
    }

    /// Apply one transaction the chain committed (its receipt is not a failure), its calls
    /// bounded by `gas` (its gas limit, capped by the executor).
    pub(crate) async fn transaction(
        &mut self,
        index: u32,
        signed: &SignedTransaction,
        gas: u64,
    ) -> Result<()> {
        let tx = &signed.tx;
        match &tx.kind {
            TxKind::UploadCode { code } => {
                self.changes
                    .codes
                    .push((code_hash(&code.0), code.0.clone()));
            }
            TxKind::CreateCluster { workers } if workers.contains(&self.me) => {
                self.changes.clusters.push(cluster_id(&tx.signer, tx.nonce));
            }
            TxKind::AddClusterWorker { cluster, worker } if *worker == self.me => {
                tracing::warn!(%cluster, "joined a cluster late: its earlier commands are not replayed");
                self.changes.left.retain(|c| c != cluster);
                self.changes.clusters.push(*cluster);
            }
            TxKind::RemoveClusterWorker { cluster, worker } => {
                // Every removal moves the cluster's key to its next epoch, as on the chain;
                // every worker counts them, so one that joins later knows the epoch too.
                let epoch = self.key_epoch(cluster)? + 1;
                self.changes.key_epochs.insert(*cluster, epoch);
                if *worker == self.me {
                    tracing::info!(%cluster, "removed from a cluster: its contracts run elsewhere now");
                    self.changes.clusters.retain(|c| c != cluster);
                    self.changes.left.push(*cluster);
                }
            }
            TxKind::ProvisionKey {
                cluster,
                epoch,
                cluster_public,
                keys,
            } => {
                let mine = keys.iter().find(|(w, _)| *w == self.me).map(|(_, k)| k);
                self.provision(cluster, *epoch, cluster_public, mine, signed)?;
            }
            TxKind::Instantiate {
                code_hash,
                cluster,
                salt,
                args,
                ..
            } if self.is_member(cluster)? => {
                let id = contract_id(&tx.signer, code_hash, cluster, &salt.0);
                if self.overlay.base().contract(&id)?.is_some() {
                    // Its state came from another member, as of this block or a later one.
                    return Ok(());
                }
                let run = self.run(signed, index, id, gas);
                self.instantiate(&run, code_hash, cluster, args).await?;
            }
            TxKind::Command {
                contract, payload, ..
            } if self.known(contract)? => {
                self.check_signatures(contract)?;
                let run = self.run(signed, index, *contract, gas);
                self.command(&run, payload).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Everything the block did, the outputs of its commands sealed (on every core).
    pub(crate) fn finish(mut self) -> Result<BlockChanges> {
        parallel::seal_outputs(
            &mut self.changes.receipts,
            std::mem::take(&mut self.to_seal),
            &self.keys.identity.account_id(),
            self.info.timestamp_ms,
        );
        for (contract, count) in self.overlay.entry_counts()? {
            if let Some(record) = self.changes.contracts.get_mut(&contract) {
                record.entries = count;
            }
        }
        self.changes.writes = self.overlay.writes()?;
        self.changes.cluster_keys = self.opened.into_iter().collect();
        Ok(self.changes)
    }

    /// The call of transaction `index` (`signed`) to `contract`: its id hashed here if the
    /// follower did not.
    fn run<'t>(
        &self,
        signed: &'t SignedTransaction,
        index: u32,
        contract: ContractId,
        gas_limit: u64,
    ) -> Run<'t> {
        Run {
            signed,
            id: self.ids.get(self.txs, index as usize),
            index,
            contract,
            gas_limit,
            info: self.info.clone(),
        }
    }

    fn is_member(&self, cluster: &ClusterId) -> Result<bool> {
        if self.changes.left.contains(cluster) {
            return Ok(false);
        }
        Ok(self.changes.clusters.contains(cluster) || self.overlay.base().is_member(cluster)?)
    }

    /// Stop the block if a command to `contract` is not signed by its signer: as the
    /// follower found, or, if it did not check them (it checks the commands of the contracts
    /// this worker ran as of its last commit; not those of a contract instantiated, or of a
    /// cluster joined, since), as checked here: each signature gets the same answer anywhere.
    fn check_signatures(&mut self, contract: &ContractId) -> Result<()> {
        let verdict = match self.checked.verdict(contract) {
            Some(verdict) => verdict,
            None => {
                let txs = self.txs;
                let groups = self
                    .command_indexes
                    .get_or_insert_with(|| fat_consensus::command_indexes(txs));
                let indexes = groups.get(contract).map_or(&[][..], Vec::as_slice);
                let verdict =
                    fat_consensus::check_commands(self.info.number, txs, self.ids, indexes);
                self.checked.record(*contract, verdict.clone());
                verdict
            }
        };
        verdict.map_err(|e| ExecutorError::Signature(Box::new(e)))
    }

    /// Whether this worker runs `contract` (created earlier in the block, or committed), in
    /// a cluster it is still a member of.
    fn known(&mut self, contract: &ContractId) -> Result<bool> {
        if let Some(record) = self.changes.contracts.get(contract) {
            let cluster = record.info.cluster;
            return self.is_member(&cluster);
        }
        match self.overlay.base().contract(contract)? {
            // Received from another member as of a later block: this block is in its state.
            Some(record) if record.synced_through >= self.info.number => Ok(false),
            Some(record) if self.is_member(&record.info.cluster)? => {
                self.changes.contracts.insert(*contract, record);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The key of `cluster`: opened in this block, or held before it (its newest epoch).
    fn cluster_key(&self, cluster: &ClusterId) -> Option<ClusterKey> {
        match self.opened.get(cluster) {
            Some(key) => Some(key.clone()),
            None => self.keys.clusters.cluster_key(cluster),
        }
    }

    /// The current key epoch of `cluster`: as the chain counts it, one per removal.
    fn key_epoch(&self, cluster: &ClusterId) -> Result<u32> {
        match self.changes.key_epochs.get(cluster) {
            Some(epoch) => Ok(*epoch),
            None => Ok(self.overlay.base().key_epoch(cluster)?),
        }
    }

    /// The keys of `contract` of `cluster` (a contract of the block's records), if this
    /// worker holds the cluster's key of the contract's epoch or a later one.
    fn contract_keys(
        &mut self,
        contract: &ContractId,
        cluster: &ClusterId,
    ) -> Option<ContractKeys> {
        if let Some(keys) = self.contract_keys.get(contract) {
            return Some(keys.clone());
        }
        let epoch = self.changes.contracts.get(contract)?.info.key_epoch;
        let keys = match self.opened.get(cluster) {
            // Provisioned by this block: derived here, the worker's keys do not hold it yet.
            Some(key) => crate::inputs::contract_keys_of(key, epoch, contract)?,
            None => self.keys.clusters.contract_keys(cluster, epoch, contract)?,
        };
        self.contract_keys.insert(*contract, keys.clone());
        Some(keys)
    }

    fn provision(
        &mut self,
        cluster: &ClusterId,
        epoch: u32,
        cluster_public: &Hash32,
        mine: Option<&Bytes>,
        signed: &SignedTransaction,
    ) -> Result<()> {
        let Some(sealed) = mine else {
            if self.is_member(cluster)? && self.cluster_key(cluster).is_none() {
                tracing::error!(
                    %cluster,
                    "the gatekeeper provisioned the cluster key without this worker: \
                     its attestation was not accepted; contracts of the cluster will not run here"
                );
            }
            return Ok(());
        };
        match open::cluster_key(
            self.keys.ecdh,
            cluster,
            epoch,
            cluster_public,
            sealed,
            &signed.tx.signer,
        ) {
            Ok(key) => {
                tracing::info!(%cluster, epoch, "received the cluster key");
                self.opened.insert(*cluster, key);
            }
            // Sealed to an ECDH key this worker no longer holds (its sealed keys were lost),
            // or not a valid provision: it runs nothing of the cluster rather than stopping
            // for good.
            Err(error) => {
                tracing::error!(%cluster, %error, "cannot open the provisioned cluster key");
            }
        }
        Ok(())
    }

    async fn instantiate(
        &mut self,
        run: &Run<'_>,
        code_hash: &CodeHash,
        cluster: &ClusterId,
        args: &Bytes,
    ) -> Result<()> {
        let id = run.contract;
        let epoch = self.key_epoch(cluster)?;
        let Some(cluster_key) = self.cluster_key(cluster).and_then(|k| k.at_epoch(epoch)) else {
            tracing::error!(
                contract = %id,
                %cluster,
                epoch,
                "not running the contract: this worker holds no key of its cluster's epoch"
            );
            return Ok(());
        };
        let record = ContractRecord {
            info: ContractInfo {
                id,
                code_hash: *code_hash,
                cluster: *cluster,
                deployer: run.signed.tx.signer,
                height: self.info.number,
                key_epoch: epoch,
                public_key: Some(Hash32(cluster_key.contract(&id).ecdh().public().0)),
            },
            state_root: Hash32::default(),
            entries: 0,
            logs: 0,
            synced_through: 0,
        };
        self.changes.contracts.insert(id, record);
        let opened = Envelope::from_bytes(&args.0).and_then(|envelope| {
            open::tx_envelope(
                &envelope,
                &cluster_key.ecdh(),
                self.keys.agreements,
                &id,
                Direction::InitArgs,
                &run.signed.tx.signer,
                self.info.timestamp_ms,
            )
        });
        match opened {
            Ok((plain, session)) => match String::from_utf8(plain) {
                Ok(args) => self.execute(run, Entry::init(args), session).await,
                Err(_) => {
                    run.failed(&mut self.changes, "init args are not UTF-8 text".into());
                    Ok(())
                }
            },
            Err(e) => {
                run.failed(&mut self.changes, format!("init args refused: {e}"));
                Ok(())
            }
        }
    }

    async fn command(&mut self, run: &Run<'_>, payload: &Bytes) -> Result<()> {
        let contract = run.contract;
        let cluster = self.changes.contracts[&contract].info.cluster;
        let keys = self
            .contract_keys(&contract, &cluster)
            .ok_or(ExecutorError::NoClusterKey(cluster))?;
        let opened = match self.prepared.take(run.index, &keys) {
            Some(opened) => opened,
            None => Envelope::from_bytes(&payload.0).and_then(|envelope| {
                open::tx_envelope(
                    &envelope,
                    keys.ecdh(),
                    self.keys.agreements,
                    &contract,
                    Direction::Command,
                    &run.signed.tx.signer,
                    self.info.timestamp_ms,
                )
            }),
        };
        let nonce = run.signed.tx.nonce;
        let refused = match opened {
            Ok((plain, session)) => match CommandPayload::decode(&plain) {
                Ok(p) if p.tx_nonce == nonce => {
                    let entry = Entry::command(p.method, p.args);
                    return self.execute(run, entry, session).await;
                }
                Ok(p) => format!(
                    "command refused: sealed for the transaction of nonce {}, carried by nonce {nonce} (a replay)",
                    p.tx_nonce
                ),
                Err(e) => format!("command refused: {e}"),
            },
            Err(e) => format!("command refused: {e}"),
        };
        run.failed(&mut self.changes, refused);
        Ok(())
    }

    /// Run `entry` of the contract and record its outcome, the output sealed to `session`.
    async fn execute(&mut self, run: &Run<'_>, entry: Entry, session: Session) -> Result<()> {
        let contract = run.contract;
        let info = &self.changes.contracts[&contract].info;
        let (code_hash, cluster) = (info.code_hash, info.cluster);
        let code = match self.code(&code_hash)? {
            Ok(code) => code,
            Err(e) => {
                run.failed(&mut self.changes, format!("cannot load the code: {e}"));
                return Ok(());
            }
        };
        let secret = self
            .contract_keys(&contract, &cluster)
            .ok_or(ExecutorError::NoClusterKey(cluster))?
            .secret();
        let call = run.call(entry, self.overlay.clone(), secret);
        let outcome = self.runtime.call(&code, call).await;
        let overlay = &self.overlay;
        run.record(
            &mut self.changes,
            outcome,
            |writes| overlay.apply(&contract, writes),
            (session, &mut self.to_seal),
        )
    }

    /// The compiled code of `hash`: at hand, or compiled from the bytes uploaded in this
    /// block or committed before it. Code that does not compile fails the call (every worker
    /// agrees on that); stored bytes that are not the code of `hash` stop the block.
    fn code(&self, hash: &CodeHash) -> Result<std::result::Result<Arc<Code>, String>> {
        if let Some(code) = self.codes.cached(hash) {
            return Ok(Ok(code));
        }
        let uploaded = self.changes.codes.iter().find(|(h, _)| h == hash);
        let compiled = match uploaded {
            Some((_, wasm)) => self.codes.compile(hash, wasm),
            None => match self.overlay.base().code(hash) {
                Ok(Some(wasm)) => {
                    let found = code_hash(&wasm);
                    if found != *hash {
                        return Err(ExecutorError::CodeTampered {
                            expected: *hash,
                            found,
                        });
                    }
                    self.codes.compile(hash, &wasm)
                }
                Ok(None) => return Ok(Err(format!("code {hash} is missing"))),
                Err(e) => Err(e),
            },
        };
        Ok(compiled.map_err(|e| e.to_string()))
    }
}
