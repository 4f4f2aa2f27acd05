//! The chain's genesis and parameters: what a chain starts from and the rules every node
//! applies. Followers parse and hash it to learn the validator set.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::{Signature, tagged_hash};
use crate::{AccountId, AttestationPolicy, Hash32, Transaction, TxKind};

/// The domain tag of [`Genesis::config_hash`].
pub const GENESIS_TAG: &str = "fat/genesis/v3";

/// Rules every node of a chain applies.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ChainParams {
    /// The largest encoded signed transaction accepted.
    pub max_tx_bytes: u64,
    /// The most transactions in one block.
    pub max_block_txs: u32,
    /// The fee every transaction pays at least...
    pub base_fee: u64,
    /// ...plus this much per encoded byte (but for the gatekeeper's key publications: see
    /// [`TxKind::pays_byte_fee`])...
    pub byte_fee: u64,
    /// ...plus this much per million gas (fuel) a command or an instantiation asks for,
    /// rounded down: the fee grows with the gas asked, whether or not it is spent.
    pub gas_fee: u64,
    /// The most gas one transaction may ask for. Workers never run a call longer, whatever a
    /// block says: a contract that loops forever stops here on every worker.
    pub max_tx_gas: u64,
    /// The most gas the transactions of one block may ask for together.
    pub max_block_gas: u64,
    /// What attestation reports workers may register with (`dev` only on dev chains).
    pub attestation: AttestationPolicy,
    /// What a transaction that makes work for the gatekeeper deposits per key it needs, on
    /// top of its fee: `Instantiate` one (its contract's key), `CreateCluster` and
    /// `AddClusterWorker` one (the cluster's provisioning). The gatekeeper that publishes the
    /// key is paid the deposit, so deploys pay for the gatekeeper's work, not the
    /// gatekeeper.
    #[serde(default = "default_key_fee")]
    pub key_fee: u64,
    /// The accounts that may create clusters (and so own them: a cluster's owner changes its
    /// members). Empty: any account may.
    #[serde(default)]
    pub cluster_admins: Vec<AccountId>,
}

fn default_key_fee() -> u64 {
    ChainParams::default().key_fee
}

impl ChainParams {
    /// The minimum fee of a transaction of `size` encoded bytes asking for `gas`.
    pub fn min_fee(&self, size: u64, gas: u64) -> u64 {
        let mgas = gas / GAS_PER_FEE_UNIT;
        self.base_fee
            .saturating_add(self.byte_fee.saturating_mul(size))
            .saturating_add(self.gas_fee.saturating_mul(mgas))
    }

    /// The minimum fee of a transaction of `kind` and `size` encoded bytes: by
    /// [`ChainParams::min_fee`], its bytes counted only if the kind pays for them
    /// ([`TxKind::pays_byte_fee`]).
    pub fn min_fee_of_kind(&self, kind: &TxKind, size: u64) -> u64 {
        let size = if kind.pays_byte_fee() { size } else { 0 };
        self.min_fee(size, kind.gas_limit())
    }

    /// The minimum fee of `tx` once signed, by [`ChainParams::min_fee_of_kind`]: a signed
    /// transaction encodes as the transaction then its signature, and the fee is a
    /// fixed-width field, so the size is known before the fee is chosen.
    pub fn min_fee_of(&self, tx: &Transaction) -> u64 {
        let size = tx.encode().len() + std::mem::size_of::<Signature>();
        self.min_fee_of_kind(&tx.kind, size as u64)
    }

    /// `tx` offering at least its minimum fee ([`ChainParams::min_fee_of`]): its fee is
    /// raised to it when it offers less (build it with fee 0 to offer exactly the minimum).
    pub fn priced(&self, mut tx: Transaction) -> Transaction {
        tx.fee = tx.fee.max(self.min_fee_of(&tx));
        tx
    }
}

/// The most encoded bytes the transactions of one block hold together: eight transactions of
/// the largest default size. A block stays small enough to gossip, commit in one write and
/// stream to followers as one event, however cheap its transactions.
pub const MAX_BLOCK_BYTES: u64 = 32 << 20;

/// [`ChainParams::gas_fee`] is paid per this much gas.
pub const GAS_PER_FEE_UNIT: u64 = 1_000_000;

/// Defaults that accept no attestation at all: a chain must name its policy.
impl Default for ChainParams {
    fn default() -> Self {
        Self {
            max_tx_bytes: 4 << 20,
            max_block_txs: 10_000,
            base_fee: 1,
            // A transfer (~190 bytes) costs about 190; a 4 MiB upload about 4.2 million: to
            // fill a block's 32 MiB, or a mempool's 256 MiB, costs as many units as bytes.
            byte_fee: 1,
            gas_fee: 1,
            // About a second of a busy loop on a worker.
            max_tx_gas: 1_000_000_000,
            max_block_gas: 10_000_000_000,
            attestation: AttestationPolicy::default(),
            // Ten gatekeeper transactions' minimum fee at the default base fee (its key
            // publications pay no byte fee).
            key_fee: 10,
            cluster_admins: Vec::new(),
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
    /// The validators' consensus keys, in order: a certificate names a signer by its index here.
    pub validators: Vec<AccountId>,
    /// The rules.
    pub params: ChainParams,
    /// Funded accounts.
    pub accounts: Vec<(AccountId, u64)>,
    /// Accounts allowed to provision cluster keys.
    pub gatekeepers: Vec<AccountId>,
}

impl Genesis {
    /// The hash of the configuration, which the genesis block links to as its parent.
    pub fn config_hash(&self) -> Hash32 {
        tagged_hash(GENESIS_TAG, self)
    }
}
