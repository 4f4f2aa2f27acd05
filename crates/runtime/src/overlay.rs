//! Writes not yet committed, laid over a state store: a block's over the committed state, a
//! call's over the state it was given.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use fat_types::ContractId;

use crate::error::{Error, Result};
use crate::store::{StateChanges, StateStore};

/// Pending writes of any number of contracts over a base [`StateStore`], with the entry
/// count of each contract they touch.
///
/// Reads see the writes merged over the base, which is never written: the worker lays the
/// writes of a block's commands over its committed snapshot with one, and each call lays its
/// own writes over the state it was given with another.
pub struct OverlayStore<B: StateStore + ?Sized = dyn StateStore> {
    base: Arc<B>,
    pending: RwLock<Pending>,
}

/// What an [`OverlayStore`] holds on top of its base.
#[derive(Debug, Default)]
struct Pending {
    writes: BTreeMap<ContractId, StateChanges>,
    /// Entries of each contract written or applied to, counting its writes.
    entries: BTreeMap<ContractId, u64>,
}

impl<B: StateStore + ?Sized> OverlayStore<B> {
    /// No writes yet over `base`.
    pub fn new(base: B) -> Self
    where
        B: Sized,
    {
        Self::shared(Arc::new(base))
    }

    /// No writes yet over `base`, which others may hold too.
    pub fn shared(base: Arc<B>) -> Self {
        Self {
            base,
            pending: RwLock::new(Pending::default()),
        }
    }

    /// The store underneath.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// Write `value` under `key` of `contract` (`None` removes the key); returns how many
    /// entries the contract holds afterwards.
    pub fn write(
        &self,
        contract: &ContractId,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) -> Result<u64> {
        let mut pending = self.pending_mut()?;
        let mut entries = match pending.entries.get(contract) {
            Some(entries) => *entries,
            None => self.base.entry_count(contract)?,
        };
        let existed = match pending.writes.get(contract).and_then(|w| w.get(&key)) {
            Some(written) => written.is_some(),
            None => self.base.get(contract, &key)?.is_some(),
        };
        match (existed, value.is_some()) {
            (false, true) => entries += 1,
            (true, false) => entries = entries.saturating_sub(1),
            _ => {}
        }
        pending.entries.insert(*contract, entries);
        pending
            .writes
            .entry(*contract)
            .or_default()
            .insert(key, value);
        Ok(entries)
    }

    /// Write all of `changes` (a call's writes) to `contract`. The contract is then among
    /// [`entry_counts`](Self::entry_counts), even when `changes` is empty.
    pub fn apply(&self, contract: &ContractId, changes: &StateChanges) -> Result<()> {
        for (key, value) in changes {
            self.write(contract, key.clone(), value.clone())?;
        }
        if changes.is_empty() {
            let mut pending = self.pending_mut()?;
            if !pending.entries.contains_key(contract) {
                let entries = self.base.entry_count(contract)?;
                pending.entries.insert(*contract, entries);
            }
        }
        Ok(())
    }

    /// A copy of the pending writes of every contract written to.
    pub fn writes(&self) -> Result<BTreeMap<ContractId, StateChanges>> {
        Ok(self.pending()?.writes.clone())
    }

    /// How many entries each contract written or applied to holds, counting the pending
    /// writes.
    pub fn entry_counts(&self) -> Result<BTreeMap<ContractId, u64>> {
        Ok(self.pending()?.entries.clone())
    }

    /// The pending writes of every contract written to.
    pub fn into_writes(self) -> BTreeMap<ContractId, StateChanges> {
        self.pending
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .writes
    }

    fn pending(&self) -> Result<RwLockReadGuard<'_, Pending>> {
        self.pending.read().map_err(|_| poisoned())
    }

    fn pending_mut(&self) -> Result<RwLockWriteGuard<'_, Pending>> {
        self.pending.write().map_err(|_| poisoned())
    }
}

fn poisoned() -> Error {
    Error::Store("a writer of the overlay panicked".into())
}

impl<B: StateStore + ?Sized> std::fmt::Debug for OverlayStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverlayStore")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl<B: StateStore + ?Sized> StateStore for OverlayStore<B> {
    fn get(&self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let pending = self.pending()?;
        match pending.writes.get(contract).and_then(|w| w.get(key)) {
            Some(written) => Ok(written.clone()),
            None => self.base.get(contract, key),
        }
    }

    fn scan(
        &self,
        contract: &ContractId,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let pending = self.pending()?;
        let empty = StateChanges::new();
        let writes = pending.writes.get(contract).unwrap_or(&empty);
        merge_scan(&*self.base, contract, writes, prefix, after, limit)
    }

    fn entry_count(&self, contract: &ContractId) -> Result<u64> {
        match self.pending()?.entries.get(contract) {
            Some(entries) => Ok(*entries),
            None => self.base.entry_count(contract),
        }
    }
}

/// Up to `limit` entries of `contract` under `prefix` after `after`, in key order: those of
/// `base` with `writes` laid over them.
fn merge_scan<B: StateStore + ?Sized>(
    base: &B,
    contract: &ContractId,
    writes: &StateChanges,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let start = after.map_or(prefix, |a| a.max(prefix));
    let in_range: Vec<_> = writes
        .range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
        .filter(|(key, _)| Some(key.as_slice()) != after)
        .take_while(|(key, _)| key.starts_with(prefix))
        .collect();
    // Each removal hides at most one base entry, so this many base entries hold the first
    // `limit` survivors; any write past the last of them sorts after those survivors.
    let removals = in_range.iter().filter(|(_, value)| value.is_none()).count();
    let fetch = limit.saturating_add(removals);
    let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = base
        .scan(contract, prefix, after, fetch)?
        .into_iter()
        .collect();
    for (key, value) in in_range {
        match value {
            Some(value) => merged.insert(key.clone(), value.clone()),
            None => merged.remove(key),
        };
    }
    Ok(merged.into_iter().take(limit).collect())
}

/// A call's view of state: its contract's keys in the store it was given, under the call's
/// own writes.
pub(crate) struct Overlay {
    contract: ContractId,
    store: OverlayStore,
}

impl Overlay {
    pub(crate) fn new(base: Arc<dyn StateStore>, contract: ContractId) -> Self {
        Self {
            contract,
            store: OverlayStore::shared(base),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store.get(&self.contract, key)
    }

    /// Store a value; returns the number of entries afterwards.
    pub(crate) fn set(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<u64> {
        self.store.write(&self.contract, key, Some(value))
    }

    pub(crate) fn remove(&mut self, key: Vec<u8>) -> Result<()> {
        self.store.write(&self.contract, key, None).map(drop)
    }

    /// Entries under `prefix` after `after`, merging the call's writes with the store.
    pub(crate) fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.store.scan(&self.contract, prefix, after, limit)
    }

    pub(crate) fn into_writes(self) -> StateChanges {
        self.store
            .into_writes()
            .remove(&self.contract)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    const A: ContractId = ContractId([1; 32]);
    const B: ContractId = ContractId([2; 32]);
    const C: ContractId = ContractId([3; 32]);

    fn changes(entries: &[(&str, Option<&str>)]) -> StateChanges {
        entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
            .collect()
    }

    fn store_with(entries: &[(&str, &str)]) -> (Arc<MemoryStore>, ContractId) {
        let store = Arc::new(MemoryStore::new());
        let entries: Vec<_> = entries.iter().map(|(k, v)| (*k, Some(*v))).collect();
        store.apply(&A, &changes(&entries));
        (store, A)
    }

    fn keys(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<String> {
        entries
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    }

    fn value(store: &impl StateStore, contract: &ContractId, key: &str) -> Option<String> {
        store
            .get(contract, key.as_bytes())
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    }

    /// Base `a/1`..`a/6` and `b/1`; the overlay removes `a/1`..`a/3`, inserts `a/25` and
    /// `a/9`, overwrites `a/5`.
    fn hiding_overlay() -> OverlayStore<MemoryStore> {
        let (base, _) = store_with(&[
            ("a/1", "1"),
            ("a/2", "2"),
            ("a/3", "3"),
            ("a/4", "4"),
            ("a/5", "5"),
            ("a/6", "6"),
            ("b/1", "b"),
        ]);
        let overlay = OverlayStore::shared(base);
        overlay
            .apply(
                &A,
                &changes(&[
                    ("a/1", None),
                    ("a/2", None),
                    ("a/3", None),
                    ("a/25", Some("new")),
                    ("a/5", Some("five")),
                    ("a/9", Some("late")),
                ]),
            )
            .unwrap();
        overlay
    }

    #[test]
    fn get_sees_writes_over_the_base() {
        let (base, _) = store_with(&[("kept", "k"), ("changed", "old"), ("gone", "g")]);
        let overlay = OverlayStore::shared(base.clone());
        overlay
            .apply(
                &A,
                &changes(&[
                    ("changed", Some("new")),
                    ("gone", None),
                    ("added", Some("a")),
                ]),
            )
            .unwrap();
        assert_eq!(value(&overlay, &A, "kept").as_deref(), Some("k"));
        assert_eq!(value(&overlay, &A, "changed").as_deref(), Some("new"));
        assert_eq!(value(&overlay, &A, "gone"), None);
        assert_eq!(value(&overlay, &A, "added").as_deref(), Some("a"));
        assert_eq!(value(&overlay, &A, "absent"), None);
        // Other contracts and the base itself are untouched.
        assert_eq!(value(&overlay, &B, "added"), None);
        assert_eq!(value(&*base, &A, "changed").as_deref(), Some("old"));
        assert_eq!(value(&*base, &A, "gone").as_deref(), Some("g"));
        assert_eq!(value(&*base, &A, "added"), None);
    }

    #[test]
    fn entry_counts_follow_inserts_overwrites_and_deletes() {
        let (base, _) = store_with(&[("x", "1"), ("y", "2")]);
        let overlay = OverlayStore::shared(base);
        assert_eq!(overlay.entry_count(&A).unwrap(), 2);
        assert_eq!(
            overlay
                .write(&A, b"z".to_vec(), Some(b"3".to_vec()))
                .unwrap(),
            3
        );
        assert_eq!(
            overlay
                .write(&A, b"x".to_vec(), Some(b"9".to_vec()))
                .unwrap(),
            3
        );
        assert_eq!(overlay.write(&A, b"y".to_vec(), None).unwrap(), 2);
        assert_eq!(overlay.write(&A, b"y".to_vec(), None).unwrap(), 2);
        assert_eq!(overlay.write(&A, b"absent".to_vec(), None).unwrap(), 2);
        assert_eq!(
            overlay
                .write(&A, b"y".to_vec(), Some(b"back".to_vec()))
                .unwrap(),
            3
        );
        assert_eq!(overlay.write(&A, b"z".to_vec(), None).unwrap(), 2);
        assert_eq!(overlay.entry_count(&A).unwrap(), 2);
        overlay
            .apply(
                &B,
                &changes(&[("p", Some("1")), ("q", Some("2")), ("r", None)]),
            )
            .unwrap();
        assert_eq!(overlay.entry_count(&B).unwrap(), 2);
        assert_eq!(
            overlay.entry_counts().unwrap(),
            [(A, 2), (B, 2)].into_iter().collect()
        );
        // Applying no changes still counts the contract, as its base holds it.
        overlay.apply(&C, &StateChanges::new()).unwrap();
        assert_eq!(
            overlay.entry_counts().unwrap(),
            [(A, 2), (B, 2), (C, 0)].into_iter().collect()
        );
        assert!(!overlay.writes().unwrap().contains_key(&C));
        // A contract never written to is counted by the base.
        assert_eq!(overlay.entry_count(&ContractId([4; 32])).unwrap(), 0);
        assert_eq!(overlay.base().entry_count(&A).unwrap(), 2);
    }

    #[test]
    fn scan_hides_deleted_base_entries_within_limit_and_after() {
        let overlay = hiding_overlay();
        let scan = |after: Option<&str>, limit| {
            keys(
                overlay
                    .scan(&A, b"a/", after.map(str::as_bytes), limit)
                    .unwrap(),
            )
        };
        // The first three base entries are deleted: the page is filled from further on.
        assert_eq!(scan(None, 1), ["a/25"]);
        assert_eq!(scan(None, 2), ["a/25", "a/4"]);
        assert_eq!(scan(None, 10), ["a/25", "a/4", "a/5", "a/6", "a/9"]);
        assert_eq!(scan(Some("a/1"), 2), ["a/25", "a/4"]);
        assert_eq!(scan(Some("a/25"), 2), ["a/4", "a/5"]);
        assert_eq!(scan(Some("a/5"), 1), ["a/6"]);
        assert_eq!(scan(Some("a/6"), 10), ["a/9"]);
        assert!(scan(Some("a/9"), 10).is_empty());
        assert!(scan(None, 0).is_empty());
        // Values are the written ones, and other prefixes are left out.
        assert_eq!(
            overlay.scan(&A, b"a/5", None, 10).unwrap(),
            [(b"a/5".to_vec(), b"five".to_vec())]
        );
        assert_eq!(keys(overlay.scan(&A, b"b/", None, 10).unwrap()), ["b/1"]);
        assert_eq!(
            keys(overlay.scan(&A, b"", Some(b"a/9"), 10).unwrap()),
            ["b/1"]
        );
        assert!(overlay.scan(&B, b"", None, 10).unwrap().is_empty());
    }

    #[test]
    fn paging_through_a_scan_matches_the_applied_state() {
        let overlay = hiding_overlay();
        let applied = MemoryStore::new();
        applied.apply(
            &A,
            &overlay
                .base()
                .scan(&A, b"", None, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
        );
        applied.apply(&A, &overlay.writes().unwrap()[&A]);
        let all = applied.scan(&A, b"", None, usize::MAX).unwrap();
        assert_eq!(overlay.entry_count(&A).unwrap(), all.len() as u64);
        for limit in 1..=all.len() + 1 {
            for after in std::iter::once(None).chain(all.iter().map(|(k, _)| Some(k.as_slice()))) {
                assert_eq!(
                    overlay.scan(&A, b"a/", after, limit).unwrap(),
                    applied.scan(&A, b"a/", after, limit).unwrap(),
                    "limit {limit}, after {after:?}"
                );
            }
        }
    }

    #[test]
    fn writes_are_taken_per_contract() {
        let overlay = hiding_overlay();
        overlay
            .write(&B, b"k".to_vec(), Some(b"v".to_vec()))
            .unwrap();
        let writes = overlay.writes().unwrap();
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[&A].len(), 6);
        assert_eq!(writes[&A][b"a/1".as_slice()], None);
        assert_eq!(writes[&B], changes(&[("k", Some("v"))]));
        assert_eq!(overlay.into_writes(), writes);
    }

    #[test]
    fn overlay_merges_writes_and_removals_in_scans() {
        let (store, contract) = store_with(&[("a/1", "x"), ("a/2", "y"), ("a/4", "z")]);
        let mut overlay = Overlay::new(store.clone(), contract);
        overlay.remove(b"a/1".to_vec()).unwrap();
        overlay.set(b"a/3".to_vec(), b"new".to_vec()).unwrap();
        overlay.set(b"a/9".to_vec(), b"late".to_vec()).unwrap();
        assert_eq!(keys(overlay.scan(b"a/", None, 2).unwrap()), ["a/2", "a/3"]);
        assert_eq!(
            keys(overlay.scan(b"a/", None, 10).unwrap()),
            ["a/2", "a/3", "a/4", "a/9"]
        );
        assert_eq!(overlay.get(b"a/1").unwrap(), None);
        // The store underneath is untouched until the writes are applied.
        assert_eq!(store.get(&contract, b"a/1").unwrap(), Some(b"x".to_vec()));
    }

    #[test]
    fn overlay_counts_entries() {
        let (store, contract) = store_with(&[("k", "v")]);
        let mut overlay = Overlay::new(store, contract);
        assert_eq!(overlay.set(b"k".to_vec(), b"v2".to_vec()).unwrap(), 1);
        assert_eq!(overlay.set(b"k2".to_vec(), b"v".to_vec()).unwrap(), 2);
        overlay.remove(b"k".to_vec()).unwrap();
        overlay.remove(b"absent".to_vec()).unwrap();
        assert_eq!(overlay.set(b"k3".to_vec(), b"v".to_vec()).unwrap(), 2);
    }
}
