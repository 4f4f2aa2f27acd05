//! Blocks and receipts: what the chain commits.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::certificate::Certificate;
use crate::encoding::tagged_hash;
use crate::reject::TxRejection;
use crate::tx::SignedTransaction;
use crate::{ClusterId, CodeHash, ContractId, Hash32, TxId};

/// The domain tag of a block header's hash, which validators finalize.
pub const BLOCK_TAG: &str = "fat/block/v2";
/// The domain tag of [`BlockHeader::tx_root`].
pub const TXS_TAG: &str = "fat/txs/v1";
/// The domain tag of [`BlockHeader::receipts_root`].
pub const RECEIPTS_TAG: &str = "fat/receipts/v1";

/// What a block commits to (its content only, not who finalized it); its hash names the block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BlockHeader {
    /// 0 for genesis, then one more than the parent.
    pub height: u64,
    /// The parent's hash; for genesis, the hash of the genesis configuration.
    pub parent: Hash32,
    /// Milliseconds since the Unix epoch; never less than the parent's.
    pub timestamp_ms: u64,
    /// [`tx_root`] of the block's transactions.
    pub tx_root: Hash32,
    /// [`receipts_root`] of the block's receipts.
    pub receipts_root: Hash32,
    /// The registry state root after the block.
    pub state_root: Hash32,
}

impl BlockHeader {
    /// The block's hash: H([`BLOCK_TAG`], header).
    pub fn hash(&self) -> Hash32 {
        tagged_hash(BLOCK_TAG, self)
    }
}

/// A block: a header, the certificate that finalized it and the transactions it orders.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    /// What the block commits to.
    pub header: BlockHeader,
    /// Why the block is final ([`Certificate::Genesis`] for the genesis block).
    pub certificate: Certificate,
    /// The transactions, in order.
    pub txs: Vec<SignedTransaction>,
}

impl Block {
    /// The block's hash.
    pub fn hash(&self) -> Hash32 {
        self.header.hash()
    }
}

/// The commitment to a block's transactions: H([`TXS_TAG`], the signed transactions).
pub fn tx_root(txs: &[SignedTransaction]) -> Hash32 {
    tagged_hash(TXS_TAG, &txs)
}

/// The commitment to a block's receipts: H([`RECEIPTS_TAG`], the receipts).
pub fn receipts_root(receipts: &[ChainReceipt]) -> Hash32 {
    tagged_hash(RECEIPTS_TAG, &receipts)
}

/// What committing one transaction did to the chain's registry: the fee charged and the
/// [`Outcome`]. The chain keeps one per transaction in its blocks ([`receipts_root`]); it never
/// runs a contract, so what a worker's execution of a command did is another receipt, the
/// worker's signed [`ExecutionReceipt`](crate::ExecutionReceipt).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ChainReceipt {
    /// The transaction.
    pub tx: TxId,
    /// The fee charged (charged even when the transaction failed).
    pub fee: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// What a committed transaction did to the registry.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done, with nothing to name (a transfer, a command, a provisioned key, ...).
    Ok,
    /// Code stored under this hash (also when it was already there).
    CodeStored(CodeHash),
    /// A contract created with this id.
    ContractCreated(ContractId),
    /// A cluster created with this id.
    ClusterCreated(ClusterId),
    /// Failed when executed; only the fee and the nonce were charged.
    Failed(TxRejection),
}

/// Where a committed transaction is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct TxLocation {
    /// The block height.
    pub height: u64,
    /// The position in the block.
    pub index: u32,
}
