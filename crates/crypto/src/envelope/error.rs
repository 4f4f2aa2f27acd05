//! Why envelopes are refused.

use fat_types::{AccountId, ContractId};

use super::Direction;

/// Why an envelope was not sealed or not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes are not a canonical envelope.
    #[error("not a canonical envelope: {0}")]
    Decode(String),
    /// The sender's signature does not verify.
    #[error("envelope signature does not verify for {0}")]
    BadSignature(AccountId),
    /// Signed by someone else than the expected party.
    #[error("envelope signed by {found}, expected {expected}")]
    WrongSender {
        /// Who should have signed.
        expected: AccountId,
        /// Who signed.
        found: AccountId,
    },
    /// Sealed to another key than the opener's.
    #[error("envelope is sealed to another recipient key")]
    WrongRecipient,
    /// A session reply that answers another request than the one sent.
    #[error("the reply answers another request of the session (replayed or swapped)")]
    NotTheReply,
    /// A response that does not belong to this session.
    #[error("envelope belongs to another session")]
    WrongSession,
    /// Meant for another contract.
    #[error("envelope is for contract {found}, expected {expected}")]
    WrongContract {
        /// The contract the opener expects.
        expected: ContractId,
        /// The contract in the envelope.
        found: ContractId,
    },
    /// Meant for another direction (e.g. a response presented as a request).
    #[error("envelope direction is {found:?}, expected {expected:?}")]
    WrongDirection {
        /// The direction the opener expects.
        expected: Direction,
        /// The direction in the envelope.
        found: Direction,
    },
    /// A public key of low order: the shared secret would be predictable.
    #[error("x25519 key of low order: no contributory shared secret")]
    WeakKey,
    /// The AEAD refused the ciphertext or its associated data.
    #[error("envelope does not decrypt (ciphertext or header tampered with, or wrong key)")]
    Decrypt,
    /// The timestamp is older than the replay window.
    #[error("envelope expired: timestamp {timestamp_ms} ms, now {now_ms} ms")]
    Expired {
        /// The envelope's timestamp.
        timestamp_ms: u64,
        /// The opener's time.
        now_ms: u64,
    },
    /// The timestamp is further in the future than the replay window.
    #[error("envelope from the future: timestamp {timestamp_ms} ms, now {now_ms} ms")]
    FromFuture {
        /// The envelope's timestamp.
        timestamp_ms: u64,
        /// The opener's time.
        now_ms: u64,
    },
    /// This sender's nonce was already seen within the window.
    #[error("envelope replayed: nonce already seen")]
    Replayed,
    /// A session message numbered [`super::SESSION_WINDOW`] or more below the latest its
    /// session admitted: too old to tell from a replay. Seal it again (in a new session).
    #[error(
        "session message {counter} is too far behind the latest of its session ({latest}): seal it again in a new session"
    )]
    BehindWindow {
        /// The message's counter.
        counter: u64,
        /// The highest counter the session admitted.
        latest: u64,
    },
    /// The replay guard holds as many nonces as it may: refused rather than forgotten.
    #[error("replay guard full: try again later")]
    ReplayGuardFull,
    /// The sender holds as many nonces of the replay guard as one sender may (its quota):
    /// refused until its older nonces leave the freshness window; other senders still pass.
    #[error("sender {sender} holds its quota of {quota} recent nonces: slow down")]
    SenderOverQuota {
        /// The sender over its quota.
        sender: AccountId,
        /// The nonces one sender may hold.
        quota: usize,
    },
    /// The session holds as many nonces of the replay guard as one session may (its quota):
    /// refused until its older nonces leave the freshness window; other sessions still pass.
    #[error("the session holds its quota of {quota} recent nonces: slow down")]
    SessionOverQuota {
        /// The nonces one session may hold.
        quota: usize,
    },
    /// The operating system's random number generator failed.
    #[error("no randomness: {0}")]
    Random(String),
}
