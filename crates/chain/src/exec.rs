//! The rules of each transaction kind: checked by the mempool, applied when a block is built.

use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{
    AccountId, AccountState, ClusterId, ClusterInfo, CodeHash, CodeInfo, ContractId, ContractInfo,
    KeyProvision, Outcome, Receipt, SignedTransaction, Transaction, TxKind, TxRejection, WorkerId,
    WorkerInfo,
};

use crate::genesis::ChainParams;
use crate::state::{Changes, State};

/// What the kind-specific rules need to know about the registry.
pub(crate) trait View {
    fn params(&self) -> &ChainParams;
    fn has_code(&self, id: &CodeHash) -> bool;
    fn has_contract(&self, id: &ContractId) -> bool;
    fn has_cluster(&self, id: &ClusterId) -> bool;
    fn has_worker(&self, id: &WorkerId) -> bool;
    /// The cluster's details, when they are known (not for clusters still pending).
    fn cluster(&self, id: &ClusterId) -> Option<&ClusterInfo>;
    fn is_gatekeeper(&self, id: &AccountId) -> bool;
}

/// What kind of registry entry a pending transaction creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Created {
    Code(CodeHash),
    Contract(ContractId),
    Cluster(ClusterId),
    Worker(WorkerId),
}

/// The entry a transaction creates if it succeeds (what later transactions may refer to).
pub(crate) fn created(tx: &Transaction) -> Option<Created> {
    match &tx.kind {
        TxKind::UploadCode { code } => Some(Created::Code(code_hash(&code.0))),
        TxKind::Instantiate {
            code_hash,
            cluster,
            salt,
            ..
        } => Some(Created::Contract(contract_id(
            &tx.signer, code_hash, cluster, &salt.0,
        ))),
        TxKind::CreateCluster { .. } => Some(Created::Cluster(cluster_id(&tx.signer, tx.nonce))),
        TxKind::RegisterWorker { worker, .. } => Some(Created::Worker(*worker)),
        _ => None,
    }
}

/// What a transaction spends from its signer's balance at most.
pub(crate) fn spend(tx: &Transaction) -> u64 {
    match &tx.kind {
        TxKind::Transfer { amount, .. } => tx.fee.saturating_add(*amount),
        _ => tx.fee,
    }
}

/// Check the kind-specific rules of `tx` against `view`.
pub(crate) fn check_kind(view: &impl View, tx: &Transaction) -> Result<(), TxRejection> {
    match &tx.kind {
        TxKind::Transfer { .. } | TxKind::UploadCode { .. } => Ok(()),
        TxKind::Instantiate {
            code_hash,
            cluster,
            salt,
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
            let contract = contract_id(&tx.signer, code_hash, cluster, &salt.0);
            if view.has_contract(&contract) {
                return Err(TxRejection::ContractExists { contract });
            }
            Ok(())
        }
        TxKind::Command { contract, .. } => {
            if view.has_contract(contract) {
                Ok(())
            } else {
                Err(TxRejection::UnknownContract {
                    contract: *contract,
                })
            }
        }
        TxKind::CreateCluster { workers } => match workers.iter().find(|w| !view.has_worker(w)) {
            Some(worker) => Err(TxRejection::UnknownWorker { worker: *worker }),
            None => Ok(()),
        },
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
        TxKind::RegisterWorker {
            worker,
            attestation,
            ..
        } => {
            if !view
                .params()
                .accepted_attestation
                .contains(&attestation.provider)
            {
                return Err(TxRejection::AttestationRejected {
                    provider: attestation.provider.clone(),
                });
            }
            if view.has_worker(worker) {
                return Err(TxRejection::WorkerExists { worker: *worker });
            }
            Ok(())
        }
        TxKind::ProvisionKey {
            worker, cluster, ..
        } => {
            if !view.is_gatekeeper(&tx.signer) {
                return Err(TxRejection::NotGatekeeper);
            }
            if !view.has_worker(worker) {
                return Err(TxRejection::UnknownWorker { worker: *worker });
            }
            if !view.has_cluster(cluster) {
                return Err(TxRejection::UnknownCluster { cluster: *cluster });
            }
            if let Some(info) = view.cluster(cluster)
                && !info.workers.contains(worker)
            {
                return Err(TxRejection::Membership {
                    worker: *worker,
                    cluster: *cluster,
                });
            }
            Ok(())
        }
    }
}

/// Executes transactions on top of a state, collecting the changes of one block.
pub(crate) struct Executor<'a> {
    base: &'a State,
    height: u64,
    pub(crate) changes: Changes,
}

impl View for Executor<'_> {
    fn params(&self) -> &ChainParams {
        &self.base.params
    }
    fn has_code(&self, id: &CodeHash) -> bool {
        self.changes.codes.contains_key(id) || self.base.codes.contains_key(id)
    }
    fn has_contract(&self, id: &ContractId) -> bool {
        self.changes.contracts.contains_key(id) || self.base.contracts.contains_key(id)
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
    fn is_gatekeeper(&self, id: &AccountId) -> bool {
        self.base.gatekeepers.contains(id) || self.changes.gatekeepers.contains(id)
    }
}

impl<'a> Executor<'a> {
    pub(crate) fn new(base: &'a State, height: u64) -> Self {
        Self {
            base,
            height,
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
    pub(crate) fn execute(&mut self, signed: &SignedTransaction) -> Receipt {
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
            return Receipt {
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
            return Receipt {
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
        Receipt {
            tx: id,
            fee: tx.fee,
            outcome,
        }
    }

    fn apply(&mut self, tx: &Transaction) -> Outcome {
        let height = self.height;
        let signer = tx.signer;
        match &tx.kind {
            TxKind::Transfer { to, amount } => {
                let mut from = self.account(&signer);
                if from.balance < *amount {
                    return Outcome::Failed(TxRejection::InsufficientBalance {
                        needed: *amount,
                        available: from.balance,
                    });
                }
                from.balance -= amount;
                self.changes.accounts.insert(signer, from);
                let mut dest = self.account(to);
                dest.balance = dest.balance.saturating_add(*amount);
                self.changes.accounts.insert(*to, dest);
                Outcome::Ok
            }
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
                };
                self.changes.workers.insert(*worker, info);
                Outcome::Ok
            }
            TxKind::ProvisionKey {
                worker,
                cluster,
                sealed_key,
            } => {
                let provision = KeyProvision {
                    worker: *worker,
                    cluster: *cluster,
                    gatekeeper: signer,
                    sealed_key: sealed_key.clone(),
                    height,
                };
                self.changes
                    .provisions
                    .insert((*worker, *cluster), provision);
                Outcome::Ok
            }
        }
    }
}
