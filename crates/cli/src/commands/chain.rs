//! `fat chain`: run a chain node.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

/// Run a chain node on its own.
///
/// The dev chain (`--dev`), or one validator of a network (`--genesis FILE --key FILE`, from
/// `fat genesis new`). Prints `ready <rpc-url>` on stdout once it serves; stops on Ctrl-C.
#[derive(Debug, Args)]
pub struct ChainCommand {
    /// Where the chain's database lives; a restart with the same directory resumes.
    #[arg(long, value_name = "DIR", default_value = ".fat/chain")]
    data_dir: PathBuf,
    /// The address the HTTP API listens on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8545")]
    rpc: SocketAddr,
    /// The least time between blocks in milliseconds; 0 makes a block as soon as there is work.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    block_time: u64,
    /// Run the dev chain: well-known funded accounts alice, bob and charlie, a dev gatekeeper.
    #[arg(long, conflicts_with_all = ["genesis", "key"])]
    dev: bool,
    /// The network's genesis file: run one of its validators.
    #[arg(long, value_name = "FILE", requires = "key")]
    genesis: Option<PathBuf>,
    /// This validator's key file (with --genesis).
    #[arg(long, value_name = "FILE", requires = "genesis")]
    key: Option<PathBuf>,
}

impl ChainCommand {
    /// Run the node until Ctrl-C.
    pub fn run(self) -> anyhow::Result<()> {
        let on_ready = |url: &str| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ready {url}");
            let _ = out.flush();
        };
        if let (Some(genesis), Some(key)) = (self.genesis, self.key) {
            let config = fat_devnet::chain::ValidatorRunConfig {
                genesis,
                key,
                data_dir: self.data_dir,
                rpc: self.rpc,
                block_time: Duration::from_millis(self.block_time),
            };
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            return runtime
                .block_on(async {
                    fat_devnet::chain::run_validator(config, super::on_ctrl_c(), on_ready).await
                })
                .context("validator failed");
        }
        let config = fat_devnet::chain::RunConfig {
            data_dir: self.data_dir,
            rpc: self.rpc,
            block_time: Duration::from_millis(self.block_time),
            dev: self.dev,
        };
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        runtime
            .block_on(async { fat_devnet::chain::run(config, super::on_ctrl_c(), on_ready).await })
            .context("chain node failed")
    }
}
