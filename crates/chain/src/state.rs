//! The registry state: in memory for reads, written to the store with every block.
//!
//! Every entry is stored under a [`StateKey`] (canonically encoded) with its canonically
//! encoded value. The state root chains the writes of each block:
//! `root(n) = H("fat/state/v1", root(n-1), writes(n))`, where `writes(n)` is the list of
//! (key, value) pairs the block wrote, sorted by key. Two nodes that commit the same blocks
//! reach the same root; the root is cheap to compute whatever the size of the registry.

use std::collections::{BTreeMap, HashMap, HashSet};

use borsh::{BorshDeserialize, BorshSerialize};
use fat_types::encoding::{decode, encode, tagged_hash};
use fat_types::{
    AccountId, AccountState, ClusterId, ClusterInfo, CodeHash, CodeInfo, ContractId, ContractInfo,
    Hash32, KeyProvision, WorkerId, WorkerInfo,
};

use crate::error::{ChainError, Result};
use crate::genesis::{ChainParams, Genesis};

/// The key of one registry entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub enum StateKey {
    /// The chain parameters.
    Params,
    /// An account.
    Account(AccountId),
    /// Uploaded code.
    Code(CodeHash),
    /// A contract.
    Contract(ContractId),
    /// A cluster.
    Cluster(ClusterId),
    /// A worker.
    Worker(WorkerId),
    /// A key provisioned to a worker for a cluster.
    Provision(WorkerId, ClusterId),
    /// A gatekeeper (the value is empty).
    Gatekeeper(AccountId),
}

/// The registry.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The chain parameters.
    pub params: ChainParams,
    /// Accounts.
    pub accounts: HashMap<AccountId, AccountState>,
    /// Code (without its bytes).
    pub codes: HashMap<CodeHash, CodeInfo>,
    /// Contracts.
    pub contracts: HashMap<ContractId, ContractInfo>,
    /// Clusters.
    pub clusters: HashMap<ClusterId, ClusterInfo>,
    /// Workers.
    pub workers: HashMap<WorkerId, WorkerInfo>,
    /// Provisioned keys.
    pub provisions: HashMap<(WorkerId, ClusterId), KeyProvision>,
    /// Gatekeepers.
    pub gatekeepers: HashSet<AccountId>,
}

/// What a block changes, on top of a [`State`].
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// New chain parameters.
    pub params: Option<ChainParams>,
    /// Changed accounts.
    pub accounts: HashMap<AccountId, AccountState>,
    /// New code.
    pub codes: HashMap<CodeHash, CodeInfo>,
    /// The bytes of new code.
    pub code_bytes: Vec<(CodeHash, Vec<u8>)>,
    /// New or changed contracts.
    pub contracts: HashMap<ContractId, ContractInfo>,
    /// New or changed clusters.
    pub clusters: HashMap<ClusterId, ClusterInfo>,
    /// New workers.
    pub workers: HashMap<WorkerId, WorkerInfo>,
    /// New provisioned keys.
    pub provisions: HashMap<(WorkerId, ClusterId), KeyProvision>,
    /// New gatekeepers.
    pub gatekeepers: HashSet<AccountId>,
}

/// Encoded (key, value) pairs, sorted by key.
pub type Writes = Vec<(Vec<u8>, Vec<u8>)>;

impl Changes {
    /// The changes of a genesis configuration.
    pub fn genesis(genesis: &Genesis) -> Self {
        let mut changes = Changes {
            params: Some(genesis.params.clone()),
            ..Default::default()
        };
        for (account, balance) in &genesis.accounts {
            changes.accounts.entry(*account).or_default().balance += balance;
        }
        changes
            .gatekeepers
            .extend(genesis.gatekeepers.iter().copied());
        changes
    }

    /// The encoded writes, sorted by key.
    pub fn writes(&self) -> Writes {
        let mut writes = BTreeMap::new();
        let mut put = |key: StateKey, value: Vec<u8>| {
            writes.insert(encode(&key), value);
        };
        if let Some(params) = &self.params {
            put(StateKey::Params, encode(params));
        }
        for (id, v) in &self.accounts {
            put(StateKey::Account(*id), encode(v));
        }
        for (id, v) in &self.codes {
            put(StateKey::Code(*id), encode(v));
        }
        for (id, v) in &self.contracts {
            put(StateKey::Contract(*id), encode(v));
        }
        for (id, v) in &self.clusters {
            put(StateKey::Cluster(*id), encode(v));
        }
        for (id, v) in &self.workers {
            put(StateKey::Worker(*id), encode(v));
        }
        for ((w, c), v) in &self.provisions {
            put(StateKey::Provision(*w, *c), encode(v));
        }
        for id in &self.gatekeepers {
            put(StateKey::Gatekeeper(*id), Vec::new());
        }
        writes.into_iter().collect()
    }
}

/// The state root after a block that wrote `writes` on top of `parent`.
pub fn next_root(parent: &Hash32, writes: &Writes) -> Hash32 {
    tagged_hash("fat/state/v1", &(parent, writes))
}

impl State {
    /// Apply a block's changes.
    pub fn apply(&mut self, changes: Changes) {
        if let Some(params) = changes.params {
            self.params = params;
        }
        self.accounts.extend(changes.accounts);
        self.codes.extend(changes.codes);
        self.contracts.extend(changes.contracts);
        self.clusters.extend(changes.clusters);
        self.workers.extend(changes.workers);
        self.provisions.extend(changes.provisions);
        self.gatekeepers.extend(changes.gatekeepers);
    }

    /// Rebuild the state from stored entries.
    pub fn load(entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Result<Self> {
        let mut state = State::default();
        for (key, value) in entries {
            let key: StateKey = decode("state key", &key).map_err(corrupt)?;
            let v = value.as_slice();
            match key {
                StateKey::Params => state.params = decode("params", v).map_err(corrupt)?,
                StateKey::Account(id) => {
                    state
                        .accounts
                        .insert(id, decode("account", v).map_err(corrupt)?);
                }
                StateKey::Code(id) => {
                    state
                        .codes
                        .insert(id, decode("code info", v).map_err(corrupt)?);
                }
                StateKey::Contract(id) => {
                    state
                        .contracts
                        .insert(id, decode("contract", v).map_err(corrupt)?);
                }
                StateKey::Cluster(id) => {
                    state
                        .clusters
                        .insert(id, decode("cluster", v).map_err(corrupt)?);
                }
                StateKey::Worker(id) => {
                    state
                        .workers
                        .insert(id, decode("worker", v).map_err(corrupt)?);
                }
                StateKey::Provision(w, c) => {
                    state
                        .provisions
                        .insert((w, c), decode("provision", v).map_err(corrupt)?);
                }
                StateKey::Gatekeeper(id) => {
                    state.gatekeepers.insert(id);
                }
            }
        }
        Ok(state)
    }
}

fn corrupt(e: fat_types::DecodeError) -> ChainError {
    ChainError::Corrupt(e.to_string())
}
