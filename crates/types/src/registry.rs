//! The registry the chain keeps: accounts, code, contracts, clusters, workers and keys.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::Bytes;
use crate::tx::Attestation;
use crate::{AccountId, ClusterId, CodeHash, ContractId, Hash32, WorkerId};

/// An account's balance and next nonce.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct AccountState {
    /// Funds available for fees and transfers.
    pub balance: u64,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
}

/// Uploaded code (its bytes are served separately).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CodeInfo {
    /// BLAKE3 of the bytes.
    pub hash: CodeHash,
    /// Length in bytes.
    pub size: u64,
    /// Who uploaded it first.
    pub uploader: AccountId,
    /// The block that stored it.
    pub height: u64,
}

/// A contract instance.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ContractInfo {
    /// The contract's id.
    pub id: ContractId,
    /// Its code.
    pub code_hash: CodeHash,
    /// The cluster that runs it.
    pub cluster: ClusterId,
    /// Who instantiated it.
    pub deployer: AccountId,
    /// The block that created it.
    pub height: u64,
}

/// A cluster of workers.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The cluster's id.
    pub id: ClusterId,
    /// Who may add workers.
    pub owner: AccountId,
    /// The members, in the order they joined.
    pub workers: Vec<WorkerId>,
}

/// A registered worker.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The worker's ed25519 identity key.
    pub id: WorkerId,
    /// The worker's x25519 key.
    pub ecdh_public: Hash32,
    /// The account that registered it.
    pub operator: AccountId,
    /// The report that binds its keys.
    pub attestation: Attestation,
    /// The block that registered it.
    pub height: u64,
}

/// A cluster key provisioned to a worker by a gatekeeper.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct KeyProvision {
    /// The worker.
    pub worker: WorkerId,
    /// The cluster.
    pub cluster: ClusterId,
    /// The gatekeeper that provisioned it.
    pub gatekeeper: AccountId,
    /// The cluster key sealed to the worker.
    pub sealed_key: Bytes,
    /// The block that provisioned it.
    pub height: u64,
}
