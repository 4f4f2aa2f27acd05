//! Commands: sealed to the contract's key, ordered by the chain, executed by the cluster, the
//! output opened from the worker's signed receipt.

use fat_crypto::Keypair;
use fat_crypto::envelope::{Direction, EcdhPublic, ReplayGuard, Session, SessionMessage};
use fat_proto::windows::ANSWER_WINDOW_MS;
use fat_proto::worker::ReceiptView;
use fat_types::{Bytes, ClusterId, CommandPayload, ContractId, ExecEvent, TxId, TxKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::{Client, committed_height, randomness, receipt};

/// How long a client seals its commands to one contract under one session (10 minutes):
/// the worker then makes one key agreement for all of them, and anyone who learnt the
/// session's keys could read the commands of those minutes only.
pub const COMMAND_SESSION_MS: u64 = 10 * 60 * 1000;

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
    /// The workers whose signed receipts agree on this result (one unless more
    /// confirmations were asked for; none when not waited for).
    #[serde(default)]
    pub confirmed_by: Vec<String>,
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
        let confirmations = usize::from(wait);
        self.command_confirmed(key, contract, method, args, confirmations)
            .await
    }

    /// [`Client::command`], waiting for the receipts of `confirmations` members of the
    /// contract's cluster (0: do not wait for the block) and refusing a result they do not
    /// all agree on ([`Error::Disagreement`], naming two workers that differ): the status, the
    /// output (each opened from its own sealing), the events, the gas used and the contract's
    /// state root after the block.
    pub async fn command_confirmed(
        &self,
        key: &Keypair,
        contract: &ContractId,
        method: &str,
        args: &str,
        confirmations: usize,
    ) -> Result<CommandResult> {
        let wait = confirmations > 0;
        let contract_key = self.contract_key(contract, false).await?;
        let cluster = self.cluster_of(contract).await?;
        self.confirm_key(
            cluster,
            crate::ConfirmSubject::Contract(*contract),
            fat_types::Hash32(contract_key.0),
        )
        .await?;
        let session = self.command_session(key, contract, &contract_key)?;
        let answer = self
            .submit_with(
                key,
                |nonce| {
                    let payload = CommandPayload::new(method, args, nonce).encode();
                    let sealed = session
                        .seal_envelope(key, Direction::Command, &payload, self.now_ms())
                        .map_err(|source| Error::Envelope {
                            what: format!("cannot seal command {method} to {contract}"),
                            source,
                        })?;
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
                confirmed_by: Vec::new(),
            });
        }
        let block = committed_height(&answer);
        let cluster = self.cluster_of(contract).await?;
        let what = format!("the output of command {method} (tx {tx})");
        let views = if confirmations == 1 {
            vec![self.receipt_in(Some(cluster), &answer.id, block).await?]
        } else {
            self.receipts_of_members(cluster, &answer.id, block, confirmations)
                .await?
        };
        if views.len() > 1 {
            let outputs = views
                .iter()
                .map(|v| self.open_output(&session, key, v, &tx, &what))
                .collect::<Result<Vec<_>>>()?;
            let (first, first_output) = (&views[0].signed, &outputs[0]);
            for (other, output) in views.iter().map(|v| &v.signed).zip(&outputs).skip(1) {
                let (a, b) = (&first.receipt, &other.receipt);
                let differs = [
                    ("status", a.status != b.status),
                    ("output", first_output != output),
                    ("events", a.events != b.events),
                    ("gas used", a.gas_used != b.gas_used),
                    ("state root", a.state_root != b.state_root),
                ]
                .into_iter()
                .find(|(_, differs)| *differs);
                if let Some((what, _)) = differs {
                    return Err(Error::Disagreement {
                        tx: tx.clone(),
                        what: what.into(),
                        workers: [first.worker.to_string(), other.worker.to_string()],
                    });
                }
            }
        }
        let view = &views[0];
        receipt::check_ok(method, &contract.to_string(), view)?;
        let signed = &view.signed;
        let text = self.open_output(&session, key, view, &tx, &what)?;
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
            confirmed_by: views.iter().map(|v| v.signed.worker.to_string()).collect(),
        })
    }

    /// The receipts of `tx` (committed in block `height`) from `wanted` members of
    /// `cluster`, each checked as signed by its worker; skipping members that are down;
    /// [`Error::Unconfirmed`] when fewer answer.
    async fn receipts_of_members(
        &self,
        cluster: ClusterId,
        tx: &TxId,
        height: u64,
        wanted: usize,
    ) -> Result<Vec<ReceiptView>> {
        let members = self.trusted_workers_for(Some(cluster)).await?;
        let mut views = Vec::with_capacity(wanted);
        let mut missing = Vec::new();
        for worker in &members {
            if views.len() == wanted {
                break;
            }
            match self.receipt_from(worker, tx, height).await {
                Ok(view) => views.push(view),
                Err(e) if crate::unreachable(&e) => missing.push(format!("{}: {e}", worker.id)),
                Err(e) => return Err(e),
            }
        }
        if views.len() < wanted {
            return Err(Error::Unconfirmed {
                tx: tx.to_string(),
                wanted,
                got: views.len(),
                members: members.len(),
                missing: missing.join("; "),
            });
        }
        Ok(views)
    }

    /// The session `key` seals its commands to `contract` (whose key is `contract_key`)
    /// under: the one started less than [`COMMAND_SESSION_MS`] ago, else a new one. Each
    /// command is still signed and has its own nonce; the worker makes the key agreement once
    /// per session instead of once per command.
    fn command_session(
        &self,
        key: &Keypair,
        contract: &ContractId,
        contract_key: &EcdhPublic,
    ) -> Result<Session> {
        let slot = (*contract, *contract_key, key.account_id());
        let now = self.now_ms();
        let mut cache = self.cache();
        if let Some((session, started)) = cache.command_sessions.get(&slot)
            && now.saturating_sub(*started) < COMMAND_SESSION_MS
        {
            return Ok(session.clone());
        }
        let session =
            Session::start(contract_key, *contract, randomness()?.ephemeral).map_err(|source| {
                Error::Envelope {
                    what: format!("cannot start a command session with {contract}"),
                    source,
                }
            })?;
        cache.command_sessions.insert(slot, (session.clone(), now));
        Ok(session)
    }

    /// The plaintext output of a command's receipt, opened with the command's session
    /// (empty when the command failed, which has no output). The output is a message of the
    /// session; the worker's signature over the receipt (checked before) covers it.
    fn open_output(
        &self,
        session: &Session,
        key: &Keypair,
        view: &ReceiptView,
        tx: &str,
        what: &str,
    ) -> Result<String> {
        let signed = &view.signed;
        if signed.receipt.status != fat_types::ExecStatus::Ok {
            return Ok(String::new());
        }
        // The command was sealed, so its output must come back sealed: a plaintext output in
        // its place is refused rather than believed.
        let Some(sealed) = &signed.receipt.sealed_output else {
            return Err(Error::UntrustedWorker {
                worker: signed.worker.to_string(),
                reason: format!("the receipt of {tx} carries no sealed output"),
            });
        };
        let envelope_error = |source| Error::Envelope {
            what: format!("cannot open {what}"),
            source,
        };
        let message = SessionMessage::from_bytes(&sealed.0).map_err(envelope_error)?;
        // A receipt may be read long after: its time says nothing about freshness.
        let at = message.header.timestamp_ms;
        let plaintext = session
            .open_message(
                &message,
                &key.account_id(),
                Direction::Response,
                &mut ReplayGuard::once(ANSWER_WINDOW_MS),
                at,
            )
            .map_err(envelope_error)?;
        Ok(
            String::from_utf8(plaintext).map_err(|e| fat_proto::Error::Decode {
                url: self.chain.url().into(),
                message: format!("{what}: {e}"),
            })?,
        )
    }
}
