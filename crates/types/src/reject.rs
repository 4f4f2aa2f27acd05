//! Why the chain refuses a transaction.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Why a transaction is refused by the mempool, or failed when executed.
///
/// In JSON an object with a `code` in snake_case and the variant's fields.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    thiserror::Error,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum TxRejection {
    /// The bytes are not a canonical signed transaction.
    #[error("malformed transaction: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The encoded transaction is larger than the chain allows.
    #[error("transaction too large: {size} bytes, at most {max}")]
    TooLarge {
        /// The size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The signature is not the signer's over the transaction id.
    #[error("bad signature")]
    BadSignature,
    /// The transaction is already in the mempool or the chain.
    #[error("transaction already known")]
    AlreadyKnown,
    /// The nonce was already used.
    #[error("stale nonce: expected {expected}, got {got}")]
    StaleNonce {
        /// The signer's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce skips ahead of the signer's next nonce.
    #[error("nonce too high: expected {expected}, got {got}")]
    NonceGap {
        /// The signer's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The fee is below the chain's minimum for this size.
    #[error("fee too low: {fee}, at least {min}")]
    FeeTooLow {
        /// The offered fee.
        fee: u64,
        /// The minimum fee.
        min: u64,
    },
    /// The signer cannot pay the fee and amount on top of its pending transactions.
    #[error("insufficient balance: needs {needed}, has {available}")]
    InsufficientBalance {
        /// Fee plus amount.
        needed: u64,
        /// Balance less what pending transactions spend.
        available: u64,
    },
    /// No such code.
    #[error("unknown code {code_hash}")]
    UnknownCode {
        /// The code hash.
        code_hash: crate::CodeHash,
    },
    /// No such contract.
    #[error("unknown contract {contract}")]
    UnknownContract {
        /// The contract.
        contract: crate::ContractId,
    },
    /// No such cluster.
    #[error("unknown cluster {cluster}")]
    UnknownCluster {
        /// The cluster.
        cluster: crate::ClusterId,
    },
    /// No such worker.
    #[error("unknown worker {worker}")]
    UnknownWorker {
        /// The worker.
        worker: crate::WorkerId,
    },
    /// A contract with this id exists already.
    #[error("contract {contract} exists already")]
    ContractExists {
        /// The contract.
        contract: crate::ContractId,
    },
    /// A worker with this id is registered already.
    #[error("worker {worker} is registered already")]
    WorkerExists {
        /// The worker.
        worker: crate::WorkerId,
    },
    /// The worker is in the cluster already, or is not in it when it must be.
    #[error("worker {worker} membership of cluster {cluster} does not allow this")]
    Membership {
        /// The worker.
        worker: crate::WorkerId,
        /// The cluster.
        cluster: crate::ClusterId,
    },
    /// Only the cluster's owner may do this.
    #[error("not the owner of cluster {cluster}")]
    NotClusterOwner {
        /// The cluster.
        cluster: crate::ClusterId,
    },
    /// Only a gatekeeper may provision keys.
    #[error("signer is not a gatekeeper")]
    NotGatekeeper,
    /// The worker's attestation report does not satisfy this chain's policy.
    #[error("attestation ({provider}) refused: {reason}")]
    AttestationRejected {
        /// The provider.
        provider: String,
        /// Why.
        reason: String,
    },
    /// The cluster has no key yet: a gatekeeper has not provisioned it.
    #[error("cluster {cluster} has no key yet (not provisioned by a gatekeeper)")]
    ClusterKeyMissing {
        /// The cluster.
        cluster: crate::ClusterId,
    },
    /// The contract's key is not published yet, so nothing can be sealed to it.
    #[error("contract {contract} has no published key yet")]
    ContractKeyMissing {
        /// The contract.
        contract: crate::ContractId,
    },
    /// The key differs from the one already published.
    #[error("a different key is already published for {what}")]
    KeyMismatch {
        /// What the key belongs to.
        what: String,
    },
    /// The mempool is full; try again later.
    #[error("mempool full ({limit} transactions)")]
    MempoolFull {
        /// The mempool's capacity.
        limit: u64,
    },
    // New variants go last: the borsh encoding of receipts numbers them in order.
    /// The transaction asks for more gas than one transaction may (`max_tx_gas`).
    #[error("gas limit too high: {gas}, at most {max} (max_tx_gas)")]
    GasLimitTooHigh {
        /// The gas asked for.
        gas: u64,
        /// The chain's `max_tx_gas`.
        max: u64,
    },
    /// The transaction is signed for another chain (its `chain` is not this chain's genesis
    /// block hash).
    #[error("transaction for another chain: {got}, this chain is {expected}")]
    WrongChain {
        /// This chain's id (its genesis block hash).
        expected: crate::Hash32,
        /// The transaction's chain id.
        got: crate::Hash32,
    },
    /// Only the account that registered a worker may speak for it.
    #[error("not the operator of worker {worker}")]
    NotOperator {
        /// The worker.
        worker: crate::WorkerId,
    },
    /// The transactions waiting for a block hold as many bytes as the mempool keeps; try
    /// again later.
    #[error("mempool full ({limit} bytes)")]
    MempoolBytesFull {
        /// The mempool's capacity in encoded bytes.
        limit: u64,
    },
    /// The cluster's owner does not let the signer instantiate contracts in it.
    #[error("cluster {cluster} does not take contracts from this account (its owner decides)")]
    NotDeployer {
        /// The cluster.
        cluster: crate::ClusterId,
    },
    /// The chain names its cluster admins, and the signer of a `CreateCluster` is none of
    /// them.
    #[error("only the chain's cluster admins may create clusters")]
    NotClusterAdmin,
    /// What the transaction seals or provisions is not for the cluster's current key: the
    /// cluster's key rotated (a member was removed) since it was made. Fetch the cluster's
    /// key again and send a new transaction.
    #[error(
        "{what} is not for the current key of cluster {cluster} (epoch {current}; its key \
         rotates when a member is removed): fetch its key again and retry"
    )]
    StaleKeyEpoch {
        /// The cluster.
        cluster: crate::ClusterId,
        /// What is sealed or provisioned for another key.
        what: String,
        /// The cluster's current key epoch.
        current: u32,
    },
    /// Removing another member would rotate the cluster's key past its last epoch
    /// ([`crate::MAX_KEY_EPOCHS`]).
    #[error(
        "cluster {cluster} has used all its {} key epochs: no member can be removed; \
         create a new cluster",
        crate::MAX_KEY_EPOCHS
    )]
    KeyEpochsExhausted {
        /// The cluster.
        cluster: crate::ClusterId,
    },
}

impl TxRejection {
    /// The snake_case code of the variant, as in JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed",
            Self::TooLarge { .. } => "too_large",
            Self::BadSignature => "bad_signature",
            Self::AlreadyKnown => "already_known",
            Self::StaleNonce { .. } => "stale_nonce",
            Self::NonceGap { .. } => "nonce_gap",
            Self::FeeTooLow { .. } => "fee_too_low",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::UnknownCode { .. } => "unknown_code",
            Self::UnknownContract { .. } => "unknown_contract",
            Self::UnknownCluster { .. } => "unknown_cluster",
            Self::UnknownWorker { .. } => "unknown_worker",
            Self::ContractExists { .. } => "contract_exists",
            Self::WorkerExists { .. } => "worker_exists",
            Self::Membership { .. } => "membership",
            Self::NotClusterOwner { .. } => "not_cluster_owner",
            Self::NotGatekeeper => "not_gatekeeper",
            Self::AttestationRejected { .. } => "attestation_rejected",
            Self::ClusterKeyMissing { .. } => "cluster_key_missing",
            Self::ContractKeyMissing { .. } => "contract_key_missing",
            Self::KeyMismatch { .. } => "key_mismatch",
            Self::MempoolFull { .. } => "mempool_full",
            Self::GasLimitTooHigh { .. } => "gas_limit_too_high",
            Self::WrongChain { .. } => "wrong_chain",
            Self::NotOperator { .. } => "not_operator",
            Self::MempoolBytesFull { .. } => "mempool_bytes_full",
            Self::NotDeployer { .. } => "not_deployer",
            Self::NotClusterAdmin => "not_cluster_admin",
            Self::StaleKeyEpoch { .. } => "stale_key_epoch",
            Self::KeyEpochsExhausted { .. } => "key_epochs_exhausted",
        }
    }
}
