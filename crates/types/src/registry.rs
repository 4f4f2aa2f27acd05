//! The registry the chain keeps: accounts, code, contracts, clusters, workers and keys.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::Bytes;
use crate::tx::Attestation;
use crate::{AccountId, ClusterId, CodeHash, ContractId, Hash32, WorkerId};

/// An account's balance and next nonce.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct AccountState {
    /// Funds available for fees and transfers.
    pub balance: u64,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
}

/// Uploaded code (its bytes are served separately).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CodeInfo {
    /// BLAKE3 of the bytes.
    pub hash: CodeHash,
    /// Length in bytes.
    pub size: u64,
    /// Who uploaded it first.
    pub uploader: AccountId,
    /// The block that stored it.
    pub height: u64,
}

/// A contract instance.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ContractInfo {
    /// The contract's id.
    pub id: ContractId,
    /// Its code.
    pub code_hash: CodeHash,
    /// The cluster that runs it.
    pub cluster: ClusterId,
    /// Who instantiated it.
    pub deployer: AccountId,
    /// The block that created it.
    pub height: u64,
    /// The cluster's key epoch when the contract was created: the contract's keys derive
    /// from that epoch's cluster key, so a member removed before it was created cannot
    /// derive them.
    pub key_epoch: u32,
    /// The contract's x25519 key, which commands are sealed to; published by a gatekeeper
    /// after instantiation (`None` until then).
    pub public_key: Option<Hash32>,
}

/// A cluster of workers.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The cluster's id.
    pub id: ClusterId,
    /// Who may add workers.
    pub owner: AccountId,
    /// The members, in the order they joined.
    pub workers: Vec<WorkerId>,
    /// The epoch of the cluster's key: 0 at creation, one more each time a member is
    /// removed. Each epoch's key is provisioned to the members of that epoch only, and
    /// contracts take the epoch they were created in (see `docs/security.md`).
    pub key_epoch: u32,
    /// The x25519 key of the cluster's current epoch, which instantiation arguments are
    /// sealed to; published with the epoch's key provisioning (`None` until then).
    pub public_key: Option<Hash32>,
    /// Who may instantiate contracts in the cluster (anyone, until its owner says otherwise).
    pub deployers: Deployers,
    /// Key deposits (`key_fee` each) paid by the cluster's creation and its added members,
    /// not yet paid out to a gatekeeper: the next `ProvisionKey` of the cluster earns them.
    pub key_deposits: u64,
}

impl ClusterInfo {
    /// Whether `account` may instantiate contracts in the cluster.
    pub fn may_deploy(&self, account: &AccountId) -> bool {
        match &self.deployers {
            Deployers::Anyone => true,
            Deployers::Owner => *account == self.owner,
            Deployers::Accounts(list) => *account == self.owner || list.contains(account),
        }
    }
}

/// The account that holds key deposits until a gatekeeper earns them. Its id is a hash, not
/// a public key anyone holds the secret of, so no transaction can spend from it.
pub fn key_escrow() -> AccountId {
    AccountId(crate::encoding::tagged_hash("fat/key-escrow", &()).0)
}

/// How many key epochs a cluster has (0 to `MAX_KEY_EPOCHS - 1`): each epoch's key is
/// derived from the next one's by a one-way step, so the key of the last epoch is where
/// the chain starts. Removing a member of a cluster at its last epoch is refused.
pub const MAX_KEY_EPOCHS: u32 = 4096;

/// The most accounts a cluster's deployer list names.
pub const MAX_DEPLOYERS: usize = 256;

/// Who may instantiate contracts in a cluster. Its owner chooses (`SetClusterDeployers`): a
/// cluster open to anyone does its gatekeeper's and its workers' work for anyone who pays.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Deployers {
    /// Any account.
    #[default]
    Anyone,
    /// Only the cluster's owner.
    Owner,
    /// The owner and these accounts (at most [`MAX_DEPLOYERS`]).
    Accounts(Vec<AccountId>),
}

/// A registered worker.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The worker's ed25519 identity key.
    pub id: WorkerId,
    /// The worker's x25519 key.
    pub ecdh_public: Hash32,
    /// The account that registered it.
    pub operator: AccountId,
    /// The report that binds its keys.
    pub attestation: Attestation,
    /// The block that registered it.
    pub height: u64,
    /// When the chain accepted its current report (its registration or its last
    /// `Reattest`): the block's time, in Unix seconds.
    pub attested_at: u64,
    /// Where its API serves, as its operator last said (`SetWorkerEndpoint`); `None` until
    /// then.
    pub endpoint: Option<String>,
}

/// A cluster key provisioned to a worker by a gatekeeper.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct KeyProvision {
    /// The worker.
    pub worker: WorkerId,
    /// The cluster.
    pub cluster: ClusterId,
    /// The key epoch of the cluster key sealed here (the worker's newest: a removed worker
    /// keeps the one it last held).
    pub epoch: u32,
    /// The gatekeeper that provisioned it.
    pub gatekeeper: AccountId,
    /// The cluster key sealed to the worker.
    pub sealed_key: Bytes,
    /// The block that provisioned it.
    pub height: u64,
}

/// What attestation reports a chain accepts when workers register. Clients check workers
/// against it too.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct AttestationPolicy {
    /// Accepted providers by name (`dev`, `sgx-dcap`, `tdx-dcap`, `sev-snp`). `dev` belongs
    /// only in a dev chain's policy.
    pub providers: Vec<String>,
    /// Allowed measurements: (provider, measurement bytes).
    pub measurements: Vec<(String, Bytes)>,
    /// Accepted TCB statuses of DCAP quotes (`UpToDate`, ...).
    pub tcb_statuses: Vec<String>,
    /// How long a worker's report stays good after the chain accepted it, in seconds (0:
    /// for ever). Clients and gatekeepers check a report as of the time the chain accepted
    /// it, so collateral that expired since is no reason to refuse the worker; past this
    /// age they refuse it until its operator sends a fresh report (`Reattest`), whose
    /// collateral carries any TCB downgrade since.
    #[serde(default)]
    pub max_age_secs: u64,
    /// The lowest SEV-SNP TCB accepted: a report whose reported TCB is below it in any
    /// component is refused (`None`: any).
    #[serde(default)]
    pub snp_min_tcb: Option<SnpTcb>,
}

/// An SEV-SNP TCB version: the security version numbers of the platform's firmware parts.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct SnpTcb {
    /// The PSP bootloader's SVN.
    pub bootloader: u8,
    /// The PSP operating system's SVN.
    pub tee: u8,
    /// The SNP firmware's SVN.
    pub snp: u8,
    /// The lowest microcode patch level of the cores.
    pub microcode: u8,
}

impl SnpTcb {
    /// Whether every component is at least `min`'s.
    pub fn at_least(&self, min: &SnpTcb) -> bool {
        self.bootloader >= min.bootloader
            && self.tee >= min.tee
            && self.snp >= min.snp
            && self.microcode >= min.microcode
    }
}

impl std::fmt::Display for SnpTcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bootloader {}, tee {}, snp {}, microcode {}",
            self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

impl AttestationPolicy {
    /// Whether the policy accepts the insecure `dev` provider.
    pub fn accepts_dev(&self) -> bool {
        self.providers.iter().any(|p| p == "dev")
    }
}
