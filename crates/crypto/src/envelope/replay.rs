//! The replay guard.

use std::collections::{BTreeMap, HashMap, hash_map};

use super::{EnvelopeError, EnvelopeHeader, NONCE_LEN, Result};

/// A nonce as the guard remembers it: the sender's account and the nonce.
type Key = ([u8; 32], [u8; NONCE_LEN]);

/// The span of envelope timestamps whose nonces one bucket holds, in milliseconds.
const BUCKET_MS: u64 = 100;
/// How many forgotten nonces an admission releases from their senders' and sessions' counts.
const RELEASE_PER_ADMIT: usize = 16;
/// How many more it releases, at most, before it refuses an envelope for a quota.
const RELEASE_BEFORE_REFUSAL: usize = 4096;

/// Refuses stale, future and replayed envelopes with bounded memory, and keeps one sender
/// or one session from taking all of it.
///
/// An envelope is fresh when its timestamp is within `window_ms` of the opener's time, either
/// way. A nonce is remembered (per sender) while its envelope would still be fresh, and
/// forgotten at most a tenth of a second after. When `capacity` nonces are remembered, new
/// envelopes are refused ([`EnvelopeError::ReplayGuardFull`]) rather than old nonces
/// forgotten early.
///
/// Nonces are kept in buckets by their envelope's timestamp, a tenth of a second of
/// timestamps to a bucket. The timestamp is part of the authenticated header, so a replay
/// carries its original's and is looked for in that one bucket; a bucket is forgotten whole
/// once the window has moved past its latest timestamp. So no admission stalls the others
/// for long (the guard sits behind a worker's lock):
/// - no table holds more than a bucket's nonces, and a new bucket's table is sized for as many
///   as the bucket of the tenth of a second before it holds (no more than the room left), so
///   a steady flow of queries never makes one grow (a single table of the whole window's
///   nonces stalled every query for tens of milliseconds each time it grew). Only that one
///   neighbour counts: a bucket filled on purpose enlarges one other table, not every one;
/// - the counts of a forgotten bucket's senders and sessions are released a few nonces an
///   admission, not all in one; before an envelope is refused for a quota, up to
///   [`RELEASE_BEFORE_REFUSAL`] more are released, so a refusal counts forgotten nonces only
///   while more than that many wait to be released ahead of its sender's.
///
/// The same nonce under a timestamp in another bucket is admitted as another envelope: only
/// its sender can seal one (the header is authenticated), and a sender that reuses a nonce
/// exposes only its own messages.
///
/// Quotas ([`ReplayGuard::with_quotas`]) bound what one party may hold: at most `per_sender`
/// nonces of one sender (the header's `sender`) and `per_session` of one session (the
/// header's `ephemeral` key) are remembered at once; past either, that sender's or session's
/// envelopes are refused ([`EnvelopeError::SenderOverQuota`],
/// [`EnvelopeError::SessionOverQuota`]) while others are still admitted. Without quotas both
/// are the capacity. Memory stays within a small multiple of `capacity` nonces: no table is
/// sized for more nonces than another table holds, and the counts behind the quotas hold one
/// entry per sender and session with a nonce held, so never more than the nonces.
#[derive(Debug)]
pub struct ReplayGuard {
    window_ms: u64,
    capacity: usize,
    per_sender: usize,
    per_session: usize,
    horizon_ms: u64,
    /// The nonces remembered, by their timestamp's slot (`timestamp_ms / BUCKET_MS`).
    buckets: BTreeMap<u64, Bucket>,
    /// How many nonces the guard holds: in buckets, or still to release.
    len: usize,
    /// The nonces of forgotten buckets still in their senders' and sessions' counts (and
    /// in `len`): their envelopes are past the window, so no replay is looked for in them.
    releasing: Vec<hash_map::IntoIter<Key, [u8; 32]>>,
    /// How many nonces each sender holds (only senders holding some).
    senders: HashMap<[u8; 32], usize>,
    /// How many nonces each session holds (only sessions holding some).
    sessions: HashMap<[u8; 32], usize>,
}

/// The nonces of envelopes stamped within one [`BUCKET_MS`].
#[derive(Debug)]
struct Bucket {
    /// The latest timestamp among them: the bucket is forgotten when the window passes it.
    latest_ms: u64,
    /// Each nonce, with the session it came in.
    nonces: HashMap<Key, [u8; 32]>,
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
            buckets: BTreeMap::new(),
            len: 0,
            releasing: Vec::new(),
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

    /// How many nonces are held: those remembered, and a few forgotten ones whose counts
    /// are still to be released.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no nonce is held (remembered, or forgotten and still to be released).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many senders and how many sessions hold a nonce (remembered, or still to be
    /// released): what the quotas' counts take.
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
        self.release(RELEASE_PER_ADMIT);
        let sender = *header.sender.as_bytes();
        let session = header.ephemeral.0;
        let key = (sender, header.nonce);
        let slot = timestamp_ms / BUCKET_MS;
        if self
            .buckets
            .get(&slot)
            .is_some_and(|bucket| bucket.nonces.contains_key(&key))
        {
            return Err(EnvelopeError::Replayed);
        }
        if let Err(refused) = self.room_for(header) {
            // What is forgotten should not count against it: release more, then ask again.
            if self.releasing.is_empty() {
                return Err(refused);
            }
            self.release(RELEASE_BEFORE_REFUSAL);
            self.room_for(header)?;
        }
        let expected = slot
            .checked_sub(1)
            .and_then(|before| self.buckets.get(&before))
            .map_or(0, |before| before.nonces.len())
            .min(self.capacity.saturating_sub(self.len));
        let bucket = self.buckets.entry(slot).or_insert_with(|| Bucket {
            latest_ms: timestamp_ms,
            nonces: HashMap::with_capacity(expected),
        });
        bucket.latest_ms = bucket.latest_ms.max(timestamp_ms);
        bucket.nonces.insert(key, session);
        self.len += 1;
        *self.senders.entry(sender).or_default() += 1;
        *self.sessions.entry(session).or_default() += 1;
        Ok(())
    }

    /// Whether one more nonce of `header`'s sender and session fits the capacity and the
    /// quotas.
    fn room_for(&self, header: &EnvelopeHeader) -> Result<()> {
        if self.len >= self.capacity {
            return Err(EnvelopeError::ReplayGuardFull);
        }
        if self.sessions.get(&header.ephemeral.0).copied().unwrap_or(0) >= self.per_session {
            return Err(EnvelopeError::SessionOverQuota {
                quota: self.per_session,
            });
        }
        if self
            .senders
            .get(header.sender.as_bytes())
            .copied()
            .unwrap_or(0)
            >= self.per_sender
        {
            return Err(EnvelopeError::SenderOverQuota {
                sender: header.sender,
                quota: self.per_sender,
            });
        }
        Ok(())
    }

    /// Forget the buckets whose every envelope the window has moved past. Buckets are in the
    /// order of their latest timestamps, so the first one not past ends the sweep.
    fn forget_expired(&mut self) {
        while let Some(first) = self.buckets.first_entry() {
            if first.get().latest_ms.saturating_add(self.window_ms) >= self.horizon_ms {
                break;
            }
            self.releasing.push(first.remove().nonces.into_iter());
        }
    }

    /// Release up to `most` forgotten nonces from their senders' and sessions' counts.
    fn release(&mut self, most: usize) {
        let mut left = most;
        while left > 0 {
            let Some(nonces) = self.releasing.last_mut() else {
                return;
            };
            match nonces.next() {
                Some(((sender, _), session)) => {
                    decrement(&mut self.senders, &sender);
                    decrement(&mut self.sessions, &session);
                    self.len -= 1;
                    left -= 1;
                }
                None => {
                    self.releasing.pop();
                }
            }
        }
    }
}

/// Take one nonce off `holder`'s count, dropping the entry at zero.
fn decrement(counts: &mut HashMap<[u8; 32], usize>, holder: &[u8; 32]) {
    if let Some(count) = counts.get_mut(holder) {
        *count -= 1;
        if *count == 0 {
            counts.remove(holder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Direction, EcdhPublic};
    use fat_types::{AccountId, ContractId};

    const NOW: u64 = 1_750_000_000_000;
    const WINDOW: u64 = 60_000;

    fn header(sender: u8, nonce: u32, at: u64) -> EnvelopeHeader {
        let mut bytes = [0u8; NONCE_LEN];
        bytes[..4].copy_from_slice(&nonce.to_le_bytes());
        EnvelopeHeader {
            contract: ContractId([5; 32]),
            direction: Direction::Request,
            sender: AccountId([sender; 32]),
            recipient: EcdhPublic([7; 32]),
            ephemeral: EcdhPublic([sender; 32]),
            nonce: bytes,
            timestamp_ms: at,
        }
    }

    /// A refusal for a quota first releases more forgotten nonces than the few an admission
    /// releases: here the few are another sender's, and the quota's holder is admitted all
    /// the same.
    #[test]
    fn a_quota_never_counts_forgotten_nonces() {
        let (carol, dave) = (1, 2);
        let mut guard = ReplayGuard::new(WINDOW, 1000).with_quotas(32, 1000);
        for n in 0..32 {
            guard.admit(&header(carol, n, NOW), NOW).unwrap();
        }
        assert!(matches!(
            guard.admit(&header(carol, 99, NOW), NOW),
            Err(EnvelopeError::SenderOverQuota { quota: 32, .. })
        ));
        // Dave's nonces, a bucket later: forgotten with carol's, and released first.
        let dave_at = NOW + BUCKET_MS;
        for n in 0..RELEASE_PER_ADMIT as u32 {
            guard.admit(&header(dave, n, dave_at), dave_at).unwrap();
        }
        let later = dave_at + WINDOW + 1;
        guard.admit(&header(carol, 100, later), later).unwrap();
        assert_eq!(guard.len(), 1);
        assert_eq!(guard.holders(), (1, 1));
        assert!(guard.releasing.is_empty());
    }

    /// Past the window, a bucket is let go of a few nonces an admission; its nonces leave
    /// the count as they are released, and the guard ends empty of them.
    #[test]
    fn forgotten_nonces_are_released_a_few_an_admission() {
        let mut guard = ReplayGuard::new(WINDOW, 1000);
        for n in 0..50 {
            guard.admit(&header(1, n, NOW), NOW).unwrap();
        }
        let later = NOW + WINDOW + 1;
        guard.admit(&header(2, 0, later), later).unwrap();
        assert_eq!(guard.len(), 50 - RELEASE_PER_ADMIT + 1);
        for n in 1..10 {
            guard.admit(&header(2, n, later), later).unwrap();
        }
        assert_eq!(guard.len(), 10);
        assert_eq!(guard.holders(), (1, 1));
        assert!(guard.releasing.is_empty());
    }

    /// Before a refusal, no more than `RELEASE_BEFORE_REFUSAL` forgotten nonces are released:
    /// the refused admission does bounded work, and the next one releases the rest.
    #[test]
    fn a_refusal_releases_a_bounded_number_of_forgotten_nonces() {
        let (carol, dave) = (1, 2);
        let extra = 100;
        let dave_count = (RELEASE_PER_ADMIT + RELEASE_BEFORE_REFUSAL + extra) as u32;
        let mut guard = ReplayGuard::new(WINDOW, 100_000).with_quotas(8, 100_000);
        for n in 0..8 {
            guard.admit(&header(carol, n, NOW), NOW).unwrap();
        }
        // Dave's flood, a bucket later (his quota raised for it alone).
        let dave_at = NOW + BUCKET_MS;
        guard.per_sender = dave_count as usize;
        for n in 0..dave_count {
            guard.admit(&header(dave, n, dave_at), dave_at).unwrap();
        }
        guard.per_sender = 8;
        let later = dave_at + WINDOW + 1;
        // Dave's forgotten nonces are released first: the bounded release does not reach
        // carol's, so she is refused this once...
        assert!(matches!(
            guard.admit(&header(carol, 100, later), later),
            Err(EnvelopeError::SenderOverQuota { quota: 8, .. })
        ));
        assert_eq!(guard.len(), 8 + extra);
        // ...and admitted at her next try, once the rest are released.
        guard.admit(&header(carol, 101, later), later).unwrap();
        assert_eq!(guard.len(), 1);
        assert!(guard.releasing.is_empty());
    }

    /// A new bucket's table is sized from the bucket just before it, never from a bucket
    /// filled elsewhere in the window: one full bucket does not make every table large.
    #[test]
    fn one_full_bucket_does_not_enlarge_every_table() {
        let mut guard = ReplayGuard::new(WINDOW, 100_000);
        let far = NOW + WINDOW;
        for n in 0..5_000 {
            guard.admit(&header(1, n, far), NOW).unwrap();
        }
        for slot in 1..200u64 {
            let at = NOW - WINDOW + slot * 3 * BUCKET_MS;
            guard.admit(&header(2, slot as u32, at), NOW).unwrap();
        }
        let just_after = NOW + 2 * BUCKET_MS;
        guard
            .admit(&header(3, 0, just_after - BUCKET_MS), NOW)
            .unwrap();
        guard.admit(&header(3, 1, just_after), NOW).unwrap();
        let large: Vec<u64> = guard
            .buckets
            .iter()
            .filter(|(_, bucket)| bucket.nonces.capacity() >= 1_000)
            .map(|(slot, _)| *slot)
            .collect();
        assert_eq!(
            large,
            vec![far / BUCKET_MS],
            "only the full bucket's table is large"
        );
    }
}
