//! The bodies of a worker's API, as the worker sends them and clients read them.

use fat_types::{
    AccountId, ClusterId, CodeHash, ContractId, Hash32, SignedExecutionReceipt, TxId, WorkerId,
};
use serde::{Deserialize, Serialize};

/// `GET /v1/status`: who the worker is and how far it has followed the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its identity (it signs receipts and answers).
    pub worker: WorkerId,
    /// Its x25519 key: queries are sealed to it.
    pub ecdh_public: Hash32,
    /// How many contracts it runs.
    pub contracts: usize,
    /// How many queries it has admitted now (running or waiting for a slot).
    pub queries_admitted: usize,
    /// The last block applied (`null` before it follows a chain).
    pub height: Option<u64>,
    /// Its hash.
    pub hash: Option<Hash32>,
    /// Its timestamp.
    pub timestamp_ms: Option<u64>,
}

/// `GET /v1/contracts/{id}`: a contract the worker runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerContract {
    /// The contract.
    pub id: ContractId,
    /// Its code.
    pub code_hash: CodeHash,
    /// Its cluster.
    pub cluster: ClusterId,
    /// Who deployed it.
    pub deployer: AccountId,
    /// The block that created it.
    pub created: u64,
    /// The block whose state this describes.
    pub height: u64,
    /// The contract's keyed state root at that block.
    pub state_root: Hash32,
    /// How many entries its state holds.
    pub entries: u64,
    /// How many log lines it has written.
    pub logs: u64,
}

/// A query: the method and its JSON arguments. The plaintext of a sealed query envelope, or
/// the body of a plaintext query where a worker allows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// The method.
    pub method: String,
    /// Its arguments (`null` for none).
    #[serde(default)]
    pub args: serde_json::Value,
}

impl QueryRequest {
    /// The arguments as the contract reads them: JSON text, empty for none.
    pub fn args_text(&self) -> String {
        match &self.args {
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

/// A query's answer (sealed, its plaintext): who answered, on which state, at what cost, and
/// the output or why the call failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryReply {
    /// The worker that ran it.
    pub worker: WorkerId,
    /// The block whose state it read.
    pub height: u64,
    /// Fuel used.
    pub gas_used: u64,
    /// Time spent on the worker, queueing included.
    pub elapsed_ms: f64,
    /// The method's JSON result, when the call succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// `call_failed` when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The runtime's error, typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

/// `GET /v1/receipts/{tx}`: the receipt a worker signed, with the hash it signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptView {
    /// The signed receipt.
    #[serde(flatten)]
    pub signed: SignedExecutionReceipt,
    /// The receipt's hash (what the signature is over).
    pub hash: Hash32,
}

/// One line a contract logged. Workers also keep it on disk in this shape (borsh).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
)]
pub struct LogLine {
    /// Position in the contract's log, from 0.
    pub seq: u64,
    /// The block.
    pub height: u64,
    /// The transaction's position in the block.
    pub index: u32,
    /// The transaction.
    pub tx: TxId,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// `GET /v1/contracts/{id}/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsView {
    /// The contract.
    pub contract: ContractId,
    /// Its lines, in order.
    pub logs: Vec<LogLine>,
}
