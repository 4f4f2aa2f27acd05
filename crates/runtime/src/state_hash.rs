//! A contract's state root, kept up to date write by write.
//!
//! The root is a lattice hash of the set of (key, value) entries (LtHash, after Bellare and
//! Micciancio's incremental hashing, with the parameters Facebook published for LtHash16):
//! each entry maps, through BLAKE3's extendable output keyed by [`ELEMENT_CONTEXT`] and the
//! contract id, to 1024 16-bit lanes; the set's hash is their lane-wise sum modulo 2^16, and
//! the root is BLAKE3 over that sum under [`ROOT_CONTEXT`]. Adding or removing an entry adds
//! or subtracts its lanes, so a block costs what it writes, not what the contract holds,
//! and the order entries are added in does not matter.
//!
//! Workers key both hashes with a secret of the contract ([`StateHash::keyed`]): a published
//! root then says nothing to whoever lacks the key, who could otherwise hash guesses of a
//! contract's small state and compare.

use fat_types::{ContractId, Hash32};

/// The BLAKE3 key-derivation context of an entry's lanes.
pub const ELEMENT_CONTEXT: &str = "fat/state-root/element/v2";
/// The BLAKE3 key-derivation context of the root over the lanes.
pub const ROOT_CONTEXT: &str = "fat/state-root/v2";
/// The number of 16-bit lanes.
pub const LANES: usize = 1024;

/// The running hash of one contract's entries.
#[derive(Clone, PartialEq, Eq)]
pub struct StateHash {
    contract: ContractId,
    key: Option<[u8; 32]>,
    /// The key of the entries' hash, derived once from `key` (every entry needs it).
    element_key: Option<[u8; 32]>,
    lanes: Box<[u16; LANES]>,
}

impl std::fmt::Debug for StateHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateHash({}, root {})", self.contract, self.root())
    }
}

impl StateHash {
    /// The hash of a contract with no entries.
    pub fn new(contract: ContractId) -> Self {
        Self {
            contract,
            key: None,
            element_key: None,
            lanes: Box::new([0; LANES]),
        }
    }

    /// The hash of a contract with no entries, keyed with `key`.
    pub fn keyed(contract: ContractId, key: [u8; 32]) -> Self {
        Self {
            key: Some(key),
            element_key: Some(blake3::derive_key(ELEMENT_CONTEXT, &key)),
            ..Self::new(contract)
        }
    }

    /// A hash saved with [`StateHash::to_bytes`] (`key` as it was made with).
    pub fn from_bytes(contract: ContractId, key: Option<[u8; 32]>, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != LANES * 2 {
            return None;
        }
        let mut lanes = Box::new([0u16; LANES]);
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(Self {
            contract,
            key,
            element_key: key.map(|key| blake3::derive_key(ELEMENT_CONTEXT, &key)),
            lanes,
        })
    }

    fn hasher(&self, context: &str) -> blake3::Hasher {
        match &self.key {
            Some(key) => blake3::Hasher::new_keyed(&blake3::derive_key(context, key)),
            None => blake3::Hasher::new_derive_key(context),
        }
    }

    /// The lanes as little-endian bytes (2048 of them).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.lanes.iter().flat_map(|l| l.to_le_bytes()).collect()
    }

    fn element(&self, key: &[u8], value: &[u8]) -> [u16; LANES] {
        let mut hasher = match &self.element_key {
            Some(key) => blake3::Hasher::new_keyed(key),
            None => blake3::Hasher::new_derive_key(ELEMENT_CONTEXT),
        };
        hasher.update(self.contract.as_bytes());
        hasher.update(&(key.len() as u64).to_le_bytes());
        hasher.update(key);
        hasher.update(&(value.len() as u64).to_le_bytes());
        hasher.update(value);
        let mut bytes = [0u8; LANES * 2];
        hasher.finalize_xof().fill(&mut bytes);
        let mut lanes = [0u16; LANES];
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        lanes
    }

    /// Add an entry.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) {
        let element = self.element(key, value);
        for (lane, e) in self.lanes.iter_mut().zip(element) {
            *lane = lane.wrapping_add(e);
        }
    }

    /// Remove an entry that was added.
    pub fn remove(&mut self, key: &[u8], value: &[u8]) {
        let element = self.element(key, value);
        for (lane, e) in self.lanes.iter_mut().zip(element) {
            *lane = lane.wrapping_sub(e);
        }
    }

    /// Add the entries of `other`, a hash of the same contract under the same key: the
    /// result is the hash of both sets (so a set can be hashed in parts, in parallel).
    pub fn merge(&mut self, other: &StateHash) {
        debug_assert!(self.contract == other.contract && self.key == other.key);
        for (lane, e) in self.lanes.iter_mut().zip(other.lanes.iter()) {
            *lane = lane.wrapping_add(*e);
        }
    }

    /// The state root.
    pub fn root(&self) -> Hash32 {
        let mut hasher = self.hasher(ROOT_CONTEXT);
        hasher.update(self.contract.as_bytes());
        hasher.update(&self.to_bytes());
        Hash32(*hasher.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_free_incremental_and_pinned() {
        let c = ContractId([1; 32]);
        let mut a = StateHash::new(c);
        a.insert(b"x", b"1");
        a.insert(b"y", b"2");
        let mut b = StateHash::new(c);
        b.insert(b"y", b"2");
        b.insert(b"z", b"9");
        b.insert(b"x", b"1");
        b.remove(b"z", b"9");
        assert_eq!(a.root(), b.root());
        assert_eq!(
            StateHash::from_bytes(c, None, &a.to_bytes())
                .unwrap()
                .root(),
            a.root()
        );
        assert_eq!(StateHash::from_bytes(c, None, &[0; 3]), None);
        // Keyed, the same entries give another root, and each key its own.
        let mut k1 = StateHash::keyed(c, [1; 32]);
        k1.insert(b"x", b"1");
        k1.insert(b"y", b"2");
        let mut k2 = StateHash::keyed(c, [2; 32]);
        k2.insert(b"x", b"1");
        k2.insert(b"y", b"2");
        assert_ne!(k1.root(), a.root());
        assert_ne!(k1.root(), k2.root());
        // Hashed in parts (one restored from its saved lanes) and merged: the same root.
        let mut part1 = StateHash::keyed(c, [1; 32]);
        part1.insert(b"y", b"2");
        let mut part2 = StateHash::keyed(c, [1; 32]);
        part2.insert(b"x", b"1");
        let mut merged = StateHash::from_bytes(c, Some([1; 32]), &part1.to_bytes()).unwrap();
        merged.merge(&part2);
        assert_eq!(merged.root(), k1.root());
        assert_eq!(
            StateHash::from_bytes(c, Some([1; 32]), &k1.to_bytes())
                .unwrap()
                .root(),
            k1.root()
        );
        // Boundaries, values and the contract all count.
        let mut c1 = StateHash::new(c);
        c1.insert(b"xy", b"");
        let mut c2 = StateHash::new(c);
        c2.insert(b"x", b"y");
        assert_ne!(c1.root(), c2.root());
        let mut other = StateHash::new(ContractId([2; 32]));
        other.insert(b"x", b"1");
        other.insert(b"y", b"2");
        assert_ne!(other.root(), a.root());
        assert_ne!(StateHash::new(c).root(), a.root());
    }

    /// Roots are signed in receipts and lanes are saved on disk: a change here forks every
    /// worker from the roots it published before. The root covers every lane (BLAKE3 over
    /// them); the first lanes of the saved form are pinned as well, for their byte order.
    /// Recomputed independently (Python's `blake3` package) by
    /// `python3 scripts/state_root_vectors.py`.
    #[test]
    fn roots_and_saved_lanes_are_pinned() {
        let c = ContractId([1; 32]);
        let entries = |mut hash: StateHash| {
            hash.insert(b"x", b"1");
            hash.insert(b"y", b"2");
            hash
        };
        let plain = entries(StateHash::new(c));
        let keyed = entries(StateHash::keyed(c, [7; 32]));
        let vectors = [
            (
                "empty root",
                StateHash::new(c).root().to_string(),
                "9fcaf537a5403d64411712e1ab5adefc22879933740095bd8bfa7e8ed0ad84db",
            ),
            (
                "root",
                plain.root().to_string(),
                "c0fc853b4059cea40ccb6e2654e803208b89881f346ea3f22da9dd0889da7726",
            ),
            (
                "keyed empty root",
                StateHash::keyed(c, [7; 32]).root().to_string(),
                "d30439fe2136587e278ba3700ab0b6cf46aa14c6e8a6110898e384552f6d04af",
            ),
            (
                "keyed root",
                keyed.root().to_string(),
                "320f917395b728fd33a16125be54b5b0703a24e8980be48ef2a1cc3a06b847b3",
            ),
            (
                "keyed lanes",
                hex(&keyed.to_bytes()[..16]),
                "3eecd8e343a1c841186dc2d01347f921",
            ),
        ];
        for (name, actual, expected) in vectors {
            assert_eq!(actual, expected, "the {name} changed");
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
