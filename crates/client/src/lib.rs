//! Talk to a fat contract network: submit signed transactions, wait for receipts, query
//! contracts, read their logs and the network's status.
//!
//! This is the library the `fat` command line is built on. Commands go to the chain node
//! (`POST /v1/txs`); queries, receipts and logs go to a worker of the contract's cluster. A
//! `fat dev` node serves its workers under `/workers/{i}` and lists them at `GET /workers`;
//! [`Client::worker`] uses the first unless a worker URL was given.

mod error;
mod http;

use std::time::{Duration, Instant};

use fat_crypto::Keypair;
use fat_types::tx::{code_hash, contract_id};
use fat_types::{
    AccountId, Bytes, ClusterId, CodeHash, CommandPayload, ContractId, Transaction, TxKind,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::{Error, Result};
pub use http::{EventStream, Http, SseEvent};

/// The fee every transaction offers.
pub const DEFAULT_FEE: u64 = 10;
/// The fuel a command or an `init` may spend unless told otherwise.
pub const DEFAULT_GAS: u64 = 10_000_000_000;
/// How long to wait for a transaction's commit or a worker's receipt.
pub const WAIT: Duration = Duration::from_secs(60);

/// A deployed contract (`fat deploy --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The contract's id.
    pub contract: ContractId,
    /// The code it runs.
    pub code_hash: CodeHash,
    /// The cluster whose workers run it.
    pub cluster: ClusterId,
    /// The block that created it.
    pub block: u64,
}

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
    pub events: Vec<Value>,
}

/// A query's answer (`fat query --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// The method's JSON result.
    pub output: Value,
    /// The worker that answered.
    pub worker: String,
    /// How long the call took on the worker.
    pub elapsed_ms: f64,
}

/// A client of one node (and, through it or directly, one worker).
#[derive(Debug, Clone)]
pub struct Client {
    chain: Http,
    worker: Option<Http>,
}

impl Client {
    /// A client of the chain node at `rpc` (`http://host:port`).
    pub fn new(rpc: &str) -> Result<Self> {
        Ok(Self {
            chain: Http::new(rpc)?,
            worker: None,
        })
    }

    /// Send queries, receipt and log reads to the worker API at `url` instead of the node's
    /// first dev worker.
    pub fn with_worker(mut self, url: &str) -> Result<Self> {
        self.worker = Some(Http::new(url)?);
        Ok(self)
    }

    /// The chain node's transport.
    pub fn chain(&self) -> &Http {
        &self.chain
    }

    /// The chain's status: `{"genesis", "height", "hash", "timestamp_ms", ...}`.
    pub async fn status(&self) -> Result<Value> {
        self.chain.get_json("/v1/status").await
    }

    /// What a `fat dev` node says about its workers: `{"cluster", "workers": [{"id", "path"}]}`.
    pub async fn dev_workers(&self) -> Result<Value> {
        match self.chain.get_json::<Value>("/workers").await {
            Err(Error::Api { status: 404, .. }) => Err(Error::NoWorkers {
                url: self.chain.url().into(),
            }),
            other => other,
        }
    }

    /// The worker API queries go to: the one given, or the node's first dev worker.
    pub async fn worker(&self) -> Result<Http> {
        if let Some(worker) = &self.worker {
            return Ok(worker.clone());
        }
        let info = self.dev_workers().await?;
        let path = info["workers"][0]["path"]
            .as_str()
            .ok_or_else(|| Error::NoWorkers {
                url: self.chain.url().into(),
            })?;
        Ok(self.chain.join(path))
    }

    /// The dev cluster (from `GET /workers`).
    pub async fn dev_cluster(&self) -> Result<ClusterId> {
        let info = self.dev_workers().await?;
        info["cluster"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Error::NoWorkers {
                url: self.chain.url().into(),
            })
    }

    /// An account's balance and nonces: `{"id", "balance", "nonce", "next_nonce"}`.
    pub async fn account(&self, account: &AccountId) -> Result<Value> {
        self.chain
            .get_json(&format!("/v1/accounts/{account}"))
            .await
    }

    /// Sign `kind` with `key`'s next nonce and submit it. With `wait`, return once it is
    /// committed, and fail if its outcome is a failure; the node's answer
    /// (`{"id", "status", "height", "index", "receipt"}`).
    pub async fn submit(&self, key: &Keypair, kind: TxKind, wait: bool) -> Result<Value> {
        let account = self.account(&key.account_id()).await?;
        let nonce = account["next_nonce"]
            .as_u64()
            .ok_or_else(|| Error::Decode {
                url: self.chain.url().into(),
                message: "no next_nonce in the account".into(),
            })?;
        let tx = key.sign_tx(Transaction {
            signer: key.account_id(),
            nonce,
            fee: DEFAULT_FEE,
            kind,
        });
        let path = if wait { "/v1/txs?wait=true" } else { "/v1/txs" };
        let answer: Value = self
            .chain
            .post_json(path, "application/octet-stream", tx.encode())
            .await?;
        if wait {
            if answer["status"] != "committed" {
                return Err(Error::Timeout {
                    what: format!("transaction {} to commit", tx.id()),
                    seconds: 30,
                });
            }
            if let Some(failed) = answer["receipt"]["outcome"].get("failed") {
                return Err(Error::Rejected {
                    tx: tx.id().to_string(),
                    reason: failed.to_string(),
                });
            }
        }
        Ok(answer)
    }

    /// The receipt a worker signed for `tx`, once the worker has applied block `height`.
    pub async fn receipt(&self, tx: &str, height: u64) -> Result<Value> {
        let worker = self.worker().await?;
        let start = Instant::now();
        loop {
            let status: Value = worker.get_json("/v1/status").await?;
            if status["height"].as_u64().is_some_and(|h| h >= height) {
                return worker.get_json(&format!("/v1/receipts/{tx}")).await;
            }
            if start.elapsed() > WAIT {
                return Err(Error::Timeout {
                    what: format!("worker {} to reach block {height}", worker.url()),
                    seconds: WAIT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Upload `wasm` (unless the chain has it), instantiate it with JSON `args` and wait until
    /// the workers ran `init`. `progress` hears each step.
    pub async fn deploy(
        &self,
        key: &Keypair,
        wasm: Vec<u8>,
        args: &str,
        salt: &[u8],
        cluster: Option<ClusterId>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Deployed> {
        let hash = code_hash(&wasm);
        let cluster = match cluster {
            Some(cluster) => cluster,
            None => self.dev_cluster().await?,
        };
        match self
            .chain
            .get_json::<Value>(&format!("/v1/codes/{hash}"))
            .await
        {
            Ok(_) => progress(&format!("code {hash} is already on chain")),
            Err(Error::Api { status: 404, .. }) => {
                progress(&format!(
                    "uploading code {hash} ({:.1} KiB)",
                    wasm.len() as f64 / 1024.0
                ));
                self.submit(key, TxKind::UploadCode { code: Bytes(wasm) }, true)
                    .await?;
            }
            Err(e) => return Err(e),
        }
        progress(&format!("instantiating in cluster {cluster}"));
        let kind = TxKind::Instantiate {
            code_hash: hash,
            cluster,
            salt: Bytes(salt.to_vec()),
            args: Bytes(args.as_bytes().to_vec()),
            gas_limit: DEFAULT_GAS,
        };
        let answer = self.submit(key, kind, true).await?;
        let contract = contract_id(&key.account_id(), &hash, &cluster, salt);
        let block = answer["height"].as_u64().unwrap_or_default();
        progress(&format!(
            "waiting for the workers to run init (block {block})"
        ));
        let tx = answer["id"].as_str().unwrap_or_default();
        let receipt = self.receipt(tx, block).await?;
        check_receipt("init", &contract.to_string(), &receipt)?;
        Ok(Deployed {
            contract,
            code_hash: hash,
            cluster,
            block,
        })
    }

    /// Send command `method` with JSON `args` to `contract`. With `wait`, wait for the block
    /// and a worker's receipt; a failed command is [`Error::ExecFailed`].
    pub async fn command(
        &self,
        key: &Keypair,
        contract: &ContractId,
        method: &str,
        args: &str,
        wait: bool,
    ) -> Result<CommandResult> {
        let kind = TxKind::Command {
            contract: *contract,
            payload: Bytes(CommandPayload::new(method, args).encode()),
            gas_limit: DEFAULT_GAS,
        };
        let answer = self.submit(key, kind, wait).await?;
        let tx = answer["id"].as_str().unwrap_or_default().to_string();
        if !wait {
            return Ok(CommandResult {
                tx,
                block: None,
                status: "pending".into(),
                output: Value::Null,
                events: Vec::new(),
            });
        }
        let block = answer["height"].as_u64().unwrap_or_default();
        let receipt = self.receipt(&tx, block).await?;
        check_receipt(method, &contract.to_string(), &receipt)?;
        let inner = &receipt["receipt"];
        let output = inner["output"]
            .as_str()
            .map(|text| serde_json::from_str(text).unwrap_or(Value::String(text.into())))
            .unwrap_or(Value::Null);
        Ok(CommandResult {
            tx,
            block: Some(block),
            status: "ok".into(),
            output,
            events: inner["events"].as_array().cloned().unwrap_or_default(),
        })
    }

    /// Run query `method` with JSON `args` (`None` for none) on a worker.
    pub async fn query(
        &self,
        contract: &ContractId,
        method: &str,
        args: Option<Value>,
        caller: Option<AccountId>,
    ) -> Result<QueryResult> {
        let worker = self.worker().await?;
        let mut body = serde_json::json!({"method": method, "args": args});
        if let Some(caller) = caller {
            body["caller"] = serde_json::json!(caller);
        }
        let answer: Value = worker
            .post_json(
                &format!("/v1/contracts/{contract}/query"),
                "application/json",
                body.to_string().into_bytes(),
            )
            .await?;
        Ok(QueryResult {
            output: answer["output"].clone(),
            worker: answer["worker"].as_str().unwrap_or_default().into(),
            elapsed_ms: answer["elapsed_ms"].as_f64().unwrap_or_default(),
        })
    }

    /// Up to `limit` log lines of `contract` from sequence number `from`: each
    /// `{"seq", "height", "index", "tx", "level", "message"}`.
    pub async fn logs(&self, contract: &ContractId, from: u64, limit: usize) -> Result<Vec<Value>> {
        let worker = self.worker().await?;
        let answer: Value = worker
            .get_json(&format!(
                "/v1/contracts/{contract}/logs?from={from}&limit={limit}"
            ))
            .await?;
        Ok(answer["logs"].as_array().cloned().unwrap_or_default())
    }

    /// The log lines of `contract` from `from` on, as they are written (one `log` event
    /// each, data = the line as JSON).
    pub async fn follow_logs(&self, contract: &ContractId, from: u64) -> Result<EventStream> {
        let worker = self.worker().await?;
        worker
            .events(&format!(
                "/v1/contracts/{contract}/logs?from={from}&follow=true"
            ))
            .await
    }
}

/// Fail when a signed execution receipt says the call failed.
fn check_receipt(what: &str, contract: &str, receipt: &Value) -> Result<()> {
    let status = &receipt["receipt"]["status"];
    if status["status"] == "ok" {
        return Ok(());
    }
    Err(Error::ExecFailed {
        what: what.into(),
        contract: contract.into(),
        error: status["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| status.to_string()),
        receipt: Box::new(receipt.clone()),
    })
}
