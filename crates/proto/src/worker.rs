//! The bodies of a worker's API, as the worker sends them and clients read them.

use borsh::{BorshDeserialize, BorshSerialize};
use fat_types::{
    AccountId, ClusterId, CodeHash, ContractId, Hash32, Signature, SignedExecutionReceipt, TxId,
    WorkerId,
};
use serde::{Deserialize, Serialize};

/// `GET /v1/status`: who the worker is and how far it has followed the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its identity (it signs receipts and answers).
    pub worker: WorkerId,
    /// Its x25519 key: queries are sealed to it.
    pub ecdh_public: Hash32,
    /// How many contracts it runs.
    pub contracts: usize,
    /// How many queries it has admitted now (running or waiting for a slot).
    pub queries_admitted: usize,
    /// How many jobs it has admitted now (running or waiting for a job slot).
    #[serde(default)]
    pub jobs_admitted: usize,
    /// The last block applied (`null` before it follows a chain).
    pub height: Option<u64>,
    /// Its hash.
    pub hash: Option<Hash32>,
    /// Its timestamp.
    pub timestamp_ms: Option<u64>,
}

/// `GET /v1/contracts/{id}`: a contract the worker runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerContract {
    /// The contract.
    pub id: ContractId,
    /// Its code.
    pub code_hash: CodeHash,
    /// Its cluster.
    pub cluster: ClusterId,
    /// Who deployed it.
    pub deployer: AccountId,
    /// The block that created it.
    pub created: u64,
    /// The block whose state this describes.
    pub height: u64,
    /// The contract's keyed state root at that block.
    pub state_root: Hash32,
    /// How many entries its state holds.
    pub entries: u64,
    /// How many log lines it has written.
    pub logs: u64,
    /// For a contract whose state the worker received from another member when it joined
    /// the cluster, the block that state was as of (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_through: Option<u64>,
}

/// A query: the method and its JSON arguments. The plaintext of a sealed query envelope, or
/// the body of a plaintext query where a worker allows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// The method.
    pub method: String,
    /// Its arguments (`null` for none).
    #[serde(default)]
    pub args: serde_json::Value,
    /// A name the client chose (16 to 64 lower-case hex characters) under which the worker
    /// publishes the progress of the query's jobs (`GET /v1/progress/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
}

impl QueryRequest {
    /// The arguments as the contract reads them: JSON text, empty for none.
    pub fn args_text(&self) -> String {
        match &self.args {
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

/// A query's answer (sealed, its plaintext): who answered, on which state, at what cost, and
/// the output or why the call failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryReply {
    /// The worker that ran it.
    pub worker: WorkerId,
    /// The block whose state it read.
    pub height: u64,
    /// Fuel used.
    pub gas_used: u64,
    /// Time spent on the worker, queueing included.
    pub elapsed_ms: f64,
    /// The method's JSON result, when the call succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// `call_failed` when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The runtime's error, typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// One signed proof per job the query fanned out (per replica), in the order they ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobProof>,
}

/// `GET /v1/receipts/{tx}?height=`: the receipt a worker signed, with the hash it signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptView {
    /// The signed receipt.
    #[serde(flatten)]
    pub signed: SignedExecutionReceipt,
    /// The receipt's hash (what the signature is over).
    pub hash: Hash32,
}

/// One line a contract logged. Workers also keep it on disk in this shape (borsh).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
)]
pub struct LogLine {
    /// Position in the contract's log, from 0.
    pub seq: u64,
    /// The block.
    pub height: u64,
    /// The transaction's position in the block.
    pub index: u32,
    /// The transaction.
    pub tx: TxId,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// `GET /v1/contracts/{id}/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsView {
    /// The contract.
    pub contract: ContractId,
    /// Its lines, in order.
    pub logs: Vec<LogLine>,
}

/// `GET /v1/progress/{id}`: a `progress` event's data, how far a query's jobs got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// Jobs that ended (replicas count once).
    pub done: u64,
    /// Jobs the query said it would spawn, or spawned so far when that is more.
    pub total: u64,
}

/// Whether `id` can name a query's progress: 16 to 64 lower-case hex characters.
pub fn progress_id_ok(id: &str) -> bool {
    (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The domain tag of the hash a worker signs for a job it ran ([`JobProof`]).
pub const JOB_PROOF_TAG: &str = "fat/job/proof/v1";
/// The domain tag of a job's input and output hashes.
pub const JOB_DATA_TAG: &str = "fat/job/data/v1";

/// `POST /v1/jobs`: the plaintext of a job envelope one worker of a cluster seals to another
/// (direction `job`, signed by the sender's identity key).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct JobCall {
    /// The contract whose job it is.
    pub contract: ContractId,
    /// Who signed the query that spawned the job (the job sees it as its caller).
    pub caller: AccountId,
    /// The job's name.
    pub name: String,
    /// Its input.
    pub input: Vec<u8>,
    /// The block the spawning query read: the job runs on this state or a later one.
    pub min_height: u64,
}

/// The plaintext of the answer to a [`JobCall`], sealed under the call's session.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct JobAnswer {
    /// The job's output, or its error.
    pub output: Result<Vec<u8>, String>,
    /// The block whose state the job read.
    pub height: u64,
    /// How long the job ran, in microseconds.
    pub elapsed_us: u64,
    /// The runner's signature over what it ran and what came out.
    pub proof: JobProof,
}

/// What a worker signs for a job it ran: a query's answer carries one per job, so a client
/// can check which worker computed which part.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct JobProof {
    /// The worker that ran the job (its identity key signs the proof).
    pub worker: WorkerId,
    /// The contract.
    pub contract: ContractId,
    /// The job's name.
    pub name: String,
    /// [`job_data_hash`] of the input.
    pub input_hash: Hash32,
    /// Whether the job succeeded.
    pub ok: bool,
    /// [`job_data_hash`] of the output, or of the error's text.
    pub output_hash: Hash32,
    /// The worker's ed25519 signature of [`JobProof::signing_hash`].
    pub signature: Signature,
}

/// What a [`JobProof`] signs: everything but the signature.
#[derive(BorshSerialize)]
struct JobProofBody<'a> {
    worker: &'a WorkerId,
    contract: &'a ContractId,
    name: &'a str,
    input_hash: &'a Hash32,
    ok: bool,
    output_hash: &'a Hash32,
}

/// Whether a job's output is a success, and the hash of its bytes or of its error's text.
fn output_digest(output: &Result<Vec<u8>, String>) -> (bool, Hash32) {
    match output {
        Ok(bytes) => (true, job_data_hash(bytes)),
        Err(message) => (false, job_data_hash(message.as_bytes())),
    }
}

/// The hash of a job's input or output in a [`JobProof`].
pub fn job_data_hash(bytes: &[u8]) -> Hash32 {
    fat_types::encoding::tagged_hash(JOB_DATA_TAG, &bytes)
}

impl JobProof {
    /// Sign what `key` (the worker's identity) ran: `name` of `contract` on `input`, giving
    /// `output`.
    pub fn sign(
        key: &fat_crypto::Keypair,
        contract: ContractId,
        name: &str,
        input: &[u8],
        output: &Result<Vec<u8>, String>,
    ) -> Self {
        let (ok, output_hash) = output_digest(output);
        let mut proof = Self {
            worker: WorkerId(key.account_id().0),
            contract,
            name: name.to_owned(),
            input_hash: job_data_hash(input),
            ok,
            output_hash,
            signature: Signature::default(),
        };
        proof.signature = key.sign(proof.signing_hash().as_bytes());
        proof
    }

    /// H([`JOB_PROOF_TAG`], every field but the signature).
    pub fn signing_hash(&self) -> Hash32 {
        fat_types::encoding::tagged_hash(
            JOB_PROOF_TAG,
            &JobProofBody {
                worker: &self.worker,
                contract: &self.contract,
                name: &self.name,
                input_hash: &self.input_hash,
                ok: self.ok,
                output_hash: &self.output_hash,
            },
        )
    }

    /// Check the signature, and that the proof is for `input` giving `output`.
    pub fn verify(&self, input: &[u8], output: &Result<Vec<u8>, String>) -> Result<(), String> {
        self.check_signature()?;
        let (ok, hash) = output_digest(output);
        if self.input_hash != job_data_hash(input) || self.ok != ok || self.output_hash != hash {
            return Err(format!(
                "the job proof of worker {} is for another input or output",
                self.worker
            ));
        }
        Ok(())
    }

    /// Check the signature alone (a client that saw neither input nor output).
    pub fn check_signature(&self) -> Result<(), String> {
        verify_worker(
            &self.worker,
            self.signing_hash(),
            &self.signature,
            "job proof",
        )
    }
}

/// Check `worker`'s identity signature of `hash`, over the `what` it signed.
fn verify_worker(
    worker: &WorkerId,
    hash: Hash32,
    signature: &Signature,
    what: &str,
) -> Result<(), String> {
    fat_crypto::verify(&AccountId(worker.0), hash.as_bytes(), signature)
        .map_err(|e| format!("the signature of worker {worker} on its {what} does not verify: {e}"))
}

/// The domain tag of the hash a worker signs for its state roots ([`SignedRoots`]).
pub const ROOTS_TAG: &str = "fat/roots/v1";

/// A contract's state root in [`SignedRoots`].
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ContractRoot {
    /// The contract.
    pub contract: ContractId,
    /// Its state root after the block (the last one that changed it, at or before the block).
    pub root: Hash32,
}

/// The domain tag of what a [`KeyConfirmation`] signs.
pub const KEY_CONFIRMATION_TAG: &str = "fat/key-confirmation/v1";

/// Whose public key a worker confirms.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum KeySubject {
    /// A cluster's key of its current epoch (init arguments are sealed to it).
    Cluster {
        /// The cluster.
        id: ClusterId,
        /// The key epoch, as the worker counts it at its head.
        epoch: u32,
    },
    /// A contract's key (commands are sealed to it).
    Contract {
        /// The contract.
        id: ContractId,
    },
}

impl KeySubject {
    /// The id of the cluster or contract (both 32 bytes).
    pub fn id(&self) -> [u8; 32] {
        match self {
            Self::Cluster { id, .. } => id.0,
            Self::Contract { id } => id.0,
        }
    }
}

/// `GET /v1/clusters/{id}/key` and `GET /v1/contracts/{id}/key`: a member of the cluster
/// says, signed by its identity, which x25519 key it derives for a cluster or a contract.
/// A client seals secrets to a key a chain node returned only once an attested member
/// confirms it: a node, or anyone on the path to it, that rewrites the key is caught
/// before anything is sealed to the attacker.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct KeyConfirmation {
    /// The worker (its identity key signs).
    pub worker: WorkerId,
    /// Whose key it is.
    pub subject: KeySubject,
    /// The x25519 public key.
    pub public_key: Hash32,
    /// The block the worker had applied when it answered.
    pub height: u64,
    /// The worker's ed25519 signature of [`KeyConfirmation::signing_hash`].
    pub signature: Signature,
}

impl KeyConfirmation {
    /// `key` (a worker's identity) confirms `public_key` as `subject`'s, at block `height`.
    pub fn sign(
        key: &fat_crypto::Keypair,
        subject: KeySubject,
        public_key: Hash32,
        height: u64,
    ) -> Self {
        let mut signed = Self {
            worker: WorkerId(key.account_id().0),
            subject,
            public_key,
            height,
            signature: Signature::default(),
        };
        signed.signature = key.sign(signed.signing_hash().as_bytes());
        signed
    }

    /// H([`KEY_CONFIRMATION_TAG`], every field but the signature).
    pub fn signing_hash(&self) -> Hash32 {
        fat_types::encoding::tagged_hash(
            KEY_CONFIRMATION_TAG,
            &(&self.worker, &self.subject, &self.public_key, self.height),
        )
    }

    /// Check the worker's signature.
    pub fn verify(&self) -> Result<(), String> {
        verify_worker(
            &self.worker,
            self.signing_hash(),
            &self.signature,
            "key confirmation",
        )
    }
}

/// `GET /v1/roots`: the state root of every contract a worker runs, as of one block, signed
/// by the worker's identity. Replicas of a cluster compare theirs at a height they all
/// reached: a replica whose root differs from the others' has diverged.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedRoots {
    /// The worker (its identity key signs).
    pub worker: WorkerId,
    /// The block the roots are as of.
    pub height: u64,
    /// One root per contract the worker ran at that block, in contract id order.
    pub roots: Vec<ContractRoot>,
    /// The worker's ed25519 signature of [`SignedRoots::signing_hash`].
    pub signature: Signature,
}

/// What [`SignedRoots`] signs: everything but the signature.
#[derive(BorshSerialize)]
struct RootsBody<'a> {
    worker: &'a WorkerId,
    height: u64,
    roots: &'a [ContractRoot],
}

impl SignedRoots {
    /// `key` (a worker's identity) signs `roots` as of block `height`.
    pub fn sign(key: &fat_crypto::Keypair, height: u64, mut roots: Vec<ContractRoot>) -> Self {
        roots.sort_by_key(|r| r.contract);
        let mut signed = Self {
            worker: WorkerId(key.account_id().0),
            height,
            roots,
            signature: Signature::default(),
        };
        signed.signature = key.sign(signed.signing_hash().as_bytes());
        signed
    }

    /// H([`ROOTS_TAG`], every field but the signature).
    pub fn signing_hash(&self) -> Hash32 {
        fat_types::encoding::tagged_hash(
            ROOTS_TAG,
            &RootsBody {
                worker: &self.worker,
                height: self.height,
                roots: &self.roots,
            },
        )
    }

    /// Check the worker's signature.
    pub fn verify(&self) -> Result<(), String> {
        verify_worker(
            &self.worker,
            self.signing_hash(),
            &self.signature,
            "state roots",
        )
    }

    /// The root of `contract`, if the worker ran it at that block.
    pub fn root_of(&self, contract: &ContractId) -> Option<Hash32> {
        self.roots
            .binary_search_by_key(contract, |r| r.contract)
            .ok()
            .map(|i| self.roots[i].root)
    }
}

/// `POST /v1/snapshots`: the plaintext of an envelope (direction `snapshot`, signed by the
/// joining worker's identity, sealed to the member it asks) asking for a contract's state.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SnapshotRequest {
    /// The contract.
    pub contract: ContractId,
    /// The state is of this block or a later one (the asker's head: it applies the blocks
    /// after the snapshot's).
    pub min_height: u64,
}

/// The plaintext of the answer to a [`SnapshotRequest`], sealed under its session: a
/// contract's record and every state entry, as of one block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ContractSnapshot {
    /// The block the state is as of.
    pub height: u64,
    /// The contract as the chain registered it.
    pub info: fat_types::ContractInfo,
    /// Its state root at `height` (over `entries`, keyed by the contract's secret).
    pub state_root: Hash32,
    /// How many log lines it wrote (the log itself stays with the member).
    pub logs: u64,
    /// Every entry, in key order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}
