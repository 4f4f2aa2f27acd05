//! The worker's errors.

use std::path::PathBuf;

use fat_types::{ContractId, Hash32};

/// What can go wrong in a worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The data directory cannot be created.
    #[error("cannot create the data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database cannot be opened.
    #[error("cannot open the worker store {path}")]
    OpenStore {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: redb::DatabaseError,
    },
    /// A database operation failed.
    #[error("worker store: {what}")]
    Storage {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: redb::Error,
    },
    /// The store holds something this version cannot read.
    #[error("worker store is corrupt: {0}")]
    Corrupt(String),
    /// The store follows another chain than the one it was pointed at.
    #[error("the worker store follows chain {found}, not {expected}")]
    ForeignChain {
        /// The genesis hash in the store.
        found: Hash32,
        /// The genesis hash of the chain followed.
        expected: Hash32,
    },
    /// The chain node serves another chain than the one the worker is pinned to
    /// ([`crate::WorkerConfig::genesis`]).
    #[error(
        "the chain node serves chain {served}, not chain {expected}, the one this worker follows"
    )]
    OtherChain {
        /// The genesis hash of the chain the node serves.
        served: Hash32,
        /// The genesis hash of the chain the worker is pinned to.
        expected: Hash32,
    },
    /// The chain node cannot be reached at this URL.
    #[error("chain node {url}: {message}")]
    Chain {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The chain's genesis does not match its block 0, or names no usable validator set.
    #[error("chain genesis: {0}")]
    Genesis(String),
    /// A block from the chain does not verify.
    #[error("following the chain")]
    Follow(#[from] fat_proto::follow::FollowerError),
    /// The chain's receipts do not match the block's receipts root.
    #[error("receipts of block {height} do not match its receipts root")]
    ReceiptsMismatch {
        /// The block height.
        height: u64,
    },
    /// A block could not be executed (not a contract call: those end in a receipt).
    #[error("executing a block")]
    Execute(#[source] fat_executor::ExecutorError),
    /// The runtime failed (not a contract call: those end in a receipt).
    #[error("runtime")]
    Runtime(#[from] fat_runtime::Error),
    /// The contract is not run by this worker.
    #[error("unknown contract {0}")]
    UnknownContract(ContractId),
    /// The code of a contract is missing from the store.
    #[error("code of contract {0} is missing")]
    MissingCode(ContractId),
    /// The worker's keys cannot be loaded, created or used.
    #[error("worker keys: {0}")]
    Keys(String),
    /// A query envelope was refused.
    #[error("envelope refused")]
    Envelope(#[from] fat_crypto::EnvelopeError),
    /// A session message names no session this worker keeps (never opened, expired, or
    /// forgotten): open a new one with a sealed envelope.
    #[error("unknown or expired query session: seal the query in a new envelope")]
    UnknownSession,
    /// The worker holds no key for the contract's cluster.
    #[error("this worker holds no key for cluster {0}")]
    NoClusterKey(fat_types::ClusterId),
    /// The query queue is full.
    #[error("busy: the query queue is full")]
    Busy,
    /// The worker has not reached the block a job's query read.
    #[error("this worker has not reached block {height} yet")]
    Behind {
        /// The block.
        height: u64,
    },
    /// A job came from a worker that is not a member of the contract's cluster.
    #[error("worker {sender} is not a member of cluster {cluster}")]
    NotMember {
        /// Who sent the job.
        sender: fat_types::WorkerId,
        /// The contract's cluster.
        cluster: fat_types::ClusterId,
    },
    /// A contract's state sent by another member was refused, or could not be had.
    #[error("state sync: {0}")]
    Snapshot(String),
    /// The API cannot be served.
    #[error("cannot serve on {addr}")]
    Serve {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The result type of this crate.
pub type Result<T, E = WorkerError> = std::result::Result<T, E>;

impl From<fat_executor::ExecutorError> for WorkerError {
    fn from(e: fat_executor::ExecutorError) -> Self {
        use fat_executor::ExecutorError;
        match e {
            ExecutorError::ReceiptsMismatch { height } => Self::ReceiptsMismatch { height },
            ExecutorError::NoClusterKey(cluster) => Self::NoClusterKey(cluster),
            e => Self::Execute(e),
        }
    }
}

/// Map a redb error to [`WorkerError::Storage`].
pub(crate) fn storage<E: Into<redb::Error>>(what: &'static str) -> impl FnOnce(E) -> WorkerError {
    move |e| WorkerError::Storage {
        what,
        source: e.into(),
    }
}

/// A corrupt-record error for a value that does not decode.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Corrupt(format!("{what}: {e}"))
}
