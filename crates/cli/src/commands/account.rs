//! `fat account`: signing accounts, the dev ones and those kept under `$FAT_HOME/accounts`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::AccountId;
use serde_json::json;

use super::{ClientArgs, DEV_ACCOUNTS, Global, fat_home, print_json};

/// Create, list and show accounts.
///
/// Dev accounts (alice, bob, charlie) exist on every dev
/// chain; others are kept in `$FAT_HOME/accounts` (default `~/.fat/accounts`).
#[derive(Debug, Args)]
pub struct AccountCommand {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create an account with a fresh random key and print its id.
    New {
        /// The account's name, used with `--as NAME`.
        name: String,
        /// Machine output: `{"name","account","path"}`.
        #[arg(long)]
        json: bool,
    },
    /// List the accounts `--as` accepts.
    List {
        /// Machine output: `{"accounts":[{"name","account","kind"}]}`.
        #[arg(long)]
        json: bool,
    },
    /// Show an account's balance and nonce on the chain.
    ///
    /// ACCOUNT is an account name or id [default: the `--as` account, alice]. `--json` prints
    /// `{"account","balance","nonce","next_nonce"}`: `nonce` counts the committed
    /// transactions, `next_nonce` the pending ones too.
    Show {
        /// An account name (dev or made with `fat account new`) or id (64 hex digits).
        #[arg(value_name = "ACCOUNT")]
        who: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn accounts_dir() -> anyhow::Result<PathBuf> {
    Ok(fat_home()?.join("accounts"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The account `text` names: an account id (64 hex digits), a dev account, or one made with
/// `fat account new`.
pub fn resolve(text: &str) -> anyhow::Result<AccountId> {
    if let Ok(id) = text.parse::<AccountId>() {
        return Ok(id);
    }
    keypair(text)
        .map(|k| k.account_id())
        .map_err(|e| anyhow::anyhow!("{e}; or give an account id (64 hex digits)"))
}

/// The key of account `name`: a dev account, or one made with `fat account new`.
pub fn keypair(name: &str) -> anyhow::Result<Keypair> {
    if DEV_ACCOUNTS.contains(&name) {
        return Ok(dev_keypair(name));
    }
    if valid_name(name) {
        let path = accounts_dir()?.join(format!("{name}.key"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            let seed: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .with_context(|| format!("{} is not a 32-byte hex key", path.display()))?;
            return Ok(Keypair::from_seed(seed));
        }
    }
    bail!(
        "unknown account '{name}': use a dev account (alice, bob, charlie) or create it with \
         `fat account new {name}`"
    )
}

impl AccountCommand {
    /// Whether the output is JSON.
    pub fn json(&self) -> bool {
        match &self.action {
            Action::New { json, .. } | Action::List { json } => *json,
            Action::Show { client, .. } => client.json,
        }
    }

    /// Create or list.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let json_out = global.json || self.json();
        match self.action {
            Action::Show { who, client } => show(who, &client, global),
            Action::New { name, .. } => {
                if !valid_name(&name) {
                    bail!("'{name}' is not an account name: use letters, digits, '-' and '_'");
                }
                if DEV_ACCOUNTS.contains(&name.as_str()) {
                    bail!("'{name}' is a dev account already: pick another name");
                }
                let dir = accounts_dir()?;
                let path = dir.join(format!("{name}.key"));
                if path.exists() {
                    bail!("account '{name}' exists already ({})", path.display());
                }
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed)
                    .map_err(|e| anyhow::anyhow!("cannot get random bytes: {e}"))?;
                fat_types::private_fs::create_private_dir(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                // Readable by its owner only from the moment it exists.
                fat_types::private_fs::write_private_new(
                    &path,
                    format!("{}\n", hex::encode(seed)).as_bytes(),
                )
                .with_context(|| format!("cannot write {}", path.display()))?;
                let account = Keypair::from_seed(seed).account_id();
                if json_out {
                    return print_json(&json!({"name": name, "account": account, "path": path}));
                }
                println!("{account}");
                eprintln!("created account '{name}' (key in {})", path.display());
                Ok(())
            }
            Action::List { .. } => {
                let mut accounts: Vec<_> = DEV_ACCOUNTS
                    .iter()
                    .map(|name| (name.to_string(), dev_keypair(name).account_id(), "dev"))
                    .collect();
                let dir = accounts_dir()?;
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    let mut names: Vec<String> = entries
                        .flatten()
                        .filter_map(|e| {
                            e.file_name()
                                .to_str()?
                                .strip_suffix(".key")
                                .map(str::to_string)
                        })
                        .collect();
                    names.sort();
                    for name in names {
                        accounts.push((name.clone(), keypair(&name)?.account_id(), "local"));
                    }
                }
                if json_out {
                    let list: Vec<_> = accounts
                        .iter()
                        .map(|(name, id, kind)| json!({"name": name, "account": id, "kind": kind}))
                        .collect();
                    return print_json(&json!({ "accounts": list }));
                }
                for (name, id, kind) in accounts {
                    println!("{name:<12} {id} ({kind})");
                }
                Ok(())
            }
        }
    }
}

/// `fat account show`.
fn show(account: Option<String>, client: &ClientArgs, global: &Global) -> anyhow::Result<()> {
    let ctx = client.ctx(global)?;
    let id = match &account {
        Some(text) => resolve(text)?,
        None => ctx.key()?.account_id(),
    };
    let view = ctx.block_on(async { Ok(ctx.client.account(&id).await?) })?;
    if ctx.json {
        return print_json(&json!({
            "account": view.id,
            "balance": view.balance,
            "nonce": view.nonce,
            "next_nonce": view.next_nonce,
        }));
    }
    println!("account  {}", view.id);
    println!("balance  {}", view.balance);
    if view.next_nonce == view.nonce {
        println!("nonce    {}", view.nonce);
    } else {
        println!(
            "nonce    {} ({} pending)",
            view.nonce,
            view.next_nonce.saturating_sub(view.nonce)
        );
    }
    Ok(())
}
