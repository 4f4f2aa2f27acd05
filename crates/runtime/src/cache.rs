//! The worker-local cache with expiry.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use fat_types::ContractId;

/// A cache operation recorded by a command, applied by the worker after the block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CacheOp {
    /// Store `value` until `expires_at_ms`.
    Set {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// Expiry, milliseconds since the Unix epoch (block time plus the ttl).
        expires_at_ms: u64,
    },
    /// Remove a key.
    Remove {
        /// The key.
        key: Vec<u8>,
    },
}

/// A key-value cache per contract with expiry. Times are milliseconds since the Unix epoch,
/// given by the caller so that tests can run under a fixed clock.
pub trait Cache: Send + Sync {
    /// The value, if present and not expired at `now_ms`.
    fn get(&self, contract: &ContractId, key: &[u8], now_ms: u64) -> Option<Vec<u8>>;
    /// Store a value until `expires_at_ms`; entries expired at `now_ms` may be dropped to make
    /// room. Returns false when the cache has no room even so.
    fn set(
        &self,
        contract: &ContractId,
        key: Vec<u8>,
        value: Vec<u8>,
        expires_at_ms: u64,
        now_ms: u64,
    ) -> bool;
    /// Remove a value.
    fn remove(&self, contract: &ContractId, key: &[u8]);

    /// Apply operations recorded by a command in a block with timestamp `now_ms`.
    fn apply(&self, contract: &ContractId, ops: &[CacheOp], now_ms: u64) {
        for op in ops {
            match op {
                CacheOp::Set {
                    key,
                    value,
                    expires_at_ms,
                } => {
                    self.set(contract, key.clone(), value.clone(), *expires_at_ms, now_ms);
                }
                CacheOp::Remove { key } => self.remove(contract, key),
            }
        }
    }
}

/// One contract's entries: value and expiry by key, its keys by expiry, and its bytes.
#[derive(Debug, Default)]
struct Partition {
    entries: HashMap<Vec<u8>, (Vec<u8>, u64)>,
    by_expiry: BTreeSet<(u64, Vec<u8>)>,
    used: usize,
}

/// Every contract's partition, every entry by expiry, and the bytes held in all.
#[derive(Debug, Default)]
struct Entries {
    partitions: HashMap<ContractId, Partition>,
    by_expiry: BTreeSet<(u64, ContractId, Vec<u8>)>,
    used: usize,
}

impl Entries {
    /// Remove `key` of `contract`, if present.
    fn remove(&mut self, contract: &ContractId, key: &[u8]) {
        let Some(partition) = self.partitions.get_mut(contract) else {
            return;
        };
        let Some((value, expires)) = partition.entries.remove(key) else {
            return;
        };
        let size = key.len() + value.len();
        partition.used -= size;
        partition.by_expiry.remove(&(expires, key.to_vec()));
        if partition.entries.is_empty() {
            self.partitions.remove(contract);
        }
        self.by_expiry.remove(&(expires, *contract, key.to_vec()));
        self.used -= size;
    }

    /// Drop every entry expired at `now_ms`, soonest first: each entry is looked at once,
    /// when it goes, never in a scan of the others.
    fn drop_expired(&mut self, now_ms: u64) {
        while let Some((expires, contract, key)) = self.by_expiry.first().cloned() {
            if expires > now_ms {
                break;
            }
            self.remove(&contract, &key);
        }
    }

    /// Drop `contract`'s entries that expire soonest until it holds at most `bytes`.
    fn shrink(&mut self, contract: &ContractId, bytes: usize) {
        while let Some(partition) = self.partitions.get(contract) {
            if partition.used <= bytes {
                break;
            }
            let Some((_, key)) = partition.by_expiry.first().cloned() else {
                break;
            };
            self.remove(contract, &key);
        }
    }
}

/// An in-memory cache bounded in total bytes and in bytes per contract. Expired entries go
/// when room is needed, soonest first; a contract over its share makes room from its own
/// entries (those that expire soonest), never from another contract's; when the whole cache
/// is full of entries that have not expired, a new one is refused.
#[derive(Debug)]
pub struct MemoryCache {
    entries: Mutex<Entries>,
    capacity_bytes: usize,
    contract_bytes: usize,
}

impl MemoryCache {
    /// A cache holding at most `capacity_bytes` of keys and values, of which one contract
    /// holds at most an eighth.
    pub fn new(capacity_bytes: usize) -> Self {
        Self::with_contract_share(capacity_bytes, capacity_bytes / 8)
    }

    /// A cache holding at most `capacity_bytes`, at most `contract_bytes` of them for one
    /// contract.
    pub fn with_contract_share(capacity_bytes: usize, contract_bytes: usize) -> Self {
        Self {
            entries: Mutex::new(Entries::default()),
            capacity_bytes,
            contract_bytes: contract_bytes.min(capacity_bytes),
        }
    }

    /// How many bytes of keys and values `contract` holds.
    pub fn contract_bytes(&self, contract: &ContractId) -> usize {
        let guard = self.entries.lock().expect("cache lock");
        guard.partitions.get(contract).map_or(0, |p| p.used)
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new(64 << 20)
    }
}

impl Cache for MemoryCache {
    fn get(&self, contract: &ContractId, key: &[u8], now_ms: u64) -> Option<Vec<u8>> {
        let guard = self.entries.lock().expect("cache lock");
        let (value, expires) = guard.partitions.get(contract)?.entries.get(key)?;
        (*expires > now_ms).then(|| value.clone())
    }

    fn set(
        &self,
        contract: &ContractId,
        key: Vec<u8>,
        value: Vec<u8>,
        expires_at_ms: u64,
        now_ms: u64,
    ) -> bool {
        let size = key.len() + value.len();
        let mut entries = self.entries.lock().expect("cache lock");
        entries.remove(contract, &key);
        if size > self.contract_bytes {
            return false;
        }
        entries.drop_expired(now_ms);
        entries.shrink(contract, self.contract_bytes - size);
        if entries.used + size > self.capacity_bytes {
            return false;
        }
        entries.used += size;
        entries
            .by_expiry
            .insert((expires_at_ms, *contract, key.clone()));
        let partition = entries.partitions.entry(*contract).or_default();
        partition.used += size;
        partition.by_expiry.insert((expires_at_ms, key.clone()));
        partition.entries.insert(key, (value, expires_at_ms));
        true
    }

    fn remove(&self, contract: &ContractId, key: &[u8]) {
        self.entries
            .lock()
            .expect("cache lock")
            .remove(contract, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_capacity_and_isolation() {
        let cache = MemoryCache::with_contract_share(10, 10);
        let (a, b) = (ContractId([1; 32]), ContractId([2; 32]));
        assert!(cache.set(&a, b"k".to_vec(), b"1234".to_vec(), 100, 0));
        assert_eq!(cache.get(&a, b"k", 99), Some(b"1234".to_vec()));
        assert_eq!(cache.get(&a, b"k", 100), None, "expired");
        assert_eq!(cache.get(&b, b"k", 0), None, "another contract's cache");
        assert!(
            !cache.set(&b, b"big".to_vec(), b"123456".to_vec(), 100, 50),
            "no room"
        );
        assert!(
            cache.set(&b, b"big".to_vec(), b"123456".to_vec(), 300, 150),
            "expired entry evicted"
        );
        cache.remove(&b, b"big");
        assert_eq!(cache.get(&b, b"big", 0), None);
    }

    /// A contract that fills its share makes room from its own entries, those that expire
    /// soonest first; its neighbour's entries stay; a full cache of live entries refuses.
    #[test]
    fn a_contract_over_its_share_evicts_its_own_entries_only() {
        let cache = MemoryCache::with_contract_share(40, 20);
        let (attacker, neighbour) = (ContractId([1; 32]), ContractId([2; 32]));
        assert!(cache.set(&neighbour, b"n".to_vec(), vec![0; 9], 1_000, 0));
        for i in 0..10u8 {
            // Each entry 10 bytes; the later ones expire sooner.
            assert!(cache.set(
                &attacker,
                vec![b'a', i],
                vec![i; 8],
                1_000 - u64::from(i),
                0
            ));
            assert!(cache.contract_bytes(&attacker) <= 20);
        }
        assert_eq!(
            cache.get(&neighbour, b"n", 0),
            Some(vec![0; 9]),
            "untouched"
        );
        // The two kept are the ones that expire last of those written since the first:
        // the first (expiring at 1,000) and the last one written.
        assert_eq!(cache.get(&attacker, &[b'a', 0], 0), Some(vec![0; 8]));
        assert_eq!(cache.get(&attacker, &[b'a', 9], 0), Some(vec![9; 8]));
        assert_eq!(cache.get(&attacker, &[b'a', 5], 0), None);
        assert!(
            !cache.set(&attacker, b"x".to_vec(), vec![0; 20], 1_000, 0),
            "over its share alone"
        );

        // A third contract fits in what is left (40 - 10 - 20 = 10 bytes), then nothing does
        // until entries expire.
        let third = ContractId([3; 32]);
        assert!(cache.set(&third, b"t".to_vec(), vec![0; 9], 500, 0));
        assert!(
            !cache.set(&third, b"u".to_vec(), vec![0; 9], 500, 0),
            "full of live entries"
        );
        assert!(
            cache.set(&third, b"u".to_vec(), vec![0; 9], 2_000, 999),
            "expired ones went"
        );
        assert_eq!(cache.get(&attacker, &[b'a', 9], 0), None, "expired at 991");
        assert_eq!(cache.get(&neighbour, b"n", 999), Some(vec![0; 9]));
    }
}
