//! `fat gatekeeper`: the gatekeeper on its own, following a chain node over HTTP.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use fat_attestation::seal::DevSealer;
use fat_gatekeeper::{Gatekeeper, GatekeeperConfig};

/// Run the gatekeeper on its own: keep the master key sealed, provision cluster keys to
/// attested workers and publish contract keys, through the chain at `--chain`.
///
/// Prints `ready` on stdout once its key is loaded; stops on Ctrl-C.
#[derive(Debug, Args)]
pub struct GatekeeperCommand {
    /// The chain node to follow and submit to.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8545")]
    chain: String,
    /// Where the sealed master key lives; the same directory keeps the same key.
    #[arg(long, value_name = "DIR", default_value = ".fat/gatekeeper")]
    data_dir: PathBuf,
    /// Sign as the dev chain's well-known gatekeeper account and seal with the insecure dev
    /// sealer (the only ones that exist without enclave hardware).
    #[arg(long)]
    dev: bool,
}

impl GatekeeperCommand {
    /// Run until Ctrl-C.
    pub fn run(self) -> anyhow::Result<()> {
        if !self.dev {
            bail!(
                "only the dev gatekeeper can run here: its key is the dev chain's and its master \
                 key is sealed with the insecure dev sealer; pass --dev"
            );
        }
        let gatekeeper = Gatekeeper::open(GatekeeperConfig {
            data_dir: self.data_dir.clone(),
            key: fat_crypto::dev_keypair(fat_chain::genesis::DEV_GATEKEEPER),
            sealer: Arc::new(DevSealer),
            policy: fat_attestation::dev_chain_policy(),
        })
        .with_context(|| format!("cannot open the gatekeeper in {}", self.data_dir.display()))?;
        eprintln!(
            "warning: the dev gatekeeper seals its master key with a well-known key: it protects nothing"
        );
        println!("ready");
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        runtime.block_on(async {
            let shutdown = super::on_ctrl_c();
            gatekeeper
                .run(&self.chain, shutdown.wait())
                .await
                .context("the gatekeeper stopped")
        })
    }
}
