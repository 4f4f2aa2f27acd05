//! Key agreements a recipient has already made, kept so that a sender who seals many
//! envelopes under one ephemeral key costs the recipient one x25519 in all, and one key
//! derivation per direction.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use fat_types::ContractId;
use lru::LruCache;

use super::{EcdhPublic, EcdhSecret, Result, Session};

/// Sessions by (recipient public, ephemeral public, contract).
type Cache = LruCache<(EcdhPublic, EcdhPublic, ContractId), Session>;

/// The sessions of recent (recipient, ephemeral, contract) triples, the least recently used
/// forgotten first. What it returns is the session [`EcdhSecret`]'s key agreement would
/// give: it changes how long an open takes, never what it gives. A session keeps the keys
/// it derived, so later envelopes of the same sender skip the derivation too. Sessions'
/// secrets are wiped when the last copy is dropped.
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
    /// A worker's default: 4,096 sessions (senders times contracts), about 2 MiB with their
    /// keys.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// Keep at most `capacity` sessions (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            cache: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The session of `secret` and `ephemeral` for `contract`, from the cache or made (the
    /// key agreement out of the lock) and kept. A weak ephemeral key is refused every time
    /// and never kept.
    pub fn session(
        &self,
        secret: &EcdhSecret,
        ephemeral: &EcdhPublic,
        contract: &ContractId,
    ) -> Result<Session> {
        let recipient = secret.public();
        let triple = (recipient, *ephemeral, *contract);
        if let Some(session) = self.lock().get(&triple) {
            return Ok(session.clone());
        }
        let shared = zeroize::Zeroizing::new(secret.shared(ephemeral)?);
        let session = Session::new(*contract, recipient, *ephemeral, shared.as_slice());
        self.lock().put(triple, session.clone());
        Ok(session)
    }

    /// Whether the session of `recipient` and `ephemeral` for `contract` is held: opening an
    /// envelope of it then makes no key agreement. (It does not count as a use.)
    pub fn holds(
        &self,
        recipient: &EcdhPublic,
        ephemeral: &EcdhPublic,
        contract: &ContractId,
    ) -> bool {
        self.lock().contains(&(*recipient, *ephemeral, *contract))
    }

    /// How many sessions are held.
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
