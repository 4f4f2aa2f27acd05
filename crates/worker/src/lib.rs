//! Run the execution half of the platform: follow the chain, execute contracts, answer queries.
//!
//! A [`Worker`] follows a chain node's block stream ([`Worker::follow`], through
//! [`fat_proto::follow::Follower`], which checks each block and its receipts), and executes
//! the uploads, instantiations and commands of the contracts of its clusters in block order
//! with [`fat_executor`]. Everything a block does is committed to the [`store::Store`] (redb)
//! in one transaction together with the block's header, so a worker resumes after a crash
//! from the last block it committed, and a new worker rebuilds every contract by replaying
//! the chain.
//!
//! Per block and contract the worker records a state root ([`fat_runtime::state_root`]), and
//! per transaction an [`fat_types::ExecutionReceipt`] it signs. Queries run on a snapshot of the
//! last committed block (one read transaction) while blocks apply, behind admission control:
//! a full queue answers "busy" at once. [`api::app`] serves all this over HTTP
//! (`docs/openapi-worker.yaml`).
//!
//! The worker's jobs, one file each: [`worker`](Worker) (setup and handle), `identity` (keys
//! and attestation), `follow` (the chain), `commit` (executing a block with
//! [`fat_executor::Executor`] on a snapshot, sealing the cluster keys it provisioned, group
//! commit), `query` (plain, sealed and session queries), `jobs` (a query's jobs spread over
//! its cluster, and the jobs other members send), `api` (HTTP). [`process`] holds what the
//! process a worker runs in asks of the kernel.

mod admission;
pub mod api;
mod commit;
mod error;
mod follow;
mod identity;
mod jobs;
mod keys;
pub mod process;
mod query;
mod seal;
mod sessions;
mod shared;
pub mod store;
mod sync;
mod worker;

pub use error::{Result, WorkerError};
pub use keys::{KEYS_FILE, Keyring, WorkerSecrets};
pub use query::{QueryAnswer, SealedAnswer};
pub use seal::StoreSeal;
pub use store::{ContractRecord, LogRecord, Snapshot, Store};
pub use worker::{
    MAX_SESSIONS, MAX_SESSIONS_PER_CALLER, REPLAY_CAPACITY, REPLAY_SENDER_QUOTA,
    REPLAY_SESSION_QUOTA, SnapshotFault, Worker, WorkerConfig,
};
