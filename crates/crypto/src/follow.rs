//! Follow a chain: check every block links to the last one and is signed by the producer.

use fat_types::block::tx_root;
use fat_types::{AccountId, Block, BlockHeader, Hash32};

use crate::verify;

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
    /// The block was produced by someone else.
    #[error("block {height} produced by {got}, expected {expected}")]
    WrongProducer {
        /// The block's height.
        height: u64,
        /// The producer followed.
        expected: AccountId,
        /// The block's producer.
        got: AccountId,
    },
    /// The producer's signature does not verify.
    #[error("block {height} has a bad producer signature")]
    BadSignature {
        /// The block's height.
        height: u64,
    },
    /// The transactions are not the ones the header commits to.
    #[error("block {height}: transactions do not match the header's tx root")]
    TxRootMismatch {
        /// The block's height.
        height: u64,
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
/// Start it from a header the follower trusts (genesis, pinned by hash, or a checkpoint), and
/// feed it blocks in order. It needs nothing from the node but the blocks.
#[derive(Debug, Clone)]
pub struct BlockVerifier {
    producer: AccountId,
    last: BlockHeader,
    last_hash: Hash32,
}

impl BlockVerifier {
    /// Follow from a trusted header, accepting blocks signed by `producer`.
    pub fn new(trusted: BlockHeader, producer: AccountId) -> Self {
        let last_hash = trusted.hash();
        Self {
            producer,
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

    /// Check `block` extends the chain; on success it becomes the last block and its hash is
    /// returned.
    pub fn accept(&mut self, block: &Block) -> Result<Hash32, FollowError> {
        let header = &block.header;
        let height = header.height;
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
        if header.producer != self.producer {
            return Err(FollowError::WrongProducer {
                height,
                expected: self.producer,
                got: header.producer,
            });
        }
        if header.timestamp_ms < self.last.timestamp_ms {
            return Err(FollowError::TimeWentBack {
                height,
                parent: self.last.timestamp_ms,
                got: header.timestamp_ms,
            });
        }
        let hash = header.hash();
        verify(&self.producer, hash.as_bytes(), &block.signature)
            .map_err(|_| FollowError::BadSignature { height })?;
        if tx_root(&block.txs) != header.tx_root {
            return Err(FollowError::TxRootMismatch { height });
        }
        self.last = header.clone();
        self.last_hash = hash;
        Ok(hash)
    }
}
