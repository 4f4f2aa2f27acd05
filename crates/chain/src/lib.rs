//! Run the chain node: order transactions into blocks, commit them durably, and serve them.
//!
//! The node is a library so tests and `fat dev` can embed it: [`Node`] holds the mempool, the
//! registry and the [`store::Store`], and is the [`fat_consensus::Application`] a consensus
//! engine drives (propose, verify, finalize); a [`Consensus`] (the single [`Sequencer`] for
//! now) turns pending transactions into final blocks; [`rpc::app`] serves the HTTP API. Wiring
//! them into a running node (`fat chain`, `fat dev`, the tests) is `fat-devnet`'s job.

pub mod error;
pub mod genesis;
pub mod mempool;
pub mod node;
pub mod rpc;
mod rules;
pub mod state;
pub mod store;

pub use error::{ChainError, InvalidProposal, Result};
pub use fat_consensus::{Consensus, Sequencer};
pub use fat_types::clock::{Clock, ManualClock, SystemClock};
pub use genesis::{ChainParams, Genesis};
pub use node::{Node, NodeConfig};
