//! What applying a block did: everything the worker commits, as plain values.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use fat_crypto::ClusterKey;
use fat_runtime::{CacheOp, StateChanges};
use fat_types::{ClusterId, CodeHash, ContractId, ContractInfo, ExecutionReceipt, Hash32};
use serde::{Deserialize, Serialize};

/// A contract this worker runs.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ContractRecord {
    /// What the chain registered.
    pub info: ContractInfo,
    /// The state root after the last block.
    pub state_root: Hash32,
    /// How many state entries it holds.
    pub entries: u64,
    /// How many log lines it wrote (the next line's sequence number).
    pub logs: u64,
    /// For a contract whose state this worker received from another member of its cluster
    /// (it joined the cluster later), the block that state is as of: the contract's
    /// transactions in that block and before are in it, and are not executed here. 0 for a
    /// contract this worker ran from its creation.
    #[serde(default)]
    pub synced_through: u64,
}

/// One line a contract logged while executing a transaction: stored by the worker as it is
/// served (`GET /v1/contracts/{id}/logs`).
pub type LogRecord = fat_proto::worker::LogLine;

/// What one block did, ready to commit.
///
/// `K` is how the cluster keys provisioned by the block are carried: the executor returns
/// them opened ([`ClusterKey`]); the worker seals them ([`BlockChanges::map_keys`]) before
/// its store commits them, so a store never receives a key in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockChanges<K = ClusterKey> {
    /// Uploaded code.
    pub codes: Vec<(CodeHash, Vec<u8>)>,
    /// Clusters this worker joined.
    pub clusters: Vec<ClusterId>,
    /// Clusters this worker was removed from (after joining any in this block).
    pub left: Vec<ClusterId>,
    /// Contracts created or touched, with their entry counts after the block; their state
    /// roots are computed at commit.
    pub contracts: BTreeMap<ContractId, ContractRecord>,
    /// State writes per contract.
    pub writes: BTreeMap<ContractId, StateChanges>,
    /// Receipts to sign; their state roots are filled at commit.
    pub receipts: Vec<ExecutionReceipt>,
    /// Log lines, with their sequence numbers.
    pub logs: Vec<(ContractId, LogRecord)>,
    /// Cache writes of commands, applied to the worker's cache after the block commits.
    pub cache_ops: Vec<(ContractId, Vec<CacheOp>)>,
    /// Cluster keys provisioned to this worker by the block, one per cluster, by cluster id.
    pub cluster_keys: Vec<(ClusterId, K)>,
    /// The clusters (any, not only this worker's) whose key epoch the block moved, with
    /// their new epochs.
    pub key_epochs: BTreeMap<ClusterId, u32>,
}

impl<K> Default for BlockChanges<K> {
    fn default() -> Self {
        Self {
            codes: Vec::new(),
            clusters: Vec::new(),
            left: Vec::new(),
            contracts: BTreeMap::new(),
            writes: BTreeMap::new(),
            receipts: Vec::new(),
            logs: Vec::new(),
            cache_ops: Vec::new(),
            cluster_keys: Vec::new(),
            key_epochs: BTreeMap::new(),
        }
    }
}

impl<K> BlockChanges<K> {
    /// The same changes with each provisioned cluster key turned into `f(cluster, key)` (the
    /// worker seals them); the first error stops.
    pub fn map_keys<T, E>(
        self,
        mut f: impl FnMut(&ClusterId, K) -> Result<T, E>,
    ) -> Result<BlockChanges<T>, E> {
        let cluster_keys = self
            .cluster_keys
            .into_iter()
            .map(|(cluster, key)| f(&cluster, key).map(|k| (cluster, k)))
            .collect::<Result<_, E>>()?;
        Ok(BlockChanges {
            codes: self.codes,
            clusters: self.clusters,
            left: self.left,
            contracts: self.contracts,
            writes: self.writes,
            receipts: self.receipts,
            logs: self.logs,
            cache_ops: self.cache_ops,
            cluster_keys,
            key_epochs: self.key_epochs,
        })
    }
}
