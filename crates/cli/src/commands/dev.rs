//! `fat dev`: a chain node, the dev gatekeeper and N workers in one process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use fat_devnet::{Devnet, DevnetError};

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
    /// How many dev clusters the workers are spread over: worker `i` joins cluster `i % K`
    /// (a data directory keeps its number).
    #[arg(long, value_name = "K", default_value_t = 1)]
    clusters: usize,
    /// The least time between blocks in milliseconds; 0 makes a block as soon as there is work.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    block_time: u64,
    /// Let contracts' queries reach loopback and private addresses (for local test services).
    #[arg(long)]
    allow_local_http: bool,
    /// How many validators order the chain: 1 is the dev sequencer; more run commonware's
    /// simplex BFT engine in this process over loopback (a data directory keeps its number).
    #[arg(long, value_name = "N", default_value_t = 1)]
    validators: usize,
}

impl DevCommand {
    /// Run until Ctrl-C.
    pub fn run(self) -> anyhow::Result<()> {
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        if self.validators == 0 {
            bail!("--validators must be at least 1");
        }
        if self.clusters == 0 || self.clusters > self.workers {
            bail!(
                "--clusters must be between 1 and --workers ({}), not {}",
                self.workers,
                self.clusters
            );
        }
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        runtime.block_on(self.serve())
    }

    async fn serve(self) -> anyhow::Result<()> {
        let built = Devnet::builder(&self.data_dir)
            .workers(self.workers)
            .clusters(self.clusters)
            .validators(self.validators)
            .block_time(Duration::from_millis(self.block_time))
            .allow_local_http(self.allow_local_http)
            .rpc(self.rpc)
            .shutdown(super::on_ctrl_c())
            .build()
            .await;
        let mut devnet = match built {
            Ok(devnet) => devnet,
            Err(DevnetError::Interrupted) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ready {}", devnet.url());
            let _ = out.flush();
        }
        let result = devnet.until_stopped().await;
        if let Err(DevnetError::Stopped(failures)) = devnet.stop().await {
            for failure in failures {
                eprintln!("{failure}");
            }
        }
        Ok(result?)
    }
}
