//! Key agreements a recipient has already made, kept so that a sender who seals many
//! envelopes under one ephemeral key costs the recipient one x25519 in all.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;
use zeroize::Zeroizing;

use super::{EcdhPublic, EcdhSecret, Result};

/// Shared secrets by (recipient public, ephemeral public).
type Cache = LruCache<(EcdhPublic, EcdhPublic), Zeroizing<[u8; 32]>>;

/// The shared secrets of recent (recipient, ephemeral) pairs, the least recently used
/// forgotten first. What it returns is what [`EcdhSecret`]'s key agreement would compute:
/// it changes how long an open takes, never what it gives. Shared secrets are wiped when
/// forgotten.
pub struct Agreements {
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Agreements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.cache.lock().map(|c| c.len()).unwrap_or(0);
        write!(f, "Agreements({held} held)")
    }
}

impl Agreements {
    /// A worker's default: 4,096 pairs (senders times contracts), under a MiB.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// Keep at most `capacity` pairs (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            cache: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The x25519 shared secret of `secret` and `ephemeral`, from the cache or computed (out
    /// of the lock) and kept. A weak ephemeral key is refused every time and never kept.
    pub fn shared(&self, secret: &EcdhSecret, ephemeral: &EcdhPublic) -> Result<[u8; 32]> {
        let pair = (secret.public(), *ephemeral);
        if let Some(shared) = self.lock().get(&pair) {
            return Ok(**shared);
        }
        let shared = secret.shared(ephemeral)?;
        self.lock().put(pair, Zeroizing::new(shared));
        Ok(shared)
    }

    /// How many pairs are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the cache inconsistent (each
        // operation is one call on it), so a poisoned lock is taken as it is.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Agreements {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}
