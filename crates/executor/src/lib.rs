//! Apply a block to a worker's contracts, as a function of the committed state, the block and the code.
//!
//! An [`Executor`] goes through a block's transactions in order: it records uploaded code and
//! the clusters the worker joins, opens the cluster keys provisioned to it, and runs the
//! instantiations and commands of the contracts of its clusters with [`fat_runtime`], each
//! over the committed state ([`StateView`]) under the block's writes so far. It returns
//! everything the block did as [`BlockChanges`]: codes, clusters, contract records with their
//! entry counts, state writes, log lines, cache operations, receipts (outputs sealed to each
//! command's session) and the cluster keys it opened, in the clear.
//!
//! It does no I/O of its own: no store, no sealer, no clock. The worker gives it a snapshot of
//! its store and its keys, seals the new cluster keys, adds them to its keyring and commits
//! the changes. A key provisioned by a block is used by the block's later transactions (a
//! `ProvisionKey` followed by an `Instantiate`) from the executor's own overlay of the keys.
//!
//! ```no_run
//! # async fn demo(
//! #     runtime: &fat_runtime::Runtime,
//! #     keys: fat_executor::Keys<'_>,
//! #     state: std::sync::Arc<impl fat_executor::StateView + 'static>,
//! #     block: &fat_types::Block,
//! #     receipts: &[fat_types::ChainReceipt],
//! # ) -> fat_executor::Result<()> {
//! use fat_executor::Executor;
//!
//! let changes = Executor::new(runtime, runtime, keys)
//!     .apply_block(state, block, receipts)
//!     .await?;
//! println!("{} receipts", changes.receipts.len());
//! # Ok(()) }
//! ```

mod block;
mod changes;
mod error;
mod executor;
mod inputs;
mod open;
mod parallel;
mod run;

pub use changes::{BlockChanges, ContractRecord, LogRecord};
pub use error::{ExecutorError, Result};
pub use executor::Executor;
pub use inputs::{ClusterKeys, CodeProvider, Keys, StateView, contract_keys_of};
