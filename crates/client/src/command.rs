//! Commands: sealed to the contract's key, ordered by the chain, executed by the cluster, the
//! output opened from the worker's signed receipt.

use fat_crypto::Keypair;
use fat_crypto::envelope::{Direction, Envelope, ReplayGuard, seal};
use fat_proto::windows::ANSWER_WINDOW_MS;
use fat_types::{AccountId, Bytes, CommandPayload, ContractId, ExecEvent, TxKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::{Client, committed_height, randomness, receipt};

/// A command's result (`fat command --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The transaction's id.
    pub tx: String,
    /// The block it is in (`None` when not waited for).
    pub block: Option<u64>,
    /// `pending` (not waited for), `ok` or `failed`.
    pub status: String,
    /// The method's JSON result (`null` unless `ok`).
    pub output: Value,
    /// The events the command emitted: `{"topic", "data"}` with data in hex.
    pub events: Vec<ExecEvent>,
}

impl Client {
    /// Send command `method` with JSON `args` to `contract`, sealed to the contract's key.
    /// With `wait`, wait for the block and a worker's receipt, and open its sealed output; a
    /// failed command is [`Error::ExecFailed`].
    pub async fn command(
        &self,
        key: &Keypair,
        contract: &ContractId,
        method: &str,
        args: &str,
        wait: bool,
    ) -> Result<CommandResult> {
        let contract_key = self.contract_key(contract, false).await?;
        let mut session = None;
        let answer = self
            .submit_with(
                key,
                |nonce| {
                    let payload = CommandPayload::new(method, args, nonce).encode();
                    let (sealed, opened) = seal(
                        key,
                        &contract_key,
                        *contract,
                        Direction::Command,
                        &payload,
                        self.now_ms(),
                        randomness()?,
                    )
                    .map_err(|source| Error::Envelope {
                        what: format!("cannot seal command {method} to {contract}"),
                        source,
                    })?;
                    session = Some(opened);
                    Ok(TxKind::Command {
                        contract: *contract,
                        payload: Bytes(sealed.to_bytes()),
                        gas_limit: self.gas_limit,
                    })
                },
                wait,
            )
            .await?;
        let tx = answer.id.to_string();
        if !wait {
            return Ok(CommandResult {
                tx,
                block: None,
                status: "pending".into(),
                output: Value::Null,
                events: Vec::new(),
            });
        }
        let block = committed_height(&answer);
        let cluster = self.cluster_of(contract).await?;
        let view = self.receipt_in(Some(cluster), &answer.id, block).await?;
        receipt::check_ok(method, &contract.to_string(), &view)?;
        let signed = &view.signed;
        // The command was sealed, so its output must come back sealed: a plaintext output in
        // its place is refused rather than believed.
        let Some(sealed) = &signed.receipt.sealed_output else {
            return Err(Error::UntrustedWorker {
                worker: signed.worker.to_string(),
                reason: format!("the receipt of {tx} carries no sealed output"),
            });
        };
        let session = session.expect("sealed when the transaction was built");
        let what = format!("the output of command {method} (tx {tx})");
        let envelope = Envelope::from_bytes(&sealed.0).map_err(|source| Error::Envelope {
            what: format!("cannot open {what}"),
            source,
        })?;
        // A receipt may be read long after: its time says nothing about freshness.
        let at = envelope.header.timestamp_ms;
        let plaintext = session
            .open_response(
                &envelope,
                &AccountId(signed.worker.0),
                &mut ReplayGuard::new(ANSWER_WINDOW_MS, 1),
                at,
            )
            .map_err(|source| Error::Envelope {
                what: format!("cannot open {what}"),
                source,
            })?;
        let text = String::from_utf8(plaintext).map_err(|e| fat_proto::Error::Decode {
            url: self.chain.url().into(),
            message: format!("{what}: {e}"),
        })?;
        let output = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(CommandResult {
            tx,
            block: Some(block),
            status: "ok".into(),
            output,
            events: signed.receipt.events.clone(),
        })
    }
}
