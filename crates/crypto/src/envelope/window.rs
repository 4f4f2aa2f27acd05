//! The counters of a session's messages, and the window that admits each counter once.
//!
//! A requester numbers the messages it seals in a session: the first 8 bytes of each
//! message's nonce are a counter (big-endian, from 0, one more for each message), the other
//! 16 are random ([`message_nonce`]). The recipient then needs no memory of every nonce to
//! refuse a replay: it keeps, per session, the highest counter admitted and which of the
//! [`SESSION_WINDOW`] counters below it were admitted ([`SessionWindow`]), as IPsec and
//! WireGuard do for their packets. Messages may arrive out of order (a client sends several
//! at once), as long as none arrives after [`SESSION_WINDOW`] later ones.
//!
//! The random tail keeps a nonce unique under the session's key even from a requester that
//! numbers two messages alike: the window refuses the second, but the key never seals two
//! plaintexts under one nonce.

use super::{EnvelopeError, NONCE_LEN, Result};

/// How many counters below the highest admitted a session's window still admits (each once).
pub const SESSION_WINDOW: u64 = 1024;

/// The window's bitmap: `SESSION_WINDOW / 64` words for the counters below the highest, and
/// one for the highest's own word (RFC 6479's layout).
const WORDS: usize = (SESSION_WINDOW / 64) as usize + 1;

/// The nonce of a session's message number `counter`: the counter (big-endian) then 16
/// random bytes.
pub fn message_nonce(counter: u64, random: [u8; NONCE_LEN - 8]) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..8].copy_from_slice(&counter.to_be_bytes());
    nonce[8..].copy_from_slice(&random);
    nonce
}

/// The counter a session message's nonce carries (see [`message_nonce`]).
pub fn message_counter(nonce: &[u8; NONCE_LEN]) -> u64 {
    u64::from_be_bytes(nonce[..8].try_into().expect("8 bytes"))
}

/// Which counters of one session were admitted: the highest, and a bitmap of the
/// [`SESSION_WINDOW`] below it. Counters further below are refused, admitted or not: a
/// replay of one of them cannot be told from a first arrival. Fixed size, whatever the
/// session carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionWindow {
    /// The highest counter admitted (0 before any: counter 0 is then new).
    top: u64,
    /// Bit `c % 64` of word `(c / 64) % WORDS` says whether counter `c` was admitted.
    bits: [u64; WORDS],
}

impl SessionWindow {
    /// Admit `counter` once: refused if it was admitted before ([`EnvelopeError::Replayed`])
    /// or lies [`SESSION_WINDOW`] or more below the highest admitted
    /// ([`EnvelopeError::BehindWindow`]). Call it only for an authenticated message: each
    /// admission moves the window.
    pub fn admit(&mut self, counter: u64) -> Result<()> {
        if counter > self.top {
            // Clear the words the window moves into (all of them, for a long jump).
            let from = self.top / 64;
            let to = counter / 64;
            for word in (from + 1..=to).take(WORDS) {
                self.bits[Self::slot(word)] = 0;
            }
            self.top = counter;
        } else if self.top - counter >= SESSION_WINDOW {
            return Err(EnvelopeError::BehindWindow {
                counter,
                latest: self.top,
            });
        }
        let (word, bit) = (Self::slot(counter / 64), 1u64 << (counter % 64));
        if self.bits[word] & bit != 0 {
            return Err(EnvelopeError::Replayed);
        }
        self.bits[word] |= bit;
        Ok(())
    }

    /// The highest counter admitted (0 before any).
    pub fn latest(&self) -> u64 {
        self.top
    }

    fn slot(word: u64) -> usize {
        (word % WORDS as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_is_admitted_once_in_any_order_within_the_window() {
        let mut window = SessionWindow::default();
        for counter in [0, 5, 3, 1, 2, 4, 64, 63, 1000] {
            window.admit(counter).unwrap();
        }
        for counter in [0, 5, 3, 64, 1000] {
            assert_eq!(window.admit(counter), Err(EnvelopeError::Replayed));
        }
        window.admit(1023).unwrap();
        assert_eq!(window.latest(), 1023);
        // 1023 - 1024 would be below 0; a jump leaves the window behind.
        window.admit(2047).unwrap();
        assert_eq!(
            window.admit(1023),
            Err(EnvelopeError::BehindWindow {
                counter: 1023,
                latest: 2047
            })
        );
        window.admit(1024).unwrap();
        assert_eq!(window.admit(1024), Err(EnvelopeError::Replayed));
    }

    #[test]
    fn a_long_jump_forgets_every_word() {
        let mut window = SessionWindow::default();
        for counter in 0..64 * WORDS as u64 {
            window.admit(counter).unwrap();
        }
        let far = 1u64 << 40;
        window.admit(far).unwrap();
        // Every counter in the new window is new, though its slot held admitted ones.
        for counter in far - SESSION_WINDOW + 1..far {
            window.admit(counter).unwrap();
        }
        window.admit(u64::MAX).unwrap();
        assert_eq!(window.admit(u64::MAX), Err(EnvelopeError::Replayed));
        assert_eq!(window.latest(), u64::MAX);
    }

    proptest::proptest! {
        /// The bitmap answers as the rule it implements, kept naively: every counter
        /// admitted in a set, and the highest.
        #[test]
        fn the_window_answers_as_a_set_of_every_counter_admitted(
            steps in proptest::collection::vec((0u8..4, proptest::num::u64::ANY), 1..600)
        ) {
            let mut window = SessionWindow::default();
            let mut admitted = std::collections::BTreeSet::new();
            let mut top = 0u64;
            let mut sent = Vec::new();
            for (kind, x) in steps {
                let counter = match kind {
                    0 => top.saturating_add(x % 70),
                    1 => top.saturating_sub(x % 1100),
                    2 => top.saturating_add(x % 5000),
                    _ if sent.is_empty() => x,
                    _ => sent[(x % sent.len() as u64) as usize],
                };
                sent.push(counter);
                let expected = if counter > top || (top - counter < SESSION_WINDOW && !admitted.contains(&counter)) {
                    Ok(())
                } else if top - counter >= SESSION_WINDOW {
                    Err(EnvelopeError::BehindWindow { counter, latest: top })
                } else {
                    Err(EnvelopeError::Replayed)
                };
                proptest::prop_assert_eq!(window.admit(counter), expected.clone());
                if expected.is_ok() {
                    admitted.insert(counter);
                    top = top.max(counter);
                }
            }
        }
    }

    #[test]
    fn the_nonce_carries_its_counter_first() {
        let nonce = message_nonce(0x0102_0304_0506_0708, [0xaa; 16]);
        assert_eq!(nonce[..8], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(nonce[8..], [0xaa; 16]);
        assert_eq!(message_counter(&nonce), 0x0102_0304_0506_0708);
    }
}
