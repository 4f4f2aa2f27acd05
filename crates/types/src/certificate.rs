//! Certificates: the proof that a block is final, carried next to it.
//!
//! A header commits to a block's content only; who finalized it is said by the certificate,
//! so a block has one hash whatever certificate a follower receives it with. Checking a
//! certificate needs the validator set, which lives in `fat-consensus`.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::Hash32;
use crate::block::BlockHeader;
use crate::encoding::{Signature, tagged_hash};

/// The domain tag of [`finalize_message`].
pub const FINALIZE_TAG: &str = "fat/finalize/v1";

/// Why a block is final. New schemes (BLS, threshold signatures) are new variants.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum Certificate {
    /// The genesis block: final by configuration, signed by no one.
    Genesis,
    /// Ed25519 signatures of validators over [`finalize_message`]`(round, block hash)`.
    Ed25519 {
        /// The consensus round (view) the block was finalized in.
        round: u64,
        /// Each signer's index in the genesis validator set, with its signature.
        signatures: Vec<(u32, Signature)>,
    },
    /// A finalization of commonware's simplex engine (ed25519 scheme): a quorum of validators
    /// signed simplex's finalize vote for a proposal in `view` whose payload is the hash of the
    /// finalized block.
    ///
    /// The finalized block is this block when `descendants` is empty. Otherwise it is the last
    /// of `descendants`, the headers of this block's child, grandchild, ... up to a block the
    /// quorum finalized: simplex finalizes a block's ancestors with it, and a follower checks
    /// that each header links to the one before, down to this block.
    Simplex {
        /// The consensus view of the finalized proposal.
        view: u64,
        /// The view of its parent proposal (part of what simplex signs).
        parent_view: u64,
        /// Each signer's index in the genesis validator set, with its signature.
        signatures: Vec<(u32, Signature)>,
        /// The headers from this block's child up to the finalized block; empty when this
        /// block is the finalized one.
        descendants: Vec<BlockHeader>,
    },
}

impl Certificate {
    /// The indices (in the genesis validator set) of the validators whose signatures it
    /// carries, as it carries them (checking them is `fat-consensus`'s job).
    pub fn signers(&self) -> Vec<u32> {
        match self {
            Certificate::Genesis => Vec::new(),
            Certificate::Ed25519 { signatures, .. } | Certificate::Simplex { signatures, .. } => {
                signatures.iter().map(|(i, _)| *i).collect()
            }
        }
    }
}

/// What a validator signs to finalize `block` in `round`: H([`FINALIZE_TAG`], (round, block)).
pub fn finalize_message(round: u64, block: &Hash32) -> Hash32 {
    tagged_hash(FINALIZE_TAG, &(round, block))
}
