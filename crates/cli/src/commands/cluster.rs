//! `fat cluster`: create clusters of registered workers and change their members.

use anyhow::bail;
use clap::{Args, Subcommand};
use fat_types::{ClusterId, Deployers, Outcome, TxKind, WorkerId};
use serde_json::json;

use super::{ClientArgs, Global, print_json};

/// Create clusters of workers, change their members, list them.
///
/// A cluster is the small group of workers that runs a contract. Its creator owns it: only
/// the owner adds and removes workers and says who may deploy into it (anyone, until it
/// says otherwise). A gatekeeper provisions the cluster's key to each attested member;
/// `fat deploy` without `--cluster` picks, of the provisioned clusters that take contracts
/// from the deployer, the one with the fewest contracts.
#[derive(Debug, Args)]
pub struct ClusterCommand {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create a cluster owned by the `--as` account and print its id.
    ///
    /// `--json` prints `{"cluster","block","workers"}`.
    Create {
        /// Its first members: registered worker ids, comma-separated.
        #[arg(long, value_name = "ID,...", value_delimiter = ',')]
        workers: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add a registered worker to a cluster the `--as` account owns.
    ///
    /// `--json` prints `{"cluster","worker","block"}`.
    AddWorker(Member),
    /// Remove a worker from a cluster the `--as` account owns.
    ///
    /// The worker stops running the cluster's contracts from the next block. The cluster's
    /// key moves to its next epoch, which the gatekeeper provisions to the members that stay:
    /// contracts deployed afterwards are out of the removed worker's reach, those deployed
    /// before are not (see docs/security.md). Deploys into the cluster wait for the new key.
    /// `--json` prints `{"cluster","worker","block"}`.
    RemoveWorker(Member),
    /// Say who may instantiate contracts in a cluster the `--as` account owns.
    ///
    /// WHO is `anyone`, `owner`, or accounts (names or ids, comma-separated) that may deploy
    /// besides the owner. Contracts already in the cluster stay. `--json` prints
    /// `{"cluster","deployers","block"}`.
    SetDeployers {
        /// The cluster's id.
        #[arg(value_name = "CLUSTER")]
        cluster_id: String,
        /// `anyone`, `owner`, or ACCOUNT,...
        #[arg(value_name = "WHO")]
        who: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the clusters: members, the key epoch and whether a gatekeeper provisioned it,
    /// who may deploy, contracts.
    ///
    /// `--json` prints `{"clusters":[{"id","owner","workers","public_key","deployers",
    /// "key_deposits","contracts"}]}`.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// A cluster and one of its (would-be) members.
#[derive(Debug, Args)]
struct Member {
    /// The cluster's id.
    #[arg(value_name = "CLUSTER")]
    cluster_id: String,
    /// The worker's id.
    #[arg(value_name = "WORKER")]
    worker_id: String,
    #[command(flatten)]
    client: ClientArgs,
}

fn parse_cluster(text: &str) -> anyhow::Result<ClusterId> {
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "'{text}' is not a cluster id: expected 64 hex digits, as `fat cluster list` prints"
        )
    })
}

fn parse_worker(text: &str) -> anyhow::Result<WorkerId> {
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "'{text}' is not a worker id: expected 64 hex digits, as a worker's /v1/status names it"
        )
    })
}

impl ClusterCommand {
    /// Whether the output is JSON.
    pub fn json(&self) -> bool {
        match &self.action {
            Action::Create { client, .. }
            | Action::AddWorker(Member { client, .. })
            | Action::RemoveWorker(Member { client, .. })
            | Action::SetDeployers { client, .. }
            | Action::List { client } => client.json,
        }
    }

    /// Run the action.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        match self.action {
            Action::Create { workers, client } => {
                let workers = workers
                    .iter()
                    .map(|w| parse_worker(w))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let ctx = client.ctx(global)?;
                let key = ctx.key()?;
                let answer = ctx.block_on(async {
                    Ok(ctx
                        .client
                        .submit(
                            &key,
                            TxKind::CreateCluster {
                                workers: workers.clone(),
                            },
                            true,
                        )
                        .await?)
                })?;
                let cluster = match answer.receipt.as_ref().map(|r| &r.outcome) {
                    Some(Outcome::ClusterCreated(id)) => *id,
                    other => bail!("the chain did not say which cluster it created: {other:?}"),
                };
                if ctx.json {
                    return print_json(&json!({
                        "cluster": cluster,
                        "block": answer.height,
                        "workers": workers,
                    }));
                }
                println!("{cluster}");
                ctx.progress(&format!(
                    "created in block {} with {} worker(s); a gatekeeper provisions its key next",
                    answer.height.unwrap_or_default(),
                    workers.len()
                ));
                Ok(())
            }
            Action::AddWorker(member) => membership(global, &member, true),
            Action::SetDeployers {
                cluster_id,
                who,
                client,
            } => {
                let cluster = parse_cluster(&cluster_id)?;
                let deployers = parse_deployers(&who)?;
                let ctx = client.ctx(global)?;
                let key = ctx.key()?;
                let kind = TxKind::SetClusterDeployers {
                    cluster,
                    deployers: deployers.clone(),
                };
                let answer =
                    ctx.block_on(async { Ok(ctx.client.submit(&key, kind, true).await?) })?;
                if ctx.json {
                    return print_json(&json!({
                        "cluster": cluster,
                        "deployers": deployers,
                        "block": answer.height,
                    }));
                }
                println!(
                    "cluster {cluster} takes contracts from {} from block {}",
                    describe_deployers(&deployers),
                    answer.height.unwrap_or_default()
                );
                Ok(())
            }
            Action::RemoveWorker(member) => membership(global, &member, false),
            Action::List { client } => {
                let ctx = client.ctx(global)?;
                let list = ctx.block_on(async { Ok(ctx.client.clusters().await?) })?;
                if ctx.json {
                    return print_json(&list);
                }
                if list.clusters.is_empty() {
                    println!("no clusters");
                }
                for c in &list.clusters {
                    let epoch = c.info.key_epoch;
                    let key = if c.info.public_key.is_some() {
                        format!("key epoch {epoch} provisioned")
                    } else {
                        format!("key epoch {epoch} not provisioned yet")
                    };
                    println!(
                        "{} owner {} contracts {} ({key}; deploys from {})",
                        c.info.id,
                        c.info.owner,
                        c.contracts,
                        describe_deployers(&c.info.deployers)
                    );
                    for w in &c.info.workers {
                        println!("  worker {w}");
                    }
                }
                Ok(())
            }
        }
    }
}

/// `anyone`, `owner`, or a comma-separated list of accounts (names or ids).
fn parse_deployers(text: &str) -> anyhow::Result<Deployers> {
    match text {
        "anyone" => Ok(Deployers::Anyone),
        "owner" => Ok(Deployers::Owner),
        list => {
            let accounts = list
                .split(',')
                .map(|a| super::account::resolve(a.trim()))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| {
                    anyhow::anyhow!("'{text}' is not `anyone`, `owner` or ACCOUNT,...: {e}")
                })?;
            if accounts.len() > fat_types::registry::MAX_DEPLOYERS {
                bail!(
                    "{} accounts: a cluster names at most {} deployers",
                    accounts.len(),
                    fat_types::registry::MAX_DEPLOYERS
                );
            }
            Ok(Deployers::Accounts(accounts))
        }
    }
}

/// Who a cluster takes contracts from, for people.
fn describe_deployers(deployers: &Deployers) -> String {
    match deployers {
        Deployers::Anyone => "anyone".into(),
        Deployers::Owner => "its owner only".into(),
        Deployers::Accounts(list) => format!("its owner and {} other account(s)", list.len()),
    }
}

/// Add (`add`) or remove a worker.
fn membership(global: &Global, member: &Member, add: bool) -> anyhow::Result<()> {
    let cluster = parse_cluster(&member.cluster_id)?;
    let worker = parse_worker(&member.worker_id)?;
    let ctx = member.client.ctx(global)?;
    let key = ctx.key()?;
    let kind = if add {
        TxKind::AddClusterWorker { cluster, worker }
    } else {
        TxKind::RemoveClusterWorker { cluster, worker }
    };
    let answer = ctx.block_on(async { Ok(ctx.client.submit(&key, kind, true).await?) })?;
    if ctx.json {
        return print_json(&json!({
            "cluster": cluster,
            "worker": worker,
            "block": answer.height,
        }));
    }
    println!(
        "{} worker {worker} {} cluster {cluster} in block {}",
        if add { "added" } else { "removed" },
        if add { "to" } else { "from" },
        answer.height.unwrap_or_default()
    );
    Ok(())
}
