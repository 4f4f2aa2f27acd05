//! The rules of each transaction kind: checked by the mempool, applied when a block is built.

use fat_crypto::envelope::Envelope;
use fat_types::registry::MAX_DEPLOYERS;
use fat_types::tx::{MAX_PUBLISHED_KEYS, cluster_id, code_hash, contract_id};
use fat_types::{
    AccountId, AccountState, ChainReceipt, ClusterId, ClusterInfo, CodeHash, CodeInfo, ContractId,
    ContractInfo, Deployers, Hash32, KeyProvision, Outcome, SignedTransaction, Transaction, TxKind,
    TxRejection, WorkerId, WorkerInfo, key_escrow,
};

use crate::genesis::ChainParams;
use crate::state::{Changes, State};

/// What the kind-specific rules need to know about the registry.
pub(crate) trait View {
    fn params(&self) -> &ChainParams;
    /// The time attestation reports are checked at, in Unix seconds: the block's time when
    /// executing (so every node agrees), the node's clock in the mempool.
    fn now_secs(&self) -> u64;
    fn has_code(&self, id: &CodeHash) -> bool;
    fn has_contract(&self, id: &ContractId) -> bool;
    fn has_cluster(&self, id: &ClusterId) -> bool;
    fn has_worker(&self, id: &WorkerId) -> bool;
    /// The cluster's details, when they are known (not for clusters still pending).
    fn cluster(&self, id: &ClusterId) -> Option<&ClusterInfo>;
    /// The contract's details, when they are known (not for contracts still pending).
    fn contract(&self, id: &ContractId) -> Option<&ContractInfo>;
    /// The worker's registration, when it is known (not for workers still pending).
    fn worker(&self, id: &WorkerId) -> Option<&WorkerInfo>;
    /// Whether a pending transaction publishes this key (so its absence is not final yet).
    fn key_pending(&self, key: Created) -> bool;
    fn is_gatekeeper(&self, id: &AccountId) -> bool;
}

/// What kind of registry entry a pending transaction creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Created {
    Code(CodeHash),
    Contract(ContractId),
    Cluster(ClusterId),
    Worker(WorkerId),
    /// A cluster's public key (published by `ProvisionKey`).
    ClusterKey(ClusterId),
    /// A contract's public key (published by `PublishContractKey`).
    ContractKey(ContractId),
}

/// The entries a transaction creates if it succeeds (what later transactions may refer to).
pub(crate) fn created(tx: &Transaction) -> Vec<Created> {
    match &tx.kind {
        TxKind::UploadCode { code } => vec![Created::Code(code_hash(&code.0))],
        TxKind::Instantiate {
            code_hash,
            cluster,
            salt,
            ..
        } => vec![Created::Contract(contract_id(
            &tx.signer, code_hash, cluster, &salt.0,
        ))],
        TxKind::CreateCluster { .. } => vec![Created::Cluster(cluster_id(&tx.signer, tx.nonce))],
        TxKind::RegisterWorker { worker, .. } => vec![Created::Worker(*worker)],
        TxKind::ProvisionKey { cluster, .. } => vec![Created::ClusterKey(*cluster)],
        TxKind::PublishContractKey { contract, .. } => vec![Created::ContractKey(*contract)],
        TxKind::PublishContractKeys { keys } => keys
            .iter()
            .map(|(contract, _)| Created::ContractKey(*contract))
            .collect(),
        TxKind::Transfer { .. }
        | TxKind::Command { .. }
        | TxKind::AddClusterWorker { .. }
        | TxKind::RemoveClusterWorker { .. }
        | TxKind::SetWorkerEndpoint { .. }
        | TxKind::SetClusterDeployers { .. }
        | TxKind::Reattest { .. } => Vec::new(),
    }
}

/// The key deposit (see [`ChainParams::key_fee`]) a transaction pays if it succeeds: it
/// makes work for the gatekeeper.
pub(crate) fn key_deposit(params: &ChainParams, tx: &Transaction) -> u64 {
    match &tx.kind {
        TxKind::Instantiate { .. }
        | TxKind::CreateCluster { .. }
        | TxKind::AddClusterWorker { .. }
        | TxKind::RemoveClusterWorker { .. } => params.key_fee,
        _ => 0,
    }
}

/// What a transaction spends from its signer's balance at most: its fee, what it transfers
/// and its key deposit.
pub(crate) fn spend(params: &ChainParams, tx: &Transaction) -> u64 {
    let spent = tx.fee.saturating_add(key_deposit(params, tx));
    match &tx.kind {
        TxKind::Transfer { amount, .. } => spent.saturating_add(*amount),
        _ => spent,
    }
}

/// Check what the chain's parameters bound in any transaction of `size` encoded bytes: its
/// gas (at most `max_tx_gas`) and its fee (at least the minimum for its size and gas). The
/// mempool checks this at admission and every node again for each transaction of a proposal.
pub(crate) fn check_limits(
    params: &ChainParams,
    tx: &Transaction,
    size: u64,
) -> Result<(), TxRejection> {
    let gas = tx.kind.gas_limit();
    // A transaction no block could hold would block its signer's later ones for good.
    let max = params.max_tx_gas.min(params.max_block_gas);
    if gas > max {
        return Err(TxRejection::GasLimitTooHigh { gas, max });
    }
    let min = params.min_fee_of_kind(&tx.kind, size);
    if tx.fee < min {
        return Err(TxRejection::FeeTooLow { fee: tx.fee, min });
    }
    Ok(())
}

/// Check the kind-specific rules of `tx` against `view`.
pub(crate) fn check_kind(view: &impl View, tx: &Transaction) -> Result<(), TxRejection> {
    match &tx.kind {
        TxKind::Transfer { .. } => Ok(()),
        TxKind::UploadCode { code } => match fat_types::component::problem(&code.0) {
            Some(problem) => Err(TxRejection::Malformed {
                reason: problem.to_string(),
            }),
            None => Ok(()),
        },
        TxKind::Instantiate {
            code_hash,
            cluster,
            salt,
            args,
            ..
        } => {
            if !view.has_code(code_hash) {
                return Err(TxRejection::UnknownCode {
                    code_hash: *code_hash,
                });
            }
            if !view.has_cluster(cluster) {
                return Err(TxRejection::UnknownCluster { cluster: *cluster });
            }
            if let Some(info) = view.cluster(cluster)
                && !info.may_deploy(&tx.signer)
            {
                return Err(TxRejection::NotDeployer { cluster: *cluster });
            }
            if let Some(info) = view.cluster(cluster)
                && info.public_key.is_none()
                && !view.key_pending(Created::ClusterKey(*cluster))
            {
                return Err(TxRejection::ClusterKeyMissing { cluster: *cluster });
            }
            // Arguments sealed to an earlier epoch's key would be opened by no member: the
            // deployer hears it now rather than from a failed init. (Arguments that are no
            // envelope at all fail in the workers, as they always did.)
            if let Some(info) = view.cluster(cluster)
                && let Some(current) = info.public_key
                && let Ok(envelope) = Envelope::from_bytes(&args.0)
                && envelope.header.recipient.0 != current.0
            {
                return Err(TxRejection::StaleKeyEpoch {
                    cluster: *cluster,
                    what: "the envelope of the init arguments".into(),
                    current: info.key_epoch,
                });
            }
            let contract = contract_id(&tx.signer, code_hash, cluster, &salt.0);
            if view.has_contract(&contract) {
                return Err(TxRejection::ContractExists { contract });
            }
            Ok(())
        }
        TxKind::Command { contract, .. } => {
            if !view.has_contract(contract) {
                return Err(TxRejection::UnknownContract {
                    contract: *contract,
                });
            }
            if let Some(info) = view.contract(contract)
                && info.public_key.is_none()
                && !view.key_pending(Created::ContractKey(*contract))
            {
                return Err(TxRejection::ContractKeyMissing {
                    contract: *contract,
                });
            }
            Ok(())
        }
        TxKind::CreateCluster { workers } => {
            let admins = &view.params().cluster_admins;
            if !admins.is_empty() && !admins.contains(&tx.signer) {
                return Err(TxRejection::NotClusterAdmin);
            }
            match workers.iter().find(|w| !view.has_worker(w)) {
                Some(worker) => Err(TxRejection::UnknownWorker { worker: *worker }),
                None => Ok(()),
            }
        }
        TxKind::AddClusterWorker { cluster, worker } => {
            if !view.has_cluster(cluster) {
                return Err(TxRejection::UnknownCluster { cluster: *cluster });
            }
            if !view.has_worker(worker) {
                return Err(TxRejection::UnknownWorker { worker: *worker });
            }
            if let Some(info) = view.cluster(cluster) {
                if info.owner != tx.signer {
                    return Err(TxRejection::NotClusterOwner { cluster: *cluster });
                }
                if info.workers.contains(worker) {
                    return Err(TxRejection::Membership {
                        worker: *worker,
                        cluster: *cluster,
                    });
                }
            }
            Ok(())
        }
        TxKind::SetWorkerEndpoint { worker, endpoint } => {
            if let Some(problem) = fat_types::tx::endpoint_problem(endpoint) {
                return Err(TxRejection::Malformed {
                    reason: format!("worker endpoint {endpoint:?}: {problem}"),
                });
            }
            // A worker registered in a block not committed yet is unknown here: its operator
            // is known once it is.
            match view.worker(worker) {
                None => Err(TxRejection::UnknownWorker { worker: *worker }),
                Some(info) if info.operator != tx.signer => {
                    Err(TxRejection::NotOperator { worker: *worker })
                }
                Some(_) => Ok(()),
            }
        }
        TxKind::RemoveClusterWorker { cluster, worker } => {
            if !view.has_cluster(cluster) {
                return Err(TxRejection::UnknownCluster { cluster: *cluster });
            }
            if let Some(info) = view.cluster(cluster) {
                if info.owner != tx.signer {
                    return Err(TxRejection::NotClusterOwner { cluster: *cluster });
                }
                if !info.workers.contains(worker) {
                    return Err(TxRejection::Membership {
                        worker: *worker,
                        cluster: *cluster,
                    });
                }
                if info.key_epoch + 1 >= fat_types::MAX_KEY_EPOCHS {
                    return Err(TxRejection::KeyEpochsExhausted { cluster: *cluster });
                }
            }
            Ok(())
        }
        TxKind::RegisterWorker {
            worker,
            ecdh_public,
            attestation,
        } => {
            if let Err(error) = fat_attestation::check_registration(
                &view.params().attestation,
                worker,
                ecdh_public,
                attestation,
                view.now_secs(),
            ) {
                return Err(TxRejection::AttestationRejected {
                    provider: attestation.provider.clone(),
                    reason: error.to_string(),
                });
            }
            if view.has_worker(worker) {
                return Err(TxRejection::WorkerExists { worker: *worker });
            }
            Ok(())
        }
        TxKind::Reattest {
            worker,
            attestation,
        } => {
            let info = match view.worker(worker) {
                None => return Err(TxRejection::UnknownWorker { worker: *worker }),
                Some(info) if info.operator != tx.signer => {
                    return Err(TxRejection::NotOperator { worker: *worker });
                }
                Some(info) => info,
            };
            fat_attestation::check_registration(
                &view.params().attestation,
                worker,
                &info.ecdh_public,
                attestation,
                view.now_secs(),
            )
            .map_err(|error| TxRejection::AttestationRejected {
                provider: attestation.provider.clone(),
                reason: error.to_string(),
            })?;
            Ok(())
        }
        TxKind::ProvisionKey {
            cluster,
            epoch,
            cluster_public,
            keys,
        } => {
            if !view.is_gatekeeper(&tx.signer) {
                return Err(TxRejection::NotGatekeeper);
            }
            if !view.has_cluster(cluster) {
                return Err(TxRejection::UnknownCluster { cluster: *cluster });
            }
            if let Some(info) = view.cluster(cluster)
                && info.key_epoch != *epoch
            {
                return Err(TxRejection::StaleKeyEpoch {
                    cluster: *cluster,
                    what: format!("the key provisioning of epoch {epoch}"),
                    current: info.key_epoch,
                });
            }
            if keys.is_empty() {
                return Err(TxRejection::Malformed {
                    reason: "a key provisioning must carry at least one sealed key".into(),
                });
            }
            let info = view.cluster(cluster);
            for (worker, _) in keys {
                if !view.has_worker(worker) {
                    return Err(TxRejection::UnknownWorker { worker: *worker });
                }
                if let Some(info) = info
                    && !info.workers.contains(worker)
                {
                    return Err(TxRejection::Membership {
                        worker: *worker,
                        cluster: *cluster,
                    });
                }
            }
            if let Some(published) = info.and_then(|i| i.public_key)
                && published != *cluster_public
            {
                return Err(TxRejection::KeyMismatch {
                    what: format!("cluster {cluster}"),
                });
            }
            Ok(())
        }
        TxKind::PublishContractKey {
            contract,
            public_key,
        } => {
            if !view.is_gatekeeper(&tx.signer) {
                return Err(TxRejection::NotGatekeeper);
            }
            if !view.has_contract(contract) {
                return Err(TxRejection::UnknownContract {
                    contract: *contract,
                });
            }
            check_contract_key(view, contract, public_key)
        }
        TxKind::PublishContractKeys { keys } => {
            if !view.is_gatekeeper(&tx.signer) {
                return Err(TxRejection::NotGatekeeper);
            }
            if keys.is_empty() || keys.len() > MAX_PUBLISHED_KEYS {
                return Err(TxRejection::Malformed {
                    reason: format!(
                        "a key publication carries 1 to {MAX_PUBLISHED_KEYS} keys, not {}",
                        keys.len()
                    ),
                });
            }
            let mut seen = std::collections::HashSet::with_capacity(keys.len());
            for (contract, public_key) in keys {
                if !seen.insert(*contract) {
                    return Err(TxRejection::Malformed {
                        reason: format!("contract {contract} twice in one key publication"),
                    });
                }
                check_contract_key(view, contract, public_key)?;
            }
            Ok(())
        }
        TxKind::SetClusterDeployers { cluster, deployers } => {
            if !view.has_cluster(cluster) {
                return Err(TxRejection::UnknownCluster { cluster: *cluster });
            }
            if let Some(info) = view.cluster(cluster)
                && info.owner != tx.signer
            {
                return Err(TxRejection::NotClusterOwner { cluster: *cluster });
            }
            if let Deployers::Accounts(list) = deployers
                && list.len() > MAX_DEPLOYERS
            {
                return Err(TxRejection::Malformed {
                    reason: format!(
                        "a deployer list names at most {MAX_DEPLOYERS} accounts, not {}",
                        list.len()
                    ),
                });
            }
            Ok(())
        }
    }
}

/// A contract's key may be published when the contract exists and no other key is.
fn check_contract_key(
    view: &impl View,
    contract: &ContractId,
    public_key: &Hash32,
) -> Result<(), TxRejection> {
    if !view.has_contract(contract) {
        return Err(TxRejection::UnknownContract {
            contract: *contract,
        });
    }
    if let Some(published) = view.contract(contract).and_then(|i| i.public_key)
        && published != *public_key
    {
        return Err(TxRejection::KeyMismatch {
            what: format!("contract {contract}"),
        });
    }
    Ok(())
}

/// Applies the registry's rules to transactions on top of a state, collecting the changes of
/// one block.
pub(crate) struct Rules<'a> {
    base: &'a State,
    height: u64,
    timestamp_ms: u64,
    pub(crate) changes: Changes,
}

impl View for Rules<'_> {
    fn params(&self) -> &ChainParams {
        &self.base.params
    }
    fn now_secs(&self) -> u64 {
        self.timestamp_ms / 1000
    }
    fn has_code(&self, id: &CodeHash) -> bool {
        self.changes.codes.contains_key(id) || self.base.codes.contains_key(id)
    }
    fn has_contract(&self, id: &ContractId) -> bool {
        self.contract(id).is_some()
    }
    fn has_cluster(&self, id: &ClusterId) -> bool {
        self.cluster(id).is_some()
    }
    fn has_worker(&self, id: &WorkerId) -> bool {
        self.changes.workers.contains_key(id) || self.base.workers.contains_key(id)
    }
    fn cluster(&self, id: &ClusterId) -> Option<&ClusterInfo> {
        self.changes
            .clusters
            .get(id)
            .or_else(|| self.base.clusters.get(id))
    }
    fn contract(&self, id: &ContractId) -> Option<&ContractInfo> {
        self.changes
            .contracts
            .get(id)
            .or_else(|| self.base.contracts.get(id))
    }
    fn worker(&self, id: &WorkerId) -> Option<&WorkerInfo> {
        self.changes
            .workers
            .get(id)
            .or_else(|| self.base.workers.get(id))
    }
    fn key_pending(&self, _key: Created) -> bool {
        false
    }
    fn is_gatekeeper(&self, id: &AccountId) -> bool {
        self.base.gatekeepers.contains(id) || self.changes.gatekeepers.contains(id)
    }
}

impl<'a> Rules<'a> {
    /// The rules of the block at `height` with timestamp `timestamp_ms`.
    pub(crate) fn new(base: &'a State, height: u64, timestamp_ms: u64) -> Self {
        Self {
            base,
            height,
            timestamp_ms,
            changes: Changes::default(),
        }
    }

    fn account(&self, id: &AccountId) -> AccountState {
        self.changes
            .accounts
            .get(id)
            .or_else(|| self.base.accounts.get(id))
            .copied()
            .unwrap_or_default()
    }

    /// Execute one transaction (already checked for signature and size).
    pub(crate) fn execute(&mut self, signed: &SignedTransaction) -> ChainReceipt {
        let tx = &signed.tx;
        let id = signed.id();
        let mut payer = self.account(&tx.signer);
        // A single sequencer only builds blocks of transactions its mempool admitted, so these
        // hold; a BFT engine executing someone else's proposal needs them to stay deterministic.
        if tx.nonce != payer.nonce {
            let rejection = TxRejection::StaleNonce {
                expected: payer.nonce,
                got: tx.nonce,
            };
            return ChainReceipt {
                tx: id,
                fee: 0,
                outcome: Outcome::Failed(rejection),
            };
        }
        if payer.balance < tx.fee {
            let rejection = TxRejection::InsufficientBalance {
                needed: tx.fee,
                available: payer.balance,
            };
            return ChainReceipt {
                tx: id,
                fee: 0,
                outcome: Outcome::Failed(rejection),
            };
        }
        payer.nonce += 1;
        payer.balance -= tx.fee;
        self.changes.accounts.insert(tx.signer, payer);
        let outcome = match check_kind(self, tx) {
            Ok(()) => self.apply(tx),
            Err(rejection) => Outcome::Failed(rejection),
        };
        ChainReceipt {
            tx: id,
            fee: tx.fee,
            outcome,
        }
    }

    /// Move `amount` from `from` to `to`; refused (nothing moved) when `from` has less.
    fn transfer(
        &mut self,
        from: &AccountId,
        to: &AccountId,
        amount: u64,
    ) -> Result<(), TxRejection> {
        let mut source = self.account(from);
        if source.balance < amount {
            return Err(TxRejection::InsufficientBalance {
                needed: amount,
                available: source.balance,
            });
        }
        source.balance -= amount;
        self.changes.accounts.insert(*from, source);
        let mut dest = self.account(to);
        dest.balance = dest.balance.saturating_add(amount);
        self.changes.accounts.insert(*to, dest);
        Ok(())
    }

    /// Pay a gatekeeper `deposits` key deposits from the escrow (what the escrow holds, at
    /// most).
    fn pay_deposits(&mut self, gatekeeper: &AccountId, deposits: u64) {
        let owed = self.base.params.key_fee.saturating_mul(deposits);
        let paid = owed.min(self.account(&key_escrow()).balance);
        self.transfer(&key_escrow(), gatekeeper, paid)
            .expect("the escrow holds what it pays");
    }

    /// Record a contract's public key; the first publication earns the contract's deposit.
    fn publish_contract_key(
        &mut self,
        gatekeeper: &AccountId,
        contract: &ContractId,
        public_key: &Hash32,
    ) -> Result<(), TxRejection> {
        let Some(mut info) = self.contract(contract).cloned() else {
            return Err(TxRejection::UnknownContract {
                contract: *contract,
            });
        };
        if info.public_key.is_none() {
            self.pay_deposits(gatekeeper, 1);
        }
        info.public_key = Some(*public_key);
        self.changes.contracts.insert(*contract, info);
        Ok(())
    }

    fn apply(&mut self, tx: &Transaction) -> Outcome {
        let height = self.height;
        let signer = tx.signer;
        let deposit = key_deposit(&self.base.params, tx);
        if deposit > 0
            && let Err(rejection) = self.transfer(&signer, &key_escrow(), deposit)
        {
            return Outcome::Failed(rejection);
        }
        match &tx.kind {
            TxKind::Transfer { to, amount } => match self.transfer(&signer, to, *amount) {
                Ok(()) => Outcome::Ok,
                Err(rejection) => Outcome::Failed(rejection),
            },
            TxKind::UploadCode { code } => {
                let hash = code_hash(&code.0);
                if !self.has_code(&hash) {
                    let info = CodeInfo {
                        hash,
                        size: code.0.len() as u64,
                        uploader: signer,
                        height,
                    };
                    self.changes.codes.insert(hash, info);
                    self.changes.code_bytes.push((hash, code.0.clone()));
                }
                Outcome::CodeStored(hash)
            }
            TxKind::Instantiate {
                code_hash,
                cluster,
                salt,
                ..
            } => {
                let id = contract_id(&signer, code_hash, cluster, &salt.0);
                let info = ContractInfo {
                    id,
                    code_hash: *code_hash,
                    cluster: *cluster,
                    deployer: signer,
                    height,
                    key_epoch: self.cluster(cluster).map_or(0, |c| c.key_epoch),
                    public_key: None,
                };
                self.changes.contracts.insert(id, info);
                Outcome::ContractCreated(id)
            }
            TxKind::Command { .. } => Outcome::Ok,
            TxKind::CreateCluster { workers } => {
                let id = cluster_id(&signer, tx.nonce);
                let mut members = Vec::new();
                for w in workers {
                    if !members.contains(w) {
                        members.push(*w);
                    }
                }
                self.changes.clusters.insert(
                    id,
                    ClusterInfo {
                        id,
                        owner: signer,
                        workers: members,
                        key_epoch: 0,
                        public_key: None,
                        deployers: Deployers::Anyone,
                        key_deposits: 1,
                    },
                );
                Outcome::ClusterCreated(id)
            }
            TxKind::AddClusterWorker { cluster, worker } => {
                let mut info = self
                    .cluster(cluster)
                    .cloned()
                    .expect("checked by check_kind");
                info.workers.push(*worker);
                info.key_deposits += 1;
                self.changes.clusters.insert(*cluster, info);
                Outcome::Ok
            }
            TxKind::SetClusterDeployers { cluster, deployers } => {
                let mut info = self
                    .cluster(cluster)
                    .cloned()
                    .expect("checked by check_kind");
                info.deployers = deployers.clone();
                self.changes.clusters.insert(*cluster, info);
                Outcome::Ok
            }
            TxKind::SetWorkerEndpoint { worker, endpoint } => {
                let mut info = self.worker(worker).cloned().expect("checked by check_kind");
                info.endpoint = Some(endpoint.clone());
                self.changes.workers.insert(*worker, info);
                Outcome::Ok
            }
            TxKind::RemoveClusterWorker { cluster, worker } => {
                let mut info = self
                    .cluster(cluster)
                    .cloned()
                    .expect("checked by check_kind");
                info.workers.retain(|w| w != worker);
                // The removed member holds this epoch's key: the cluster moves to the next,
                // which only the members that stay are provisioned with, and contracts wait
                // for its key.
                info.key_epoch += 1;
                info.public_key = None;
                info.key_deposits += 1;
                self.changes.clusters.insert(*cluster, info);
                Outcome::Ok
            }
            TxKind::RegisterWorker {
                worker,
                ecdh_public,
                attestation,
            } => {
                let info = WorkerInfo {
                    id: *worker,
                    ecdh_public: *ecdh_public,
                    operator: signer,
                    attestation: attestation.clone(),
                    height,
                    attested_at: self.now_secs(),
                    endpoint: None,
                };
                self.changes.workers.insert(*worker, info);
                Outcome::Ok
            }
            TxKind::Reattest {
                worker,
                attestation,
            } => {
                let mut info = self.worker(worker).cloned().expect("checked by check_kind");
                info.attestation = attestation.clone();
                info.attested_at = self.now_secs();
                self.changes.workers.insert(*worker, info);
                Outcome::Ok
            }
            TxKind::ProvisionKey {
                cluster,
                epoch,
                cluster_public,
                keys,
            } => {
                let Some(mut info) = self.cluster(cluster).cloned() else {
                    return Outcome::Failed(TxRejection::UnknownCluster { cluster: *cluster });
                };
                info.public_key = Some(*cluster_public);
                let deposits = std::mem::take(&mut info.key_deposits);
                self.changes.clusters.insert(*cluster, info);
                self.pay_deposits(&signer, deposits);
                for (worker, sealed_key) in keys {
                    let provision = KeyProvision {
                        worker: *worker,
                        cluster: *cluster,
                        epoch: *epoch,
                        gatekeeper: signer,
                        sealed_key: sealed_key.clone(),
                        height,
                    };
                    self.changes
                        .provisions
                        .insert((*worker, *cluster), provision);
                }
                Outcome::Ok
            }
            TxKind::PublishContractKey {
                contract,
                public_key,
            } => match self.publish_contract_key(&signer, contract, public_key) {
                Ok(()) => Outcome::Ok,
                Err(rejection) => Outcome::Failed(rejection),
            },
            TxKind::PublishContractKeys { keys } => {
                for (contract, public_key) in keys {
                    self.publish_contract_key(&signer, contract, public_key)
                        .expect("checked by check_kind");
                }
                Outcome::Ok
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_check_reports_at_the_block_time_in_seconds() {
        let state = State::default();
        let rules = Rules::new(&state, 1, 1_767_225_600_999);
        assert_eq!(rules.now_secs(), 1_767_225_600);
    }

    /// A cluster at its last key epoch keeps its members: a removal would need a key no
    /// chain of epochs has.
    #[test]
    fn a_cluster_at_its_last_key_epoch_refuses_removals() {
        let (owner, worker, cluster) = (AccountId([1; 32]), WorkerId([2; 32]), ClusterId([3; 32]));
        let mut state = State::default();
        let mut info = ClusterInfo {
            id: cluster,
            owner,
            workers: vec![worker],
            key_epoch: fat_types::MAX_KEY_EPOCHS - 2,
            public_key: None,
            deployers: Deployers::Anyone,
            key_deposits: 0,
        };
        state.clusters.insert(cluster, info.clone());
        let remove = Transaction {
            chain: fat_types::Hash32([0xc1; 32]),
            signer: owner,
            nonce: 0,
            fee: 1,
            kind: TxKind::RemoveClusterWorker { cluster, worker },
        };
        assert_eq!(check_kind(&Rules::new(&state, 1, 0), &remove), Ok(()));
        info.key_epoch += 1;
        state.clusters.insert(cluster, info);
        assert_eq!(
            check_kind(&Rules::new(&state, 1, 0), &remove),
            Err(TxRejection::KeyEpochsExhausted { cluster })
        );
    }

    #[test]
    fn key_publications_are_what_they_create() {
        let tx = |kind| Transaction {
            chain: fat_types::Hash32([0xc1; 32]),
            signer: AccountId([1; 32]),
            nonce: 0,
            fee: 1,
            kind,
        };
        let provision = tx(TxKind::ProvisionKey {
            cluster: ClusterId([2; 32]),
            epoch: 0,
            cluster_public: fat_types::Hash32([3; 32]),
            keys: Vec::new(),
        });
        assert_eq!(
            created(&provision),
            [Created::ClusterKey(ClusterId([2; 32]))]
        );
        let publish = tx(TxKind::PublishContractKey {
            contract: ContractId([4; 32]),
            public_key: fat_types::Hash32([5; 32]),
        });
        assert_eq!(
            created(&publish),
            [Created::ContractKey(ContractId([4; 32]))]
        );
        let batch = tx(TxKind::PublishContractKeys {
            keys: vec![
                (ContractId([4; 32]), fat_types::Hash32([5; 32])),
                (ContractId([6; 32]), fat_types::Hash32([7; 32])),
            ],
        });
        assert_eq!(
            created(&batch),
            [
                Created::ContractKey(ContractId([4; 32])),
                Created::ContractKey(ContractId([6; 32]))
            ]
        );
    }
}
