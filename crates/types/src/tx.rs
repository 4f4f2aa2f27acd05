//! Transactions: what an account asks the chain to order.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::{Bytes, Signature, encode, tagged_hash};
use crate::registry::Deployers;
use crate::{AccountId, ClusterId, CodeHash, ContractId, Hash32, TxId, WorkerId};

/// The domain tag of the hash a transaction's signer signs (its [`TxId`]). Version 2 added
/// the chain id.
pub const TX_TAG: &str = "fat/tx/v2";

/// A transaction before it is signed.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Transaction {
    /// The chain the transaction is for: the hash of its genesis block. Every other chain
    /// refuses it, so a signed transaction cannot be replayed on another network.
    pub chain: Hash32,
    /// The account that signs and pays.
    pub signer: AccountId,
    /// The signer's next nonce: its count of committed transactions.
    pub nonce: u64,
    /// The fee the signer pays, burnt when the transaction is committed.
    pub fee: u64,
    /// What the transaction does.
    pub kind: TxKind,
}

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// Move funds to another account.
    Transfer {
        /// The receiving account.
        to: AccountId,
        /// How much.
        amount: u64,
    },
    /// Store contract code (a WebAssembly component), named by [`code_hash`].
    UploadCode {
        /// The component's bytes.
        code: Bytes,
    },
    /// Create a contract from uploaded code in a cluster; its id is [`contract_id`].
    Instantiate {
        /// The code to run.
        code_hash: CodeHash,
        /// The cluster whose workers run it.
        cluster: ClusterId,
        /// Makes the contract id unique among instances of the same code.
        salt: Bytes,
        /// Arguments of the contract's `init` (opaque to the chain).
        args: Bytes,
        /// The fuel the workers may spend on `init`.
        gas_limit: u64,
    },
    /// A command to a contract, executed by the workers of its cluster.
    Command {
        /// The contract.
        contract: ContractId,
        /// The command (opaque to the chain; encrypted to the contract key by clients).
        payload: Bytes,
        /// The fuel the workers may spend.
        gas_limit: u64,
    },
    /// Create a cluster of registered workers, owned by the signer; its id is [`cluster_id`].
    CreateCluster {
        /// The first members.
        workers: Vec<WorkerId>,
    },
    /// Add a registered worker to a cluster the signer owns.
    AddClusterWorker {
        /// The cluster.
        cluster: ClusterId,
        /// The worker.
        worker: WorkerId,
    },
    /// Register a worker: its keys and the attestation report that binds them.
    RegisterWorker {
        /// The worker's ed25519 identity key.
        worker: WorkerId,
        /// The worker's x25519 key, which envelopes to the worker are encrypted to.
        ecdh_public: Hash32,
        /// The report that binds both keys to a measured enclave.
        attestation: Attestation,
    },
    /// A gatekeeper hands a cluster's key to workers of the cluster, sealed to each worker's
    /// ECDH key, and publishes the cluster's public key.
    ProvisionKey {
        /// The cluster whose key it is.
        cluster: ClusterId,
        /// The key epoch the key is of: the cluster's current one (see
        /// [`crate::ClusterInfo::key_epoch`]).
        epoch: u32,
        /// The cluster's x25519 public key (instantiation arguments are sealed to it).
        cluster_public: Hash32,
        /// Per worker, the cluster key sealed to that worker (opaque to the chain).
        keys: Vec<(WorkerId, Bytes)>,
    },
    /// A gatekeeper publishes the x25519 public key of an instantiated contract.
    PublishContractKey {
        /// The contract.
        contract: ContractId,
        /// Its public key (commands are sealed to it).
        public_key: Hash32,
    },
    // New variants go last: the borsh encoding numbers them in order.
    /// Remove a worker from a cluster the signer owns: it stops running the cluster's
    /// contracts from the next block.
    RemoveClusterWorker {
        /// The cluster.
        cluster: ClusterId,
        /// The worker.
        worker: WorkerId,
    },
    /// The operator of a registered worker says where its API serves (routing only: clients
    /// check the worker's attested keys, never the address).
    SetWorkerEndpoint {
        /// The worker.
        worker: WorkerId,
        /// Its API's base URL, `http://` or `https://`, at most [`MAX_ENDPOINT_BYTES`].
        endpoint: String,
    },
    /// A gatekeeper publishes the x25519 public keys of instantiated contracts, at most
    /// [`MAX_PUBLISHED_KEYS`] at once: one transaction for many deploys.
    PublishContractKeys {
        /// Each contract and its public key (commands are sealed to it), no contract twice.
        keys: Vec<(ContractId, Hash32)>,
    },
    /// The owner of a cluster says who may instantiate contracts in it.
    SetClusterDeployers {
        /// The cluster.
        cluster: ClusterId,
        /// Who may deploy from the next block on (contracts already there stay).
        deployers: Deployers,
    },
    /// The operator of a registered worker sends a fresh report binding the same keys: it
    /// replaces the registered one, checked against the chain's policy at the block's time.
    Reattest {
        /// The worker.
        worker: WorkerId,
        /// The new report.
        attestation: Attestation,
    },
}

/// The most contract keys one `PublishContractKeys` carries.
pub const MAX_PUBLISHED_KEYS: usize = 1024;

/// The longest worker endpoint URL the chain keeps.
pub const MAX_ENDPOINT_BYTES: usize = 256;

/// Why `endpoint` is not a worker endpoint the chain keeps, if it is not.
pub fn endpoint_problem(endpoint: &str) -> Option<&'static str> {
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return Some("longer than 256 bytes");
    }
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"));
    match rest {
        None => Some("not an http:// or https:// URL"),
        Some("") => Some("no host"),
        Some(rest) if rest.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Some("whitespace or control characters")
        }
        Some(_) => None,
    }
}

impl TxKind {
    /// The gas (fuel) the transaction asks for: an instantiation's or a command's gas limit,
    /// none for every other kind.
    pub fn gas_limit(&self) -> u64 {
        match self {
            TxKind::Instantiate { gas_limit, .. } | TxKind::Command { gas_limit, .. } => *gas_limit,
            _ => 0,
        }
    }

    /// Whether the transaction pays its bytes' fee (see [`crate::ChainParams::byte_fee`]):
    /// every kind but the gatekeeper's key publications (`ProvisionKey`,
    /// `PublishContractKeys`), which only a genesis gatekeeper may send. Their bytes are work
    /// that deployers and cluster owners asked for and paid in key deposits; a removal from a
    /// cluster of a hundred members makes a provisioning of some 30 KB, which a deposit priced
    /// per transaction could never cover at a fee per byte.
    pub fn pays_byte_fee(&self) -> bool {
        !matches!(
            self,
            TxKind::ProvisionKey { .. } | TxKind::PublishContractKeys { .. }
        )
    }
}

/// An attestation report as the chain stores it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Attestation {
    /// Which provider made it: `dev`, `sgx-dcap`, `tdx-dcap`, `sev-snp`, ...
    pub provider: String,
    /// The provider's report (opaque to this crate).
    pub report: Bytes,
}

/// A transaction with its signer's signature over its [`TxId`].
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// The ed25519 signature of `tx.id()` by `tx.signer`.
    pub signature: Signature,
}

impl Transaction {
    /// The transaction's id: the hash of its canonical encoding under [`TX_TAG`].
    /// This is also what the signer signs.
    pub fn id(&self) -> TxId {
        TxId(tagged_hash(TX_TAG, self).0)
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
}

impl SignedTransaction {
    /// The id of the inner transaction.
    pub fn id(&self) -> TxId {
        self.tx.id()
    }

    /// The canonical encoding (what `POST /v1/txs` takes).
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
}

/// The hash that names uploaded code: plain BLAKE3 of the bytes.
pub fn code_hash(code: &[u8]) -> CodeHash {
    CodeHash(*blake3::hash(code).as_bytes())
}

/// A contract's id: H(`fat/contract/v1`, deployer, code hash, cluster, salt).
pub fn contract_id(
    deployer: &AccountId,
    code_hash: &CodeHash,
    cluster: &ClusterId,
    salt: &[u8],
) -> ContractId {
    ContractId(tagged_hash("fat/contract/v1", &(deployer, code_hash, cluster, salt)).0)
}

/// A cluster's id: H(`fat/cluster/v1`, creator, nonce of the creating transaction).
pub fn cluster_id(creator: &AccountId, nonce: u64) -> ClusterId {
    ClusterId(tagged_hash("fat/cluster/v1", &(creator, nonce)).0)
}
