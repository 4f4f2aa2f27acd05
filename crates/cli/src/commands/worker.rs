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
/// Prints `ready <api-url>` on stdout once its API serves; stops on Ctrl-C.
#[derive(Debug, Args)]
pub struct WorkerCommand {
    /// The chain node to follow.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8545")]
    chain: String,
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
        if self.allow_local_http {
            config.runtime = RuntimeConfig {
                http_policy: HttpPolicy::allow_local(),
                ..RuntimeConfig::default()
            };
        }
        let worker = Worker::open(config).context("cannot open the worker")?;
        let listener = tokio::net::TcpListener::bind(self.api)
            .await
            .with_context(|| format!("cannot listen on {}", self.api))?;
        let url = format!("http://{}", listener.local_addr()?);
        let shutdown = super::on_ctrl_c();
        let server = fat_devnet::serve(listener, fat_worker::api::app(worker.clone()), &shutdown);
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
        };
        worker.close_streams();
        shutdown.trigger();
        let _ = server.await;
        result
    }
}
