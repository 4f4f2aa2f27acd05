//! Contract state: the storage seam, its in-memory twin and state roots.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use fat_types::{ContractId, Hash32};

use crate::{Error, Result};

/// The writes of one call: a key maps to its new value, or to `None` when removed.
pub type StateChanges = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Read access to contract state. Each method sees one contract's keys only.
///
/// Implementations must give a consistent snapshot for the duration of a call; the worker's
/// disk store does this with read transactions.
pub trait StateStore: Send + Sync {
    /// The value under `key`.
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` entries with keys starting with `prefix` and greater than `after`, in
    /// key order.
    fn scan(
        &self,
        contract: &ContractId,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// How many entries the contract holds.
    fn entry_count(&self, contract: &ContractId) -> Result<u64>;
}

/// The state root of a contract holding `entries` (in any order): see
/// [`StateHash`](crate::StateHash), which keeps it up to date write by write.
pub fn state_root<'a>(
    contract: &ContractId,
    entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Hash32 {
    let mut hash = crate::StateHash::new(*contract);
    for (key, value) in entries {
        hash.insert(key, value);
    }
    hash.root()
}

/// [`state_root`] keyed with the contract's state-root key, as workers publish it.
pub fn state_root_keyed<'a>(
    contract: &ContractId,
    key: [u8; 32],
    entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Hash32 {
    let mut hash = crate::StateHash::keyed(*contract, key);
    for (key, value) in entries {
        hash.insert(key, value);
    }
    hash.root()
}

/// One contract's entries, in key order.
type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// Contract state in memory: the test twin of the worker's disk store.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    inner: Arc<RwLock<BTreeMap<ContractId, Entries>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply a call's writes to a contract's state.
    pub fn apply(&self, contract: &ContractId, changes: &StateChanges) {
        let mut all = self.inner.write().expect("memory store lock");
        let state = all.entry(*contract).or_default();
        for (key, value) in changes {
            match value {
                Some(value) => state.insert(key.clone(), value.clone()),
                None => state.remove(key),
            };
        }
    }

    /// The state root of a contract (see [`state_root`]).
    pub fn state_root(&self, contract: &ContractId) -> Hash32 {
        let all = self.inner.read().expect("memory store lock");
        let empty = BTreeMap::new();
        let state = all.get(contract).unwrap_or(&empty);
        state_root(
            contract,
            state.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        )
    }
}

impl StateStore for MemoryStore {
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let all = self.inner.read().map_err(|e| Error::Store(e.to_string()))?;
        Ok(all.get(contract).and_then(|state| state.get(key).cloned()))
    }

    fn scan(
        &self,
        contract: &ContractId,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let all = self.inner.read().map_err(|e| Error::Store(e.to_string()))?;
        let Some(state) = all.get(contract) else {
            return Ok(Vec::new());
        };
        let start = after.map_or(prefix, |a| a.max(prefix)).to_vec();
        Ok(state
            .range(start..)
            .filter(|(k, _)| Some(k.as_slice()) != after)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn entry_count(&self, contract: &ContractId) -> Result<u64> {
        let all = self.inner.read().map_err(|e| Error::Store(e.to_string()))?;
        Ok(all.get(contract).map_or(0, |s| s.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(entries: &[(&str, &str)]) -> (Arc<MemoryStore>, ContractId) {
        let store = Arc::new(MemoryStore::new());
        let contract = ContractId([1; 32]);
        let changes = entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec())))
            .collect();
        store.apply(&contract, &changes);
        (store, contract)
    }

    fn keys(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<String> {
        entries
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    }

    #[test]
    fn scan_respects_prefix_after_and_limit() {
        let (store, contract) =
            store_with(&[("a/1", "x"), ("a/2", "y"), ("a/3", "z"), ("b/1", "w")]);
        assert_eq!(
            keys(store.scan(&contract, b"a/", None, 10).unwrap()),
            ["a/1", "a/2", "a/3"]
        );
        assert_eq!(
            keys(store.scan(&contract, b"a/", Some(b"a/1"), 1).unwrap()),
            ["a/2"]
        );
        assert!(
            store
                .scan(&ContractId([9; 32]), b"", None, 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn state_root_depends_on_content_and_contract_only() {
        let (a, contract) = store_with(&[("x", "1"), ("y", "2")]);
        let (b, _) = store_with(&[("y", "2"), ("x", "1")]);
        assert_eq!(a.state_root(&contract), b.state_root(&contract));
        b.apply(
            &contract,
            &[(b"y".to_vec(), Some(b"3".to_vec()))].into_iter().collect(),
        );
        assert_ne!(a.state_root(&contract), b.state_root(&contract));
        // Key/value boundaries are part of the hash.
        let (c, _) = store_with(&[("xy", "")]);
        let (d, _) = store_with(&[("x", "y")]);
        assert_ne!(c.state_root(&contract), d.state_root(&contract));
    }
}
