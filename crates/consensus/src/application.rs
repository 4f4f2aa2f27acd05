//! The seam a consensus engine drives: propose, verify, finalize.

use std::future::Future;

use borsh::{BorshDeserialize, BorshSerialize};
use fat_types::{Block, BlockHeader, Certificate, Hash32, SignedTransaction};
use serde::{Deserialize, Serialize};

use crate::error::ConsensusError;
use crate::validators::ValidatorSet;

/// A block not yet final: a header and the transactions it orders, without a certificate.
/// Its hash is the block's hash, which validators sign to finalize it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Proposal {
    /// What the block commits to.
    pub header: BlockHeader,
    /// The transactions, in order.
    pub txs: Vec<SignedTransaction>,
}

impl Proposal {
    /// The block's hash.
    pub fn hash(&self) -> Hash32 {
        self.header.hash()
    }

    /// The final block: this proposal with the certificate that finalized it.
    pub fn into_block(self, certificate: Certificate) -> Block {
        Block {
            header: self.header,
            certificate,
            txs: self.txs,
        }
    }
}

/// What a consensus engine asks of the node that orders and executes transactions.
///
/// The engine decides *which* block is final; the application builds blocks, checks them and
/// commits them. The calls that execute or write (`propose`, `verify`, `finalize`) block:
/// an async engine runs them on a blocking thread. Cloning gives another handle to the same
/// application.
pub trait Application: Clone + Send + Sync + 'static {
    /// Why a call failed; the engine stops on it, or converts its own errors into it.
    type Error: std::error::Error + From<ConsensusError> + Send + Sync + 'static;

    /// The validators of the chain (from its genesis).
    fn validators(&self) -> &ValidatorSet;

    /// The hash of the genesis block (simplex's view 0).
    fn genesis_hash(&self) -> Hash32;

    /// Whether `error` (from [`Self::verify`]) says the proposal breaks a rule, so that no
    /// honest validator may accept it, rather than that this node failed.
    fn is_invalid_proposal(error: &Self::Error) -> bool;

    /// Admit an encoded transaction a peer passed on; false when it is refused.
    fn submit_from_peer(&self, bytes: &[u8]) -> bool;

    /// The encoded transactions clients submit to this node from now on, to pass to peers.
    fn subscribe_admitted(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<Vec<u8>>>;

    /// The header of the last final block: what the next proposal builds on.
    fn last_finalized(&self) -> BlockHeader;

    /// How many transactions wait for a block.
    fn pending(&self) -> usize;

    /// Completes when there may be new work (a transaction arrived since the last call).
    fn work_available(&self) -> impl Future<Output = ()> + Send;

    /// Build a block on `parent` of pending transactions, executed on the parent's state, at
    /// a timestamp of the application's clock (never before the parent's). `parent` is the
    /// last final block or a proposal this application built or verified that is not final
    /// yet (a BFT engine builds on a block before it is final). `None` when nothing is
    /// pending. The execution is kept so that verifying or finalizing this proposal does not
    /// execute it again.
    fn propose(&self, parent: &BlockHeader) -> Result<Option<Proposal>, Self::Error>;

    /// Check a proposal (a peer's, or one's own) obeys every rule the application applies to
    /// the blocks it builds, executing it on its parent's state; the error says which rule
    /// it breaks. Its parent is the last final block or a proposal already verified.
    fn verify(&self, proposal: &Proposal) -> Result<(), Self::Error>;

    /// A proposal this application built or verified that is not final yet.
    fn pending_proposal(&self, hash: &Hash32) -> Option<Proposal>;

    /// The final block at `height`, with its certificate, if there is one yet.
    fn final_block(&self, height: u64) -> Result<Option<Block>, Self::Error>;

    /// Commit `proposal` as final with `certificate` in one durable write, then announce it;
    /// returns the new last final header. Its parent must be the last final block. The
    /// certificate is checked against [`Self::validators`] first.
    fn finalize(
        &self,
        proposal: Proposal,
        certificate: Certificate,
    ) -> Result<BlockHeader, Self::Error>;
}
