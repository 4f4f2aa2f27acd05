//! The chain node's errors.

use std::path::PathBuf;

use fat_types::Hash32;

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
    /// The node has no producer key but was asked to produce.
    #[error("this node has no producer key")]
    NotProducer,
    /// A block failed to commit earlier; the node must be restarted.
    #[error("the node stopped producing after a failed commit; restart it")]
    Halted,
    /// The RPC address cannot be bound or served.
    #[error("cannot serve RPC on {addr}")]
    Serve {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration asks for something not supported yet.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A background task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
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
