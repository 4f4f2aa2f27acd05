//! Talk to a fat contract network: submit signed transactions, wait for receipts, query
//! contracts, read their logs and the network's status.
//!
//! This is the library the `fat` command line is built on. Commands go to the chain node
//! (`POST /v1/txs`); queries, receipts and logs go to a worker of the contract's cluster. A
//! `fat dev` node serves its workers under `/workers/{i}` and lists them at `GET /workers`;
//! [`Client::worker`] uses the first unless a worker URL was given. Every body and path is
//! the protocol's ([`fat_proto`]).
//!
//! What the client sends is sealed ([`fat_crypto::envelope`]): instantiation arguments to the
//! cluster's key, commands to the contract's key, queries to the worker's ECDH key, and the
//! answers come back sealed to the same session. Before it sends a worker anything, the client
//! checks the worker's registration against the chain's attestation policy itself
//! ([`Client::verify_worker`]). With [`Client::with_known_chains`] it pins each node URL's
//! genesis hash on first use and refuses another chain at the same URL.

mod command;
mod deploy;
mod error;
mod known_chains;
mod query;
mod receipt;
mod replicas;
mod trust;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fat_attestation::VerifiedReport;
use fat_crypto::Keypair;
use fat_crypto::envelope::{EcdhPublic, SealRandomness, Session};
use fat_proto::chain::{
    AccountView, ChainStatus, ClustersView, DevWorkers, SubmitAnswer, TxStatus,
};
use fat_proto::worker::ReceiptView;
use fat_proto::{ChainApi, WorkerApi, not_found_as_none, windows};
use fat_types::genesis::{ChainParams, Genesis};
use fat_types::{
    AccountId, AttestationPolicy, Clock, ClusterId, ContractId, Hash32, SystemClock, Transaction,
    TxId, TxKind, WorkerId, WorkerInfo,
};

pub use command::{COMMAND_SESSION_MS, CommandResult};
pub use deploy::Deployed;
pub use error::{Error, Result};
pub use fat_proto::{EventStream, Http, SseEvent};
pub use known_chains::check as check_known_chain;
pub use query::{ProgressWatch, QueryResult};
pub use replicas::{Divergence, MemberView, ReplicaCheck};
pub use trust::check_worker;

/// The fee every transaction offers at least (more when the chain's minimum for its size and
/// gas is more: see [`fat_types::genesis::ChainParams::min_fee`]).
pub const DEFAULT_FEE: u64 = 10;
/// The fuel a command or an `init` may spend unless told otherwise ([`Client::with_gas_limit`]):
/// a tenth of the default chain's `max_tx_gas`.
pub const DEFAULT_GAS: u64 = 100_000_000;
/// How long to wait for a worker's receipt or a published key.
pub const WAIT: Duration = windows::CLIENT_WAIT;
/// How long the client sends further queries in a session before it opens a new one.
pub const SESSION_REUSE_MS: u64 = windows::SESSION_REUSE_MS;

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

impl TrustedWorker {
    /// Its API, typed.
    pub fn api(&self) -> WorkerApi {
        WorkerApi::from_http(self.http.clone())
    }
}

/// What a client learns once and keeps.
#[derive(Debug, Default)]
struct Cache {
    pinned: bool,
    chain_id: Option<Hash32>,
    policy: Option<AttestationPolicy>,
    params: Option<ChainParams>,
    genesis: Option<Genesis>,
    /// Trusted workers by the cluster they answer for (`None`: any), in the order tried.
    workers: HashMap<Option<ClusterId>, Vec<TrustedWorker>>,
    /// The cluster of each contract asked about.
    clusters: HashMap<ContractId, ClusterId>,
    /// Keys an attested member confirmed, by whose they are (a cluster's or a contract's
    /// id).
    confirmed: HashMap<[u8; 32], Hash32>,
    /// Query sessions by (worker, contract, caller), with when they were opened.
    sessions: HashMap<(WorkerId, ContractId, AccountId), (Session, u64)>,
    /// Command sessions by (contract, its key, sender), with when they were started: a
    /// sender's commands to a contract share one key agreement for
    /// [`COMMAND_SESSION_MS`].
    command_sessions: HashMap<(ContractId, EcdhPublic, AccountId), (Session, u64)>,
}

/// Whose key [`Client::confirm_key`] checks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConfirmSubject {
    /// The cluster's, of its current epoch.
    Cluster,
    /// A contract's of the cluster.
    Contract(ContractId),
}

/// A client of one node (and, through it or directly, one worker).
#[derive(Clone)]
pub struct Client {
    chain: ChainApi,
    worker: Option<WorkerApi>,
    known_chains: Option<PathBuf>,
    cache: Arc<Mutex<Cache>>,
    clock: Arc<dyn Clock>,
    gas_limit: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("chain", &self.chain.url())
            .field("worker", &self.worker.as_ref().map(WorkerApi::url))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the chain node at `rpc` (`http://host:port`), on the system clock.
    pub fn new(rpc: &str) -> Result<Self> {
        Ok(Self {
            chain: ChainApi::new(rpc)?,
            worker: None,
            known_chains: None,
            cache: Arc::default(),
            clock: Arc::new(SystemClock),
            gas_limit: DEFAULT_GAS,
        })
    }

    /// Let each command and `init` this client sends spend at most `gas` (fuel); the
    /// default is [`DEFAULT_GAS`]. The chain refuses more than its `max_tx_gas`, and the fee
    /// offered grows with it.
    pub fn with_gas_limit(mut self, gas: u64) -> Self {
        self.gas_limit = gas;
        self
    }

    /// The gas each command and `init` this client sends may spend.
    pub fn gas_limit(&self) -> u64 {
        self.gas_limit
    }

    /// Send queries, receipt and log reads to the worker API at `url` instead of the node's
    /// first dev worker.
    pub fn with_worker(mut self, url: &str) -> Result<Self> {
        self.worker = Some(WorkerApi::new(url)?);
        Ok(self)
    }

    /// Pin the chain's genesis hash in `file` (a JSON object of node URL to genesis hash) on
    /// first use of the node's URL, and refuse another chain at that URL afterwards
    /// ([`Error::ChainChanged`]).
    pub fn with_known_chains(mut self, file: impl Into<PathBuf>) -> Self {
        self.known_chains = Some(file.into());
        self
    }

    /// Read the time from `clock` (envelope times, answer freshness, report validity).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The chain node's transport (no genesis check: see [`Client::check_chain`]).
    pub fn chain(&self) -> &Http {
        self.chain.http()
    }

    /// The chain node's typed API, for reads the client has no method of its own for. Call
    /// [`Client::check_chain`] first to check the node's genesis against the known chains.
    pub fn chain_api(&self) -> &ChainApi {
        &self.chain
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The chain's API, once its genesis is checked against the known chains file.
    async fn checked(&self) -> Result<&ChainApi> {
        self.check_chain().await?;
        Ok(&self.chain)
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
        let genesis = self.chain.status().await?.genesis;
        known_chains::check(file, self.chain.url(), &genesis)?;
        self.cache().pinned = true;
        Ok(())
    }

    /// The chain's id, which every transaction carries: its genesis block hash (checked
    /// against the known chains file when the client has one). Read once per client.
    pub async fn chain_id(&self) -> Result<Hash32> {
        if let Some(id) = self.cache().chain_id {
            return Ok(id);
        }
        let id = self.status().await?.genesis;
        self.cache().chain_id = Some(id);
        Ok(id)
    }

    /// The chain's status.
    pub async fn status(&self) -> Result<ChainStatus> {
        Ok(self.checked().await?.status().await?)
    }

    /// The chain's genesis configuration, checked: block 0 must be the chain the client holds
    /// (its id, pinned when the client has a known chains file) and link to the
    /// configuration's hash. Read once per client.
    pub async fn genesis(&self) -> Result<Genesis> {
        if let Some(genesis) = &self.cache().genesis {
            return Ok(genesis.clone());
        }
        let chain = self.checked().await?;
        let id = self.chain_id().await?;
        let config = chain.checked_genesis(id).await.map_err(|e| match e {
            fat_proto::Error::ForgedGenesis { url, chain } => Error::ForgedGenesis { url, chain },
            other => other.into(),
        })?;
        self.cache().genesis = Some(config.clone());
        Ok(config)
    }

    /// The chain's parameters: those of its checked genesis ([`Client::genesis`]; no
    /// transaction changes them), never what `GET /v1/params` says alone.
    pub async fn params(&self) -> Result<ChainParams> {
        if let Some(params) = &self.cache().params {
            return Ok(params.clone());
        }
        let params = self.genesis().await?.params;
        self.cache().params = Some(params.clone());
        Ok(params)
    }

    /// The chain's attestation policy, from its checked genesis ([`Client::params`]).
    pub async fn policy(&self) -> Result<AttestationPolicy> {
        if let Some(policy) = &self.cache().policy {
            return Ok(policy.clone());
        }
        let policy = self.params().await?.attestation;
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
        let info = match self.checked().await?.worker(worker).await {
            Err(e) if e.is_not_found() => {
                return Err(Error::UntrustedWorker {
                    worker: worker.to_string(),
                    reason: "it is not registered on the chain".into(),
                });
            }
            other => other?,
        };
        let report = check_worker(&policy, worker, &info, self.now_ms() / 1000)?;
        Ok((info, report))
    }

    /// What a `fat dev` node says about its workers.
    pub async fn dev_workers(&self) -> Result<DevWorkers> {
        match self.checked().await?.dev_workers().await {
            Err(e) if e.is_not_found() => Err(Error::NoWorkers {
                url: self.chain.url().into(),
            }),
            other => Ok(other?),
        }
    }

    /// The worker queries go to, checked against the chain's policy: the one given, or the
    /// node's first dev worker. Checked once per client.
    pub async fn trusted_worker(&self) -> Result<TrustedWorker> {
        self.trusted_worker_for(None).await
    }

    /// The worker that answers for contracts of `cluster` (any worker without one): the
    /// first of [`Client::trusted_workers_for`].
    pub async fn trusted_worker_for(&self, cluster: Option<ClusterId>) -> Result<TrustedWorker> {
        Ok(self
            .trusted_workers_for(cluster)
            .await?
            .into_iter()
            .next()
            .expect("trusted_workers_for returns at least one worker"))
    }

    /// The workers that answer for contracts of `cluster`, in the order a client tries them,
    /// each checked against the chain's policy: the one given with [`Client::with_worker`];
    /// else, for a cluster, its members in the registry's order, each reached under the
    /// node's dev prefix when the node serves it, else at the endpoint its operator
    /// registered (members with neither are skipped); without a cluster, the node's first dev
    /// worker. Never empty. Read once per cluster and client.
    pub async fn trusted_workers_for(
        &self,
        cluster: Option<ClusterId>,
    ) -> Result<Vec<TrustedWorker>> {
        if let Some(workers) = self.cache().workers.get(&cluster) {
            return Ok(workers.clone());
        }
        let mut reachable: Vec<(Http, WorkerId)> = Vec::new();
        if let Some(api) = &self.worker {
            reachable.push((api.http().clone(), api.status().await?.worker));
        } else {
            let dev = match self.dev_workers().await {
                Ok(info) => info.workers,
                Err(Error::NoWorkers { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            match &cluster {
                None => {
                    let first = dev.first().ok_or_else(|| Error::NoWorkers {
                        url: self.chain.url().into(),
                    })?;
                    reachable.push((self.chain.http().join(&first.path), first.id));
                }
                Some(cluster) => {
                    let chain = self.checked().await?;
                    for member in chain.cluster(cluster).await?.workers {
                        if let Some(w) = dev.iter().find(|w| w.id == member) {
                            reachable.push((self.chain.http().join(&w.path), member));
                        } else if let Some(endpoint) =
                            not_found_as_none(chain.worker(&member).await)?.and_then(|i| i.endpoint)
                        {
                            match Http::new(&endpoint) {
                                Ok(http) => reachable.push((http, member)),
                                Err(e) => {
                                    tracing::warn!(worker = %member, %endpoint, error = %e, "skipping a member whose endpoint is not a URL")
                                }
                            }
                        }
                    }
                    if reachable.is_empty() {
                        return Err(Error::NoClusterWorker {
                            url: self.chain.url().into(),
                            cluster: cluster.to_string(),
                        });
                    }
                }
            }
        }
        let mut workers = Vec::with_capacity(reachable.len());
        for (http, id) in reachable {
            let (info, report) = self.verify_worker(&id).await?;
            workers.push(TrustedWorker {
                http,
                id,
                ecdh_public: info.ecdh_public,
                report: report.to_string(),
                insecure: report.is_insecure(),
            });
        }
        self.cache().workers.insert(cluster, workers.clone());
        Ok(workers)
    }

    /// Check `public`, the key a chain node gave for `subject`, with the attested members of
    /// `cluster` (in the order tried): the first that answers must have signed the same
    /// key ([`fat_proto::worker::KeyConfirmation`]). A member that is down, does not hold
    /// the key yet, or answers unsigned is skipped for the next. Remembered per client.
    pub(crate) async fn confirm_key(
        &self,
        cluster: ClusterId,
        subject: ConfirmSubject,
        public: Hash32,
    ) -> Result<()> {
        let (what, id, path) = match subject {
            ConfirmSubject::Cluster => (
                format!("cluster {cluster}"),
                cluster.0,
                fat_proto::paths::worker::cluster_key(&cluster),
            ),
            ConfirmSubject::Contract(contract) => (
                format!("contract {contract}"),
                contract.0,
                fat_proto::paths::worker::contract_key(&contract),
            ),
        };
        if self.cache().confirmed.get(&id) == Some(&public) {
            return Ok(());
        }
        let mut why = Vec::new();
        for worker in self.trusted_workers_for(Some(cluster)).await? {
            let answer: fat_proto::worker::KeyConfirmation = match worker.http.get_json(&path).await
            {
                Ok(answer) => answer,
                Err(e) => {
                    why.push(format!("worker {}: {e}", worker.id));
                    continue;
                }
            };
            if answer.worker != worker.id || answer.subject.id() != id {
                why.push(format!(
                    "worker {} answered for another worker or key",
                    worker.id
                ));
                continue;
            }
            if let Err(e) = answer.verify() {
                why.push(e);
                continue;
            }
            if answer.public_key != public {
                return Err(Error::KeyNotConfirmed {
                    what,
                    reason: format!(
                        "worker {} derives {}, the node gave {public}",
                        worker.id, answer.public_key
                    ),
                });
            }
            self.cache().confirmed.insert(id, public);
            return Ok(());
        }
        Err(Error::KeyNotConfirmed {
            what,
            reason: format!("no member answered ({})", why.join("; ")),
        })
    }

    /// The cluster `contract` runs in (read once per contract and client).
    pub async fn cluster_of(&self, contract: &ContractId) -> Result<ClusterId> {
        if let Some(cluster) = self.cache().clusters.get(contract) {
            return Ok(*cluster);
        }
        let cluster = self.checked().await?.contract(contract).await?.cluster;
        self.cache().clusters.insert(*contract, cluster);
        Ok(cluster)
    }

    /// The worker that answers for `contract` (see [`Client::trusted_worker_for`]).
    pub async fn worker_for_contract(&self, contract: &ContractId) -> Result<TrustedWorker> {
        let cluster = self.cluster_of(contract).await?;
        self.trusted_worker_for(Some(cluster)).await
    }

    /// The workers that answer for `contract`, in the order tried (see
    /// [`Client::trusted_workers_for`]).
    pub async fn workers_for_contract(&self, contract: &ContractId) -> Result<Vec<TrustedWorker>> {
        let cluster = self.cluster_of(contract).await?;
        self.trusted_workers_for(Some(cluster)).await
    }

    /// Every cluster, with its members and contract count (`GET /v1/clusters`).
    pub async fn clusters(&self) -> Result<ClustersView> {
        Ok(self.checked().await?.clusters().await?)
    }

    /// Where a new contract goes when no cluster is named: [`ClustersView::placement`].
    pub async fn placement(&self, deployer: &AccountId) -> Result<ClusterId> {
        self.clusters()
            .await?
            .placement(deployer)
            .map(|c| c.info.id)
            .ok_or_else(|| Error::NoCluster {
                url: self.chain.url().into(),
            })
    }

    /// The API of the worker queries go to (see [`Client::trusted_worker`]).
    pub async fn worker(&self) -> Result<Http> {
        Ok(self.trusted_worker().await?.http)
    }

    /// The dev cluster (from `GET /workers`).
    pub async fn dev_cluster(&self) -> Result<ClusterId> {
        self.dev_workers()
            .await?
            .cluster
            .ok_or_else(|| Error::NoWorkers {
                url: self.chain.url().into(),
            })
    }

    /// An account's balance and nonces.
    pub async fn account(&self, account: &AccountId) -> Result<AccountView> {
        Ok(self.checked().await?.account(account).await?)
    }

    /// Sign `kind` with `key`'s next nonce and submit it. With `wait`, return once it is
    /// committed, and fail if its outcome is a failure.
    pub async fn submit(&self, key: &Keypair, kind: TxKind, wait: bool) -> Result<SubmitAnswer> {
        self.submit_with(key, |_| Ok(kind), wait).await
    }

    /// [`Client::submit`] with the kind built from the nonce the transaction will carry (a
    /// sealed command names it).
    pub async fn submit_with(
        &self,
        key: &Keypair,
        kind: impl FnOnce(u64) -> Result<TxKind>,
        wait: bool,
    ) -> Result<SubmitAnswer> {
        let nonce = self.account(&key.account_id()).await?.next_nonce;
        let params = self.params().await?;
        // The fee grows with the bytes and the gas asked: the minimum when it is more.
        let tx = key.sign_tx(params.priced(Transaction {
            chain: self.chain_id().await?,
            signer: key.account_id(),
            nonce,
            fee: DEFAULT_FEE,
            kind: kind(nonce)?,
        }));
        if wait {
            Ok(self.chain.submit_committed(&tx).await?)
        } else {
            Ok(self.chain.submit(&tx, false).await?)
        }
    }

    /// The receipt a worker signed for `tx`, once the worker has applied block `height`.
    ///
    /// The receipt must be signed by that (attested) worker, for transaction `tx`: anything
    /// else is [`Error::UntrustedWorker`].
    pub async fn receipt(&self, tx: &TxId, height: u64) -> Result<ReceiptView> {
        self.receipt_in(None, tx, height).await
    }

    /// [`Client::receipt`] from the worker that answers for `cluster` (see
    /// [`Client::trusted_worker_for`]): a transaction to a contract is executed only by the
    /// workers of the contract's cluster.
    pub async fn receipt_in(
        &self,
        cluster: Option<ClusterId>,
        tx: &TxId,
        height: u64,
    ) -> Result<ReceiptView> {
        let workers = self.trusted_workers_for(cluster).await?;
        ask_members(
            workers,
            |worker| async move { self.receipt_from(&worker, tx, height).await },
            unreachable,
        )
        .await
    }

    /// [`Client::receipt`] from one worker.
    pub(crate) async fn receipt_from(
        &self,
        trusted: &TrustedWorker,
        tx: &TxId,
        height: u64,
    ) -> Result<ReceiptView> {
        self.wait_for_height(trusted, height).await?;
        let view = trusted.api().receipt(tx, height).await?;
        receipt::check_signed(&trusted.id, tx, height, &view)?;
        Ok(view)
    }

    /// Wait (at most [`WAIT`]) until `trusted` has applied block `height`.
    pub(crate) async fn wait_for_height(&self, trusted: &TrustedWorker, height: u64) -> Result<()> {
        let worker = trusted.api();
        let start = Instant::now();
        loop {
            if worker.status().await?.height.is_some_and(|h| h >= height) {
                return Ok(());
            }
            if start.elapsed() > WAIT {
                return Err(fat_proto::Error::Timeout {
                    what: format!("worker {} to reach block {height}", worker.url()),
                    seconds: WAIT.as_secs(),
                }
                .into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Ask `workers` in turn: `ask` runs against each, and an error `next` accepts (the member is
/// down, busy, stuck, ...) moves on to the next member; any other result is the answer. When
/// every member was tried, the last error. `workers` is never empty
/// ([`Client::trusted_workers_for`]).
pub(crate) async fn ask_members<T, F, Fut>(
    workers: Vec<TrustedWorker>,
    mut ask: F,
    next: impl Fn(&Error) -> bool,
) -> Result<T>
where
    F: FnMut(TrustedWorker) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut failure = None;
    for worker in workers {
        let id = worker.id;
        match ask(worker).await {
            Err(e) if next(&e) => {
                tracing::warn!(worker = %id, error = %e, "a member did not answer; trying the next");
                failure = Some(e);
            }
            other => return other,
        }
    }
    Err(failure.expect("at least one worker was tried"))
}

/// Whether `e` says a worker is down, overloaded or stuck (so another member may answer)
/// rather than answering: nothing listens, the connection broke, it timed out, or it said
/// 502, 503 (busy) or 504.
pub(crate) fn unreachable(e: &Error) -> bool {
    match e {
        Error::Proto(
            fat_proto::Error::NoNode { .. }
            | fat_proto::Error::Transport { .. }
            | fat_proto::Error::Timeout { .. },
        ) => true,
        Error::Proto(e) => matches!(e.status(), Some(502..=504)),
        _ => false,
    }
}

/// The committed block of an answer waited for (`0` if the node did not say).
fn committed_height(answer: &SubmitAnswer) -> u64 {
    debug_assert_eq!(answer.status, TxStatus::Committed);
    answer.height.unwrap_or_default()
}

fn randomness() -> Result<SealRandomness> {
    SealRandomness::generate().map_err(|source| Error::Envelope {
        what: "cannot seal".into(),
        source,
    })
}
