//! The subcommands, one file each, and what the client subcommands share.

mod account;
mod build;
mod chain;
mod cluster;
mod command;
mod deploy;
mod dev;
mod gatekeeper;
mod genesis;
mod logs;
mod new;
mod query;
mod status;
mod transfer;
mod worker;

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use fat_client::Client;
use fat_crypto::Keypair;
use fat_types::ContractId;
use serde_json::Value;

/// The default chain node URL.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:8545";
/// The file under [`fat_home`] that pins each node URL's genesis hash.
pub const KNOWN_CHAINS: &str = "known_chains.json";
/// The dev accounts every dev chain funds.
pub const DEV_ACCOUNTS: [&str; 3] = ["alice", "bob", "charlie"];

/// A stop signal fired on Ctrl-C (SIGINT), for the commands that run nodes; call it within
/// the async runtime.
fn on_ctrl_c() -> fat_devnet::Shutdown {
    let shutdown = fat_devnet::Shutdown::new();
    let fire = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            fire.trigger();
        }
    });
    shutdown
}

/// The fat contract platform: from nothing to a running contract in two commands,
/// `fat new NAME` and `fat dev`.
#[derive(Debug, Parser)]
#[command(name = "fat", version)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Sub,
}

/// The flags every client subcommand takes, before or after the subcommand's name.
#[derive(Debug, Clone, Default, Args)]
pub struct Global {
    /// The chain node's URL.
    #[arg(long, value_name = "URL", env = "FAT_RPC", hide_env_values = true)]
    rpc: Option<String>,
    /// The account that signs: a dev account (alice, bob, charlie) or one made with
    /// `fat account new` [default: alice].
    #[arg(long = "as", value_name = "ACCOUNT")]
    account: Option<String>,
    /// Machine output: JSON on stdout; errors as JSON on stderr.
    #[arg(long)]
    json: bool,
}

/// The same flags after the subcommand's name.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientArgs {
    /// The chain node's URL [env: FAT_RPC] [default: http://127.0.0.1:8545].
    #[arg(long, value_name = "URL")]
    rpc: Option<String>,
    /// The account that signs: a dev account (alice, bob, charlie) or one made with
    /// `fat account new` [default: alice].
    #[arg(long = "as", value_name = "ACCOUNT")]
    account: Option<String>,
    /// Machine output: JSON on stdout; errors as JSON on stderr.
    #[arg(long)]
    json: bool,
    /// A worker API to send queries and reads to, instead of the node's first dev worker.
    #[arg(long, value_name = "URL")]
    worker: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Sub {
    Dev(dev::DevCommand),
    Chain(chain::ChainCommand),
    Genesis(genesis::GenesisCommand),
    Worker(worker::WorkerCommand),
    Gatekeeper(gatekeeper::GatekeeperCommand),
    New(new::NewCommand),
    Build(build::BuildCommand),
    Deploy(deploy::DeployCommand),
    Command(command::CommandCommand),
    Query(query::QueryCommand),
    Logs(logs::LogsCommand),
    Status(status::StatusCommand),
    Account(account::AccountCommand),
    Transfer(transfer::TransferCommand),
    Cluster(cluster::ClusterCommand),
}

impl Cli {
    /// Whether errors should be printed as JSON.
    pub fn json(&self) -> bool {
        let sub = match &self.command {
            Sub::Build(c) => c.json,
            Sub::New(c) => c.json,
            Sub::Deploy(c) => c.client.json,
            Sub::Command(c) => c.client.json,
            Sub::Query(c) => c.client.json,
            Sub::Logs(c) => c.client.json,
            Sub::Status(c) => c.client.json,
            Sub::Account(c) => c.json(),
            Sub::Transfer(c) => c.client.json,
            Sub::Cluster(c) => c.json(),
            Sub::Genesis(_) => false,
            Sub::Dev(_) | Sub::Chain(_) | Sub::Worker(_) | Sub::Gatekeeper(_) => false,
        };
        self.global.json || sub
    }

    /// Run the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        let global = self.global;
        match self.command {
            Sub::Chain(command) => command.run(),
            Sub::Genesis(command) => command.run(global.json),
            Sub::Dev(command) => command.run(),
            Sub::Worker(command) => command.run(),
            Sub::Gatekeeper(command) => command.run(),
            Sub::New(command) => command.run(global.json),
            Sub::Build(command) => command.run(global.json),
            Sub::Deploy(command) => command.run(&global),
            Sub::Command(command) => command.run(&global),
            Sub::Query(command) => command.run(&global),
            Sub::Logs(command) => command.run(&global),
            Sub::Status(command) => command.run(&global),
            Sub::Account(command) => command.run(&global),
            Sub::Transfer(command) => command.run(&global),
            Sub::Cluster(command) => command.run(&global),
        }
    }
}

/// What a client subcommand works with, the flags merged.
pub struct Ctx {
    /// The node's URL.
    pub rpc: String,
    /// The signing account's name.
    pub account: String,
    /// Machine output.
    pub json: bool,
    /// The client.
    pub client: Client,
}

impl ClientArgs {
    /// Merge with the flags given before the subcommand's name.
    pub fn ctx(&self, global: &Global) -> anyhow::Result<Ctx> {
        let rpc = self
            .rpc
            .clone()
            .or_else(|| global.rpc.clone())
            .unwrap_or_else(|| DEFAULT_RPC.into());
        let mut client = Client::new(&rpc)?.with_known_chains(fat_home()?.join(KNOWN_CHAINS));
        if let Some(worker) = &self.worker {
            client = client.with_worker(worker)?;
        }
        Ok(Ctx {
            rpc,
            account: self
                .account
                .clone()
                .or_else(|| global.account.clone())
                .unwrap_or_else(|| "alice".into()),
            json: self.json || global.json,
            client,
        })
    }
}

impl Ctx {
    /// The signing key.
    pub fn key(&self) -> anyhow::Result<Keypair> {
        account::keypair(&self.account)
    }

    /// Say on stderr (once per process, whatever the output format) when the chain's policy
    /// accepts `dev` reports: its workers protect nothing. Checks the chain's genesis first.
    pub async fn warn_if_insecure(&self) -> anyhow::Result<()> {
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if self.client.is_dev_network().await?
            && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            eprintln!(
                "warning: {} is a dev network: its workers use software attestation and \
                 protect nothing",
                self.client.chain().url()
            );
        }
        Ok(())
    }

    /// Run a future on a small runtime.
    pub fn block_on<T>(&self, f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        block_on(f)
    }

    /// Print a step of long work on stderr, unless the output is JSON.
    pub fn progress(&self, step: &str) {
        if !self.json {
            eprintln!("{step}");
        }
    }
}

/// Run a future on a small runtime.
pub fn block_on<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

/// Print `value` as one line of JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Parse a contract id given on the command line.
pub fn parse_contract(text: &str) -> anyhow::Result<ContractId> {
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "'{text}' is not a contract id: expected 64 hex digits, as `fat deploy` prints"
        )
    })
}

/// Parse JSON arguments given on the command line; `None` when absent.
pub fn parse_args(text: Option<&str>) -> anyhow::Result<Option<Value>> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str(text) {
        Ok(value) => Ok(Some(value)),
        Err(e) => bail!(
            "the arguments are not JSON ({e}): quote them for the shell, e.g. '{{\"by\": 2}}'"
        ),
    }
}

/// Where `fat` keeps accounts: `$FAT_HOME`, or `~/.fat`.
pub fn fat_home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("FAT_HOME") {
        return Ok(PathBuf::from(home));
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".fat")),
        None => bail!("neither FAT_HOME nor HOME is set: set FAT_HOME to where accounts live"),
    }
}

/// Human text for a JSON value: objects and arrays indented, the rest on one line.
pub fn human(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => {
            serde_json::to_string_pretty(value).unwrap_or_default()
        }
        other => other.to_string(),
    }
}
