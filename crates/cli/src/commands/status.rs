//! `fat status`: the chain's tip and the dev workers.

use clap::Args;
use fat_client::Error;
use fat_proto::WorkerApi;
use serde_json::{Value, json};

use super::{ClientArgs, Global, print_json};

/// Show the chain's tip and the dev workers.
///
/// Shows the chain's last block and, on a `fat dev` node, its cluster and workers. `--json`
/// prints `{"rpc","genesis","height","hash","timestamp_ms","cluster","workers"}`.
#[derive(Debug, Args)]
pub struct StatusCommand {
    #[command(flatten)]
    pub(super) client: ClientArgs,
}

impl StatusCommand {
    /// Print the status.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let ctx = self.client.ctx(global)?;
        let status = ctx.block_on(async {
            let chain = ctx.client.status().await?;
            ctx.warn_if_insecure().await?;
            let (cluster, workers) = match ctx.client.dev_workers().await {
                Ok(info) => {
                    let mut workers = Vec::new();
                    for worker in &info.workers {
                        // Nothing goes to a worker the chain's policy does not vouch for.
                        ctx.client.verify_worker(&worker.id).await?;
                        let api = WorkerApi::from_http(ctx.client.chain().join(&worker.path));
                        let status = api.status().await?;
                        workers.push(json!({
                            "id": worker.id,
                            "url": format!("{}{}", ctx.rpc.trim_end_matches('/'), worker.path),
                            "height": status.height,
                        }));
                    }
                    (json!(info.cluster), workers)
                }
                Err(Error::NoWorkers { .. }) => (Value::Null, Vec::new()),
                Err(e) => return Err(e.into()),
            };
            Ok(json!({
                "rpc": ctx.rpc,
                "genesis": chain.genesis,
                "height": chain.height,
                "hash": chain.hash,
                "timestamp_ms": chain.timestamp_ms,
                "cluster": cluster,
                "workers": workers,
            }))
        })?;
        if ctx.json {
            return print_json(&status);
        }
        println!("node     {}", ctx.rpc);
        println!("height   {}", status["height"]);
        println!("block    {}", status["hash"].as_str().unwrap_or("-"));
        println!("genesis  {}", status["genesis"].as_str().unwrap_or("-"));
        println!(
            "cluster  {}",
            status["cluster"].as_str().unwrap_or("- (not a dev node)")
        );
        for (i, worker) in status["workers"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            println!(
                "worker {i} {} at height {} ({})",
                worker["id"].as_str().unwrap_or("-"),
                worker["height"],
                worker["url"].as_str().unwrap_or("-")
            );
        }
        Ok(())
    }
}
