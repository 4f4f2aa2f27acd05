//! The chain node's errors.

use std::path::PathBuf;

use fat_consensus::{CertificateError, ConsensusError};
use fat_types::{AccountId, Hash32, TxId, TxRejection};

/// What can go wrong in the chain node.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The data directory cannot be created or read.
    #[error("cannot use data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database file cannot be opened: it is corrupt, not a database, or in use.
    #[error(
        "cannot open chain database {path} (corrupt, not a redb database, or in use); refusing to reset it"
    )]
    OpenStore {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: redb::DatabaseError,
    },
    /// The database holds something other than a fat chain.
    #[error("{path} is not a fat chain database ({reason}); refusing to touch it")]
    ForeignStore {
        /// The database file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The database holds another chain.
    #[error(
        "{path} holds the chain with genesis {found}, not {expected}; use another data directory"
    )]
    ForeignChain {
        /// The database file.
        path: PathBuf,
        /// The stored genesis hash.
        found: Hash32,
        /// The configured genesis hash.
        expected: Hash32,
    },
    /// The database is internally inconsistent.
    #[error("chain database is corrupt: {0}")]
    Corrupt(String),
    /// A database operation failed.
    #[error("database {op} failed")]
    Storage {
        /// The operation.
        op: &'static str,
        /// Why.
        #[source]
        source: redb::Error,
    },
    /// The node was given a key that is not one of the genesis validators.
    #[error("{account} is not a validator of this chain's genesis; pass a validator's key")]
    NotValidator {
        /// The key given.
        account: AccountId,
    },
    /// The node has no validator key but was asked to sign a block.
    #[error("this node has no validator key")]
    NoValidatorKey,
    /// A proposal breaks a rule of the chain.
    #[error("invalid proposal at height {height}")]
    Proposal {
        /// The proposal's height.
        height: u64,
        /// The rule it breaks.
        #[source]
        reason: InvalidProposal,
    },
    /// A block to finalize does not carry a valid certificate.
    #[error("block {height}: bad certificate")]
    Certificate {
        /// The block's height.
        height: u64,
        /// Why.
        #[source]
        source: CertificateError,
    },
    /// The consensus engine failed.
    #[error("consensus")]
    Consensus(#[from] ConsensusError),
    /// A block failed to commit earlier; the node must be restarted.
    #[error("the node stopped producing after a failed commit; restart it")]
    Halted,
    /// A genesis file that cannot be used.
    #[error("genesis file {}: {reason}", path.display())]
    GenesisFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A validator key file that cannot be used.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The data directory belongs to another validator.
    #[error(
        "{} holds the chain of validator {expected}, but the key given is {got}'s; use its key or another data dir",
        dir.display()
    )]
    WrongValidator {
        /// The data directory.
        dir: std::path::PathBuf,
        /// The validator whose directory it is.
        expected: fat_types::AccountId,
        /// The key given.
        got: fat_types::AccountId,
    },
    /// The RPC address cannot be bound or served.
    #[error("cannot serve RPC on {addr}")]
    Serve {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The rule of the chain a proposed block breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidProposal {
    /// The proposal does not build on the last final block.
    #[error("parent {got}, but the last final block is {expected}")]
    BadParent {
        /// The last final block's hash.
        expected: Hash32,
        /// The proposal's parent.
        got: Hash32,
    },
    /// The height is not one more than the parent's.
    #[error("height {got}, expected {expected}")]
    WrongHeight {
        /// The next height.
        expected: u64,
        /// The proposal's height.
        got: u64,
    },
    /// The timestamp is before the parent's.
    #[error("timestamp {got} before the parent's {parent}")]
    TimeWentBack {
        /// The parent's timestamp.
        parent: u64,
        /// The proposal's timestamp.
        got: u64,
    },
    /// More transactions than a block may hold.
    #[error("{count} transactions, at most {max} in a block")]
    TooManyTxs {
        /// How many.
        count: usize,
        /// The chain's limit.
        max: u32,
    },
    /// The transactions are larger together than a block may hold ([`MAX_BLOCK_BYTES`]).
    ///
    /// [`MAX_BLOCK_BYTES`]: fat_types::genesis::MAX_BLOCK_BYTES
    #[error("the transactions hold {bytes} bytes, at most {max} in a block")]
    TooManyBytes {
        /// Their encoded bytes together.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The transactions ask for more gas together than a block may (`max_block_gas`).
    #[error("the transactions ask for {gas} gas, at most {max} in a block (max_block_gas)")]
    TooMuchGas {
        /// The gas they ask for together.
        gas: u64,
        /// The chain's `max_block_gas`.
        max: u64,
    },
    /// A transaction the mempool would have refused (size, signature, fee, gas).
    #[error("transaction {index} ({tx}) is refused: {rejection}")]
    Tx {
        /// Its position in the block.
        index: u32,
        /// Its id.
        tx: TxId,
        /// Why.
        rejection: TxRejection,
    },
    /// A transaction that is already committed, or twice in the block.
    #[error("transaction {index} ({tx}) is already committed or twice in the block")]
    Replayed {
        /// Its position in the block.
        index: u32,
        /// Its id.
        tx: TxId,
    },
    /// The transactions are not the ones the header commits to.
    #[error("transactions do not match the header's tx root")]
    TxRootMismatch,
    /// Executing the transactions gives other receipts than the header commits to.
    #[error("receipts root {got}, executing the transactions gives {expected}")]
    ReceiptsRootMismatch {
        /// What execution gives.
        expected: Hash32,
        /// The header's.
        got: Hash32,
    },
    /// Executing the transactions gives another state than the header commits to.
    #[error("state root {got}, executing the transactions gives {expected}")]
    StateRootMismatch {
        /// What execution gives.
        expected: Hash32,
        /// The header's.
        got: Hash32,
    },
}

/// The result type of this crate.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

/// Map a redb error to [`ChainError::Storage`] for `op`.
pub(crate) fn storage<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> ChainError {
    move |e| ChainError::Storage {
        op,
        source: e.into(),
    }
}
