//! The chain's parameters and genesis (defined in [`fat_types::genesis`], so followers read
//! them without this crate), and the dev genesis.

use fat_crypto::dev_keypair;
use fat_types::AccountId;
pub use fat_types::genesis::{ChainParams, Genesis};

/// The dev accounts funded by [`dev`], by name.
pub const DEV_ACCOUNTS: [&str; 3] = ["alice", "bob", "charlie"];
/// The name of the dev gatekeeper's key (see [`fat_crypto::dev_keypair`]).
pub const DEV_GATEKEEPER: &str = "gatekeeper";
/// The name of the dev sequencer's key: the dev chain's one validator.
pub const DEV_SEQUENCER: &str = "sequencer";
/// What each dev account holds at genesis.
pub const DEV_BALANCE: u64 = 1_000_000_000_000;

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
            ..ChainParams::default()
        },
        accounts,
        gatekeepers: vec![gatekeeper],
    }
}
