//! The replay guard.

use std::collections::{BTreeMap, HashMap, btree_map};
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::{EnvelopeError, EnvelopeHeader, NONCE_LEN, Result};

/// A nonce as the guard remembers it: the sender's account and the nonce (the key), and the
/// session it came in.
#[derive(Debug)]
struct Held {
    sender: [u8; 32],
    nonce: [u8; NONCE_LEN],
    session: [u8; 32],
}

/// The span of envelope timestamps whose nonces one bucket holds, in milliseconds.
const BUCKET_MS: u64 = 100;
/// How many forgotten nonces an admission releases from their senders' and sessions' counts.
const RELEASE_PER_ADMIT: usize = 16;
/// How many more it releases, at most, before it refuses an envelope for a quota.
const RELEASE_BEFORE_REFUSAL: usize = 4096;
/// How many slots of forgotten tables a release may look at for each nonce it may release:
/// what bounds its work in a table with few nonces for its size.
const SLOTS_PER_RELEASE: usize = 8;
/// How many emptied tables are kept for new buckets.
const SPARE_TABLES: usize = 4;
/// A released table is kept while it has room for no more nonces than the larger of this and
/// the number the guard holds.
const SPARE_ROOM_FLOOR: usize = 1024;
/// A kept table serves a new bucket expected to hold `n` nonces when it has room for at
/// least `n` and at most the larger of `4 n` and this.
const SPARE_FIT_FLOOR: usize = 64;

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
///   as the bucket of the tenth of a second before it holds (no more than the room left; a
///   reused table has room for up to four times as many, or for a few dozen), so
///   a steady flow of queries never makes one grow (a single table of the whole window's
///   nonces stalled every query for tens of milliseconds each time it grew). Only that one
///   neighbour counts: a bucket filled on purpose enlarges one other table, not every one;
/// - the counts of a forgotten bucket's senders and sessions are released a few nonces an
///   admission (and a few slots of its table: a table with room for many more nonces than it
///   holds is not read all in one), not all in one; before an envelope is refused for a
///   quota, up to [`RELEASE_BEFORE_REFUSAL`] more are released (looking at up to
///   [`SLOTS_PER_RELEASE`] times as many slots), so a refusal counts forgotten nonces only
///   while more than that many nonces, or that many slots, wait ahead of its sender's;
/// - a forgotten bucket's table, once released, is emptied and kept (a few at most, each
///   dropped once it has room for more nonces than the guard holds, checked whenever a table
///   is released) for a new bucket of about its size: at a steady flow,
///   a new bucket reuses memory already in use rather than faulting in fresh pages, which
///   stalled admissions too.
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
/// sized for more than four times the nonces another table holds, the tables kept for reuse
/// are a few, none with room for more than the nonces held when a table was last released
/// (or a thousand), and the counts behind the quotas hold one entry
/// per sender and session with a nonce held, so never more than the nonces.
#[derive(Debug)]
pub struct ReplayGuard {
    window_ms: u64,
    /// Whether admitted nonces are remembered: not by a guard made with [`ReplayGuard::once`].
    remembers: bool,
    capacity: usize,
    per_sender: usize,
    per_session: usize,
    horizon_ms: u64,
    /// The nonces remembered, by their timestamp's slot (`timestamp_ms / BUCKET_MS`).
    buckets: BTreeMap<u64, Bucket>,
    /// How many nonces the guard holds: in buckets, or still to release.
    len: usize,
    /// The tables of forgotten buckets whose nonces are still in their senders' and
    /// sessions' counts (and in `len`): their envelopes are past the window, so no replay is
    /// looked for in them.
    releasing: Vec<Releasing>,
    /// Emptied tables, kept for new buckets (at most [`SPARE_TABLES`]).
    spare: Vec<HashTable<Held>>,
    /// The keyed hash of the nonces (their values are the senders' choice).
    hasher: RandomState,
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
    nonces: HashTable<Held>,
}

/// A forgotten bucket's table, released from the slot `next` on.
#[derive(Debug)]
struct Releasing {
    nonces: HashTable<Held>,
    next: usize,
}

impl ReplayGuard {
    /// A guard with a freshness window (milliseconds, each way) and a capacity (nonces), with
    /// no quota below the capacity.
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        Self {
            window_ms,
            remembers: true,
            capacity,
            per_sender: capacity,
            per_session: capacity,
            horizon_ms: 0,
            buckets: BTreeMap::new(),
            len: 0,
            releasing: Vec::new(),
            spare: Vec::new(),
            hasher: RandomState::new(),
            senders: HashMap::new(),
            sessions: HashMap::new(),
        }
    }

    /// A guard that checks freshness only (the window, `window_ms` each way) and remembers no
    /// nonce: for an envelope opened once, whose nonce is either recorded elsewhere (the
    /// worker's shared guard records a query's once it is opened) or bound to something its
    /// opener holds (a reply to the opener's own request, a command to its transaction's
    /// nonce). It admits what a new guard of any capacity above zero would admit the first
    /// time, without allocating; opening the same envelope with it twice admits it twice.
    pub fn once(window_ms: u64) -> Self {
        Self {
            remembers: false,
            ..Self::new(window_ms, 0)
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
        if !self.remembers {
            return Ok(());
        }
        self.forget_expired();
        self.release(RELEASE_PER_ADMIT);
        let held = Held {
            sender: *header.sender.as_bytes(),
            nonce: header.nonce,
            session: header.ephemeral.0,
        };
        let hash = hash_of(&self.hasher, &held);
        let slot = timestamp_ms / BUCKET_MS;
        if self.buckets.get(&slot).is_some_and(|bucket| {
            bucket
                .nonces
                .find(hash, |other| {
                    other.sender == held.sender && other.nonce == held.nonce
                })
                .is_some()
        }) {
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
        let bucket = match self.buckets.entry(slot) {
            btree_map::Entry::Occupied(bucket) => bucket.into_mut(),
            btree_map::Entry::Vacant(vacant) => vacant.insert(Bucket {
                latest_ms: timestamp_ms,
                nonces: table_for(&mut self.spare, expected),
            }),
        };
        bucket.latest_ms = bucket.latest_ms.max(timestamp_ms);
        *self.senders.entry(held.sender).or_default() += 1;
        *self.sessions.entry(held.session).or_default() += 1;
        let hasher = &self.hasher;
        bucket
            .nonces
            .insert_unique(hash, held, |held| hash_of(hasher, held));
        self.len += 1;
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
            self.releasing.push(Releasing {
                nonces: first.remove().nonces,
                next: 0,
            });
        }
    }

    /// Release up to `most` forgotten nonces from their senders' and sessions' counts,
    /// looking at no more than [`SLOTS_PER_RELEASE`] slots of their tables for each. A table
    /// whose every slot has been looked at is emptied and kept for a new bucket if it has room
    /// for no more nonces than the guard holds (then kept tables that have more are dropped),
    /// or else dropped.
    fn release(&mut self, most: usize) {
        let mut nonces_left = most;
        let mut slots_left = most.saturating_mul(SLOTS_PER_RELEASE);
        while nonces_left > 0 && slots_left > 0 {
            let Some(releasing) = self.releasing.last_mut() else {
                return;
            };
            let slots = releasing.nonces.num_buckets();
            while releasing.next < slots && nonces_left > 0 && slots_left > 0 {
                if let Some(held) = releasing.nonces.get_bucket(releasing.next) {
                    decrement(&mut self.senders, &held.sender);
                    decrement(&mut self.sessions, &held.session);
                    self.len -= 1;
                    nonces_left -= 1;
                }
                releasing.next += 1;
                slots_left -= 1;
            }
            if releasing.next == slots
                && let Some(Releasing { mut nonces, .. }) = self.releasing.pop()
            {
                let room = self.len.max(SPARE_ROOM_FLOOR);
                self.spare.retain(|table| table.capacity() <= room);
                if nonces.capacity() <= room {
                    nonces.clear();
                    if self.spare.len() == SPARE_TABLES {
                        self.spare.remove(0);
                    }
                    self.spare.push(nonces);
                }
            }
        }
    }
}

/// The keyed hash of a nonce (of its sender and value).
fn hash_of(hasher: &RandomState, held: &Held) -> u64 {
    hasher.hash_one((&held.sender, &held.nonce))
}

/// A table for a new bucket expected to hold `expected` nonces: a kept one with room for at
/// least that many and not many more, or a new one.
fn table_for(spare: &mut Vec<HashTable<Held>>, expected: usize) -> HashTable<Held> {
    let most = expected.saturating_mul(4).max(SPARE_FIT_FLOOR);
    match spare
        .iter()
        .rposition(|table| (expected..=most).contains(&table.capacity()))
    {
        Some(at) => spare.swap_remove(at),
        None => HashTable::with_capacity(expected),
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

    /// Admit nonces of `sender` stamped `at` (numbered from `first`) until no forgotten table
    /// is left to release, at least one; returns how many were admitted.
    fn admit_until_released(guard: &mut ReplayGuard, sender: u8, first: u32, at: u64) -> u32 {
        let mut admitted = 0;
        while admitted == 0 || !guard.releasing.is_empty() {
            guard
                .admit(&header(sender, first + admitted, at), at)
                .unwrap();
            admitted += 1;
        }
        admitted
    }

    /// A guard made with `once` refuses what a new guard refuses for time (stale, from the
    /// future, older than a time it has seen), admits what a new guard admits the first time,
    /// and remembers nothing: the same nonce twice is admitted twice, and it holds nothing.
    #[test]
    fn a_guard_for_one_envelope_checks_time_and_remembers_nothing() {
        let mut once = ReplayGuard::once(WINDOW);
        for at in [NOW - WINDOW - 1, NOW + WINDOW + 1] {
            let refused = once.admit(&header(1, 0, at), NOW).unwrap_err();
            let by_new = ReplayGuard::new(WINDOW, 1)
                .admit(&header(1, 0, at), NOW)
                .unwrap_err();
            assert_eq!(refused, by_new);
        }
        for _ in 0..2 {
            once.admit(&header(1, 0, NOW - WINDOW), NOW).unwrap();
        }
        assert!(once.is_empty());
        assert_eq!(once.holders(), (0, 0));
        assert!(once.buckets.is_empty());
        // Time that went backwards does not revive what the window already left behind.
        assert!(matches!(
            once.admit(&header(1, 1, NOW - WINDOW - 1), NOW - 10),
            Err(EnvelopeError::Expired { .. })
        ));
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

    /// Once released, a forgotten bucket's table is emptied and serves a new bucket of about
    /// its size, with none of its old nonces.
    #[test]
    fn an_emptied_table_serves_a_new_bucket() {
        let mut guard = ReplayGuard::new(WINDOW, 100_000);
        for n in 0..500 {
            guard.admit(&header(1, n, NOW), NOW).unwrap();
        }
        let room = guard.buckets.values().next().unwrap().nonces.capacity();
        let later = NOW + WINDOW + 1;
        for n in 0..300 {
            guard.admit(&header(2, n, later), later).unwrap();
        }
        assert!(guard.releasing.is_empty());
        assert_eq!(guard.spare.len(), 1);
        assert_eq!(guard.len(), 300);
        let next = later + BUCKET_MS;
        // The first sender's nonces again: the table they were in holds none of them now.
        for n in 0..500 {
            guard.admit(&header(1, n, next), next).unwrap();
        }
        assert!(guard.spare.is_empty());
        let reused = guard.buckets.get(&(next / BUCKET_MS)).unwrap();
        assert_eq!(reused.nonces.capacity(), room);
        assert_eq!(reused.nonces.len(), 500);
        assert!(matches!(
            guard.admit(&header(1, 7, next), next),
            Err(EnvelopeError::Replayed)
        ));
        assert_eq!(guard.len(), 800);
        assert_eq!(guard.holders(), (2, 2));
    }

    /// A forgotten table with room for many more nonces than it holds is read a few slots an
    /// admission, not all at once, and still released whole.
    #[test]
    fn a_sparse_forgotten_table_is_read_a_few_slots_an_admission() {
        let mut guard = ReplayGuard::new(WINDOW, 100_000);
        for n in 0..5_000 {
            guard.admit(&header(1, n, NOW), NOW).unwrap();
        }
        // Sized for the 5,000 of the bucket before it, holding one.
        guard
            .admit(&header(2, 0, NOW + BUCKET_MS), NOW + BUCKET_MS)
            .unwrap();
        let sparse = guard.buckets.values().last().unwrap().nonces.num_buckets();
        assert!(sparse >= 8192);
        let later = NOW + BUCKET_MS + WINDOW + 1;
        guard.admit(&header(3, 0, later), later).unwrap();
        assert_eq!(
            guard.releasing.len(),
            2,
            "the sparse table is not read whole"
        );
        assert_eq!(
            guard.releasing.last().unwrap().next,
            RELEASE_PER_ADMIT * SLOTS_PER_RELEASE
        );
        let admitted = 1 + admit_until_released(&mut guard, 3, 1, later);
        assert!(admitted as usize >= sparse / (RELEASE_PER_ADMIT * SLOTS_PER_RELEASE));
        assert_eq!(guard.len(), admitted as usize);
        assert_eq!(guard.holders(), (1, 1));
    }

    /// A kept table with room for more nonces than the guard now holds is dropped when the
    /// next table is released: a flood's tables do not stay once the flood is forgotten.
    #[test]
    fn kept_tables_larger_than_the_holding_are_dropped() {
        let mut guard = ReplayGuard::new(WINDOW, 100_000);
        for n in 0..5_000 {
            guard.admit(&header(1, n, NOW), NOW).unwrap();
        }
        let middle = NOW + WINDOW / 2;
        for n in 0..10_000 {
            guard.admit(&header(2, n, middle), middle).unwrap();
        }
        // The first bucket is forgotten while the second is held: its table is kept.
        admit_until_released(&mut guard, 3, 0, NOW + WINDOW + 1);
        let large = guard.spare.iter().map(HashTable::capacity).max().unwrap();
        assert!(large >= 5_000, "the first bucket's table is kept");
        // The second is forgotten when few nonces are held: neither large table stays.
        admit_until_released(&mut guard, 4, 0, middle + WINDOW + 1);
        assert!(guard.len() < SPARE_ROOM_FLOOR);
        assert!(
            guard
                .spare
                .iter()
                .all(|table| table.capacity() <= SPARE_ROOM_FLOOR),
            "kept: {:?}",
            guard
                .spare
                .iter()
                .map(HashTable::capacity)
                .collect::<Vec<_>>()
        );
    }
}
