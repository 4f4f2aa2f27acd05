//! `fat dev`: a chain node, the dev gatekeeper and N workers in one process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Json;
use axum::routing::get;
use clap::Args;
use fat_attestation::seal::DevSealer;
use fat_chain::{Consensus, Node, NodeConfig, Sequencer, SystemClock};
use fat_devnet::bootstrap::{create_dev_cluster_noting, wait_for_cluster_key};
use fat_gatekeeper::{Gatekeeper, GatekeeperConfig};
use fat_proto::chain::{DevWorker, DevWorkers};
use fat_proto::{ChainApi, not_found_as_none, paths};
use fat_runtime::{HttpPolicy, RuntimeConfig};
use fat_types::ClusterId;
use fat_worker::{Worker, WorkerConfig};
use tokio::sync::watch;

/// Run a chain node, the dev gatekeeper and workers in one process.
///
/// Prints `ready <rpc-url>` on stdout once it serves; stops on Ctrl-C; a restart with the same
/// data directory resumes.
///
/// The chain's API is at the root of the URL; worker `i`'s API is under `/workers/{i}`, and
/// `GET /workers` names the dev cluster and its workers.
#[derive(Debug, Args)]
pub struct DevCommand {
    /// Where the chain and each worker keep their stores; the same directory resumes.
    #[arg(long, value_name = "DIR", default_value = ".fat/dev")]
    data_dir: PathBuf,
    /// The address the HTTP API listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8545")]
    rpc: SocketAddr,
    /// How many workers run the dev cluster.
    #[arg(long, value_name = "N", default_value_t = 1)]
    workers: usize,
    /// The least time between blocks in milliseconds; 0 makes a block as soon as there is work.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    block_time: u64,
    /// Let contracts' queries reach loopback and private addresses (for local test services).
    #[arg(long)]
    allow_local_http: bool,
}

/// The file in the data directory that names the dev cluster once it is created.
const CLUSTER_FILE: &str = "dev-cluster";

/// What the data directory says of the dev cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Created, with this many workers.
    Created(ClusterId, usize),
    /// About to be created by a start that may have been interrupted.
    Pending(ClusterId, usize),
}

fn read_cluster(dir: &Path) -> anyhow::Result<Option<Known>> {
    let path = dir.join(CLUSTER_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let bad = || format!("{} is not `[pending] <cluster> <workers>`", path.display());
    let known = match words.as_slice() {
        ["pending", id, n] => {
            Known::Pending(id.parse().with_context(bad)?, n.parse().with_context(bad)?)
        }
        [id, n] => Known::Created(id.parse().with_context(bad)?, n.parse().with_context(bad)?),
        _ => bail!(bad()),
    };
    Ok(Some(known))
}

fn write_cluster(dir: &Path, text: &str) -> std::io::Result<()> {
    let path = dir.join(CLUSTER_FILE);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)
}

impl DevCommand {
    /// Record the dev cluster as created and announce it.
    fn adopt(
        &self,
        cluster: ClusterId,
        announce: &watch::Sender<Option<ClusterId>>,
    ) -> anyhow::Result<()> {
        write_cluster(&self.data_dir, &format!("{cluster} {}\n", self.workers))
            .context("cannot write the dev cluster's id")?;
        announce.send_replace(Some(cluster));
        Ok(())
    }

    /// Run until Ctrl-C.
    pub fn run(self) -> anyhow::Result<()> {
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> anyhow::Result<()> {
        let known = read_cluster(&self.data_dir)?;
        if let Some(Known::Created(_, n) | Known::Pending(_, n)) = known
            && n != self.workers
        {
            bail!(
                "{} was created with --workers {n}; use the same number (or a new data dir)",
                self.data_dir.display()
            );
        }
        let node = Node::open(
            NodeConfig {
                data_dir: self.data_dir.join("chain"),
                genesis: fat_chain::genesis::dev(),
                mempool_limit: 100_000,
            },
            Some(fat_crypto::dev_keypair(fat_chain::genesis::DEV_SEQUENCER)),
            Arc::new(SystemClock),
        )
        .context("cannot open the chain")?;
        let gatekeeper = Gatekeeper::open(GatekeeperConfig {
            data_dir: self.data_dir.join("gatekeeper"),
            key: fat_crypto::dev_keypair(fat_chain::genesis::DEV_GATEKEEPER),
            sealer: Arc::new(DevSealer),
            policy: fat_attestation::dev_chain_policy(),
        })
        .context("cannot open the gatekeeper")?;
        let mut workers = Vec::new();
        for i in 0..self.workers {
            let mut config = WorkerConfig::new(self.data_dir.join(format!("worker-{i}")), None);
            config.genesis = Some(node.genesis_hash());
            if self.allow_local_http {
                config.runtime = RuntimeConfig {
                    http_policy: HttpPolicy::allow_local(),
                    ..RuntimeConfig::default()
                };
            }
            workers.push(Worker::open(config).with_context(|| format!("cannot open worker {i}"))?);
        }

        let listener = tokio::net::TcpListener::bind(self.rpc)
            .await
            .with_context(|| format!("cannot listen on {}", self.rpc))?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let created = match known {
            Some(Known::Created(c, _)) => Some(c),
            _ => None,
        };
        let (cluster_tx, cluster_rx) = watch::channel(created);
        let ids: Vec<_> = workers.iter().map(Worker::id).collect();
        let mut app = fat_chain::rpc::app(node.clone()).route(
            paths::dev::WORKERS,
            get(move || {
                let cluster = *cluster_rx.borrow();
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
        let server = tokio::spawn({
            let shutdown = stopped(stop_rx.clone());
            async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        });
        let sequencer = Sequencer {
            key: fat_crypto::dev_keypair(fat_chain::genesis::DEV_SEQUENCER),
            block_time: Duration::from_millis(self.block_time),
        };
        let mut producing = tokio::spawn(sequencer.run(node.clone(), stopped(stop_rx.clone())));
        let gatekeeping = tokio::spawn({
            let (url, shutdown) = (url.clone(), stopped(stop_rx.clone()));
            async move { gatekeeper.run(&url, shutdown).await }
        });
        let mut following = Vec::new();
        for worker in &workers {
            let (worker, url, shutdown) = (worker.clone(), url.clone(), stopped(stop_rx.clone()));
            following.push(tokio::spawn(
                async move { worker.follow(&url, shutdown).await },
            ));
        }

        let ready = async {
            let client = ChainApi::new(&url)?;
            let cluster = match known {
                Some(Known::Created(cluster, _)) => cluster,
                // A start interrupted after it created the cluster: adopt it.
                Some(Known::Pending(cluster, _))
                    if not_found_as_none(client.cluster(&cluster).await)?.is_some() =>
                {
                    self.adopt(cluster, &cluster_tx)?;
                    cluster
                }
                _ => {
                    let workers_n = self.workers;
                    let dir = self.data_dir.clone();
                    let cluster = create_dev_cluster_noting(&client, &workers, |cluster| {
                        write_cluster(&dir, &format!("pending {cluster} {workers_n}\n"))
                    })
                    .await
                    .context("cannot create the dev cluster")?;
                    self.adopt(cluster, &cluster_tx)?;
                    cluster
                }
            };
            wait_for_cluster_key(&client, &cluster, Duration::from_secs(60))
                .await
                .context("the gatekeeper did not provision the dev cluster")?;
            let tip = node.tip().height;
            for worker in &workers {
                if !worker.wait_for_height(tip, Duration::from_secs(600)).await {
                    bail!("worker {} did not catch up with the chain", worker.id());
                }
            }
            anyhow::Ok(())
        };
        let result = tokio::select! {
            r = ready => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        let result = match result {
            Some(Ok(())) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "ready {url}");
                let _ = out.flush();
                drop(out);
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => Ok(()),
                    done = &mut producing => match done {
                        Ok(r) => r.context("block production stopped"),
                        Err(e) => Err(e).context("block production panicked"),
                    },
                }
            }
            Some(Err(e)) => Err(e),
            None => Ok(()),
        };
        for worker in &workers {
            worker.close_streams();
        }
        let _ = stop.send(true);
        for task in following {
            match task.await {
                Ok(Err(e)) => eprintln!("worker stopped: {e:#}"),
                Err(e) => eprintln!("worker panicked: {e}"),
                Ok(Ok(())) => {}
            }
        }
        match gatekeeping.await {
            Ok(Err(e)) => eprintln!("gatekeeper stopped: {e:#}"),
            Err(e) => eprintln!("gatekeeper panicked: {e}"),
            Ok(Ok(())) => {}
        }
        let _ = server.await;
        if !producing.is_finished() {
            let _ = producing.await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_file_says_created_or_pending() {
        let dir = std::env::temp_dir().join(format!("fat-dev-cluster-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_cluster(&dir).unwrap(), None);
        let id = ClusterId([7; 32]);
        write_cluster(&dir, &format!("pending {id} 2\n")).unwrap();
        assert_eq!(read_cluster(&dir).unwrap(), Some(Known::Pending(id, 2)));
        write_cluster(&dir, &format!("{id} 2\n")).unwrap();
        assert_eq!(read_cluster(&dir).unwrap(), Some(Known::Created(id, 2)));
        write_cluster(&dir, "nonsense").unwrap();
        let err = read_cluster(&dir).unwrap_err().to_string();
        assert!(
            err.contains("is not `[pending] <cluster> <workers>`"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
