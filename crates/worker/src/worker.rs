//! The worker handle: how it is set up, how it opens its store and keys, and what it shows.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fat_attestation::seal::{DevSealer, Sealer};
use fat_crypto::Keypair;
use fat_crypto::envelope::{ReplayGuard, ReplyNonces};
use fat_proto::windows::ENVELOPE_WINDOW_MS;
use fat_runtime::{HttpNetwork, MemoryCache, Runtime, RuntimeConfig};

pub use crate::sync::SnapshotFault;
use fat_types::{BlockHeader, Clock, Hash32, SystemClock};
use tokio::sync::watch;

use crate::admission::Admission;
use crate::error::{Result, WorkerError};
use crate::keys::{Keyring, WorkerSecrets, unseal_cluster_key};
use crate::sessions::Sessions;
use crate::shared::{Inner, Unflushed};
use crate::store::{Snapshot, Store};

/// How many nonces of sealed envelopes (queries and jobs) the replay guard remembers at
/// most, by default. A session's further queries are numbered and admitted by the session's
/// own window, not remembered here.
pub const REPLAY_CAPACITY: usize = 1 << 20;
/// How many of the replay guard's nonces one sender (account) may hold at once, by default:
/// a sixteenth of [`REPLAY_CAPACITY`], some 200 sealed envelopes a second for the five
/// minutes a nonce is remembered. One account cannot fill the guard for everyone.
pub const REPLAY_SENDER_QUOTA: usize = REPLAY_CAPACITY / 16;
/// How many of the replay guard's nonces the envelopes of one query session (a client may
/// seal several under one) may hold at once, by default: a quarter of a sender's quota.
pub const REPLAY_SESSION_QUOTA: usize = REPLAY_SENDER_QUOTA / 4;
/// How many query sessions a worker keeps at most, by default.
pub const MAX_SESSIONS: usize = 1 << 16;
/// How many of them one caller (the account that signed their envelopes) may hold, by
/// default: a sixteenth, so that one account cannot take every place.
pub const MAX_SESSIONS_PER_CALLER: usize = MAX_SESSIONS / 16;

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
    /// The worker's clock: envelope freshness and the time queries see.
    pub clock: Arc<dyn Clock>,
    /// Jobs this worker runs at once, and how many of one query's jobs it gives each other
    /// member of the cluster at once.
    pub job_slots: usize,
    /// Test-only fault injection: return a wrong (but signed) output for every job another
    /// worker sends, so that tests can show replication catching it. Never set it otherwise.
    pub corrupt_jobs: bool,
    /// Test-only fault injection: tamper with the state this worker sends a member joining
    /// its cluster, so that tests can show the joiner refusing it. Never set it otherwise.
    pub corrupt_snapshots: Option<SnapshotFault>,
    /// Query sessions kept at most ([`MAX_SESSIONS`] by default); beyond, a sealed query is
    /// still answered but opens no session.
    pub max_sessions: usize,
    /// Query sessions one caller may hold ([`MAX_SESSIONS_PER_CALLER`] by default); beyond,
    /// its sealed queries are still answered but open no session.
    pub max_sessions_per_caller: usize,
    /// Envelope nonces the replay guard remembers at most ([`REPLAY_CAPACITY`] by default);
    /// beyond, new sealed queries are refused until old nonces leave the freshness window.
    /// A session's further queries take none.
    pub replay_capacity: usize,
    /// Nonces one sender may hold in the replay guard ([`REPLAY_SENDER_QUOTA`] by default);
    /// beyond, its sealed queries are refused (429 `over_quota`) while other senders' pass.
    pub replay_sender_quota: usize,
    /// Nonces the envelopes of one query session may hold in the replay guard
    /// ([`REPLAY_SESSION_QUOTA`] by default); beyond, its envelopes are refused (429
    /// `over_quota`).
    pub replay_session_quota: usize,
    /// The network contracts' outbound requests are resolved and connected through, still
    /// under the runtime's address policy; `None` is the system's. Tests give one with no
    /// route off the machine.
    pub network: Option<Arc<dyn HttpNetwork>>,
}

impl WorkerConfig {
    /// A configuration with default limits: as many concurrent queries as cores (at least
    /// two), and a queue of 256; as many job slots as cores; the identity `key`, or a new one when `None`; the system
    /// clock.
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
            clock: Arc::new(SystemClock),
            job_slots: cores.max(1),
            corrupt_jobs: false,
            corrupt_snapshots: None,
            max_sessions: MAX_SESSIONS,
            max_sessions_per_caller: MAX_SESSIONS_PER_CALLER,
            replay_capacity: REPLAY_CAPACITY,
            replay_sender_quota: REPLAY_SENDER_QUOTA,
            replay_session_quota: REPLAY_SESSION_QUOTA,
            network: None,
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

impl Worker {
    /// Open the worker's store and runtime.
    pub fn open(config: WorkerConfig) -> Result<Self> {
        fat_types::private_fs::create_private_dir(&config.data_dir).map_err(|source| {
            WorkerError::DataDir {
                path: config.data_dir.clone(),
                source,
            }
        })?;
        let secrets = WorkerSecrets::load_or_create(
            &config.data_dir,
            config.sealer.as_ref(),
            config.key.as_ref(),
        )?;
        let keyring = Arc::new(Keyring::default());
        let store = Store::open(
            &config.data_dir,
            keyring.clone(),
            crate::seal::StoreSeal::derive(&secrets.identity),
        )?;
        for (cluster, sealed) in store.snapshot()?.sealed_cluster_keys()? {
            let key = unseal_cluster_key(config.sealer.as_ref(), &cluster, &sealed)?;
            keyring.add_cluster(cluster, key);
        }
        store.check_state()?;
        let head = store.snapshot()?.started_head()?;
        let started_ms = config.clock.now_ms();
        let mut runtime = Runtime::with_clock(config.runtime, config.clock.clone())?;
        if let Some(network) = config.network {
            runtime = runtime.with_network(network);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                key: secrets.identity.clone(),
                secrets,
                keyring,
                agreements: Default::default(),
                sealer: config.sealer,
                clock: config.clock,
                replay: Mutex::new(
                    ReplayGuard::new(ENVELOPE_WINDOW_MS, config.replay_capacity)
                        .with_quotas(config.replay_sender_quota, config.replay_session_quota),
                ),
                sessions: Mutex::new(Sessions::new(
                    config.max_sessions,
                    config.max_sessions_per_caller,
                )),
                reply_nonces: ReplyNonces::new()
                    .map_err(|e| WorkerError::Keys(format!("reply nonces: {e}")))?,
                started_ms,
                latest_ms: AtomicU64::new(started_ms),
                unflushed: Mutex::new(Unflushed::default()),
                flushing: tokio::sync::Mutex::new(()),
                plaintext_queries: config.plaintext_queries,
                cache: Arc::new(MemoryCache::default()),
                head: watch::channel(head).0,
                admission: Admission::new(config.query_concurrency, config.query_queue),
                closing: watch::channel(false).0,
                genesis: config.genesis,
                params: Mutex::new(Default::default()),
                chain: Mutex::new(None),
                members: Default::default(),
                job_slots: config.job_slots.max(1),
                job_admission: Admission::new(config.job_slots.max(1), config.query_queue),
                corrupt_jobs: config.corrupt_jobs,
                corrupt_snapshots: config.corrupt_snapshots,
                snapshot_slot: tokio::sync::Semaphore::new(1),
                sync_retry: Mutex::new(None),
                maybe_sync: std::sync::atomic::AtomicBool::new(true),
                progress: Default::default(),
            }),
        })
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

    /// How many queries are admitted now (running or waiting for a slot).
    pub fn queries_admitted(&self) -> usize {
        self.inner.admission.admitted()
    }

    /// Watch whether the API's open streams should end (see [`Worker::close_streams`]).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
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

    /// Milliseconds since the Unix epoch, by the worker's clock, never less than it read
    /// before: a clock stepped back would make envelopes already judged stale fresh again
    /// (and the messages of sessions forgotten as stale).
    pub(crate) fn now_ms(&self) -> u64 {
        let now = self.inner.clock.now_ms();
        self.inner
            .latest_ms
            .fetch_max(now, Ordering::Relaxed)
            .max(now)
    }
}
