//! `fat genesis new`: make a network's genesis and its validators' keys.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use fat_chain::genesis::{GenesisFile, ValidatorKeyFile};
use fat_crypto::Keypair;

/// Make a network's genesis.
#[derive(Debug, Args)]
pub struct GenesisCommand {
    #[command(subcommand)]
    action: GenesisAction,
}

#[derive(Debug, Subcommand)]
enum GenesisAction {
    /// Write DIR/genesis.json and one key file per validator (DIR/validator-N.key, mode 0600).
    New(NewGenesis),
}

#[derive(Debug, Args)]
struct NewGenesis {
    /// How many validators (a block is final when n - floor((n-1)/3) of them sign it).
    #[arg(long, value_name = "N")]
    validators: usize,
    /// Each validator's p2p address, in order [default: 127.0.0.1:9000, :9001, ...].
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
    p2p: Vec<SocketAddr>,
    /// Fund the dev accounts (alice, bob, charlie), name the dev gatekeeper, make alice the
    /// cluster admin and accept `dev` attestation: a test network whose keys are public.
    #[arg(long)]
    dev_accounts: bool,
    /// The accounts (64-hex ids) that may create clusters [default: alice with
    /// --dev-accounts, else any account].
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    cluster_admins: Vec<fat_types::AccountId>,
    /// How long a worker's attestation report stays good after the chain accepted it, in
    /// seconds; past it, clients and gatekeepers refuse the worker until its operator sends
    /// a fresh report (`fat worker` does so at half the age). 0: reports never go stale.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    attestation_max_age: u64,
    /// The lowest SEV-SNP TCB workers may register with: the security version numbers of
    /// the bootloader, the PSP OS, the SNP firmware and the microcode [default: any].
    #[arg(long, value_name = "BL,TEE,SNP,UCODE", value_parser = parse_snp_tcb)]
    snp_min_tcb: Option<fat_types::SnpTcb>,
    /// The chain's name.
    #[arg(long, value_name = "NAME", default_value = "fat")]
    chain_id: String,
    /// The directory to write; it must not hold a genesis already.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// `BL,TEE,SNP,UCODE`: four numbers from 0 to 255.
fn parse_snp_tcb(text: &str) -> Result<fat_types::SnpTcb, String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [bootloader, tee, snp, microcode] = parts.as_slice() else {
        return Err(format!(
            "{text:?} is not BL,TEE,SNP,UCODE (four numbers, e.g. 3,0,8,115)"
        ));
    };
    let svn = |what: &str, v: &str| {
        v.parse::<u8>()
            .map_err(|_| format!("{what} {v:?} is not a number from 0 to 255"))
    };
    Ok(fat_types::SnpTcb {
        bootloader: svn("bootloader", bootloader)?,
        tee: svn("tee", tee)?,
        snp: svn("snp", snp)?,
        microcode: svn("microcode", microcode)?,
    })
}

impl GenesisCommand {
    /// Write the genesis and the keys.
    pub fn run(self, json: bool) -> anyhow::Result<()> {
        let GenesisAction::New(new) = self.action;
        new.run(json)
    }
}

impl NewGenesis {
    fn run(self, json: bool) -> anyhow::Result<()> {
        if self.validators == 0 {
            bail!("--validators must be at least 1");
        }
        let p2p = if self.p2p.is_empty() {
            (0..self.validators)
                .map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16)))
                .collect()
        } else if self.p2p.len() == self.validators {
            self.p2p
        } else {
            bail!(
                "--p2p names {} addresses for {} validators; give one per validator",
                self.p2p.len(),
                self.validators
            );
        };
        let genesis_path = self.out.join("genesis.json");
        if genesis_path.exists() {
            bail!(
                "{} exists already; choose another --out",
                genesis_path.display()
            );
        }
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create {}", self.out.display()))?;
        let keys: Vec<Keypair> = (0..self.validators)
            .map(|_| {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map(|()| Keypair::from_seed(seed))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("no randomness for the keys: {e}"))?;
        let mut genesis = fat_chain::genesis::dev();
        genesis.chain_id = self.chain_id;
        genesis.timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_millis() as u64;
        genesis.validators = keys.iter().map(Keypair::account_id).collect();
        if !self.dev_accounts {
            genesis.accounts.clear();
            genesis.gatekeepers.clear();
            genesis.params.attestation = Default::default();
            genesis.params.cluster_admins.clear();
        }
        if !self.cluster_admins.is_empty() {
            genesis.params.cluster_admins = self.cluster_admins.clone();
        }
        genesis.params.attestation.max_age_secs = self.attestation_max_age;
        genesis.params.attestation.snp_min_tcb = self.snp_min_tcb;
        let mut key_files = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let path = self.out.join(format!("validator-{i}.key"));
            ValidatorKeyFile::new(key)
                .write(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            key_files.push(path);
        }
        let file = GenesisFile { genesis, p2p };
        std::fs::write(
            &genesis_path,
            format!("{}\n", serde_json::to_string_pretty(&file)?),
        )
        .with_context(|| format!("cannot write {}", genesis_path.display()))?;
        let hash = fat_chain::store::genesis_block(&file.genesis).0.hash();
        let mut out = std::io::stdout().lock();
        if json {
            let answer = serde_json::json!({
                "genesis": genesis_path,
                "genesis_hash": hash,
                "keys": key_files,
                "validators": file.genesis.validators,
            });
            writeln!(out, "{answer}")?;
        } else {
            writeln!(out, "{}", genesis_path.display())?;
            for path in &key_files {
                writeln!(out, "{}", path.display())?;
            }
            writeln!(out, "genesis hash {hash}")?;
        }
        Ok(())
    }
}
