//! The replay guard.

use std::collections::{BTreeSet, HashMap};

use super::{EnvelopeError, EnvelopeHeader, NONCE_LEN, Result};

/// A nonce as the guard remembers it: the sender's account and the nonce.
type Key = ([u8; 32], [u8; NONCE_LEN]);

/// Refuses stale, future and replayed envelopes with bounded memory, and keeps one sender
/// or one session from taking all of it.
///
/// An envelope is fresh when its timestamp is within `window_ms` of the opener's time, either
/// way. A nonce is remembered (per sender) while its envelope would still be fresh, and
/// forgotten after. When `capacity` nonces are remembered, new envelopes are refused
/// ([`EnvelopeError::ReplayGuardFull`]) rather than old nonces forgotten early.
///
/// Quotas ([`ReplayGuard::with_quotas`]) bound what one party may hold: at most `per_sender`
/// nonces of one sender (the header's `sender`) and `per_session` of one session (the
/// header's `ephemeral` key) are remembered at once; past either, that sender's or session's
/// envelopes are refused ([`EnvelopeError::SenderOverQuota`],
/// [`EnvelopeError::SessionOverQuota`]) while others are still admitted. Without quotas both
/// are the capacity. Memory stays within `capacity` nonces: the counts behind the quotas
/// hold one entry per sender and session with a nonce remembered, so never more than that.
#[derive(Debug)]
pub struct ReplayGuard {
    window_ms: u64,
    capacity: usize,
    per_sender: usize,
    per_session: usize,
    horizon_ms: u64,
    /// Every nonce remembered, with the session it came in.
    seen: HashMap<Key, [u8; 32]>,
    by_time: BTreeSet<(u64, [u8; 32], [u8; NONCE_LEN])>,
    /// How many nonces each sender holds (only senders holding some).
    senders: HashMap<[u8; 32], usize>,
    /// How many nonces each session holds (only sessions holding some).
    sessions: HashMap<[u8; 32], usize>,
}

impl ReplayGuard {
    /// A guard with a freshness window (milliseconds, each way) and a capacity (nonces), with
    /// no quota below the capacity.
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        Self {
            window_ms,
            capacity,
            per_sender: capacity,
            per_session: capacity,
            horizon_ms: 0,
            seen: HashMap::new(),
            by_time: BTreeSet::new(),
            senders: HashMap::new(),
            sessions: HashMap::new(),
        }
    }

    /// The same guard with quotas: at most `per_sender` nonces remembered for one sender and
    /// `per_session` for one session.
    pub fn with_quotas(mut self, per_sender: usize, per_session: usize) -> Self {
        self.per_sender = per_sender;
        self.per_session = per_session;
        self
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// How many senders and how many sessions hold a nonce: what the quotas' counts take.
    pub fn holders(&self) -> (usize, usize) {
        (self.senders.len(), self.sessions.len())
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

    /// Check the freshness of an authenticated `header` and record its sender's nonce;
    /// refuse it if already recorded, if the guard is full, or if its session or sender holds
    /// its quota.
    pub fn admit(&mut self, header: &EnvelopeHeader, now_ms: u64) -> Result<()> {
        let timestamp_ms = header.timestamp_ms;
        self.check_time(timestamp_ms, now_ms)?;
        // Time that went backwards must not revive what was already forgotten.
        self.horizon_ms = self.horizon_ms.max(now_ms);
        if timestamp_ms.saturating_add(self.window_ms) < self.horizon_ms {
            return Err(EnvelopeError::Expired {
                timestamp_ms,
                now_ms,
            });
        }
        self.forget_expired();
        let sender = *header.sender.as_bytes();
        let session = header.ephemeral.0;
        let key = (sender, header.nonce);
        if self.seen.contains_key(&key) {
            return Err(EnvelopeError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(EnvelopeError::ReplayGuardFull);
        }
        if self.sessions.get(&session).copied().unwrap_or(0) >= self.per_session {
            return Err(EnvelopeError::SessionOverQuota {
                quota: self.per_session,
            });
        }
        if self.senders.get(&sender).copied().unwrap_or(0) >= self.per_sender {
            return Err(EnvelopeError::SenderOverQuota {
                sender: header.sender,
                quota: self.per_sender,
            });
        }
        self.seen.insert(key, session);
        self.by_time.insert((timestamp_ms, key.0, key.1));
        *self.senders.entry(sender).or_default() += 1;
        *self.sessions.entry(session).or_default() += 1;
        Ok(())
    }

    /// Forget the nonces whose envelopes the window has moved past.
    fn forget_expired(&mut self) {
        while let Some(&(timestamp_ms, sender, nonce)) = self.by_time.first() {
            if timestamp_ms.saturating_add(self.window_ms) >= self.horizon_ms {
                break;
            }
            self.by_time.pop_first();
            if let Some(session) = self.seen.remove(&(sender, nonce)) {
                release(&mut self.senders, &sender);
                release(&mut self.sessions, &session);
            }
        }
    }
}

/// Take one nonce off `holder`'s count, dropping the entry at zero.
fn release(counts: &mut HashMap<[u8; 32], usize>, holder: &[u8; 32]) {
    if let Some(count) = counts.get_mut(holder) {
        *count -= 1;
        if *count == 0 {
            counts.remove(holder);
        }
    }
}
