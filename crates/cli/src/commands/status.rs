//! `fat status`: the chain's tip, its validators and the dev workers.

use clap::Args;
use fat_client::Error;
use fat_consensus::ValidatorSet;
use fat_proto::{ChainApi, WorkerApi};
use fat_types::Certificate;
use serde_json::{Value, json};

use super::{ClientArgs, Global, print_json};

/// Show the chain's tip, its validators, the dev workers and whether replicas agree.
///
/// Shows the chain's last finalized block and its certificate (checked here against the
/// genesis validator set), which validators are live (signed one of the last 64 blocks),
/// and, on a `fat dev` node, its cluster and workers. For every cluster with members, it
/// compares the state roots the members sign at the last block they all reached, and names
/// each member whose root of a contract differs from the others' (a diverged replica).
/// `--json` prints
/// `{"rpc","genesis","height","hash","timestamp_ms","certificate","validators","cluster","workers","replicas"}`.
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
            let certificate =
                last_certificate(ctx.client.chain_api(), chain.genesis, chain.height).await?;
            let view = ctx.client.chain_api().validators().await?;
            let validators: Vec<Value> = view
                .validators
                .iter()
                .map(|v| {
                    json!({
                        "index": v.index,
                        "account": v.account,
                        "live": view.is_live(v),
                        "last_signed": v.last_signed,
                    })
                })
                .collect();
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
            let mut replicas = Vec::new();
            for cluster in ctx.client.clusters().await?.clusters {
                if cluster.info.workers.is_empty() {
                    continue;
                }
                let id = cluster.info.id;
                replicas.push(match ctx.client.compare_replicas(&id).await {
                    Ok(check) => serde_json::to_value(check)?,
                    Err(e) => json!({"cluster": id, "error": e.to_string()}),
                });
            }
            Ok(json!({
                "rpc": ctx.rpc,
                "genesis": chain.genesis,
                "height": chain.height,
                "hash": chain.hash,
                "timestamp_ms": chain.timestamp_ms,
                "certificate": certificate,
                "validators": validators,
                "cluster": cluster,
                "workers": workers,
                "replicas": replicas,
            }))
        })?;
        if ctx.json {
            return print_json(&status);
        }
        println!("node     {}", ctx.rpc);
        println!("height   {} (finalized)", status["height"]);
        println!("block    {}", status["hash"].as_str().unwrap_or("-"));
        println!("genesis  {}", status["genesis"].as_str().unwrap_or("-"));
        println!("cert     {}", describe(&status["certificate"]));
        let validators = status["validators"].as_array().cloned().unwrap_or_default();
        let live = validators.iter().filter(|v| v["live"] == true).count();
        println!("validators {live} of {} live", validators.len());
        for v in &validators {
            let seen = match v["last_signed"].as_u64() {
                Some(h) => format!("last signed block {h}"),
                None => "no signature seen".into(),
            };
            println!(
                "  {} {} {} ({seen})",
                v["index"],
                v["account"].as_str().unwrap_or("-"),
                if v["live"] == true {
                    "live"
                } else {
                    "NOT LIVE"
                },
            );
        }
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
        for check in status["replicas"].as_array().into_iter().flatten() {
            println!("{}", describe_replicas(check));
        }
        Ok(())
    }
}

/// One cluster's replicas, in a line or a few.
fn describe_replicas(check: &Value) -> String {
    let cluster = check["cluster"].as_str().unwrap_or("-");
    if let Some(error) = check["error"].as_str() {
        return format!("replicas of cluster {cluster}: not compared ({error})");
    }
    let members = check["members"].as_array().cloned().unwrap_or_default();
    let answered = members.iter().filter(|m| m["error"].is_null()).count();
    let mut out = match check["height"].as_u64() {
        Some(h) => format!(
            "replicas of cluster {cluster}: {answered} of {} members compared at block {h}",
            members.len()
        ),
        None => format!("replicas of cluster {cluster}: no member answered"),
    };
    for m in members.iter().filter(|m| !m["error"].is_null()) {
        out.push_str(&format!(
            "\n  worker {} not compared: {}",
            m["worker"].as_str().unwrap_or("-"),
            m["error"].as_str().unwrap_or("-")
        ));
    }
    let diverged = check["diverged"].as_array().cloned().unwrap_or_default();
    if diverged.is_empty() && answered > 0 {
        out.push_str(", all agree");
    }
    for d in &diverged {
        let others = match d["majority"].as_str() {
            Some(root) => format!("most members have {root}"),
            None => "no root has a majority".to_string(),
        };
        out.push_str(&format!(
            "\n  DIVERGED: worker {} has root {} for contract {} ({others})",
            d["worker"].as_str().unwrap_or("-"),
            d["root"].as_str().unwrap_or("-"),
            d["contract"].as_str().unwrap_or("-"),
        ));
    }
    out
}

/// The certificate of block `height`, checked against the validator set of the genesis the
/// node serves (whose block 0 must be `genesis`, the hash the client pinned).
async fn last_certificate(
    chain: &ChainApi,
    genesis: fat_types::Hash32,
    height: u64,
) -> anyhow::Result<Value> {
    let config = chain.checked_genesis(genesis).await?;
    let block = chain.block(height).await?;
    let validators = ValidatorSet::new(config.validators)?;
    let verified = validators.verify(&block.hash(), &block.certificate);
    let signers = block.certificate.signers();
    let (scheme, round) = match &block.certificate {
        Certificate::Genesis => ("genesis", None),
        Certificate::Ed25519 { round, .. } => ("ed25519", Some(*round)),
        Certificate::Simplex { view, .. } => ("simplex", Some(*view)),
    };
    Ok(json!({
        "height": height,
        "scheme": scheme,
        "round": round,
        "signers": signers,
        "validators": validators.len(),
        "verified": verified.is_ok(),
        "error": verified.err().map(|e| e.to_string()),
    }))
}

/// One line about a certificate (as [`last_certificate`] describes it).
fn describe(certificate: &Value) -> String {
    if certificate["scheme"] == "genesis" {
        return "genesis (final by configuration)".into();
    }
    let signers: Vec<String> = certificate["signers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Value::to_string)
        .collect();
    let check = match certificate["error"].as_str() {
        None => "verified against the genesis validators".to_string(),
        Some(e) => format!("DOES NOT VERIFY: {e}"),
    };
    format!(
        "{}, round {}, signed by {} of {} ({}): {check}",
        certificate["scheme"].as_str().unwrap_or("-"),
        certificate["round"],
        signers.len(),
        certificate["validators"],
        signers.join(","),
    )
}
