//! The chain's parameters and genesis (defined in [`fat_types::genesis`], so followers read
//! them without this crate), and the dev genesis.

use fat_crypto::dev_keypair;
pub use fat_types::genesis::{ChainParams, Genesis};
use fat_types::{AccountId, Hash32};

/// The dev accounts funded by [`dev`], by name.
pub const DEV_ACCOUNTS: [&str; 3] = ["alice", "bob", "charlie"];
/// The name of the dev gatekeeper's key (see [`fat_crypto::dev_keypair`]).
pub const DEV_GATEKEEPER: &str = "gatekeeper";
/// The dev account that may create clusters (the dev chain's one cluster admin).
pub const DEV_CLUSTER_ADMIN: &str = "alice";
/// The name of the dev sequencer's key: the dev chain's one validator.
pub const DEV_SEQUENCER: &str = "sequencer";
/// What each dev account holds at genesis.
pub const DEV_BALANCE: u64 = 1_000_000_000_000;

/// The id of the chain `genesis` starts: the hash of its genesis block, which every
/// transaction for it carries ([`fat_types::Transaction::chain`]).
pub fn chain_id(genesis: &Genesis) -> Hash32 {
    crate::store::genesis_block(genesis).0.hash()
}

/// The dev chain: alice, bob, charlie and the gatekeeper funded, the dev sequencer the one
/// validator, `dev` attestation accepted ([`fat_attestation::dev_chain_policy`]). Every key is
/// well known: never use it for anything real.
pub fn dev() -> Genesis {
    let mut accounts: Vec<(AccountId, u64)> = DEV_ACCOUNTS
        .iter()
        .map(|name| (dev_keypair(name).account_id(), DEV_BALANCE))
        .collect();
    let gatekeeper = dev_keypair(DEV_GATEKEEPER).account_id();
    accounts.push((gatekeeper, DEV_BALANCE));
    Genesis {
        chain_id: "dev".into(),
        timestamp_ms: 1_767_225_600_000,
        validators: vec![dev_keypair(DEV_SEQUENCER).account_id()],
        params: ChainParams {
            attestation: fat_attestation::dev_chain_policy(),
            cluster_admins: vec![dev_keypair(DEV_CLUSTER_ADMIN).account_id()],
            ..ChainParams::default()
        },
        accounts,
        gatekeepers: vec![gatekeeper],
    }
}

/// The dev chain run by `n` validators on commonware's simplex engine instead of the dev
/// sequencer: their keys are [`dev_validator`]`(i)`, well known like every dev key.
pub fn dev_with_validators(n: usize) -> Genesis {
    let mut genesis = dev();
    genesis.validators = (0..n).map(|i| dev_validator(i).account_id()).collect();
    genesis
}

/// The well-known key of dev validator `i` (for [`dev_with_validators`]).
pub fn dev_validator(i: usize) -> fat_crypto::Keypair {
    dev_keypair(&format!("dev-validator-{i}"))
}

/// What `fat genesis new` writes and `fat chain --genesis` reads: the genesis and each
/// validator's p2p address (in the order of [`Genesis::validators`]). The addresses are not
/// part of the genesis hash: a validator can move without making another chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GenesisFile {
    /// The chain.
    pub genesis: Genesis,
    /// Where each validator's p2p network listens.
    pub p2p: Vec<std::net::SocketAddr>,
}

impl GenesisFile {
    /// Read and check a genesis file: one p2p address per validator.
    pub fn read(path: &std::path::Path) -> crate::Result<Self> {
        let bad = |reason: String| crate::ChainError::GenesisFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let file: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.p2p.len() != file.genesis.validators.len() {
            return Err(bad(format!(
                "{} validators but {} p2p addresses",
                file.genesis.validators.len(),
                file.p2p.len()
            )));
        }
        Ok(file)
    }

    /// The validators with their p2p addresses.
    pub fn validators(&self) -> Vec<(AccountId, std::net::SocketAddr)> {
        self.genesis
            .validators
            .iter()
            .copied()
            .zip(self.p2p.iter().copied())
            .collect()
    }
}

/// A validator's key file: its account (public key) and the secret seed, hex.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidatorKeyFile {
    /// The validator's public key.
    pub validator: AccountId,
    /// The ed25519 seed, 32 bytes in hex.
    pub seed: String,
}

impl ValidatorKeyFile {
    /// The file of `key`.
    pub fn new(key: &fat_crypto::Keypair) -> Self {
        Self {
            validator: key.account_id(),
            seed: hex::encode(key.seed()),
        }
    }

    /// Write it to `path`, readable by its owner only from the moment it exists.
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    }

    /// Read a key file; refuses a seed that is not 32 bytes of hex or does not give the
    /// public key the file names.
    pub fn read(path: &std::path::Path) -> crate::Result<fat_crypto::Keypair> {
        let bad = |reason: String| crate::ChainError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let file: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let seed: [u8; 32] = hex::decode(file.seed.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| bad("the seed is not 32 bytes of hex".into()))?;
        let key = fat_crypto::Keypair::from_seed(seed);
        if key.account_id() != file.validator {
            return Err(bad(format!(
                "the seed is the key of {}, not of {}",
                key.account_id(),
                file.validator
            )));
        }
        Ok(key)
    }
}
