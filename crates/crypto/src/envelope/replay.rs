//! The replay guard.

use std::collections::{BTreeSet, HashSet};

use fat_types::AccountId;

use super::{EnvelopeError, NONCE_LEN, Result};

/// Refuses stale, future and replayed envelopes with bounded memory.
///
/// An envelope is fresh when its timestamp is within `window_ms` of the opener's time, either
/// way. A nonce is remembered (per sender) while its envelope would still be fresh, and
/// forgotten after. When `capacity` nonces are remembered, new envelopes are refused
/// ([`EnvelopeError::ReplayGuardFull`]) rather than old nonces forgotten early.
#[derive(Debug)]
pub struct ReplayGuard {
    window_ms: u64,
    capacity: usize,
    horizon_ms: u64,
    seen: HashSet<([u8; 32], [u8; NONCE_LEN])>,
    by_time: BTreeSet<(u64, [u8; 32], [u8; NONCE_LEN])>,
}

impl ReplayGuard {
    /// A guard with a freshness window (milliseconds, each way) and a capacity (nonces).
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        Self {
            window_ms,
            capacity,
            horizon_ms: 0,
            seen: HashSet::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Refuse a timestamp outside the window around `now_ms`.
    pub fn check_time(&self, timestamp_ms: u64, now_ms: u64) -> Result<()> {
        if timestamp_ms.saturating_add(self.window_ms) < now_ms {
            return Err(EnvelopeError::Expired {
                timestamp_ms,
                now_ms,
            });
        }
        if timestamp_ms > now_ms.saturating_add(self.window_ms) {
            return Err(EnvelopeError::FromFuture {
                timestamp_ms,
                now_ms,
            });
        }
        Ok(())
    }

    /// Check freshness and record `sender`'s `nonce`; refuse it if already recorded.
    pub fn admit(
        &mut self,
        sender: &AccountId,
        nonce: &[u8; NONCE_LEN],
        timestamp_ms: u64,
        now_ms: u64,
    ) -> Result<()> {
        self.check_time(timestamp_ms, now_ms)?;
        // Time that went backwards must not revive what was already forgotten.
        self.horizon_ms = self.horizon_ms.max(now_ms);
        if timestamp_ms.saturating_add(self.window_ms) < self.horizon_ms {
            return Err(EnvelopeError::Expired {
                timestamp_ms,
                now_ms,
            });
        }
        while let Some(&first) = self.by_time.first() {
            if first.0.saturating_add(self.window_ms) >= self.horizon_ms {
                break;
            }
            self.by_time.pop_first();
            self.seen.remove(&(first.1, first.2));
        }
        let key = (*sender.as_bytes(), *nonce);
        if self.seen.contains(&key) {
            return Err(EnvelopeError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(EnvelopeError::ReplayGuardFull);
        }
        self.seen.insert(key);
        self.by_time.insert((timestamp_ms, key.0, key.1));
        Ok(())
    }
}
