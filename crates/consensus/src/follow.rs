//! Follow a chain: check every block extends the last one and carries a quorum's certificate.

use fat_crypto::check_tx_signature;
use fat_types::block::tx_root;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use fat_types::{
    Block, BlockHeader, ContractId, Hash32, SignedTransaction, TxId, TxKind, TxRejection,
};
use rayon::prelude::*;

use crate::error::CertificateError;
use crate::validators::ValidatorSet;

/// How many transactions' signatures a follower checks together ([`fat_crypto::verify_tx_batch`]).
/// Not part of the protocol: each signature gets the same answer in any batch
/// ([`fat_crypto::check_tx_signature`]), so this only trades a batch's saving against the
/// work of finding the bad one when a batch is refused.
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

    /// [`BlockVerifier::accept`], also giving the ids of the block's transactions: each
    /// transaction is hashed once, to check its signature, and whoever executes the block
    /// need not hash it again.
    pub fn accept_with_ids(&mut self, block: &Block) -> Result<(Hash32, TxIds), FollowError> {
        self.accept_checking(block, BTreeSet::clone, true)
            .map(|accepted| (accepted.hash, accepted.ids))
    }

    /// [`BlockVerifier::accept_with_ids`], checking the signatures of commands only to the
    /// contracts `wants` picks of those the block has commands to (those the follower runs;
    /// asked once); every other transaction's signature
    /// is checked, and one refused refuses the block. What the commands checked came to comes
    /// back with the ids ([`Accepted::checked`]): a contract's commands refused do not refuse
    /// the block (whoever runs one stops there), and whoever runs a command to a contract not
    /// checked checks it first ([`check_commands`]). A worker so checks only its own clusters'
    /// traffic, and the chain's other transactions; and whether it stops on a command
    /// depends on whether it runs it, not on when its follower checked it.
    pub fn accept_for(
        &mut self,
        block: &Block,
        wants: impl FnOnce(&BTreeSet<ContractId>) -> BTreeSet<ContractId>,
    ) -> Result<Accepted, FollowError> {
        self.accept_checking(block, wants, false)
    }

    /// [`BlockVerifier::accept_for`]; with `strict`, any signature refused refuses the block
    /// (the first refused in block order is reported).
    fn accept_checking(
        &mut self,
        block: &Block,
        wants: impl FnOnce(&BTreeSet<ContractId>) -> BTreeSet<ContractId>,
        strict: bool,
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
        let groups = signature_groups(&block.txs);
        let contracts: BTreeSet<ContractId> = groups.keys().flatten().copied().collect();
        let wanted = wants(&contracts);
        // The wanted groups' transactions together, batched whatever their groups: each
        // signature's answer is its own.
        let checked: Vec<u32> = groups
            .iter()
            .filter(|(group, _)| group.is_none_or(|c| wanted.contains(&c)))
            .flat_map(|(_, indexes)| indexes.iter().copied())
            .collect();
        let ids = TxIds::hashing(&block.txs, &checked);
        let mut refused = check_batches(height, &block.txs, &ids, &checked);
        let refusal = if strict {
            let index = |e: &FollowError| match e {
                FollowError::Transaction { index, .. } => *index,
                _ => u32::MAX,
            };
            refused.values().min_by_key(|e| index(e)).cloned()
        } else {
            refused.remove(&None)
        };
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
        let mut checked = CheckedCommands::default();
        for &contract in contracts.intersection(&wanted) {
            let verdict = refused.remove(&Some(contract)).map_or(Ok(()), Err);
            checked.record(contract, verdict);
        }
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
    /// The ids of its transactions whose signatures were checked: each is hashed once, and
    /// whoever executes the block need not hash it again.
    pub ids: TxIds,
    /// What the signatures of the commands to each contract checked came to.
    pub checked: CheckedCommands,
}

/// The ids of a block's transactions, hashed only where they were needed: a follower hashes
/// those whose signatures it checks, not the other clusters' commands (about a third of a
/// microsecond each, most of what following a block costs a follower that checks few of
/// them). [`TxIds::get`] hashes any other when first asked, and keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxIds(Vec<OnceLock<TxId>>);

impl TxIds {
    /// Every id of `txs`, hashed on every core.
    pub fn of(txs: &[SignedTransaction]) -> Self {
        Self(
            txs.par_iter()
                .map(|signed| OnceLock::from(signed.id()))
                .collect(),
        )
    }

    /// One slot per transaction of `txs`, none hashed yet.
    pub fn unhashed(txs: &[SignedTransaction]) -> Self {
        Self(vec![OnceLock::new(); txs.len()])
    }

    /// The ids of `txs` at `indexes` hashed (on every core), the others left for later.
    fn hashing(txs: &[SignedTransaction], indexes: &[u32]) -> Self {
        let ids = Self::unhashed(txs);
        indexes.par_iter().for_each(|&i| {
            ids.get(txs, i as usize);
        });
        ids
    }

    /// How many transactions these are the ids of.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether these are the ids of no transaction.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The id of `txs[index]`, where `txs` are the transactions these are the ids of (of the
    /// same block: nothing here can tell): hashed now if it was not. `index` must be below
    /// [`TxIds::len`].
    pub fn get(&self, txs: &[SignedTransaction], index: usize) -> TxId {
        *self.0[index].get_or_init(|| txs[index].id())
    }

    /// Whether the id of transaction `index` is hashed already.
    pub fn is_hashed(&self, index: usize) -> bool {
        self.0.get(index).is_some_and(|id| id.get().is_some())
    }
}

/// What the signatures of a block's commands to each contract came to, for the contracts
/// whose commands were checked (every other transaction's always are, and one refused refuses
/// the block): those a follower runs. A contract's commands refused do not refuse the block:
/// whoever runs one of them stops there. Whoever comes to run the commands of a contract that
/// is not here checks them first with [`check_commands`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedCommands {
    every: bool,
    contracts: BTreeMap<ContractId, Result<(), FollowError>>,
}

impl CheckedCommands {
    /// Every command's signature was checked and passed.
    pub fn every() -> Self {
        Self {
            every: true,
            contracts: BTreeMap::new(),
        }
    }

    /// What the signatures of the commands to `contract` came to, if they were checked: the
    /// first refused in block order, if one was.
    pub fn verdict(&self, contract: &ContractId) -> Option<Result<(), FollowError>> {
        if self.every {
            return Some(Ok(()));
        }
        self.contracts.get(contract).cloned()
    }

    /// Whether the signatures of the commands to `contract` were checked.
    pub fn covers(&self, contract: &ContractId) -> bool {
        self.verdict(contract).is_some()
    }

    /// Note what the signatures of the commands to `contract` came to.
    pub fn record(&mut self, contract: ContractId, verdict: Result<(), FollowError>) {
        if !self.every {
            self.contracts.insert(contract, verdict);
        }
    }
}

/// The indexes of each contract's commands in a block of `txs`, in block order, to check
/// with [`check_commands`]. Made once per block: the block's every command is placed.
pub fn command_indexes(txs: &[SignedTransaction]) -> BTreeMap<ContractId, Vec<u32>> {
    signature_groups(txs)
        .into_iter()
        .filter_map(|(group, indexes)| Some((group?, indexes)))
        .collect()
}

/// Check the signatures of the commands of block `height` to one contract (its transactions
/// `txs`, whose ids are `ids`), by their indexes, its entry of [`command_indexes`]: the answer
/// a follower that runs the contract gets, whoever asks. `ids` must be `txs`' (any not
/// hashed yet are hashed here).
pub fn check_commands(
    height: u64,
    txs: &[SignedTransaction],
    ids: &TxIds,
    indexes: &[u32],
) -> Result<(), FollowError> {
    match check_batches(height, txs, ids, indexes).pop_first() {
        Some((_, refusal)) => Err(refusal),
        None => Ok(()),
    }
}

/// The indexes of a block's transactions by group ([`group`]), each in block order: a
/// follower checks the first group (`None`) and the groups of the contracts it runs.
fn signature_groups(txs: &[SignedTransaction]) -> BTreeMap<Option<ContractId>, Vec<u32>> {
    let mut groups: BTreeMap<Option<ContractId>, Vec<u32>> = BTreeMap::new();
    for (index, signed) in txs.iter().enumerate() {
        groups.entry(group(signed)).or_default().push(index as u32);
    }
    groups
}

/// The group a transaction's signature answers for: the contract of a command (a refused
/// one stops whoever runs that contract), or `None` for every other transaction (a refused
/// one refuses the block).
fn group(signed: &SignedTransaction) -> Option<ContractId> {
    match &signed.tx.kind {
        TxKind::Command { contract, .. } => Some(*contract),
        _ => None,
    }
}

/// Check the signatures of the transactions at `indexes` (into `txs`, whose ids are `ids`)
/// on every core, [`SIGNATURE_BATCH`] at a time by ed25519 batch verification, a signer's
/// together (a batch costs less the fewer signers it holds). Only when a batch is refused are
/// its transactions checked one by one, by the same rule
/// ([`fat_crypto::check_tx_signature`]): for each group ([`group`]) with one refused, the
/// first refused in block order is the one reported.
fn check_batches(
    height: u64,
    txs: &[SignedTransaction],
    ids: &TxIds,
    indexes: &[u32],
) -> BTreeMap<Option<ContractId>, FollowError> {
    let mut by_signer = indexes.to_vec();
    by_signer.sort_unstable_by_key(|&i| (txs[i as usize].tx.signer, i));
    let suspects: Vec<u32> = by_signer
        .par_chunks(SIGNATURE_BATCH)
        .filter(|batch| {
            let batch_ids: Vec<TxId> = batch.iter().map(|&i| ids.get(txs, i as usize)).collect();
            let batch: Vec<_> = batch
                .iter()
                .zip(&batch_ids)
                .map(|(&i, id)| (&txs[i as usize], id))
                .collect();
            !fat_crypto::verify_tx_batch(&batch)
        })
        .flat_map_iter(|batch| batch.iter().copied())
        .collect();
    let mut refused: Vec<u32> = suspects
        .into_par_iter()
        .filter(|&i| !check_tx_signature(&txs[i as usize], &ids.get(txs, i as usize)))
        .collect();
    refused.sort_unstable();
    let mut first = BTreeMap::new();
    for index in refused {
        let i = index as usize;
        first
            .entry(group(&txs[i]))
            .or_insert_with(|| FollowError::Transaction {
                height,
                index,
                tx: ids.get(txs, i),
                rejection: TxRejection::BadSignature,
            });
    }
    first
}
