//! Sign and verify what the platform signs: transactions, envelopes, and the keys behind them.
//!
//! Keys are ed25519 ([`ed25519_dalek`]); verification is strict (no malleable signatures).
//! Dev accounts (`alice`, `bob`, `charlie`, the dev gatekeeper and the dev sequencer) have
//! well-known keys: see [`dev_keypair`].

pub mod aead;
pub mod envelope;
mod keys;
pub mod keytree;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

pub use aead::XChaCha;
pub use envelope::{
    Direction, EcdhPublic, EcdhSecret, Envelope, EnvelopeError, ReplayGuard, Session,
    SessionMessage,
};
pub use keys::{
    DEV_SEED_CONTEXT, Keypair, check_tx_signature, dev_keypair, verify, verify_tx, verify_tx_batch,
    verify_txs, verify_txs_with_ids,
};
pub use keytree::{ClusterKey, ContractKeys, MasterKey};

/// Why a signature or a key is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The bytes are not an ed25519 public key.
    #[error("not an ed25519 public key: {0}")]
    BadPublicKey(fat_types::AccountId),
    /// The signature does not verify.
    #[error("signature does not verify for {0}")]
    BadSignature(fat_types::AccountId),
}

/// The result type of this crate.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
