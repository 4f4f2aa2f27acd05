//! Talk to a fat contract network: submit signed transactions, wait for receipts, query
//! contracts, read their logs and the network's status.
//!
//! This is the library the `fat` command line is built on. Commands go to the chain node
//! (`POST /v1/txs`); queries, receipts and logs go to a worker of the contract's cluster. A
//! `fat dev` node serves its workers under `/workers/{i}` and lists them at `GET /workers`;
//! [`Client::worker`] uses the first unless a worker URL was given.
//!
//! What the client sends is sealed ([`fat_crypto::envelope`]): instantiation arguments to the
//! cluster's key, commands to the contract's key, queries to the worker's ECDH key, and the
//! answers come back sealed to the same session. Before it sends a worker anything, the client
//! checks the worker's registration against the chain's attestation policy itself
//! ([`Client::verify_worker`]). With [`Client::with_known_chains`] it pins each node URL's
//! genesis hash on first use and refuses another chain at the same URL.

mod error;
mod http;
mod known_chains;
mod trust;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fat_attestation::VerifiedReport;
use fat_crypto::Keypair;
use fat_crypto::envelope::{
    Direction, EcdhPublic, Envelope, ReplayGuard, SealRandomness, Session, SessionMessage, seal,
};
use fat_types::tx::{code_hash, contract_id};
use fat_types::{
    AccountId, AttestationPolicy, Bytes, ClusterId, CodeHash, CommandPayload, ContractId, Hash32,
    SignedExecReceipt, Transaction, TxKind, WorkerId, WorkerInfo,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::{Error, Result};
pub use http::{EventStream, Http, SseEvent};
pub use known_chains::check as check_known_chain;
pub use trust::check_worker;

/// The fee every transaction offers.
pub const DEFAULT_FEE: u64 = 10;
/// The fuel a command or an `init` may spend unless told otherwise.
pub const DEFAULT_GAS: u64 = 10_000_000_000;
/// How long to wait for a transaction's commit or a worker's receipt.
pub const WAIT: Duration = Duration::from_secs(60);
/// How far an answer's timestamp may be from the client's clock (milliseconds, each way).
const ANSWER_WINDOW_MS: u64 = 5 * 60 * 1000;

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

/// A worker whose registration the client checked against the chain's policy.
#[derive(Debug, Clone)]
pub struct TrustedWorker {
    /// Its API.
    pub http: Http,
    /// Its identity (it signs answers and receipts).
    pub id: WorkerId,
    /// Its x25519 key from its registration on chain: queries are sealed to it.
    pub ecdh_public: Hash32,
    /// What its attestation report says.
    pub report: String,
    /// Whether the report is a software one that protects nothing.
    pub insecure: bool,
}

/// What a client learns once and keeps.
#[derive(Debug, Default)]
struct Cache {
    pinned: bool,
    policy: Option<AttestationPolicy>,
    worker: Option<TrustedWorker>,
    /// Query sessions by (worker, contract, caller), with when they were opened.
    sessions: HashMap<(WorkerId, ContractId, AccountId), (Session, u64)>,
}

/// How long the client sends further queries in a session before it opens a new one (the
/// worker keeps a session 10 minutes).
pub const SESSION_REUSE_MS: u64 = 5 * 60 * 1000;
/// The content type of a further query of a session.
const SESSION_CONTENT_TYPE: &str = "application/x-fat-session";

/// A client of one node (and, through it or directly, one worker).
#[derive(Debug, Clone)]
pub struct Client {
    chain: Http,
    worker: Option<Http>,
    known_chains: Option<PathBuf>,
    cache: Arc<Mutex<Cache>>,
}

impl Client {
    /// A client of the chain node at `rpc` (`http://host:port`).
    pub fn new(rpc: &str) -> Result<Self> {
        Ok(Self {
            chain: Http::new(rpc)?,
            worker: None,
            known_chains: None,
            cache: Arc::default(),
        })
    }

    /// Send queries, receipt and log reads to the worker API at `url` instead of the node's
    /// first dev worker.
    pub fn with_worker(mut self, url: &str) -> Result<Self> {
        self.worker = Some(Http::new(url)?);
        Ok(self)
    }

    /// Pin the chain's genesis hash in `file` (a JSON object of node URL to genesis hash) on
    /// first use of the node's URL, and refuse another chain at that URL afterwards
    /// ([`Error::ChainChanged`]).
    pub fn with_known_chains(mut self, file: impl Into<PathBuf>) -> Self {
        self.known_chains = Some(file.into());
        self
    }

    /// The chain node's transport (no genesis check: see [`Client::check_chain`]).
    pub fn chain(&self) -> &Http {
        &self.chain
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Check the node's genesis against the known chains file (once per client); a no-op
    /// without [`Client::with_known_chains`].
    pub async fn check_chain(&self) -> Result<()> {
        let Some(file) = &self.known_chains else {
            return Ok(());
        };
        if self.cache().pinned {
            return Ok(());
        }
        let status: Value = self.chain.get_json("/v1/status").await?;
        let genesis: Hash32 =
            serde_json::from_value(status["genesis"].clone()).map_err(|e| Error::Decode {
                url: format!("{}/v1/status", self.chain.url()),
                message: format!("no genesis hash: {e}"),
            })?;
        known_chains::check(file, self.chain.url(), &genesis)?;
        self.cache().pinned = true;
        Ok(())
    }

    /// GET `path` from the chain node, once its genesis is checked.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.check_chain().await?;
        self.chain.get_json(path).await
    }

    /// The chain's status: `{"genesis", "height", "hash", "timestamp_ms", ...}`.
    pub async fn status(&self) -> Result<Value> {
        self.get("/v1/status").await
    }

    /// The chain's attestation policy (`GET /v1/params`), read once per client.
    pub async fn policy(&self) -> Result<AttestationPolicy> {
        if let Some(policy) = &self.cache().policy {
            return Ok(policy.clone());
        }
        let params: Value = self.get("/v1/params").await?;
        let policy: AttestationPolicy = serde_json::from_value(params["attestation"].clone())
            .map_err(|e| Error::Decode {
                url: format!("{}/v1/params", self.chain.url()),
                message: format!("no attestation policy: {e}"),
            })?;
        self.cache().policy = Some(policy.clone());
        Ok(policy)
    }

    /// Whether the chain's policy accepts `dev` reports: its workers then protect nothing.
    pub async fn is_dev_network(&self) -> Result<bool> {
        Ok(self.policy().await?.accepts_dev())
    }

    /// Read `worker`'s registration from the chain and check it against the chain's policy
    /// now: [`Error::UntrustedWorker`] unless it satisfies it.
    pub async fn verify_worker(&self, worker: &WorkerId) -> Result<(WorkerInfo, VerifiedReport)> {
        let policy = self.policy().await?;
        let info: WorkerInfo = match self.get(&format!("/v1/workers/{worker}")).await {
            Err(Error::Api { status: 404, .. }) => {
                return Err(Error::UntrustedWorker {
                    worker: worker.to_string(),
                    reason: "it is not registered on the chain".into(),
                });
            }
            other => other?,
        };
        let report = check_worker(&policy, worker, &info, now_secs())?;
        Ok((info, report))
    }

    /// What a `fat dev` node says about its workers: `{"cluster", "workers": [{"id", "path"}]}`.
    pub async fn dev_workers(&self) -> Result<Value> {
        match self.get::<Value>("/workers").await {
            Err(Error::Api { status: 404, .. }) => Err(Error::NoWorkers {
                url: self.chain.url().into(),
            }),
            other => other,
        }
    }

    /// The worker queries go to, checked against the chain's policy: the one given, or the
    /// node's first dev worker. Checked once per client.
    pub async fn trusted_worker(&self) -> Result<TrustedWorker> {
        if let Some(worker) = &self.cache().worker {
            return Ok(worker.clone());
        }
        let (http, id) = match &self.worker {
            Some(http) => {
                let status: Value = http.get_json("/v1/status").await?;
                let id = serde_json::from_value(status["worker"].clone()).map_err(|e| {
                    Error::Decode {
                        url: format!("{}/v1/status", http.url()),
                        message: format!("no worker id: {e}"),
                    }
                })?;
                (http.clone(), id)
            }
            None => {
                let info = self.dev_workers().await?;
                let first = &info["workers"][0];
                let no_workers = || Error::NoWorkers {
                    url: self.chain.url().into(),
                };
                let path = first["path"].as_str().ok_or_else(no_workers)?;
                let id: WorkerId =
                    serde_json::from_value(first["id"].clone()).map_err(|_| no_workers())?;
                (self.chain.join(path), id)
            }
        };
        let (info, report) = self.verify_worker(&id).await?;
        let worker = TrustedWorker {
            http,
            id,
            ecdh_public: info.ecdh_public,
            report: report.to_string(),
            insecure: report.is_insecure(),
        };
        self.cache().worker = Some(worker.clone());
        Ok(worker)
    }

    /// The API of the worker queries go to (see [`Client::trusted_worker`]).
    pub async fn worker(&self) -> Result<Http> {
        Ok(self.trusted_worker().await?.http)
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
        self.get(&format!("/v1/accounts/{account}")).await
    }

    /// Sign `kind` with `key`'s next nonce and submit it. With `wait`, return once it is
    /// committed, and fail if its outcome is a failure; the node's answer
    /// (`{"id", "status", "height", "index", "receipt"}`).
    pub async fn submit(&self, key: &Keypair, kind: TxKind, wait: bool) -> Result<Value> {
        self.submit_with(key, |_| Ok(kind), wait).await
    }

    /// [`Client::submit`] with the kind built from the nonce the transaction will carry (a
    /// sealed command names it).
    pub async fn submit_with(
        &self,
        key: &Keypair,
        kind: impl FnOnce(u64) -> Result<TxKind>,
        wait: bool,
    ) -> Result<Value> {
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
            kind: kind(nonce)?,
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
    ///
    /// The receipt must be signed by that (attested) worker, for transaction `tx`: anything
    /// else is [`Error::UntrustedWorker`].
    pub async fn receipt(&self, tx: &str, height: u64) -> Result<Value> {
        let trusted = self.trusted_worker().await?;
        let worker = &trusted.http;
        let start = Instant::now();
        loop {
            let status: Value = worker.get_json("/v1/status").await?;
            if status["height"].as_u64().is_some_and(|h| h >= height) {
                let body: Value = worker.get_json(&format!("/v1/receipts/{tx}")).await?;
                check_signed_receipt(&trusted.id, tx, &body)?;
                return Ok(body);
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

    /// The public key published for a cluster or a contract (`GET /v1/clusters/{id}`,
    /// `/v1/contracts/{id}`); `None` while a gatekeeper has not published it.
    async fn published_key(&self, path: &str) -> Result<Option<EcdhPublic>> {
        let info: Value = self.get(path).await?;
        let key: Option<Hash32> =
            serde_json::from_value(info["public_key"].clone()).map_err(|e| Error::Decode {
                url: format!("{}{path}", self.chain.url()),
                message: format!("public_key: {e}"),
            })?;
        Ok(key.map(|k| EcdhPublic(k.0)))
    }

    /// Upload `wasm` (unless the chain has it), instantiate it with JSON `args` (sealed to the
    /// cluster's key) and wait until a gatekeeper published its key and the workers ran
    /// `init`. `progress` hears each step.
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
        let cluster_key = self
            .published_key(&format!("/v1/clusters/{cluster}"))
            .await?
            .ok_or_else(|| Error::NotProvisioned {
                what: format!("cluster {cluster}"),
                hint: "a gatekeeper has not provisioned it yet; try again once one has".into(),
            })?;
        match self.get::<Value>(&format!("/v1/codes/{hash}")).await {
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
        let contract = contract_id(&key.account_id(), &hash, &cluster, salt);
        let (sealed, _) = seal(
            key,
            &cluster_key,
            contract,
            Direction::InitArgs,
            args.as_bytes(),
            now_ms(),
            randomness()?,
        )
        .map_err(|source| Error::Envelope {
            what: format!("cannot seal the init arguments of {contract}"),
            source,
        })?;
        let kind = TxKind::Instantiate {
            code_hash: hash,
            cluster,
            salt: Bytes(salt.to_vec()),
            args: Bytes(sealed.to_bytes()),
            gas_limit: DEFAULT_GAS,
        };
        let answer = self.submit(key, kind, true).await?;
        let block = answer["height"].as_u64().unwrap_or_default();
        progress(&format!(
            "waiting for the workers to run init (block {block})"
        ));
        self.contract_key(&contract, true).await?;
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

    /// The contract's published key; with `wait`, poll until a gatekeeper published it
    /// (bounded by [`WAIT`]).
    async fn contract_key(&self, contract: &ContractId, wait: bool) -> Result<EcdhPublic> {
        let path = format!("/v1/contracts/{contract}");
        let start = Instant::now();
        loop {
            if let Some(key) = self.published_key(&path).await? {
                return Ok(key);
            }
            if !wait {
                return Err(Error::NotProvisioned {
                    what: format!("contract {contract}"),
                    hint: "a gatekeeper has not published it yet; try again in a moment".into(),
                });
            }
            if start.elapsed() > WAIT {
                return Err(Error::Timeout {
                    what: format!("a gatekeeper to publish the key of contract {contract}"),
                    seconds: WAIT.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

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
                        now_ms(),
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
                        gas_limit: DEFAULT_GAS,
                    })
                },
                wait,
            )
            .await?;
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
        let text = match &inner["sealed_output"] {
            // The command was sealed, so its output must come back sealed: a plaintext output
            // in its place is refused rather than believed.
            Value::Null => {
                return Err(Error::UntrustedWorker {
                    worker: receipt["worker"].as_str().unwrap_or_default().into(),
                    reason: format!("the receipt of {tx} carries no sealed output"),
                });
            }
            sealed => {
                let session = session.expect("sealed when the transaction was built");
                let what = format!("the output of command {method} (tx {tx})");
                let bad = |message: String| Error::Decode {
                    url: self.chain.url().into(),
                    message: format!("{what}: {message}"),
                };
                let bytes: Bytes =
                    serde_json::from_value(sealed.clone()).map_err(|e| bad(e.to_string()))?;
                let worker: WorkerId = serde_json::from_value(receipt["worker"].clone())
                    .map_err(|e| bad(format!("no worker: {e}")))?;
                let envelope =
                    Envelope::from_bytes(&bytes.0).map_err(|source| Error::Envelope {
                        what: format!("cannot open {what}"),
                        source,
                    })?;
                // A receipt may be read long after: its time says nothing about freshness.
                let at = envelope.header.timestamp_ms;
                let plaintext = session
                    .open_response(
                        &envelope,
                        &AccountId(worker.0),
                        &mut ReplayGuard::new(ANSWER_WINDOW_MS, 1),
                        at,
                    )
                    .map_err(|source| Error::Envelope {
                        what: format!("cannot open {what}"),
                        source,
                    })?;
                String::from_utf8(plaintext).map_err(|e| bad(e.to_string()))?
            }
        };
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
            events: inner["events"].as_array().cloned().unwrap_or_default(),
        })
    }

    /// Run query `method` with JSON `args` (`None` for none) on a worker, as `key`'s account:
    /// sealed to the worker's registered key, the answer opened with the query's session.
    pub async fn query(
        &self,
        key: &Keypair,
        contract: &ContractId,
        method: &str,
        args: Option<Value>,
    ) -> Result<QueryResult> {
        let worker = self.trusted_worker().await?;
        let body = serde_json::json!({"method": method, "args": args}).to_string();
        let caller = key.account_id();
        let path = format!("/v1/contracts/{contract}/query");
        let url = format!("{}{path}", worker.http.url());
        let what = format!("the answer of worker {} to query {method}", worker.id);
        let envelope_error = |source| Error::Envelope {
            what: format!("cannot open {what}"),
            source,
        };
        let slot = (worker.id, *contract, caller);
        let cached = {
            let cache = self.cache.lock().expect("client cache lock");
            cache
                .sessions
                .get(&slot)
                .filter(|(_, opened)| now_ms().saturating_sub(*opened) < SESSION_REUSE_MS)
                .map(|(session, _)| session.clone())
        };
        if let Some(session) = cached {
            let message = session
                .seal_message(caller, Direction::Request, body.as_bytes(), now_ms())
                .map_err(|source| Error::Envelope {
                    what: format!("cannot seal query {method} to worker {}", worker.id),
                    source,
                })?;
            match worker
                .http
                .post_bytes(&path, SESSION_CONTENT_TYPE, message.to_bytes())
                .await
            {
                Ok(bytes) => {
                    let answer = SessionMessage::from_bytes(&bytes).map_err(envelope_error)?;
                    let plaintext = session
                        .open_reply(
                            &answer,
                            &message,
                            &mut ReplayGuard::new(ANSWER_WINDOW_MS, 1),
                            now_ms(),
                        )
                        .map_err(envelope_error)?;
                    return query_result(&url, &what, &plaintext);
                }
                // The worker no longer keeps the session: open a new one below.
                Err(Error::Api { status: 410, .. }) => {
                    self.cache
                        .lock()
                        .expect("client cache lock")
                        .sessions
                        .remove(&slot);
                }
                Err(e) => return Err(e),
            }
        }
        let (sealed, session) = seal(
            key,
            &EcdhPublic(worker.ecdh_public.0),
            *contract,
            Direction::Request,
            body.as_bytes(),
            now_ms(),
            randomness()?,
        )
        .map_err(|source| Error::Envelope {
            what: format!("cannot seal query {method} to worker {}", worker.id),
            source,
        })?;
        let bytes = worker
            .http
            .post_bytes(&path, "application/octet-stream", sealed.to_bytes())
            .await?;
        let envelope = Envelope::from_bytes(&bytes).map_err(envelope_error)?;
        let plaintext = session
            .open_response(
                &envelope,
                &AccountId(worker.id.0),
                &mut ReplayGuard::new(ANSWER_WINDOW_MS, 1),
                now_ms(),
            )
            .map_err(envelope_error)?;
        self.cache
            .lock()
            .expect("client cache lock")
            .sessions
            .insert(slot, (session, now_ms()));
        query_result(&url, &what, &plaintext)
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

/// Milliseconds since the Unix epoch, by the system clock.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Seconds since the Unix epoch, by the system clock.
fn now_secs() -> u64 {
    now_ms() / 1000
}

fn randomness() -> Result<SealRandomness> {
    SealRandomness::generate().map_err(|source| Error::Envelope {
        what: "cannot seal".into(),
        source,
    })
}

/// Check a receipt is `worker`'s signature over the receipt of transaction `tx`.
fn check_signed_receipt(worker: &WorkerId, tx: &str, body: &Value) -> Result<()> {
    let refuse = |reason: String| Error::UntrustedWorker {
        worker: worker.to_string(),
        reason,
    };
    let signed: SignedExecReceipt = serde_json::from_value(body.clone())
        .map_err(|e| refuse(format!("its receipt of {tx} does not parse: {e}")))?;
    if signed.worker != *worker {
        return Err(refuse(format!(
            "the receipt of {tx} is signed by another worker, {}",
            signed.worker
        )));
    }
    if signed.receipt.tx.to_string() != tx {
        return Err(refuse(format!(
            "asked for the receipt of {tx}, got that of {}",
            signed.receipt.tx
        )));
    }
    fat_crypto::verify(
        &AccountId(worker.0),
        signed.receipt.hash().as_bytes(),
        &signed.signature,
    )
    .map_err(|_| {
        refuse(format!(
            "its signature of the receipt of {tx} does not verify"
        ))
    })
}

/// The result of a query from its answer's plaintext JSON.
fn query_result(url: &str, what: &str, plaintext: &[u8]) -> Result<QueryResult> {
    let answer: Value = serde_json::from_slice(plaintext).map_err(|e| Error::Decode {
        url: url.into(),
        message: format!("{what}: {e}"),
    })?;
    if let Some(code) = answer["code"].as_str() {
        return Err(Error::Api {
            url: url.into(),
            status: 422,
            code: Some(code.into()),
            message: answer["message"].as_str().unwrap_or_default().into(),
            body: Box::new(answer),
        });
    }
    Ok(QueryResult {
        output: answer["output"].clone(),
        worker: answer["worker"].as_str().unwrap_or_default().into(),
        elapsed_ms: answer["elapsed_ms"].as_f64().unwrap_or_default(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use fat_types::{ExecReceipt, ExecStatus, TxId};

    fn signed(key: &Keypair, tx: TxId) -> Value {
        let receipt = ExecReceipt {
            tx,
            contract: ContractId([2; 32]),
            height: 3,
            index: 0,
            status: ExecStatus::Ok,
            output: String::new(),
            sealed_output: None,
            events: Vec::new(),
            gas_used: 7,
            state_root: Hash32([4; 32]),
        };
        let signature = key.sign(receipt.hash().as_bytes());
        serde_json::to_value(SignedExecReceipt {
            receipt,
            worker: WorkerId(key.account_id().0),
            signature,
        })
        .unwrap()
    }

    #[test]
    fn receipts_must_be_the_trusted_workers_signature_for_the_asked_tx() {
        let key = fat_crypto::dev_keypair("worker-0");
        let worker = WorkerId(key.account_id().0);
        let tx = TxId([1; 32]);
        let body = signed(&key, tx);
        check_signed_receipt(&worker, &tx.to_string(), &body).unwrap();

        let other = fat_crypto::dev_keypair("worker-1");
        let err = check_signed_receipt(&worker, &tx.to_string(), &signed(&other, tx)).unwrap_err();
        assert!(err.to_string().contains("another worker"), "{err}");

        let err = check_signed_receipt(&worker, &TxId([9; 32]).to_string(), &body).unwrap_err();
        assert!(err.to_string().contains("got that of"), "{err}");

        let mut forged = body.clone();
        forged["receipt"]["gas_used"] = serde_json::json!(8);
        let err = check_signed_receipt(&worker, &tx.to_string(), &forged).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }
}
