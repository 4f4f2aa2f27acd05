//! The executor's errors: what stops a block from being applied (a contract's own failure
//! never does: it ends in a failed receipt).

use fat_types::ClusterId;

/// Why a block could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The receipts given are not the block's (count or receipts root).
    #[error("receipts of block {height} do not match its receipts root")]
    ReceiptsMismatch {
        /// The block height.
        height: u64,
    },
    /// The transaction ids given with a block are not one per transaction.
    #[error("{ids} transaction ids given for the {txs} transactions of block {height}")]
    IdsMismatch {
        /// The block height.
        height: u64,
        /// How many ids were given.
        ids: usize,
        /// How many transactions the block has.
        txs: usize,
    },
    /// A contract this worker runs belongs to a cluster whose key it does not hold.
    #[error("this worker holds no key for cluster {0}")]
    NoClusterKey(ClusterId),
    /// The code stored under a hash is not the code of that hash: the disk was altered (by
    /// its operator, say). Running it would run someone else's code with the contract's
    /// secrets and sign the result, so the block is not applied at all.
    #[error(
        "the code stored as {expected} hashes to {found}: the store was altered; refusing to run it"
    )]
    CodeTampered {
        /// The hash the code was stored and asked for under.
        expected: fat_types::CodeHash,
        /// The hash of the bytes found.
        found: fat_types::CodeHash,
    },
    /// A command to a contract this worker runs is not signed by its signer: the block's
    /// producer made it up, or a quorum of validators let it through. Nothing of the block
    /// is applied.
    #[error("a command's signature does not verify")]
    Signature(#[source] Box<fat_consensus::FollowError>),
    /// Reading the committed state (or writing the block's overlay) failed.
    #[error("state")]
    State(#[from] fat_runtime::Error),
}

/// The result type of this crate.
pub type Result<T, E = ExecutorError> = std::result::Result<T, E>;
