//! Run the execution half of the platform: follow the chain, execute contracts, answer queries.
//!
//! A [`Worker`] follows a chain node's block stream ([`Worker::follow`]), checks each block
//! with [`fat_consensus::BlockVerifier`] and the chain's receipts against the block's receipts
//! root, and executes the uploads, instantiations and commands of the contracts of its
//! clusters in block order with [`fat_runtime`]. Everything a block does is committed to the
//! [`store::Store`] (redb) in one transaction together with the block's header, so a worker
//! resumes after a crash from the last block it committed, and a new worker rebuilds every
//! contract by replaying the chain.
//!
//! Per block and contract the worker records a state root ([`fat_runtime::state_root`]), and
//! per transaction an [`fat_types::ExecReceipt`] it signs. Queries run on a snapshot of the
//! last committed block (one read transaction) while blocks apply, behind admission control:
//! a full queue answers "busy" at once. [`api::app`] serves all this over HTTP
//! (`docs/openapi-worker.yaml`).

mod admission;
pub mod api;
pub mod client;
pub mod dev;
mod error;
mod exec;
mod keys;
pub mod store;
mod worker;

pub use client::ChainClient;
pub use error::{Result, WorkerError};
pub use keys::{KEYS_FILE, Keyring, WorkerSecrets};
pub use store::{ContractRecord, LogRecord, Snapshot, Store};
pub use worker::{ENVELOPE_WINDOW_MS, QueryAnswer, SealedAnswer, Worker, WorkerConfig};
