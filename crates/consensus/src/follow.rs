//! Follow a chain: check every block extends the last one and carries a quorum's certificate.

use fat_crypto::verify_tx;
use fat_types::block::tx_root;
use fat_types::{Block, BlockHeader, Hash32, SignedTransaction, TxId, TxRejection};
use rayon::prelude::*;

use crate::error::CertificateError;
use crate::validators::ValidatorSet;

/// How many transactions' signatures a follower checks together ([`fat_crypto::verify_txs`]).
/// Part of the protocol: the batches decide which signatures with small-order components
/// (which only their signers can make) pass, so every follower must cut them the same way.
const SIGNATURE_BATCH: usize = 64;

/// Why a block does not extend the followed chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// The block is not at the next height.
    #[error("block at height {got}, expected {expected}")]
    WrongHeight {
        /// The next height.
        expected: u64,
        /// The block's height.
        got: u64,
    },
    /// A certified block at a height already final with another block: the validators
    /// finalized two blocks at one height, which more than a third of them must have signed.
    #[error("block {height} is {got}, but {finalized} is final at that height")]
    Conflict {
        /// The height.
        height: u64,
        /// The block final at that height.
        finalized: Hash32,
        /// The other block's hash.
        got: Hash32,
    },
    /// The block's parent is not the last block followed.
    #[error("block {height} links to {got}, expected parent {expected}")]
    BrokenLink {
        /// The block's height.
        height: u64,
        /// The last block's hash.
        expected: Hash32,
        /// The block's parent.
        got: Hash32,
    },
    /// The certificate does not prove the block final.
    #[error("block {height}: bad certificate")]
    Certificate {
        /// The block's height.
        height: u64,
        /// Why.
        #[source]
        source: CertificateError,
    },
    /// The transactions are not the ones the header commits to.
    #[error("block {height}: transactions do not match the header's tx root")]
    TxRootMismatch {
        /// The block's height.
        height: u64,
    },
    /// A transaction in the block is not for this chain, or not signed by its signer: the
    /// block's producer made it up (or a quorum of validators let it through).
    #[error("block {height}: transaction {index} ({tx}): {rejection}")]
    Transaction {
        /// The block's height.
        height: u64,
        /// The transaction's position in the block.
        index: u32,
        /// Its id.
        tx: TxId,
        /// `bad_signature` or `wrong_chain`.
        rejection: TxRejection,
    },
    /// The timestamp goes backwards.
    #[error("block {height}: timestamp {got} before the parent's {parent}")]
    TimeWentBack {
        /// The block's height.
        height: u64,
        /// The parent's timestamp.
        parent: u64,
        /// The block's timestamp.
        got: u64,
    },
}

/// Checks each block a follower receives against the last one it accepted.
///
/// Start it from the chain's id (its genesis block hash), a header the follower trusts
/// (genesis, pinned by hash, or a checkpoint) and the validator set of the genesis, and feed
/// it blocks in order. It needs nothing from the node but the blocks. Besides the links and
/// the certificate it checks every transaction's chain id and signature: a follower never
/// takes a caller's word from the block producer alone. A refused block changes nothing.
#[derive(Debug, Clone)]
pub struct BlockVerifier {
    chain: Hash32,
    validators: ValidatorSet,
    last: BlockHeader,
    last_hash: Hash32,
}

impl BlockVerifier {
    /// Follow the chain `chain` (its genesis block hash) from a trusted header, accepting
    /// blocks `validators` finalized.
    pub fn new(chain: Hash32, trusted: BlockHeader, validators: ValidatorSet) -> Self {
        let last_hash = trusted.hash();
        Self {
            chain,
            validators,
            last: trusted,
            last_hash,
        }
    }

    /// The last accepted header.
    pub fn last(&self) -> &BlockHeader {
        &self.last
    }

    /// The hash of the last accepted header.
    pub fn last_hash(&self) -> Hash32 {
        self.last_hash
    }

    /// The validators whose certificates are accepted.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// Check `block` extends the chain; on success it becomes the last block and its hash is
    /// returned.
    pub fn accept(&mut self, block: &Block) -> Result<Hash32, FollowError> {
        self.accept_with_ids(block).map(|(hash, _)| hash)
    }

    /// [`BlockVerifier::accept`], also giving the ids of the block's transactions in order:
    /// each transaction is hashed once, to check its signature, and whoever executes the block
    /// need not hash it again.
    pub fn accept_with_ids(&mut self, block: &Block) -> Result<(Hash32, Vec<TxId>), FollowError> {
        let header = &block.header;
        let height = header.height;
        let hash = header.hash();
        let certified = |validators: &ValidatorSet| {
            validators
                .verify(&hash, &block.certificate)
                .map_err(|source| FollowError::Certificate { height, source })
        };
        if height == self.last.height && hash != self.last_hash {
            certified(&self.validators)?;
            return Err(FollowError::Conflict {
                height,
                finalized: self.last_hash,
                got: hash,
            });
        }
        let expected = self.last.height + 1;
        if height != expected {
            return Err(FollowError::WrongHeight {
                expected,
                got: height,
            });
        }
        if header.parent != self.last_hash {
            return Err(FollowError::BrokenLink {
                height,
                expected: self.last_hash,
                got: header.parent,
            });
        }
        if header.timestamp_ms < self.last.timestamp_ms {
            return Err(FollowError::TimeWentBack {
                height,
                parent: self.last.timestamp_ms,
                got: header.timestamp_ms,
            });
        }
        if tx_root(&block.txs) != header.tx_root {
            return Err(FollowError::TxRootMismatch { height });
        }
        certified(&self.validators)?;
        // Every transaction's signature, checked in batches of `SIGNATURE_BATCH` on every
        // core (the batches are cut the same way whatever the cores, so every follower gets
        // the same answer). Only when one is refused are they checked one by one: the first
        // refused in block order is the one reported, as when they are checked in turn.
        let chain = self.chain;
        let same_chain = block.txs.iter().all(|s| s.tx.chain == chain);
        let checked: Vec<(bool, Vec<TxId>)> = if same_chain {
            block
                .txs
                .par_chunks(SIGNATURE_BATCH)
                .map(|batch| {
                    let ids: Vec<TxId> = batch.iter().map(SignedTransaction::id).collect();
                    (fat_crypto::verify_txs_with_ids(batch, &ids), ids)
                })
                .collect()
        } else {
            Vec::new()
        };
        let accepted = same_chain && checked.iter().all(|(ok, _)| *ok);
        let ids = |checked: Vec<(bool, Vec<TxId>)>| -> Vec<TxId> {
            checked.into_iter().flat_map(|(_, ids)| ids).collect()
        };
        if accepted {
            self.last = header.clone();
            self.last_hash = hash;
            return Ok((hash, ids(checked)));
        }
        let rejection = |signed: &SignedTransaction| {
            if signed.tx.chain != chain {
                Some(TxRejection::WrongChain {
                    expected: chain,
                    got: signed.tx.chain,
                })
            } else if verify_tx(signed).is_err() {
                Some(TxRejection::BadSignature)
            } else {
                None
            }
        };
        let refused = block
            .txs
            .par_iter()
            .enumerate()
            .find_map_first(|(index, signed)| rejection(signed).map(|r| (index, signed, r)));
        if let Some((index, signed, rejection)) = refused {
            return Err(FollowError::Transaction {
                height,
                index: index as u32,
                tx: signed.id(),
                rejection,
            });
        }
        // Each passes on its own: the batches refused one with a small-order component. The
        // chain ids all matched, so every batch was checked and its ids are at hand.
        self.last = header.clone();
        self.last_hash = hash;
        Ok((hash, ids(checked)))
    }
}
