//! The query sessions a worker keeps for further queries: bounded in all, and per caller.

use std::collections::HashMap;

use fat_crypto::EnvelopeError;
use fat_crypto::envelope::{Session, SessionWindow};
use fat_proto::windows::{ENVELOPE_WINDOW_MS, SESSION_TTL_MS};
use fat_types::{AccountId, ContractId};

/// A session's ephemeral key and contract: each pair has keys of its own.
pub(crate) type SessionKey = ([u8; 32], ContractId);

/// How often, at most, a full table is swept of sessions it may forget.
const SWEEP_EVERY_MS: u64 = 1000;

/// A query session a client opened with a sealed envelope.
pub(crate) struct SessionEntry {
    session: Session,
    caller: AccountId,
    /// Until when (the worker's clock) the session carries further queries.
    expires_ms: u64,
    /// The counters of the messages admitted: a replay of one is refused while the session
    /// is kept.
    window: SessionWindow,
    /// Until when a message the session admitted may still be fresh (its timestamp plus the
    /// envelope window). An expired session is kept until then, window and all, so a new
    /// envelope of the same session (which keeps it again) cannot start a new window that
    /// would admit those messages a second time.
    fresh_until_ms: u64,
}

impl SessionEntry {
    /// The session's keys.
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// Who opened it: its further queries run as this account.
    pub(crate) fn caller(&self) -> AccountId {
        self.caller
    }

    /// Whether the session still carries further queries at `now_ms`.
    pub(crate) fn live(&self, now_ms: u64) -> bool {
        self.expires_ms > now_ms
    }

    /// Admit an authenticated message of this session, numbered `counter` and stamped
    /// `timestamp_ms`, once: the entry is then kept at least while the message is fresh.
    pub(crate) fn admit(&mut self, counter: u64, timestamp_ms: u64) -> Result<(), EnvelopeError> {
        self.window.admit(counter)?;
        self.fresh_until_ms = self
            .fresh_until_ms
            .max(timestamp_ms.saturating_add(ENVELOPE_WINDOW_MS));
        Ok(())
    }

    /// Whether the entry may be forgotten at `now_ms`: expired, and every message it
    /// admitted stale.
    fn forgettable(&self, now_ms: u64) -> bool {
        !self.live(now_ms) && self.fresh_until_ms < now_ms
    }
}

/// The sessions kept: at most `max`, and at most `per_caller` of one caller (the account that
/// signed the envelope), so that one account cannot take every place. When either bound is
/// reached, the sessions that may be forgotten are swept, at most once a second (not on every
/// query); a session that still finds no place is not kept (its query is answered, and the
/// client's further queries get 410 and come sealed).
pub(crate) struct Sessions {
    entries: HashMap<SessionKey, SessionEntry>,
    /// How many entries each caller holds (only callers holding some).
    held: HashMap<AccountId, usize>,
    max: usize,
    per_caller: usize,
    swept_ms: u64,
}

impl Sessions {
    pub(crate) fn new(max: usize, per_caller: usize) -> Self {
        Self {
            entries: HashMap::new(),
            held: HashMap::new(),
            max,
            per_caller,
            swept_ms: 0,
        }
    }

    /// The session of `key`, while it carries further queries.
    pub(crate) fn live(&self, key: &SessionKey, now_ms: u64) -> Option<&SessionEntry> {
        self.entries.get(key).filter(|e| e.live(now_ms))
    }

    /// The session of `key`, live or kept for its window.
    pub(crate) fn get_mut(&mut self, key: &SessionKey) -> Option<&mut SessionEntry> {
        self.entries.get_mut(key)
    }

    /// Keep `session`, opened by `caller`, for further queries (if there is room), or keep it
    /// longer: a session kept already (a client may seal several envelopes under one) keeps
    /// its window. A session kept for one caller is not handed to another (the holder of its
    /// ephemeral key signing as another account), which would let one party's sessions
    /// count against no bound. Whether it is kept.
    pub(crate) fn keep(&mut self, session: &Session, caller: AccountId, now_ms: u64) -> bool {
        let key = (session.ephemeral().0, session.contract());
        let expires_ms = now_ms + SESSION_TTL_MS;
        if let Some(entry) = self.entries.get_mut(&key) {
            if entry.caller != caller {
                return false;
            }
            entry.expires_ms = expires_ms;
            return true;
        }
        if !self.room_for(&caller) && now_ms.saturating_sub(self.swept_ms) >= SWEEP_EVERY_MS {
            self.sweep(now_ms);
        }
        if !self.room_for(&caller) {
            return false;
        }
        *self.held.entry(caller).or_default() += 1;
        self.entries.insert(
            key,
            SessionEntry {
                session: session.clone(),
                caller,
                expires_ms,
                window: SessionWindow::default(),
                fresh_until_ms: 0,
            },
        );
        true
    }

    fn room_for(&self, caller: &AccountId) -> bool {
        self.entries.len() < self.max
            && self.held.get(caller).copied().unwrap_or(0) < self.per_caller
    }

    /// Forget the sessions that may be forgotten at `now_ms`.
    fn sweep(&mut self, now_ms: u64) {
        self.swept_ms = now_ms;
        let held = &mut self.held;
        self.entries.retain(|_, entry| {
            let keep = !entry.forgettable(now_ms);
            if !keep {
                release(held, entry.caller);
            }
            keep
        });
    }
}

/// One session fewer for `caller`.
fn release(held: &mut HashMap<AccountId, usize>, caller: AccountId) {
    let count = held.get_mut(&caller);
    debug_assert!(count.is_some(), "a session of a caller holding none");
    if let Some(count) = count {
        *count -= 1;
        if *count == 0 {
            held.remove(&caller);
        }
    }
}

#[cfg(test)]
mod tests {
    use fat_crypto::envelope::{EcdhSecret, Session};

    use super::*;

    fn session(seed: u8) -> Session {
        Session::start(
            &EcdhSecret::from_bytes([9; 32]).public(),
            ContractId([1; 32]),
            [seed; 32],
        )
        .unwrap()
    }

    /// The counts behind the per-caller bound follow every insertion and sweep: a caller at
    /// its bound is refused while another is kept, a full table refuses everyone, a session
    /// is not handed to another caller, and a sweep gives the places back.
    #[test]
    fn one_caller_holds_at_most_its_share_and_gets_it_back() {
        let (alice, bob, carol) = (AccountId([1; 32]), AccountId([2; 32]), AccountId([3; 32]));
        let mut sessions = Sessions::new(4, 2);
        assert!(sessions.keep(&session(1), alice, 0));
        assert!(sessions.keep(&session(2), alice, 0));
        assert!(!sessions.keep(&session(3), alice, 0), "alice holds her two");
        assert!(
            sessions.keep(&session(1), alice, 10),
            "kept again, not anew"
        );
        assert!(sessions.keep(&session(4), bob, 10));
        // Alice's session signed again by bob is not handed to him: he would hold a third
        // place counted as hers.
        assert!(!sessions.keep(&session(2), bob, 20));
        assert_eq!(
            sessions
                .live(&(session(2).ephemeral().0, ContractId([1; 32])), 20)
                .unwrap()
                .caller(),
            alice
        );
        assert!(sessions.keep(&session(5), bob, 20));
        assert_eq!(sessions.held[&alice], 2);
        assert_eq!(sessions.held[&bob], 2);
        assert!(!sessions.keep(&session(6), carol, 30), "the table is full");
        // All expire; none admitted a message, so all may be forgotten.
        let later = 30 + SESSION_TTL_MS;
        assert!(sessions.keep(&session(6), carol, later));
        assert_eq!(sessions.entries.len(), 1);
        assert_eq!(sessions.held.len(), 1);
        assert_eq!(sessions.held[&carol], 1);
    }

    /// An expired session that admitted a message is kept (and counted) while the message is
    /// fresh, then swept.
    #[test]
    fn a_session_is_kept_while_a_message_it_admitted_is_fresh() {
        let alice = AccountId([1; 32]);
        let mut sessions = Sessions::new(1, 1);
        assert!(sessions.keep(&session(1), alice, 0));
        let key = (session(1).ephemeral().0, ContractId([1; 32]));
        let entry = sessions.get_mut(&key).unwrap();
        // Stamped as the session ends (a client's clock running ahead).
        let stamped = SESSION_TTL_MS;
        entry.admit(0, stamped).unwrap();
        assert!(entry.admit(0, stamped).is_err());
        let expired = SESSION_TTL_MS + 1;
        assert!(sessions.live(&key, expired).is_none());
        assert!(
            !sessions.keep(&session(2), alice, expired),
            "the message is fresh"
        );
        assert!(sessions.keep(&session(2), alice, stamped + ENVELOPE_WINDOW_MS + 1));
        assert!(sessions.get_mut(&key).is_none());
    }
}
