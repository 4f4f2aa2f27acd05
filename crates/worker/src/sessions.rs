//! The query sessions a worker keeps for further queries: bounded in all, and per caller.

use std::collections::HashMap;

use fat_crypto::envelope::{Session, SessionWindow};
use fat_proto::windows::SESSION_TTL_MS;
use fat_types::{AccountId, ContractId};

/// A session's ephemeral key and contract: each pair has keys of its own.
pub(crate) type SessionKey = ([u8; 32], ContractId);

/// How often, at most, a full table is swept of sessions it may forget.
const SWEEP_EVERY_MS: u64 = 1000;

/// A query session a client opened with a sealed envelope.
pub(crate) struct SessionEntry {
    pub(crate) session: Session,
    pub(crate) caller: AccountId,
    /// Until when (the worker's clock) the session carries further queries.
    pub(crate) expires_ms: u64,
    /// The counters of the messages admitted: a replay of one is refused while the session
    /// is kept.
    pub(crate) window: SessionWindow,
    /// Until when a message the session admitted may still be fresh (its timestamp plus the
    /// envelope window). An expired session is kept until then, window and all, so a new
    /// envelope of the same session (which keeps it again) cannot start a new window that
    /// would admit those messages a second time.
    pub(crate) fresh_until_ms: u64,
}

impl SessionEntry {
    /// Whether the session still carries further queries at `now_ms`.
    pub(crate) fn live(&self, now_ms: u64) -> bool {
        self.expires_ms > now_ms
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
    /// its window. Whether it is kept.
    pub(crate) fn keep(&mut self, session: &Session, caller: AccountId, now_ms: u64) -> bool {
        let key = (session.ephemeral().0, session.contract());
        let expires_ms = now_ms + SESSION_TTL_MS;
        if let Some(entry) = self.entries.get_mut(&key) {
            if entry.caller != caller {
                release(&mut self.held, entry.caller);
                *self.held.entry(caller).or_default() += 1;
                entry.caller = caller;
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
    if let Some(count) = held.get_mut(&caller) {
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

    /// The counts behind the per-caller bound follow every insertion, change of caller and
    /// sweep: a caller at its bound is refused while another is kept, and once swept finds
    /// room again.
    #[test]
    fn one_caller_holds_at_most_its_share_and_gets_it_back() {
        let (alice, bob) = (AccountId([1; 32]), AccountId([2; 32]));
        let mut sessions = Sessions::new(4, 2);
        assert!(sessions.keep(&session(1), alice, 0));
        assert!(sessions.keep(&session(2), alice, 0));
        assert!(!sessions.keep(&session(3), alice, 0), "alice holds her two");
        assert!(
            sessions.keep(&session(1), alice, 10),
            "kept again, not anew"
        );
        assert!(sessions.keep(&session(4), bob, 10));
        // A session of alice's signed again by bob counts as his.
        assert!(sessions.keep(&session(2), bob, 20));
        assert!(sessions.keep(&session(3), alice, 20));
        assert_eq!(sessions.held[&alice], 2);
        assert_eq!(sessions.held[&bob], 2);
        assert!(!sessions.keep(&session(5), bob, 30), "the table is full");
        // All expire; none admitted a message, so all may be forgotten.
        let later = 30 + SESSION_TTL_MS;
        assert!(sessions.keep(&session(5), bob, later));
        assert_eq!(sessions.entries.len(), 1);
        assert_eq!(sessions.held.len(), 1);
        assert_eq!(sessions.held[&bob], 1);
    }
}
