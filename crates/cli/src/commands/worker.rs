//! `fat worker`: a worker on its own, following a chain node over HTTP.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use fat_runtime::{HttpPolicy, RuntimeConfig};
use fat_worker::{Worker, WorkerConfig};

/// Run a worker on its own, following a chain node.
///
/// With `--operator`, the worker registers itself on its first start (a `dev` attestation
/// report bound to its keys, accepted only by chains whose policy accepts dev reports) and
/// writes its API's URL to the registry, so clients find it; restarted with the same data
/// directory it keeps its identity and only updates the URL if it changed. A cluster owner
/// then adds it to a cluster (`fat cluster add-worker`) and a gatekeeper provisions the key.
/// Prints `ready <api-url>` on stdout once its API serves (and it is registered); stops on
/// Ctrl-C.
#[derive(Debug, Args)]
pub struct WorkerCommand {
    /// The chain node to follow.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8545")]
    chain: String,
    /// The genesis hash of the chain to follow (as `fat status` prints it): the worker
    /// follows, registers and signs for that chain only. Without it, a first start follows
    /// the chain the node serves, and the data directory keeps to that chain after.
    #[arg(long, value_name = "HASH", value_parser = parse_chain_id)]
    chain_id: Option<fat_types::Hash32>,
    /// Where the worker's store lives; a restart with the same directory resumes.
    #[arg(long, value_name = "DIR", default_value = ".fat/worker")]
    data_dir: PathBuf,
    /// The address the worker's API listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8546")]
    api: SocketAddr,
    /// On first start, take dev worker `N`'s well-known identity key instead of a new one
    /// (later starts use the identity sealed in the data directory).
    #[arg(long, value_name = "N")]
    dev_key: Option<usize>,
    /// Let contracts' queries reach loopback and private addresses (for local test services).
    #[arg(long)]
    allow_local_http: bool,
    /// The most linear memory one call of a contract may use, in MiB [default: the
    /// runtime's]. Every member of a cluster must use the same: a command that fits on one
    /// and not on another makes their results differ.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_memory_mib: Option<u64>,
    /// Register this worker and its URL, signed (and paid for) by this account: a dev
    /// account or one made with `fat account new`.
    #[arg(long, value_name = "ACCOUNT")]
    operator: Option<String>,
    /// The URL clients reach this worker's API at [default: http://<the --api address>].
    #[arg(long, value_name = "URL", requires = "operator")]
    public_url: Option<String>,
    /// Jobs run at once on this worker, and how many of one query's jobs it gives each other
    /// member of the cluster at once [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    job_slots: Option<u64>,
    /// How long a query that fans out jobs may run, in seconds (a plain query gets 10)
    /// [default: 120].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    job_query_secs: Option<u64>,
    /// Test only: return a wrong (signed) output for every job another worker sends, to show
    /// that replicated jobs catch it. Never use it otherwise.
    #[arg(long, hide = true)]
    test_corrupt_jobs: bool,
    /// Test only: tamper with the contract state sent to a worker joining a cluster
    /// (`entries`: a value changed; `consistent`: a value changed and the root recomputed),
    /// to show the joiner refusing it. Never use it otherwise.
    #[arg(long, hide = true, value_name = "FAULT")]
    test_corrupt_snapshots: Option<fat_worker::SnapshotFault>,
}

impl WorkerCommand {
    /// Run until Ctrl-C.
    pub fn run(self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> anyhow::Result<()> {
        let mut config = WorkerConfig::new(
            &self.data_dir,
            self.dev_key.map(fat_devnet::bootstrap::dev_worker_key),
        );
        config.genesis = self.chain_id;
        if self.allow_local_http {
            config.runtime = RuntimeConfig {
                http_policy: HttpPolicy::allow_local(),
                ..RuntimeConfig::default()
            };
        }
        if let Some(slots) = self.job_slots {
            config.job_slots = slots as usize;
        }
        if let Some(secs) = self.job_query_secs {
            config.runtime.limits.coordinated_deadline = std::time::Duration::from_secs(secs);
        }
        config.corrupt_jobs = self.test_corrupt_jobs;
        config.corrupt_snapshots = self.test_corrupt_snapshots;
        if let Some(mib) = self.max_memory_mib {
            config.runtime.limits.memory_bytes = (mib as usize) << 20;
        }
        let worker = Worker::open(config).context("cannot open the worker")?;
        let listener = tokio::net::TcpListener::bind(self.api)
            .await
            .with_context(|| format!("cannot listen on {}", self.api))?;
        let url = format!("http://{}", listener.local_addr()?);
        let shutdown = super::on_ctrl_c();
        let server = fat_devnet::serve(listener, fat_worker::api::app(worker.clone()), &shutdown);
        if let Some(operator) = &self.operator {
            let public = self.public_url.clone().unwrap_or_else(|| url.clone());
            if let Err(e) = register(&worker, &self.chain, operator, &public).await {
                shutdown.trigger();
                let _ = server.await;
                return Err(e);
            }
        }
        let reattest = {
            let (worker, chain, operator) =
                (worker.clone(), self.chain.clone(), self.operator.clone());
            async move {
                match operator {
                    Some(operator) => keep_attested(&worker, &chain, &operator).await,
                    None => std::future::pending().await,
                }
            }
        };
        tokio::pin!(reattest);
        let follow = worker.follow(&self.chain, shutdown.wait());
        tokio::pin!(follow);
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ready {url}");
            let _ = out.flush();
        }
        let result = tokio::select! {
            () = shutdown.wait() => Ok(()),
            r = &mut follow => r.context("the worker stopped following the chain"),
            () = &mut reattest => Ok(()),
        };
        worker.close_streams();
        shutdown.trigger();
        let _ = server.await;
        result
    }
}

/// How often a worker looks at the age of its registered report, at most.
const REATTEST_CHECK: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Keep the report the chain holds for `worker` younger than the chain's maximum age:
/// whenever it is past half of it, send a fresh one signed by `operator` (`Reattest`).
/// Looks again every quarter of the age (an hour at most); a failure is logged and retried
/// then. Never returns.
async fn keep_attested(worker: &Worker, chain: &str, operator: &str) {
    let mut pause = REATTEST_CHECK;
    loop {
        match reattest_if_due(worker, chain, operator).await {
            Ok(max_age) if max_age > 0 => {
                pause = std::time::Duration::from_secs((max_age / 4).max(1)).min(REATTEST_CHECK);
            }
            Ok(_) => {}
            Err(e) => eprintln!("cannot keep worker {} attested: {e:#}", worker.id()),
        }
        tokio::time::sleep(pause).await;
    }
}

/// Send a fresh report for `worker` if the registered one is past half the chain's maximum
/// age; returns the maximum age (0: reports never go stale, nothing to do).
async fn reattest_if_due(worker: &Worker, chain: &str, operator: &str) -> anyhow::Result<u64> {
    let key = super::account::keypair(operator)?;
    let api = chain_api(worker, chain)?;
    // From the genesis block 0 commits to: a node stating a shorter age alone would make the
    // operator pay for a fresh report every second.
    let max_age = api.checked_params().await?.1.attestation.max_age_secs;
    if max_age == 0 {
        return Ok(0);
    }
    let id = worker.id();
    let info = api.worker(&id).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now.saturating_sub(info.attested_at) > max_age / 2 {
        let kind = worker
            .dev_reattestation()
            .context("cannot make a fresh report")?;
        fat_devnet::bootstrap::submit(&api, &key, kind)
            .await
            .with_context(|| format!("the chain refused the fresh report of worker {id}"))?;
        eprintln!(
            "reattested worker {id}: its report was {} s old",
            now.saturating_sub(info.attested_at)
        );
    }
    Ok(max_age)
}

/// Register `worker` on the chain at `chain` (unless it is), signed by `operator`, and make
/// its registered endpoint `public`.
async fn register(
    worker: &Worker,
    chain: &str,
    operator: &str,
    public: &str,
) -> anyhow::Result<()> {
    if let Some(problem) = fat_types::tx::endpoint_problem(public) {
        anyhow::bail!("--public-url {public}: {problem}");
    }
    let key = super::account::keypair(operator)?;
    let api = chain_api(worker, chain)?;
    let id = worker.id();
    let known = fat_proto::not_found_as_none(api.worker(&id).await)
        .with_context(|| format!("cannot ask the chain at {chain} about worker {id}"))?;
    let known = match known {
        Some(info) => info,
        None => {
            let kind = worker
                .dev_registration()
                .context("cannot make the registration")?;
            fat_devnet::bootstrap::submit(&api, &key, kind)
                .await
                .with_context(|| format!("the chain refused to register worker {id}"))?;
            eprintln!("registered worker {id} (operator {})", key.account_id());
            api.worker(&id).await?
        }
    };
    if known.endpoint.as_deref() != Some(public) {
        let kind = fat_types::TxKind::SetWorkerEndpoint {
            worker: id,
            endpoint: public.to_string(),
        };
        fat_devnet::bootstrap::submit(&api, &key, kind)
            .await
            .with_context(|| format!("the chain refused the endpoint of worker {id}"))?;
    }
    Ok(())
}

/// The chain node at `url`, for the chain `worker` follows only (see [`Worker::chain`]): what
/// the operator signs is for that chain, whatever node answers.
fn chain_api(worker: &Worker, url: &str) -> anyhow::Result<fat_proto::ChainApi> {
    let api = fat_proto::ChainApi::new(url)
        .with_context(|| format!("cannot reach the chain at {url}"))?;
    Ok(
        match worker.chain().context("cannot read the worker's store")? {
            Some(chain) => api.pinned_to(chain),
            None => api,
        },
    )
}

fn parse_chain_id(text: &str) -> Result<fat_types::Hash32, String> {
    text.parse().map_err(|_| {
        format!("'{text}' is not a chain id: expected 64 hex digits (its genesis hash)")
    })
}
