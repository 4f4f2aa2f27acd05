//! What the executor reads: the committed state, compiled code and the worker's keys.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fat_crypto::envelope::{Agreements, EcdhSecret};
use fat_crypto::{ClusterKey, ContractKeys, Keypair};
use fat_runtime::{Code, Runtime, StateStore};
use fat_types::{ClusterId, CodeHash, ContractId};

use crate::changes::ContractRecord;

/// A read view of the committed state: the entries of contracts (through [`StateStore`])
/// and the little else a block's execution reads. It must stay one consistent block for the
/// whole call: the worker's store gives a read transaction.
pub trait StateView: StateStore {
    /// Whether this worker is a member of `cluster`.
    fn is_member(&self, cluster: &ClusterId) -> fat_runtime::Result<bool>;
    /// The key epoch of `cluster`: how many members were removed from it (0 for a cluster
    /// no removal named).
    fn key_epoch(&self, cluster: &ClusterId) -> fat_runtime::Result<u32>;
    /// The record of a contract this worker runs.
    fn contract(&self, id: &ContractId) -> fat_runtime::Result<Option<ContractRecord>>;
    /// The bytes of uploaded code.
    fn code(&self, hash: &CodeHash) -> fat_runtime::Result<Option<Vec<u8>>>;
}

/// Compiled code by hash. The executor reads the bytes itself (uploaded in the block being
/// applied, or from the [`StateView`]), so a provider only compiles and keeps what it
/// compiled.
pub trait CodeProvider: Send + Sync {
    /// The compiled code of `hash`, if already at hand.
    fn cached(&self, hash: &CodeHash) -> Option<Arc<Code>>;
    /// Compile `wasm`, named `hash` (and keep it for [`CodeProvider::cached`]).
    fn compile(&self, hash: &CodeHash, wasm: &[u8]) -> fat_runtime::Result<Arc<Code>>;
}

/// The runtime compiles, keeping its own cache (which it looks up by hashing the bytes).
impl CodeProvider for Runtime {
    fn cached(&self, _: &CodeHash) -> Option<Arc<Code>> {
        None
    }

    fn compile(&self, _: &CodeHash, wasm: &[u8]) -> fat_runtime::Result<Arc<Code>> {
        self.load(wasm)
    }
}

/// The cluster keys a worker holds.
pub trait ClusterKeys: Send + Sync {
    /// The key of `cluster`, if held.
    fn cluster_key(&self, cluster: &ClusterId) -> Option<ClusterKey>;

    /// The keys of `contract`, a contract of `cluster` created at key epoch `epoch`, if the
    /// key of `cluster` held is of that epoch or a later one; with the ECDH public key
    /// computed (commands are opened against it). A contract's cluster and epoch are fixed
    /// when it is created, so its keys never change: a provider may keep them, as the
    /// worker's keyring does, rather than derive them (eight HKDFs and an x25519 base-point
    /// multiplication) for every block that runs the contract.
    fn contract_keys(
        &self,
        cluster: &ClusterId,
        epoch: u32,
        contract: &ContractId,
    ) -> Option<ContractKeys> {
        contract_keys_of(&self.cluster_key(cluster)?, epoch, contract)
    }
}

/// The keys of `contract` at key epoch `epoch` from a cluster key of that epoch or a later
/// one, with the ECDH public key computed once here, before the clones that open the
/// contract's commands share it.
pub fn contract_keys_of(
    key: &ClusterKey,
    epoch: u32,
    contract: &ContractId,
) -> Option<ContractKeys> {
    let keys = key.at_epoch(epoch)?.contract(contract);
    keys.ecdh().public();
    Some(keys)
}

impl ClusterKeys for BTreeMap<ClusterId, ClusterKey> {
    fn cluster_key(&self, cluster: &ClusterId) -> Option<ClusterKey> {
        self.get(cluster).cloned()
    }
}

impl ClusterKeys for HashMap<ClusterId, ClusterKey> {
    fn cluster_key(&self, cluster: &ClusterId) -> Option<ClusterKey> {
        self.get(cluster).cloned()
    }
}

/// The worker's keys, as the executor uses them.
#[derive(Clone, Copy)]
pub struct Keys<'a> {
    /// The worker's identity: it signs the outputs sealed to a command's session, and (as
    /// the worker id) is what `CreateCluster`, `AddClusterWorker` and `ProvisionKey` name.
    pub identity: &'a Keypair,
    /// The worker's ECDH secret: provisioned cluster keys are sealed to its public key.
    pub ecdh: &'a EcdhSecret,
    /// The cluster keys held when the block begins. Keys the block provisions are used by
    /// its later transactions and returned in [`crate::BlockChanges::cluster_keys`].
    pub clusters: &'a dyn ClusterKeys,
    /// The key agreements of command sessions already seen, kept across blocks: a sender
    /// that seals its commands under one session costs one x25519 per contract key.
    pub agreements: &'a Agreements,
}

impl std::fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({})", self.identity.account_id())
    }
}
