//! `fat deploy`: upload a contract's code and instantiate it.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use fat_types::ClusterId;

use super::{ClientArgs, Global, parse_args, print_json};

/// Upload a contract's code and instantiate it in a cluster.
///
/// Uploads WASM (unless the chain has it), instantiates it and waits for the workers to run
/// `init`. Prints the contract id (details on stderr); `--json` prints `{"contract","code_hash","cluster","block"}`.
#[derive(Debug, Args)]
pub struct DeployCommand {
    /// The contract component (`fat build` prints its path).
    wasm: PathBuf,
    /// The JSON arguments of the contract's `init`.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// Makes the contract id unique among instances of the same code by the same account.
    #[arg(long, value_name = "S", default_value = "")]
    salt: String,
    /// The cluster to run in [default: of the clusters with members and a provisioned key,
    /// the one with the fewest contracts].
    #[arg(long, value_name = "ID")]
    cluster: Option<String>,
    /// The most gas (fuel) `init` may spend [default: 100000000]; the fee grows with it and the
    /// chain refuses more than its `max_tx_gas`.
    #[arg(long, value_name = "N")]
    gas_limit: Option<u64>,
    #[command(flatten)]
    pub(super) client: ClientArgs,
}

/// Check the file is a component the chain accepts before sending it anywhere (and paying).
pub fn check_component(path: &std::path::Path, wasm: &[u8]) -> anyhow::Result<()> {
    if !wasm.starts_with(b"\0asm") {
        bail!(
            "{} is not a WebAssembly file: deploy the .wasm that `fat build` prints",
            path.display()
        );
    }
    if wasm.get(4..8) == Some(&[1, 0, 0, 0]) {
        bail!(
            "{} is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
             with `fat build`",
            path.display()
        );
    }
    if let Some(problem) = fat_types::component::problem(wasm) {
        bail!("{}: {problem}", path.display());
    }
    Ok(())
}

impl DeployCommand {
    /// Deploy and print the contract.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let mut ctx = self.client.ctx(global)?;
        if let Some(gas) = self.gas_limit {
            ctx.client = ctx.client.with_gas_limit(gas);
        }
        let key = ctx.key()?;
        let args = parse_args(self.args.as_deref())?
            .map(|v| v.to_string())
            .unwrap_or_default();
        let cluster: Option<ClusterId> = match &self.cluster {
            Some(c) => Some(c.parse().map_err(|_| {
                anyhow::anyhow!("'{c}' is not a cluster id: expected 64 hex digits")
            })?),
            None => None,
        };
        let wasm = std::fs::read(&self.wasm).with_context(|| {
            format!(
                "cannot read {}: build the contract with `fat build` and pass the .wasm it prints",
                self.wasm.display()
            )
        })?;
        check_component(&self.wasm, &wasm)?;
        let deployed = ctx.block_on(async {
            ctx.warn_if_insecure().await?;
            let mut progress = |step: &str| ctx.progress(step);
            Ok(ctx
                .client
                .deploy(
                    &key,
                    wasm,
                    &args,
                    self.salt.as_bytes(),
                    cluster,
                    &mut progress,
                )
                .await?)
        })?;
        if ctx.json {
            return print_json(&deployed);
        }
        // The id alone on stdout, so that `CONTRACT=$(fat deploy ...)` works; the rest for people.
        println!("{}", deployed.contract);
        eprintln!(
            "deployed in block {}: code hash {}, cluster {}",
            deployed.block, deployed.code_hash, deployed.cluster
        );
        Ok(())
    }
}
