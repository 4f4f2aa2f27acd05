//! The bodies of the chain node's API, as the node sends them and clients read them.
//!
//! The registry's records (`CodeInfo`, `ContractInfo`, `ClusterInfo`, `WorkerInfo`,
//! `KeyProvision`) travel as they are defined in `fat-types`; what is only a view for the API
//! is defined here.

use fat_types::{
    AccountId, AttestationPolicy, Block, BlockHeader, Certificate, ChainReceipt, Hash32, Signature,
    SignedTransaction, Transaction, TxId,
};
use serde::{Deserialize, Serialize};

pub use fat_types::{ClusterInfo, CodeInfo, ContractInfo, Genesis, KeyProvision, WorkerInfo};

/// `GET /v1/status`: the chain's tip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// The genesis block's hash: the chain's name.
    pub genesis: Hash32,
    /// The last committed block's height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash32,
    /// Its timestamp.
    pub timestamp_ms: u64,
    /// The registry state root after it.
    pub state_root: Hash32,
    /// How many transactions wait for a block.
    pub pending: usize,
}

/// The part of `GET /v1/params` a client needs before it trusts a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationParams {
    /// What attestation reports workers may register with.
    pub attestation: AttestationPolicy,
}

/// Where a submitted transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// Admitted to the mempool, not in a block yet.
    Pending,
    /// In a committed block.
    Committed,
}

/// `POST /v1/txs`: the transaction's id and, when waited for and committed in time, where it
/// is and its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitAnswer {
    /// The transaction's id.
    pub id: TxId,
    /// `pending` (202) or `committed` (200).
    pub status: TxStatus,
    /// The block it is in, once committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Its position in the block, once committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// What committing it did, once committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ChainReceipt>,
}

impl SubmitAnswer {
    /// The answer for a transaction still pending.
    pub fn pending(id: TxId) -> Self {
        Self {
            id,
            status: TxStatus::Pending,
            height: None,
            index: None,
            receipt: None,
        }
    }

    /// The reason the chain gives for refusing the committed transaction, if it did.
    pub fn failure(&self) -> Option<String> {
        match &self.receipt {
            Some(ChainReceipt {
                outcome: fat_types::Outcome::Failed(rejection),
                ..
            }) => Some(serde_json::to_string(rejection).unwrap_or_else(|_| rejection.to_string())),
            _ => None,
        }
    }
}

/// `GET /v1/txs/{id}`: a committed transaction, where it is and its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxAnswer {
    /// The transaction's id.
    pub id: TxId,
    /// Always `committed`.
    pub status: TxStatus,
    /// The block it is in.
    pub height: u64,
    /// Its position in the block.
    pub index: u32,
    /// The transaction.
    pub tx: TxView,
    /// What committing it did.
    pub receipt: ChainReceipt,
}

/// A signed transaction in JSON, with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxView {
    /// The transaction id.
    pub id: TxId,
    /// The transaction.
    pub tx: Transaction,
    /// The signer's signature.
    pub signature: Signature,
}

impl From<SignedTransaction> for TxView {
    fn from(signed: SignedTransaction) -> Self {
        Self {
            id: signed.id(),
            tx: signed.tx,
            signature: signed.signature,
        }
    }
}

impl From<TxView> for SignedTransaction {
    fn from(view: TxView) -> Self {
        Self {
            tx: view.tx,
            signature: view.signature,
        }
    }
}

/// `GET /v1/blocks/{height}` and each event of the block stream: a block with its hash and
/// each transaction's id, and (on the stream with `receipts=true`) its receipts. The ids and
/// the hash are conveniences: a reader recomputes what it relies on from the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    /// The header's hash.
    pub hash: Hash32,
    /// The header.
    pub header: BlockHeader,
    /// The certificate that finalized the block.
    pub certificate: Certificate,
    /// The transactions.
    pub txs: Vec<TxView>,
    /// The receipts of the transactions, in order, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts: Option<Vec<ChainReceipt>>,
}

impl From<Block> for BlockView {
    fn from(block: Block) -> Self {
        Self {
            hash: block.hash(),
            header: block.header,
            certificate: block.certificate,
            txs: block.txs.into_iter().map(TxView::from).collect(),
            receipts: None,
        }
    }
}

impl BlockView {
    /// The block, and its receipts when the view carries them.
    pub fn into_parts(self) -> (Block, Option<Vec<ChainReceipt>>) {
        let block = Block {
            header: self.header,
            certificate: self.certificate,
            txs: self.txs.into_iter().map(SignedTransaction::from).collect(),
        };
        (block, self.receipts)
    }
}

/// How the block stream sends each block (`encoding=` of `GET /v1/stream/blocks`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamEncoding {
    /// A `block` event whose data is a [`BlockView`] in JSON, for people and scripts.
    #[default]
    Json,
    /// A `block-borsh` event whose data is a [`BlockFrame`], borsh in standard base64 (with
    /// padding): what workers follow, several times cheaper to make and to read.
    Borsh,
}

impl StreamEncoding {
    /// The value of `encoding=` that asks for this encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Borsh => "borsh",
        }
    }
}

/// The name of the block stream's events in [`StreamEncoding::Json`].
pub const BLOCK_EVENT: &str = "block";
/// The name of the block stream's events in [`StreamEncoding::Borsh`]. A follower that asks
/// for borsh reads JSON `block` events too, from a node that does not know the parameter.
pub const BLOCK_BORSH_EVENT: &str = "block-borsh";

/// One block of the block stream in [`StreamEncoding::Borsh`]: the block, and its receipts
/// when the stream was asked for them (`receipts=true`). Its bytes are the block's borsh
/// bytes followed by those of the `Option` of its receipts: exactly what a node's store keeps,
/// so that [`BlockFrame::join`] makes a frame without decoding anything.
#[derive(Debug, Clone, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct BlockFrame {
    /// The block.
    pub block: Block,
    /// Its receipts, in the order of its transactions, when asked for.
    pub receipts: Option<Vec<ChainReceipt>>,
}

impl BlockFrame {
    /// The frame's bytes from a block's borsh bytes and, when asked for, its receipts'
    /// (borsh of the `Vec`): the same bytes as borsh of the decoded frame.
    pub fn join(block: &[u8], receipts: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(block.len() + 1 + receipts.map_or(0, <[u8]>::len));
        out.extend_from_slice(block);
        match receipts {
            Some(receipts) => {
                out.push(1);
                out.extend_from_slice(receipts);
            }
            None => out.push(0),
        }
        out
    }

    /// The data of a `block-borsh` event: the frame in standard base64.
    pub fn to_event_data(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Read the data of a `block-borsh` event: base64, then a whole frame with nothing left
    /// over. The error says which of the two failed.
    pub fn from_event_data(data: &str) -> Result<Self, String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("not base64: {e}"))?;
        borsh::from_slice(&bytes).map_err(|e| format!("not a block frame: {e}"))
    }
}

/// `GET /v1/clusters`: every cluster, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClustersView {
    /// The clusters.
    pub clusters: Vec<ClusterSummary>,
}

/// A cluster in [`ClustersView`]: its record and how many contracts it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSummary {
    /// What the registry holds.
    #[serde(flatten)]
    pub info: ClusterInfo,
    /// How many contracts were instantiated in it.
    pub contracts: u64,
}

impl ClustersView {
    /// Where `deployer`'s new contract goes when it names no cluster: of the clusters whose
    /// key a gatekeeper provisioned, that have members and take contracts from `deployer`,
    /// the one with the fewest contracts (the lowest id among equals).
    pub fn placement(&self, deployer: &AccountId) -> Option<&ClusterSummary> {
        self.clusters
            .iter()
            .filter(|c| {
                c.info.public_key.is_some()
                    && !c.info.workers.is_empty()
                    && c.info.may_deploy(deployer)
            })
            .min_by_key(|c| (c.contracts, c.info.id))
    }
}

/// `GET /v1/blocks/{height}/receipts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptsView {
    /// The block.
    pub height: u64,
    /// Its transactions' receipts, in order.
    pub receipts: Vec<ChainReceipt>,
}

/// `GET /v1/accounts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The account.
    pub id: AccountId,
    /// What it holds.
    pub balance: u64,
    /// The nonce of its next transaction to commit.
    pub nonce: u64,
    /// The nonce its next transaction must carry, counting its pending ones.
    pub next_nonce: u64,
}

/// `GET /v1/validators`: the genesis validator set, and the last block whose certificate
/// each validator signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorsView {
    /// The last finalized height.
    pub height: u64,
    /// Each validator of the genesis, in order: a certificate names a signer by this index.
    pub validators: Vec<ValidatorView>,
}

impl ValidatorsView {
    /// Whether validator `v` is live: it signed one of the certificates of the last
    /// [`LIVENESS_WINDOW`] blocks. (The chain makes no empty blocks: on an idle chain this
    /// says who signed the last ones.)
    pub fn is_live(&self, v: &ValidatorView) -> bool {
        v.last_signed
            .is_some_and(|h| h + LIVENESS_WINDOW > self.height)
    }
}

/// How many of the last blocks' certificates say that a validator is live.
pub const LIVENESS_WINDOW: u64 = 64;

/// One validator in [`ValidatorsView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorView {
    /// Its index in the genesis validator set.
    pub index: u32,
    /// Its consensus key.
    pub account: AccountId,
    /// The last height whose certificate it signed, as far as the node knows (it reads the
    /// last [`LIVENESS_WINDOW`] blocks when it starts); `null` when none.
    pub last_signed: Option<u64>,
}

/// One worker of a `fat dev` node, in `GET /workers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevWorker {
    /// Its identity.
    pub id: fat_types::WorkerId,
    /// The prefix its API is served under (`/workers/0`).
    pub path: String,
}

/// `GET /workers` of a `fat dev` node: the dev cluster (once created) and its workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevWorkers {
    /// The dev cluster.
    pub cluster: Option<fat_types::ClusterId>,
    /// Its workers.
    pub workers: Vec<DevWorker>,
}

/// `GET /v1/clusters/{id}/contracts`: the contracts instantiated in a cluster, in the order
/// they were (height, then id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterContracts {
    /// The cluster.
    pub cluster: fat_types::ClusterId,
    /// Its contracts.
    pub contracts: Vec<ContractInfo>,
}
