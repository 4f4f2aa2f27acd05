//! The chain's parameters and genesis, and the dev genesis.

use borsh::{BorshDeserialize, BorshSerialize};
use fat_crypto::dev_keypair;
use fat_types::encoding::tagged_hash;
use fat_types::{AccountId, AttestationPolicy, Hash32};
use serde::{Deserialize, Serialize};

/// Rules every node of a chain applies.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ChainParams {
    /// The largest encoded signed transaction accepted.
    pub max_tx_bytes: u64,
    /// The most transactions in one block.
    pub max_block_txs: u32,
    /// The fee every transaction pays at least...
    pub base_fee: u64,
    /// ...plus this much per encoded byte.
    pub byte_fee: u64,
    /// What attestation reports workers may register with (`dev` only on dev chains).
    pub attestation: AttestationPolicy,
}

impl ChainParams {
    /// The minimum fee of a transaction of `size` encoded bytes.
    pub fn min_fee(&self, size: u64) -> u64 {
        self.base_fee
            .saturating_add(self.byte_fee.saturating_mul(size))
    }
}

/// Defaults that accept no attestation at all: a chain must name its policy.
impl Default for ChainParams {
    fn default() -> Self {
        Self {
            max_tx_bytes: 4 << 20,
            max_block_txs: 10_000,
            base_fee: 1,
            byte_fee: 0,
            attestation: AttestationPolicy::default(),
        }
    }
}

/// What a chain starts from; its hash names the chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Genesis {
    /// A human name (`dev`, ...).
    pub chain_id: String,
    /// The genesis block's timestamp.
    pub timestamp_ms: u64,
    /// The account that produces blocks (the single sequencer).
    pub producer: AccountId,
    /// The rules.
    pub params: ChainParams,
    /// Funded accounts.
    pub accounts: Vec<(AccountId, u64)>,
    /// Accounts allowed to provision cluster keys.
    pub gatekeepers: Vec<AccountId>,
}

/// The dev accounts funded by [`Genesis::dev`], by name.
pub const DEV_ACCOUNTS: [&str; 3] = ["alice", "bob", "charlie"];
/// The name of the dev gatekeeper's key (see [`fat_crypto::dev_keypair`]).
pub const DEV_GATEKEEPER: &str = "gatekeeper";
/// The name of the dev sequencer's key.
pub const DEV_SEQUENCER: &str = "sequencer";
/// What each dev account holds at genesis.
pub const DEV_BALANCE: u64 = 1_000_000_000_000;

impl Genesis {
    /// The dev chain: alice, bob, charlie and the gatekeeper funded, the dev sequencer producing,
    /// `dev` attestation accepted ([`fat_attestation::dev_chain_policy`]). Every key is well
    /// known: never use it for anything real.
    pub fn dev() -> Self {
        let mut accounts: Vec<(AccountId, u64)> = DEV_ACCOUNTS
            .iter()
            .map(|name| (dev_keypair(name).account_id(), DEV_BALANCE))
            .collect();
        let gatekeeper = dev_keypair(DEV_GATEKEEPER).account_id();
        accounts.push((gatekeeper, DEV_BALANCE));
        Self {
            chain_id: "dev".into(),
            timestamp_ms: 1_767_225_600_000,
            producer: dev_keypair(DEV_SEQUENCER).account_id(),
            params: ChainParams {
                attestation: fat_attestation::dev_chain_policy(),
                ..ChainParams::default()
            },
            accounts,
            gatekeepers: vec![gatekeeper],
        }
    }

    /// The hash of the configuration, which the genesis block links to as its parent.
    pub fn config_hash(&self) -> Hash32 {
        tagged_hash("fat/genesis/v1", self)
    }
}
