//! The worker-local cache with expiry.

use std::collections::HashMap;
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

type Entries = HashMap<(ContractId, Vec<u8>), (Vec<u8>, u64)>;

/// An in-memory cache bounded in total bytes; expired entries are dropped lazily and when
/// room is needed.
#[derive(Debug)]
pub struct MemoryCache {
    entries: Mutex<(Entries, usize)>,
    capacity_bytes: usize,
}

impl MemoryCache {
    /// A cache holding at most `capacity_bytes` of keys and values.
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            entries: Mutex::new((HashMap::new(), 0)),
            capacity_bytes,
        }
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
        let (value, expires) = guard.0.get(&(*contract, key.to_vec()))?;
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
        let mut guard = self.entries.lock().expect("cache lock");
        let (entries, used) = &mut *guard;
        let size = key.len() + value.len();
        if let Some((old, _)) = entries.remove(&(*contract, key.clone())) {
            *used -= key.len() + old.len();
        }
        if *used + size > self.capacity_bytes {
            entries.retain(|(_, k), (v, expires)| {
                let keep = *expires > now_ms;
                if !keep {
                    *used -= k.len() + v.len();
                }
                keep
            });
        }
        if *used + size > self.capacity_bytes {
            return false;
        }
        *used += size;
        entries.insert((*contract, key), (value, expires_at_ms));
        true
    }

    fn remove(&self, contract: &ContractId, key: &[u8]) {
        let mut guard = self.entries.lock().expect("cache lock");
        let (entries, used) = &mut *guard;
        if let Some((old, _)) = entries.remove(&(*contract, key.to_vec())) {
            *used -= key.len() + old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_capacity_and_isolation() {
        let cache = MemoryCache::new(10);
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
}
