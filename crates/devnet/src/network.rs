//! [`Devnet`]: a chain node, the dev gatekeeper and workers in one process, served on one
//! address and stopped with one signal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use fat_attestation::seal::DevSealer;
use fat_chain::Node;
use fat_gatekeeper::{Gatekeeper, GatekeeperConfig};
use fat_proto::chain::{DevWorker, DevWorkers};
use fat_proto::{ChainApi, not_found_as_none, paths};
use fat_runtime::{HttpPolicy, RuntimeConfig};
use fat_types::{Clock, ClusterId, SystemClock, WorkerId};
use fat_worker::{Worker, WorkerConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bootstrap::{
    create_dev_cluster_noting, register_dev_workers, set_dev_endpoints, wait_for_cluster_key,
};
use crate::chain::{GRACE, listen, open_dev_node, produce, production_ended};
use crate::cluster_file::{Known, clusters_text, read_clusters, write_cluster};
use crate::shutdown::{Shutdown, Tasks, join, serve};
use crate::worker::RunningWorker;
use crate::{DevnetError, Result};

/// How long the gatekeeper may take to provision the dev cluster.
const PROVISION_TIMEOUT: Duration = Duration::from_secs(60);

/// How long each worker may take to catch up with the chain at start.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(600);

/// How to build a [`Devnet`]; from [`Devnet::builder`].
pub struct DevnetBuilder {
    data_dir: PathBuf,
    workers: usize,
    block_time: Duration,
    allow_local_http: bool,
    rpc: SocketAddr,
    clock: Arc<dyn Clock>,
    gatekeeper: bool,
    bootstrap: bool,
    shutdown: Shutdown,
    validators: usize,
    clusters: usize,
}

impl DevnetBuilder {
    /// How many dev clusters the workers are spread over (1 by default): worker `i` joins
    /// cluster `i % k`. Between 1 and the number of workers.
    pub fn clusters(mut self, k: usize) -> Self {
        self.clusters = k;
        self
    }

    /// How many validators order the chain (1 by default: the dev sequencer). With more, each
    /// runs commonware's simplex engine in this process, over loopback p2p, on its own data
    /// directory (`chain/` for validator 0, whose API is served, `chain-{i}/` for the others).
    pub fn validators(mut self, n: usize) -> Self {
        self.validators = n.max(1);
        self
    }

    /// How many workers run (1 by default); the dev cluster is made of all of them.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// The least time between blocks (zero, the default: a block as soon as there is work).
    pub fn block_time(mut self, block_time: Duration) -> Self {
        self.block_time = block_time;
        self
    }

    /// Let contracts' queries reach loopback and private addresses (off by default).
    pub fn allow_local_http(mut self, allow: bool) -> Self {
        self.allow_local_http = allow;
        self
    }

    /// The address the API listens on (a free loopback port by default).
    pub fn rpc(mut self, addr: SocketAddr) -> Self {
        self.rpc = addr;
        self
    }

    /// The network's clock: the chain's and every worker's (the system's by default).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether the dev gatekeeper runs (it does by default; without it no key is provisioned,
    /// so the dev cluster cannot be bootstrapped either).
    pub fn gatekeeper(mut self, run: bool) -> Self {
        self.gatekeeper = run;
        self
    }

    /// Whether [`DevnetBuilder::build`] registers the workers, creates the dev cluster (or
    /// adopts the one the data directory names) and waits for its key (it does by default).
    /// Without it, a network of workers that only follow, or of none, to bootstrap by hand.
    pub fn bootstrap(mut self, bootstrap: bool) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    /// Stop the network with this signal instead of a new one: firing it while
    /// [`DevnetBuilder::build`] runs stops what was started and ends the build with
    /// [`DevnetError::Interrupted`].
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Open the chain (in `chain/`), the gatekeeper (`gatekeeper/`) and the workers
    /// (`worker-{i}/`) in the data directory; serve the chain's API at the root with worker
    /// `i`'s nested under [`paths::dev::worker_prefix`] and `GET /workers`; start the
    /// sequencer, the gatekeeper and the workers' followers; bootstrap the dev cluster; and
    /// return once every worker has caught up with the chain.
    pub async fn build(self) -> Result<Devnet> {
        let known = if self.bootstrap {
            if self.workers == 0 {
                return Err(DevnetError::NoWorkers);
            }
            if self.clusters == 0 || self.clusters > self.workers {
                return Err(DevnetError::Clusters {
                    clusters: self.clusters,
                    workers: self.workers,
                });
            }
            let known = read_clusters(&self.data_dir)?;
            let created: usize = known.iter().map(Known::workers).sum();
            if !known.is_empty() && created != self.workers {
                return Err(DevnetError::WorkerCount {
                    dir: self.data_dir.clone(),
                    created,
                });
            }
            if !known.is_empty() && known.len() != self.clusters {
                return Err(DevnetError::ClusterCount {
                    dir: self.data_dir.clone(),
                    created: known.len(),
                });
            }
            known
        } else {
            Vec::new()
        };
        let (node, validators) = if self.validators > 1 {
            let (nodes, validators) =
                crate::chain::open_dev_validators(&self.data_dir, self.validators, &self.clock)?;
            (nodes, validators)
        } else {
            let node = open_dev_node(self.data_dir.join("chain"), self.clock.clone())?;
            (node, Vec::new())
        };
        let gatekeeper = match self.gatekeeper {
            true => Some(Arc::new(
                Gatekeeper::open(GatekeeperConfig {
                    data_dir: self.data_dir.join("gatekeeper"),
                    key: fat_crypto::dev_keypair(fat_chain::genesis::DEV_GATEKEEPER),
                    sealer: Arc::new(DevSealer),
                    policy: fat_attestation::dev_chain_policy(),
                })
                .map_err(|e| DevnetError::Open {
                    what: "the gatekeeper".into(),
                    source: Box::new(e),
                })?,
            )),
            false => None,
        };
        let mut workers = Vec::new();
        for i in 0..self.workers {
            let mut config = WorkerConfig::new(self.data_dir.join(format!("worker-{i}")), None);
            config.genesis = Some(node.genesis_hash());
            config.clock = self.clock.clone();
            if self.allow_local_http {
                config.runtime = RuntimeConfig {
                    http_policy: HttpPolicy::allow_local(),
                    ..RuntimeConfig::default()
                };
            }
            let worker = Worker::open(config).map_err(|e| DevnetError::Open {
                what: format!("worker {i}"),
                source: Box::new(e),
            })?;
            workers.push(worker);
        }

        let (listener, url) = listen(self.rpc).await?;
        let shutdown = self.shutdown;
        let created = match known.first() {
            Some(Known::Created(cluster, _)) => Some(*cluster),
            _ => None,
        };
        let (announce, announced) = watch::channel(created);
        let app = dev_app(&node, &workers, announced);
        let mut tasks = Tasks::default();
        tasks.add("RPC server", serve(listener, app, &shutdown));
        let producing = validators
            .is_empty()
            .then(|| produce(&node, self.block_time, &shutdown));
        if let Some(gatekeeper) = &gatekeeper {
            let (gatekeeper, url, stop) = (gatekeeper.clone(), url.clone(), shutdown.wait());
            tasks.spawn(
                "gatekeeper",
                async move { gatekeeper.run(&url, stop).await },
            );
        }
        let running = workers
            .iter()
            .map(|worker| Some(RunningWorker::start(worker.clone(), &url, None, &shutdown)))
            .collect();
        let mut devnet = Devnet {
            url,
            data_dir: self.data_dir,
            node,
            gatekeeper,
            workers,
            running,
            cluster: created,
            clusters: Vec::new(),
            shutdown,
            producing,
            validators,
            tasks,
        };
        if !self.bootstrap {
            return Ok(devnet);
        }
        let stop = devnet.shutdown.wait();
        let ready = tokio::select! {
            biased;
            () = stop => Err(DevnetError::Interrupted),
            ready = devnet.bootstrap(known, self.clusters, &announce) => ready,
        };
        // A step that failed because the signal stopped the node under it was interrupted.
        let ready = match ready {
            Err(_) if devnet.shutdown.is_triggered() => Err(DevnetError::Interrupted),
            other => other,
        };
        match ready {
            Ok(clusters) => {
                devnet.cluster = clusters.first().copied();
                devnet.clusters = clusters;
                Ok(devnet)
            }
            Err(e) => {
                for failure in devnet.shut().await {
                    tracing::warn!(%failure, "the dev network stopped uncleanly");
                }
                Err(e)
            }
        }
    }
}

/// The chain's API with each worker's nested under its prefix, and `GET /workers` naming
/// them and the cluster `announced`.
fn dev_app(
    node: &Node,
    workers: &[Worker],
    announced: watch::Receiver<Option<ClusterId>>,
) -> axum::Router {
    let ids: Vec<_> = workers.iter().map(Worker::id).collect();
    let mut app = fat_chain::rpc::app(node.clone()).route(
        paths::dev::WORKERS,
        get(move || {
            let cluster = *announced.borrow();
            let workers: Vec<_> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| DevWorker {
                    id: *id,
                    path: paths::dev::worker_prefix(i),
                })
                .collect();
            async move { Json(DevWorkers { cluster, workers }) }
        }),
    );
    for (i, worker) in workers.iter().enumerate() {
        app = app.nest(
            &paths::dev::worker_prefix(i),
            fat_worker::api::app(worker.clone()),
        );
    }
    app
}

/// A running dev network; from [`Devnet::builder`]. Stop it with [`Devnet::stop`] (dropping
/// it stops every task too, without waiting for them).
pub struct Devnet {
    url: String,
    data_dir: PathBuf,
    node: Node,
    gatekeeper: Option<Arc<Gatekeeper>>,
    workers: Vec<Worker>,
    running: Vec<Option<RunningWorker>>,
    cluster: Option<ClusterId>,
    clusters: Vec<ClusterId>,
    shutdown: Shutdown,
    producing: Option<JoinHandle<fat_chain::Result<()>>>,
    validators: Vec<fat_consensus::simplex::RunningValidator>,
    tasks: Tasks,
}

impl Devnet {
    /// A network whose stores live in `data_dir`: by default one worker, a block as soon as
    /// there is work, the system clock, a free loopback port, the dev gatekeeper and the dev
    /// cluster bootstrapped.
    pub fn builder(data_dir: impl Into<PathBuf>) -> DevnetBuilder {
        DevnetBuilder {
            data_dir: data_dir.into(),
            workers: 1,
            block_time: Duration::ZERO,
            allow_local_http: false,
            rpc: SocketAddr::from(([127, 0, 0, 1], 0)),
            clock: Arc::new(SystemClock),
            gatekeeper: true,
            bootstrap: true,
            shutdown: Shutdown::new(),
            validators: 1,
            clusters: 1,
        }
    }

    /// The API's URL: the chain's at the root.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client of the chain's API.
    pub fn chain(&self) -> ChainApi {
        ChainApi::new(&self.url).expect("the network's own URL is valid")
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The chain node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The dev gatekeeper, unless built without one.
    pub fn gatekeeper(&self) -> Option<&Arc<Gatekeeper>> {
        self.gatekeeper.as_ref()
    }

    /// The workers, worker `i` at index `i`.
    pub fn workers(&self) -> &[Worker] {
        &self.workers
    }

    /// The URL of worker `i`'s API.
    pub fn worker_url(&self, i: usize) -> String {
        format!("{}{}", self.url, paths::dev::worker_prefix(i))
    }

    /// The dev cluster (the first, when there are several), once bootstrapped (or adopted).
    pub fn cluster(&self) -> Option<ClusterId> {
        self.cluster
    }

    /// Every dev cluster, in order: worker `i` is a member of cluster `i % k`.
    pub fn clusters(&self) -> &[ClusterId] {
        &self.clusters
    }

    /// The network's stop signal.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Stop worker `i` following the chain (its API still answers from what it applied);
    /// an error if following had failed.
    pub async fn pause_worker(&mut self, i: usize) -> Result<()> {
        match self.running.get_mut(i).and_then(Option::take) {
            Some(running) => running.pause().await.map(drop),
            None => Ok(()),
        }
    }

    /// Let worker `i` follow the chain again after [`Devnet::pause_worker`].
    pub fn resume_worker(&mut self, i: usize) {
        if let Some(slot @ None) = self.running.get_mut(i) {
            let worker = self.workers[i].clone();
            *slot = Some(RunningWorker::start(
                worker,
                &self.url,
                None,
                &self.shutdown,
            ));
        }
    }

    /// Wait until every worker has applied the chain's tip, for at most `timeout` each.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<()> {
        let tip = self.node.tip().height;
        for worker in &self.workers {
            if !worker.wait_for_height(tip, timeout).await {
                return Err(DevnetError::CatchUp(worker.id()));
            }
        }
        Ok(())
    }

    /// Wait until the stop signal fires (`Ok`) or the sequencer stops making blocks by itself
    /// (its error).
    pub async fn until_stopped(&mut self) -> Result<()> {
        let Some(producing) = &mut self.producing else {
            self.shutdown.wait().await;
            return Ok(());
        };
        tokio::select! {
            () = self.shutdown.wait() => Ok(()),
            ended = production_ended(producing) => {
                self.producing = None;
                ended
            }
        }
    }

    /// Fire the stop signal and join every task: the workers' followers, the gatekeeper, the
    /// API server and the sequencer. An error lists the tasks that failed, panicked or did
    /// not stop within a few seconds (those are aborted).
    pub async fn stop(mut self) -> Result<()> {
        let failures = self.shut().await;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(DevnetError::Stopped(failures))
        }
    }

    async fn shut(&mut self) -> Vec<crate::TaskFailure> {
        for worker in &self.workers {
            worker.close_streams();
        }
        self.shutdown.trigger();
        let mut failures = Vec::new();
        for running in self.running.iter_mut().filter_map(Option::take) {
            failures.extend(running.finish(Some(GRACE)).await.1);
        }
        failures.extend(self.tasks.join(GRACE).await);
        if let Some(producing) = self.producing.take() {
            failures.extend(join("sequencer", producing, GRACE).await);
        }
        for validator in std::mem::take(&mut self.validators) {
            if let Err(e) = tokio::task::spawn_blocking(move || validator.stop()).await {
                failures.push(crate::TaskFailure {
                    task: "validator".into(),
                    error: e.to_string(),
                });
            }
        }
        failures
    }

    /// Create the `k` dev clusters (worker `i` in cluster `i % k`), or adopt those `known`
    /// names; wait for their keys and for the workers to catch up.
    async fn bootstrap(
        &self,
        mut known: Vec<Known>,
        k: usize,
        announce: &watch::Sender<Option<ClusterId>>,
    ) -> Result<Vec<ClusterId>> {
        let client = self.chain();
        let note = |known: &[Known]| write_cluster(&self.data_dir, &clusters_text(known));
        // Every worker first, before any cluster exists for the gatekeeper to act on.
        register_dev_workers(&client, &self.workers)
            .await
            .map_err(|e| DevnetError::CreateCluster(Box::new(e)))?;
        let endpoints: Vec<(WorkerId, String)> = (self.workers.iter().enumerate())
            .map(|(i, w)| (w.id(), self.worker_url(i)))
            .collect();
        set_dev_endpoints(&client, &endpoints)
            .await
            .map_err(|e| DevnetError::CreateCluster(Box::new(e)))?;
        let mut clusters = Vec::with_capacity(k);
        for j in 0..k {
            let members: Vec<Worker> = self
                .workers
                .iter()
                .enumerate()
                .filter(|(i, _)| i % k == j)
                .map(|(_, w)| w.clone())
                .collect();
            let n = members.len();
            let cluster = match known.get(j).copied() {
                Some(Known::Created(cluster, _)) => cluster,
                // A start interrupted after it created the cluster: adopt it.
                Some(Known::Pending(cluster, _))
                    if not_found_as_none(client.cluster(&cluster).await)?.is_some() =>
                {
                    cluster
                }
                _ => {
                    known.truncate(j);
                    create_dev_cluster_noting(&client, &members, |cluster| {
                        let mut pending = known.clone();
                        pending.push(Known::Pending(cluster, n));
                        note(&pending)
                    })
                    .await
                    .map_err(|e| DevnetError::CreateCluster(Box::new(e)))?
                }
            };
            if known.len() > j {
                known[j] = Known::Created(cluster, n);
            } else {
                known.push(Known::Created(cluster, n));
            }
            note(&known).map_err(DevnetError::WriteClusterFile)?;
            if j == 0 {
                announce.send_replace(Some(cluster));
            }
            clusters.push(cluster);
        }
        for cluster in &clusters {
            wait_for_cluster_key(&client, cluster, PROVISION_TIMEOUT)
                .await
                .map_err(|e| DevnetError::NotProvisioned(Box::new(e)))?;
        }
        self.wait_caught_up(CATCH_UP_TIMEOUT).await?;
        Ok(clusters)
    }
}
