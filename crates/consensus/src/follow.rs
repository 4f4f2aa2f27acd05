//! Follow a chain: check every block extends the last one and carries a quorum's certificate.

use fat_crypto::verify_tx;
use fat_types::block::tx_root;
use std::collections::{BTreeMap, BTreeSet};

use fat_types::{
    Block, BlockHeader, ContractId, Hash32, SignedTransaction, TxId, TxKind, TxRejection,
};
use rayon::prelude::*;

use crate::error::CertificateError;
use crate::validators::ValidatorSet;

/// How many transactions' signatures a follower checks together ([`fat_crypto::verify_txs`]).
/// Part of the protocol: the batches decide which signatures with small-order components
/// (which only their signers can make) pass, so every follower must cut them the same way
/// ([`signature_batches`]).
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
/// the certificate it checks every transaction's chain id and signature (or, with
/// [`BlockVerifier::accept_for`], every signature but those of commands to contracts the
/// follower does not run): a follower never takes a caller's word from the block producer
/// alone. A refused block changes nothing.
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
        self.accept_for(block, |_| true)
            .map(|accepted| (accepted.hash, accepted.ids))
    }

    /// [`BlockVerifier::accept_with_ids`], checking the signatures of commands only to the
    /// contracts `wants` names (those the follower runs); every other transaction's signature
    /// is checked. What was checked comes back with the ids
    /// ([`Accepted::checked`]): a command to another contract was not, and whoever acts on
    /// it checks it first ([`check_commands`]). A worker so checks only its own clusters'
    /// traffic, and the chain's other transactions.
    pub fn accept_for(
        &mut self,
        block: &Block,
        wants: impl Fn(&ContractId) -> bool,
    ) -> Result<Accepted, FollowError> {
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
        let chain = self.chain;
        let foreign = block
            .txs
            .iter()
            .enumerate()
            .find(|(_, s)| s.tx.chain != chain);
        if let Some((index, signed)) = foreign {
            return Err(FollowError::Transaction {
                height,
                index: index as u32,
                tx: signed.id(),
                rejection: TxRejection::WrongChain {
                    expected: chain,
                    got: signed.tx.chain,
                },
            });
        }
        let ids: Vec<TxId> = block.txs.par_iter().map(SignedTransaction::id).collect();
        let mut wanted = BTreeMap::new();
        let mut checked = CheckedCommands::default();
        let batches: Vec<Vec<u32>> = signature_batches(&block.txs)
            .into_iter()
            .filter(|(contract, _)| match contract {
                None => true,
                Some(contract) => *wanted.entry(*contract).or_insert_with(|| {
                    let wants = wants(contract);
                    if wants {
                        checked.contracts.insert(*contract);
                    }
                    wants
                }),
            })
            .map(|(_, batch)| batch)
            .collect();
        check_batches(height, &block.txs, &ids, &batches)?;
        self.last = header.clone();
        self.last_hash = hash;
        Ok(Accepted { hash, ids, checked })
    }
}

/// What a follower knows of a block it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The block's hash.
    pub hash: Hash32,
    /// The ids of its transactions, in order: each is hashed once, and whoever executes the
    /// block need not hash it again.
    pub ids: Vec<TxId>,
    /// The contracts whose commands' signatures were checked.
    pub checked: CheckedCommands,
}

/// The contracts whose commands' signatures were checked with a block (every other
/// transaction's always is): those a follower runs. Whoever acts on another's commands checks
/// them first with [`check_commands`], which cuts them into the same batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedCommands {
    every: bool,
    contracts: BTreeSet<ContractId>,
}

impl CheckedCommands {
    /// Every command's signature was checked.
    pub fn every() -> Self {
        Self {
            every: true,
            contracts: BTreeSet::new(),
        }
    }

    /// Whether the signatures of the commands to `contract` were checked.
    pub fn covers(&self, contract: &ContractId) -> bool {
        self.every || self.contracts.contains(contract)
    }

    /// Note that the signatures of the commands to `contract` were checked.
    pub fn insert(&mut self, contract: ContractId) {
        if !self.every {
            self.contracts.insert(contract);
        }
    }
}

/// Check the signatures of the commands of block `height` to `contract` (its transactions
/// `txs`, whose ids are `ids`), in the batches a follower that runs the contract checks:
/// the same answer, whoever asks. `ids` must be one per transaction.
pub fn check_commands(
    height: u64,
    txs: &[SignedTransaction],
    ids: &[TxId],
    contract: &ContractId,
) -> Result<(), FollowError> {
    let batches: Vec<Vec<u32>> = signature_batches(txs)
        .into_iter()
        .filter(|(of, _)| of.as_ref() == Some(contract))
        .map(|(_, batch)| batch)
        .collect();
    check_batches(height, txs, ids, &batches)
}

/// The batches a block's signatures are checked in, by the transactions' indexes: every
/// transaction but commands in one group, the commands to each contract in a group of their
/// own (keyed by the contract), each group in block order and cut into batches of
/// [`SIGNATURE_BATCH`]. A batch's answer depends on its transactions alone, so a follower
/// checking only some contracts' commands gets the same answer for them as one checking all.
fn signature_batches(txs: &[SignedTransaction]) -> Vec<(Option<ContractId>, Vec<u32>)> {
    let mut open: BTreeMap<Option<ContractId>, Vec<u32>> = BTreeMap::new();
    let mut batches = Vec::new();
    for (index, signed) in txs.iter().enumerate() {
        let group = match &signed.tx.kind {
            TxKind::Command { contract, .. } => Some(*contract),
            _ => None,
        };
        let batch = open.entry(group).or_default();
        batch.push(index as u32);
        if batch.len() == SIGNATURE_BATCH {
            batches.push((group, std::mem::take(batch)));
        }
    }
    batches.extend(open.into_iter().filter(|(_, b)| !b.is_empty()));
    batches
}

/// Check the signatures of `batches` (indexes into `txs`, whose ids are `ids`) on every core,
/// each batch by ed25519 batch verification. Only when a batch is refused are its
/// transactions checked one by one: the first refused in block order is the one reported. A
/// batch refused whose every transaction passes on its own (one carries a small-order
/// component, which only its signer can make) is accepted.
fn check_batches(
    height: u64,
    txs: &[SignedTransaction],
    ids: &[TxId],
    batches: &[Vec<u32>],
) -> Result<(), FollowError> {
    let refused: Vec<&Vec<u32>> = batches
        .par_iter()
        .filter(|batch| {
            let batch: Vec<_> = batch
                .iter()
                .map(|&i| (&txs[i as usize], &ids[i as usize]))
                .collect();
            !fat_crypto::verify_tx_batch(&batch)
        })
        .collect();
    let mut suspects: Vec<u32> = refused.into_iter().flatten().copied().collect();
    suspects.sort_unstable();
    let first = suspects
        .par_iter()
        .find_first(|&&i| verify_tx(&txs[i as usize]).is_err());
    match first {
        Some(&index) => Err(FollowError::Transaction {
            height,
            index,
            tx: ids[index as usize],
            rejection: TxRejection::BadSignature,
        }),
        None => Ok(()),
    }
}
