//! Decide which blocks are final: validator sets, the certificates a quorum of them signs, and
//! the seam a consensus engine drives.
//!
//! - [`ValidatorSet`] is the ordered list of validators a genesis names; it checks a
//!   [`Certificate`](fat_types::Certificate) (a quorum of distinct validators signed
//!   [`finalize_message`](fat_types::finalize_message) for the block).
//! - [`BlockVerifier`] is what a follower (a worker, the gatekeeper, a client) runs on every
//!   block it receives: height, parent link, timestamp, transaction root and certificate.
//! - [`Application`] is what an engine asks of the node: propose a block, verify a peer's
//!   proposal, finalize a block with its certificate. The single [`Sequencer`] drives it now;
//!   a BFT engine (commonware's simplex) drives the same trait later.

mod application;
mod error;
mod follow;
mod sequencer;
#[cfg(feature = "simplex")]
pub mod simplex;
mod validators;

pub use application::{Application, Proposal};
pub use error::{CertificateError, ConsensusError, Result};
pub use follow::{
    Accepted, BlockVerifier, CheckedCommands, FollowError, TxIds, check_commands, command_indexes,
};
pub use sequencer::{Consensus, Sequencer};
pub use validators::{SIMPLEX_NAMESPACE, ValidatorSet, sign_finalize, simplex_finalize_message};
