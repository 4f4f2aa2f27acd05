//! What workers execute and attest: command payloads and execution receipts.
//!
//! The chain treats a command's payload as opaque bytes; workers decode it as a
//! [`CommandPayload`]: the method name and its JSON arguments, borsh-encoded. A worker that
//! executed a transaction for a contract signs an [`ExecutionReceipt`]; its hash under
//! [`EXEC_RECEIPT_TAG`] is what the worker signs.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::{DecodeError, Signature, decode, encode, tagged_hash};
use crate::{ContractId, Hash32, TxId, WorkerId};

/// The domain tag of the hash a worker signs over an [`ExecutionReceipt`].
pub const EXEC_RECEIPT_TAG: &str = "fat/exec-receipt/v1";

/// What a `Command` transaction asks: a method and its JSON arguments. Clients seal it to
/// the contract's key; the sealed envelope is the transaction's payload.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CommandPayload {
    /// The command method.
    pub method: String,
    /// The arguments as JSON text (empty for none).
    pub args: String,
    /// The nonce of the transaction that carries it. Workers refuse a payload carried by any
    /// other transaction, so a sealed command cannot be replayed in a new transaction.
    pub tx_nonce: u64,
}

impl CommandPayload {
    /// A payload calling `method` with JSON `args`, for the transaction of nonce `tx_nonce`.
    pub fn new(method: impl Into<String>, args: impl Into<String>, tx_nonce: u64) -> Self {
        Self {
            method: method.into(),
            args: args.into(),
            tx_nonce,
        }
    }

    /// The canonical encoding (what goes into `TxKind::Command::payload`).
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decode a payload; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode("command payload", bytes)
    }
}

/// Whether an executed transaction succeeded.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ExecStatus {
    /// The call returned; its writes were applied.
    Ok,
    /// The call failed; nothing it wrote was applied.
    Failed {
        /// Why.
        error: String,
    },
}

/// An event a command emitted.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ExecEvent {
    /// The topic.
    pub topic: String,
    /// The payload.
    pub data: crate::Bytes,
}

/// What a worker's execution of one transaction (an instantiation or a command) did to a
/// contract; the worker signs it ([`SignedExecutionReceipt`]). What committing the transaction
/// did to the chain's registry (fee, outcome) is the chain's [`ChainReceipt`](crate::ChainReceipt).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ExecutionReceipt {
    /// The transaction.
    pub tx: TxId,
    /// The contract.
    pub contract: ContractId,
    /// The block height.
    pub height: u64,
    /// The position in the block.
    pub index: u32,
    /// Success or the reason of failure.
    pub status: ExecStatus,
    /// The output: JSON text (empty when failed, or when sealed).
    pub output: String,
    /// The output sealed to the command's sender: an envelope (direction `response`) of the
    /// command's session. Workers seal the outputs of sealed commands; `output` is then empty.
    pub sealed_output: Option<crate::Bytes>,
    /// Events emitted (none when failed).
    pub events: Vec<ExecEvent>,
    /// Fuel used.
    pub gas_used: u64,
    /// The contract's state root after the block.
    pub state_root: Hash32,
}

impl ExecutionReceipt {
    /// The hash a worker signs: H([`EXEC_RECEIPT_TAG`], receipt).
    pub fn hash(&self) -> Hash32 {
        tagged_hash(EXEC_RECEIPT_TAG, self)
    }
}

/// An [`ExecutionReceipt`] signed by the worker that executed it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedExecutionReceipt {
    /// The receipt.
    pub receipt: ExecutionReceipt,
    /// The worker.
    pub worker: WorkerId,
    /// The worker's ed25519 signature over `receipt.hash()`.
    pub signature: Signature,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_payload_encoding_is_pinned() {
        let payload = CommandPayload::new("increment", r#"{"by":2}"#, 5);
        let bytes = payload.encode();
        assert_eq!(
            hex::encode(&bytes),
            "09000000696e6372656d656e74080000007b226279223a327d0500000000000000"
        );
        assert_eq!(CommandPayload::decode(&bytes).unwrap(), payload);
        let refused = CommandPayload::decode(&[1, 2]).unwrap_err();
        assert_eq!(refused.what, "command payload", "{refused}");
    }

    #[test]
    fn exec_receipt_hash_is_pinned() {
        let receipt = ExecutionReceipt {
            tx: TxId([1; 32]),
            contract: ContractId([2; 32]),
            height: 3,
            index: 4,
            status: ExecStatus::Failed { error: "no".into() },
            output: String::new(),
            sealed_output: None,
            events: vec![ExecEvent {
                topic: "t".into(),
                data: crate::Bytes(vec![5]),
            }],
            gas_used: 6,
            state_root: Hash32([7; 32]),
        };
        assert_eq!(
            receipt.hash().to_string(),
            "c4906af9563f2c98e08e144d2084ae64b9abe702cff79a215e16fe0ef0b7129a"
        );
        let json = serde_json::to_value(&receipt.status).unwrap();
        assert_eq!(json, serde_json::json!({"status": "failed", "error": "no"}));
    }
}
