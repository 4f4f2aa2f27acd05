//! The errors of deciding and checking finality.

use fat_types::AccountId;

/// What can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsensusError {
    /// A validator set must name at least one validator.
    #[error("the validator set is empty")]
    NoValidators,
    /// A validator set names the same key twice (it would count twice towards a quorum).
    #[error("validator {validator} is listed twice")]
    DuplicateValidator {
        /// The key listed twice.
        validator: AccountId,
    },
    /// A validator key the engine cannot use (not a valid ed25519 point).
    #[error("validator key {validator} is not a valid ed25519 key")]
    BadValidatorKey {
        /// The key.
        validator: AccountId,
    },
    /// The engine's key is not one of the validators.
    #[error("{account} is not a validator of this chain")]
    NotValidator {
        /// The engine's key.
        account: AccountId,
    },
    /// The single sequencer needs a set it can finalize alone (one validator).
    #[error(
        "the single sequencer cannot finalize alone: {validators} validators need {quorum} signatures"
    )]
    NotSoleValidator {
        /// The size of the set.
        validators: usize,
        /// Its quorum.
        quorum: usize,
    },
    /// A certificate does not prove its block final.
    #[error("bad certificate")]
    Certificate(#[from] CertificateError),
    /// A background task panicked or was cancelled.
    #[error("consensus task failed: {0}")]
    Task(String),
}

/// The result type of this crate.
pub type Result<T, E = ConsensusError> = std::result::Result<T, E>;

/// Why a certificate does not prove its block final.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Fewer distinct validators signed than a quorum.
    #[error("{signed} of the {needed} signatures a quorum needs")]
    NoQuorum {
        /// How many signed.
        signed: usize,
        /// How many a quorum needs.
        needed: usize,
    },
    /// A signer index names no validator.
    #[error("signer index {index} is not in the validator set")]
    UnknownValidator {
        /// The index.
        index: u32,
    },
    /// The same validator signed twice.
    #[error("validator {index} signed twice")]
    DuplicateSigner {
        /// The validator's index.
        index: u32,
    },
    /// A signature does not verify for its validator over this block and round.
    #[error("the signature of validator {validator} does not verify")]
    BadSignature {
        /// The validator's index.
        validator: u32,
    },
    /// A simplex certificate's descendant headers do not link back to the block.
    #[error("descendant header {at} does not link to the one before it")]
    BrokenDescendants {
        /// The position of the header that breaks the chain.
        at: usize,
    },
    /// A genesis certificate on a block other than the genesis block.
    #[error("a genesis certificate on a block that is not the genesis block")]
    GenesisCertificate,
}
