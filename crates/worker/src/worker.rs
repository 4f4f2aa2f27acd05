//! The worker: its store, runtime and keys, the loop that follows the chain, and queries.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fat_attestation::seal::{DevSealer, Sealer};
use fat_attestation::{Quoter, WorkerKeys, report_data};
use fat_consensus::{BlockVerifier, ValidatorSet};
use fat_crypto::envelope::{self, Direction, Envelope, ReplayGuard, Session, SessionMessage};
use fat_crypto::{ClusterKey, Keypair};
use fat_runtime::{
    BlockInfo, Cache, Call, Code, Entry, MemoryCache, Runtime, RuntimeConfig, SystemClock,
};
use fat_types::block::receipts_root;
use fat_types::{
    AccountId, Block, BlockHeader, CodeHash, ContractId, Hash32, Receipt, TxKind, WorkerId,
};
use serde::Deserialize;
use tokio::sync::watch;

use crate::admission::Admission;
use crate::client::ChainClient;
use crate::error::{Result, WorkerError};
use crate::exec::{execute_block, worker_id};
use crate::keys::{CLUSTER_KEY_LABEL, Keyring, WorkerSecrets};
use crate::store::{Snapshot, Store};

/// How far (milliseconds, either way) an envelope's timestamp may be from the opener's time.
pub const ENVELOPE_WINDOW_MS: u64 = 5 * 60 * 1000;
/// At most this many blocks commit without waiting for the disk before one does.
const GROUP_COMMIT_BLOCKS: u32 = 64;
/// At most this long passes between durable commits while blocks keep coming.
const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(50);
/// When no block follows for this long, the commits so far are made durable.
const IDLE_FLUSH: Duration = Duration::from_millis(5);

/// Commits not yet durable: how many, and since when.
#[derive(Debug, Default)]
struct Unflushed {
    blocks: u32,
    since: Option<Instant>,
}

/// How long a query session may carry further queries after its first.
pub const SESSION_TTL_MS: u64 = 10 * 60 * 1000;
/// How many query sessions a worker keeps at most.
const MAX_SESSIONS: usize = 1 << 16;

/// A query session a client opened with a sealed envelope.
struct SessionEntry {
    session: Session,
    caller: AccountId,
    expires_ms: u64,
}

/// How many query nonces the replay guard remembers at most.
const REPLAY_CAPACITY: usize = 1 << 20;

/// How a worker is set up.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Where its store lives.
    pub data_dir: PathBuf,
    /// Its identity key (signs receipts). `None` generates one on first start; either way the
    /// identity and a new ECDH key are sealed in the data directory and reused after.
    pub key: Option<Keypair>,
    /// Seals the worker's keys on disk (only the insecure dev sealer runs here).
    pub sealer: Arc<dyn Sealer>,
    /// Also answer plaintext JSON queries (anonymous caller). Off by default: queries come
    /// sealed to the worker's key.
    pub plaintext_queries: bool,
    /// The runtime's settings (limits, HTTP policy).
    pub runtime: RuntimeConfig,
    /// The genesis hash the worker accepts; `None` trusts the node's genesis on first start.
    pub genesis: Option<Hash32>,
    /// Queries run at once.
    pub query_concurrency: usize,
    /// Queries that may wait for a slot; beyond that a query is answered "busy" at once.
    pub query_queue: usize,
}

impl WorkerConfig {
    /// A configuration with default limits: as many concurrent queries as cores (at least
    /// two), and a queue of 256; the identity `key`, or a new one when `None`.
    pub fn new(data_dir: impl Into<PathBuf>, key: Option<Keypair>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            data_dir: data_dir.into(),
            key,
            sealer: Arc::new(DevSealer),
            plaintext_queries: false,
            runtime: RuntimeConfig::default(),
            genesis: None,
            query_concurrency: cores.max(2),
            query_queue: 256,
        }
    }
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("data_dir", &self.data_dir)
            .field("sealer", &self.sealer.provider())
            .field("plaintext_queries", &self.plaintext_queries)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) runtime: Runtime,
    pub(crate) key: Keypair,
    pub(crate) secrets: WorkerSecrets,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) sealer: Arc<dyn Sealer>,
    replay: Mutex<ReplayGuard>,
    sessions: Mutex<HashMap<[u8; 32], SessionEntry>>,
    sessions_swept_ms: AtomicU64,
    unflushed: Mutex<Unflushed>,
    pub(crate) plaintext_queries: bool,
    pub(crate) cache: Arc<MemoryCache>,
    codes: Mutex<HashMap<CodeHash, Arc<Code>>>,
    pub(crate) head: watch::Sender<Option<BlockHeader>>,
    pub(crate) admission: Admission,
    pub(crate) closing: watch::Sender<bool>,
    genesis: Option<Hash32>,
}

impl Inner {
    pub(crate) fn worker_id(&self) -> WorkerId {
        worker_id(&self.key)
    }

    /// The compiled code of `hash`: from memory, else from `bytes` or the store.
    pub(crate) fn code(&self, hash: &CodeHash, bytes: Option<Vec<u8>>) -> Result<Arc<Code>> {
        if let Some(code) = self.codes.lock().expect("code cache lock").get(hash) {
            return Ok(code.clone());
        }
        let bytes = match bytes {
            Some(b) => b,
            None => self
                .store
                .snapshot()?
                .code(hash)?
                .ok_or_else(|| WorkerError::Corrupt(format!("code {hash} missing")))?,
        };
        let code = self.runtime.load(&bytes)?;
        self.codes
            .lock()
            .expect("code cache lock")
            .insert(*hash, code.clone());
        Ok(code)
    }
}

/// A worker; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Worker({})", self.id())
    }
}

/// A query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAnswer {
    /// The contract's output (JSON text), or why it failed.
    pub result: std::result::Result<String, fat_runtime::CallError>,
    /// The block whose state the query read.
    pub height: u64,
    /// Fuel used.
    pub gas_used: u64,
    /// Time spent, queueing included.
    pub elapsed: Duration,
}

#[derive(Deserialize)]
struct ReceiptsView {
    receipts: Vec<Receipt>,
}

/// A block as the chain's stream sends it with `receipts=true`.
#[derive(Deserialize)]
struct StreamedBlock {
    header: BlockHeader,
    certificate: fat_types::Certificate,
    txs: Vec<fat_types::SignedTransaction>,
    #[serde(default)]
    receipts: Option<Vec<Receipt>>,
}

impl Worker {
    /// Open the worker's store and runtime.
    pub fn open(config: WorkerConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| WorkerError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let secrets = WorkerSecrets::load_or_create(
            &config.data_dir,
            config.sealer.as_ref(),
            config.key.as_ref(),
        )?;
        let keyring = Arc::new(Keyring::default());
        let store = Store::open(&config.data_dir, keyring.clone())?;
        for (cluster, sealed) in store.snapshot()?.sealed_cluster_keys()? {
            let bytes = config
                .sealer
                .unseal(CLUSTER_KEY_LABEL, &sealed)
                .map_err(|e| WorkerError::Keys(format!("cluster key of {cluster}: {e}")))?;
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                WorkerError::Keys(format!("cluster key of {cluster}: not 32 bytes"))
            })?;
            keyring.add_cluster(cluster, ClusterKey::from_bytes(bytes));
        }
        let head = {
            let snapshot = store.snapshot()?;
            if snapshot.started()? {
                Some(snapshot.head()?)
            } else {
                None
            }
        };
        let runtime = Runtime::with_clock(config.runtime, Arc::new(SystemClock))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                key: secrets.identity.clone(),
                secrets,
                keyring,
                sealer: config.sealer,
                replay: Mutex::new(ReplayGuard::new(ENVELOPE_WINDOW_MS, REPLAY_CAPACITY)),
                sessions: Mutex::new(HashMap::new()),
                sessions_swept_ms: AtomicU64::new(0),
                unflushed: Mutex::new(Unflushed::default()),
                plaintext_queries: config.plaintext_queries,
                cache: Arc::new(MemoryCache::default()),
                codes: Mutex::new(HashMap::new()),
                head: watch::channel(head).0,
                admission: Admission::new(config.query_concurrency, config.query_queue),
                closing: watch::channel(false).0,
                genesis: config.genesis,
            }),
        })
    }

    /// The worker id of an identity key.
    pub fn id_of(key: &Keypair) -> WorkerId {
        worker_id(key)
    }

    /// The worker's identity.
    pub fn id(&self) -> WorkerId {
        self.inner.worker_id()
    }

    /// The worker's ECDH public key: queries and its cluster keys are sealed to it.
    pub fn ecdh_public(&self) -> Hash32 {
        Hash32(self.inner.secrets.ecdh_public().0)
    }

    /// The public keys an attestation report of this worker must commit to.
    pub fn attested_keys(&self) -> WorkerKeys {
        WorkerKeys {
            identity: self.id().0,
            ecdh: self.ecdh_public().0,
        }
    }

    /// The `RegisterWorker` transaction kind of this worker, with a report from `quoter`
    /// committing to its identity and ECDH keys.
    pub fn registration(&self, quoter: &dyn Quoter) -> Result<TxKind> {
        let attestation = quoter
            .quote(&report_data(&self.attested_keys()))
            .map_err(|e| WorkerError::Keys(format!("cannot make an attestation report: {e}")))?;
        Ok(TxKind::RegisterWorker {
            worker: self.id(),
            ecdh_public: self.ecdh_public(),
            attestation,
        })
    }

    /// The registration with a `dev` report (insecure: for dev networks only).
    pub fn dev_registration(&self) -> Result<TxKind> {
        let quoter = fat_attestation::dev::DevQuoter::new(
            self.inner.key.clone(),
            fat_attestation::DEV_MEASUREMENT.to_vec(),
        );
        self.registration(&quoter)
    }

    /// Whether this worker holds the key of `cluster`.
    pub fn has_cluster_key(&self, cluster: &fat_types::ClusterId) -> bool {
        self.inner.keyring.cluster(cluster).is_some()
    }

    /// Whether plaintext JSON queries are answered.
    pub fn plaintext_queries(&self) -> bool {
        self.inner.plaintext_queries
    }

    /// The last block applied, once following has started.
    pub fn head(&self) -> Option<BlockHeader> {
        self.inner.head.borrow().clone()
    }

    /// Watch the last applied block.
    pub fn subscribe(&self) -> watch::Receiver<Option<BlockHeader>> {
        self.inner.head.subscribe()
    }

    /// A consistent view of the last committed block.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.inner.store.snapshot()
    }

    /// End the API's open streams (followed logs), so that a server shutting down gracefully
    /// is not held open by them. Following and queries are unaffected.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Wait until the worker has applied block `height`, for at most `timeout`.
    pub async fn wait_for_height(&self, height: u64, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        tokio::time::timeout(
            timeout,
            rx.wait_for(|h| h.as_ref().is_some_and(|h| h.height >= height)),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    /// Verify and apply one block with the chain's receipts of its transactions.
    pub async fn apply_block(&self, block: &Block, receipts: &[Receipt]) -> Result<()> {
        let height = block.header.height;
        if block.txs.len() != receipts.len()
            || receipts_root(receipts) != block.header.receipts_root
        {
            return Err(WorkerError::ReceiptsMismatch { height });
        }
        let inner = &*self.inner;
        let mut store_changes = execute_block(inner, block, receipts).await?;
        let cache_ops = std::mem::take(&mut store_changes.cache_ops);
        let durable = {
            let unflushed = inner.unflushed.lock().expect("unflushed lock");
            unflushed.blocks + 1 >= GROUP_COMMIT_BLOCKS
                || unflushed
                    .since
                    .is_some_and(|t| t.elapsed() >= GROUP_COMMIT_WINDOW)
        };
        let signed = {
            let worker = self.clone();
            let header = block.header.clone();
            tokio::task::spawn_blocking(move || {
                worker
                    .inner
                    .store
                    .commit(&header, store_changes, &worker.inner.key, durable)
            })
            .await
            .map_err(|e| WorkerError::Corrupt(format!("commit task: {e}")))??
        };
        {
            let mut unflushed = inner.unflushed.lock().expect("unflushed lock");
            if durable {
                *unflushed = Unflushed::default();
            } else {
                unflushed.blocks += 1;
                unflushed.since.get_or_insert_with(Instant::now);
            }
        }
        let now = block.header.timestamp_ms;
        for (contract, ops) in cache_ops {
            inner.cache.apply(&contract, &ops, now);
        }
        tracing::debug!(height, receipts = signed.len(), "applied block");
        inner.head.send_replace(Some(block.header.clone()));
        Ok(())
    }

    /// Make every block applied so far durable on disk (blocks commit durably in groups:
    /// see [`Store::commit`]).
    pub async fn flush(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.inner.unflushed.lock().expect("unflushed lock"));
        if pending.blocks == 0 {
            return Ok(());
        }
        let worker = self.clone();
        tokio::task::spawn_blocking(move || worker.inner.store.flush())
            .await
            .map_err(|e| WorkerError::Corrupt(format!("flush task: {e}")))?
    }

    fn has_unflushed(&self) -> bool {
        self.inner.unflushed.lock().expect("unflushed lock").blocks > 0
    }

    /// Follow the chain at `url` until `shutdown` completes: verify each block, apply it,
    /// and reconnect when the stream breaks. Returns an error only when a block does not
    /// verify or the store fails. Blocks commit durably in groups; when no block follows
    /// for a few milliseconds, and when following stops, what was applied is made durable.
    pub async fn follow(
        &self,
        url: &str,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let result = self.follow_until(url, shutdown).await;
        let flushed = self.flush().await;
        result.and(flushed)
    }

    async fn follow_until(
        &self,
        url: &str,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let client = ChainClient::new(url)?;
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(50);
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                result = self.follow_once(&client) => match result {
                    Ok(()) => {}
                    Err(e @ WorkerError::Chain { .. }) => {
                        tracing::debug!(error = %e, "chain stream broke; reconnecting");
                    }
                    Err(e) => return Err(e),
                }
            }
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn follow_once(&self, client: &ChainClient) -> Result<()> {
        let genesis: Block = client.get_json("/v1/blocks/0").await?;
        if let Some(expected) = self.inner.genesis
            && genesis.hash() != expected
        {
            return Err(WorkerError::ForeignChain {
                found: genesis.hash(),
                expected,
            });
        }
        let head = self.inner.store.start(&genesis.header)?;
        self.inner.head.send_replace(Some(head.clone()));
        let config: fat_types::Genesis = client.get_json("/v1/genesis").await?;
        if config.config_hash() != genesis.header.parent {
            return Err(WorkerError::Genesis(format!(
                "the chain's genesis hashes to {}, but block 0 links to {}",
                config.config_hash(),
                genesis.header.parent
            )));
        }
        let validators = ValidatorSet::new(config.validators)
            .map_err(|e| WorkerError::Genesis(e.to_string()))?;
        let mut verifier = BlockVerifier::new(head.clone(), validators);
        let mut events = client
            .events(&format!(
                "/v1/stream/blocks?from={}&receipts=true",
                head.height + 1
            ))
            .await?;
        loop {
            let event = if self.has_unflushed() {
                match tokio::time::timeout(IDLE_FLUSH, events.next()).await {
                    Ok(event) => event?,
                    Err(_) => {
                        self.flush().await?;
                        continue;
                    }
                }
            } else {
                events.next().await?
            };
            let Some(event) = event else { break };
            if event.event != "block" {
                continue;
            }
            let streamed: StreamedBlock =
                serde_json::from_str(&event.data).map_err(|e| WorkerError::Chain {
                    url: client.url().into(),
                    message: format!("bad block: {e}"),
                })?;
            let receipts = streamed.receipts;
            let block = Block {
                header: streamed.header,
                certificate: streamed.certificate,
                txs: streamed.txs,
            };
            verifier.accept(&block)?;
            let receipts = if let Some(receipts) = receipts {
                receipts
            } else if block.txs.is_empty() {
                Vec::new()
            } else {
                let view: ReceiptsView = client
                    .get_json(&format!("/v1/blocks/{}/receipts", block.header.height))
                    .await?;
                view.receipts
            };
            self.apply_block(&block, &receipts).await?;
        }
        Ok(())
    }

    /// Run a query on the latest committed state, subject to admission control.
    pub async fn query(
        &self,
        contract: &ContractId,
        method: &str,
        args: &str,
        caller: AccountId,
    ) -> Result<QueryAnswer> {
        let start = Instant::now();
        let _slot = self.inner.admission.enter().await?;
        let snapshot = self.inner.store.snapshot()?;
        if !snapshot.started()? {
            return Err(WorkerError::UnknownContract(*contract));
        }
        let head = snapshot.head()?;
        let record = snapshot
            .contract(contract)?
            .ok_or(WorkerError::UnknownContract(*contract))?;
        let code = self.inner.code(&record.info.code_hash, None)?;
        let mut call = Call::new(
            Entry::query(method, args),
            Arc::new(snapshot),
            self.inner.cache.clone() as Arc<dyn Cache>,
        );
        call.contract = *contract;
        call.caller = caller;
        call.block = BlockInfo {
            number: head.height,
            timestamp_ms: head.timestamp_ms,
            hash: head.hash(),
        };
        let crypt = self
            .inner
            .keyring
            .contract(contract, &record.info.cluster)
            .ok_or(WorkerError::NoClusterKey(record.info.cluster))?;
        call.contract_secret = crypt.keys.secret();
        call.worker_key = self.id().0;
        let outcome = self.inner.runtime.call(&code, call).await;
        Ok(QueryAnswer {
            result: outcome.output_str().map(str::to_owned),
            height: head.height,
            gas_used: outcome.gas_used,
            elapsed: start.elapsed(),
        })
    }
}

/// A sealed query's answer: the response envelope.
#[derive(Debug)]
pub struct SealedAnswer {
    /// The response envelope, sealed to the query's session and signed by the worker.
    pub envelope: Envelope,
}

/// A query's plaintext as sealed in a request envelope.
#[derive(Deserialize)]
struct SealedQuery {
    method: String,
    #[serde(default)]
    args: serde_json::Value,
}

impl Worker {
    /// Open a query envelope sealed to this worker, run it as its signer, and seal the answer
    /// (the JSON `answer` turns it into) back to the same session.
    pub async fn query_sealed(
        &self,
        contract: &ContractId,
        envelope: &Envelope,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<serde_json::Value>,
    ) -> Result<SealedAnswer> {
        let now_ms = now_ms();
        // Check and decrypt outside the shared guard's lock; only record the nonce under it.
        let opened = envelope::open(
            envelope,
            &self.inner.secrets.ecdh,
            contract,
            Direction::Request,
            &mut ReplayGuard::new(ENVELOPE_WINDOW_MS, 1),
            now_ms,
        )?;
        // Nonces of queries to contracts this worker does not run are not worth remembering.
        self.known_contract(contract)?;
        self.admit(&envelope.header)?;
        self.keep_session(&opened.session, opened.sender, now_ms);
        let plaintext = self
            .run_sealed(contract, &opened.plaintext, opened.sender, answer)
            .await?;
        let envelope = opened
            .session
            .seal_response(&self.inner.key, &plaintext, now_ms)?;
        Ok(SealedAnswer { envelope })
    }

    /// A further query of a session opened by [`Worker::query_sealed`]: opened with the
    /// session's request key, run as the session's caller, answered under its response key.
    pub async fn query_session(
        &self,
        contract: &ContractId,
        message: &SessionMessage,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<serde_json::Value>,
    ) -> Result<SessionMessage> {
        let now_ms = now_ms();
        let (session, caller) = {
            let sessions = self.inner.sessions.lock().expect("sessions lock");
            match sessions.get(&message.header.ephemeral.0) {
                Some(entry) if entry.expires_ms > now_ms => (entry.session.clone(), entry.caller),
                _ => return Err(WorkerError::UnknownSession),
            }
        };
        if session.contract() != *contract {
            return Err(fat_crypto::EnvelopeError::WrongContract {
                expected: *contract,
                found: session.contract(),
            }
            .into());
        }
        let plaintext = session.open_message(
            message,
            &caller,
            Direction::Request,
            &mut ReplayGuard::new(ENVELOPE_WINDOW_MS, 1),
            now_ms,
        )?;
        self.admit(&message.header)?;
        let body = self
            .run_sealed(contract, &plaintext, caller, answer)
            .await?;
        Ok(session.seal_reply(message, &body, now_ms))
    }

    /// Record a request's nonce in the worker's replay guard.
    fn admit(&self, header: &fat_crypto::envelope::EnvelopeHeader) -> Result<()> {
        let mut guard = self.inner.replay.lock().expect("replay guard lock");
        guard.admit(&header.sender, &header.nonce, header.timestamp_ms, now_ms())?;
        Ok(())
    }

    /// Fail unless this worker runs `contract` (and holds its keys).
    fn known_contract(&self, contract: &ContractId) -> Result<()> {
        if self.inner.keyring.cached(contract).is_some() {
            return Ok(());
        }
        match self.inner.store.snapshot()?.contract(contract)? {
            Some(_) => Ok(()),
            None => Err(WorkerError::UnknownContract(*contract)),
        }
    }

    /// Keep a session for further queries (while there is room). When full, expired
    /// sessions are swept at most once a second, not on every query.
    fn keep_session(&self, session: &Session, caller: AccountId, now_ms: u64) {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        if sessions.len() >= MAX_SESSIONS {
            let swept = self.inner.sessions_swept_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(swept) >= 1000 {
                sessions.retain(|_, e| e.expires_ms > now_ms);
                self.inner
                    .sessions_swept_ms
                    .store(now_ms, Ordering::Relaxed);
            }
        }
        if sessions.len() < MAX_SESSIONS {
            sessions.insert(
                session.ephemeral().0,
                SessionEntry {
                    session: session.clone(),
                    caller,
                    expires_ms: now_ms + SESSION_TTL_MS,
                },
            );
        }
    }

    /// Run a sealed query's plaintext (`{"method", "args"}`) as `caller`; the answer's JSON.
    async fn run_sealed(
        &self,
        contract: &ContractId,
        plaintext: &[u8],
        caller: AccountId,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<serde_json::Value>,
    ) -> Result<Vec<u8>> {
        let query: SealedQuery = serde_json::from_slice(plaintext).map_err(|e| {
            WorkerError::Envelope(fat_crypto::EnvelopeError::Decode(format!(
                "the query is not JSON {{\"method\", \"args\"}}: {e}"
            )))
        })?;
        let args = match &query.args {
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let result = self.query(contract, &query.method, &args, caller).await;
        let body = answer(self, result)?;
        Ok(serde_json::to_vec(&body).expect("JSON values serialize"))
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
