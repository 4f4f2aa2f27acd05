//! The client's errors.

/// What went wrong talking to a node or a worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reaching the node or the worker failed, or it answered with an error (no node at the
    /// URL, a bad URL, an API error, a broken connection, an answer that does not parse, a
    /// transaction refused or not committed in time).
    #[error(transparent)]
    Proto(#[from] fat_proto::Error),
    /// The contract ran the transaction and failed; nothing it wrote was applied.
    #[error("{what} failed in contract {contract}: {error}")]
    ExecFailed {
        /// `init` or the command's method.
        what: String,
        /// The contract.
        contract: String,
        /// The contract's error.
        error: String,
        /// The signed receipt.
        receipt: Box<serde_json::Value>,
    },
    /// The node has no dev workers to send queries to.
    #[error("the node at {url} lists no workers (GET /workers); is it a `fat dev` node?")]
    NoWorkers {
        /// The node.
        url: String,
    },
    /// No worker this node lists is a member of the cluster a contract runs in.
    #[error(
        "no worker of cluster {cluster} is served by {url}: give one of its members with --worker URL"
    )]
    NoClusterWorker {
        /// The node.
        url: String,
        /// The cluster.
        cluster: String,
    },
    /// Members of a cluster disagree on a command's result: a replica has diverged.
    #[error(
        "workers {} and {} disagree on the {what} of transaction {tx}: a replica has diverged",
        workers[0],
        workers[1]
    )]
    Disagreement {
        /// The transaction.
        tx: String,
        /// What differs: `status`, `output`, `events`, `gas used` or `state root`.
        what: String,
        /// The two workers, the first one asked first.
        workers: [String; 2],
    },
    /// Fewer members of the cluster than asked for confirmed a command.
    #[error(
        "only {got} of the {wanted} confirmations asked for transaction {tx} ({members} members; unreachable: {missing})"
    )]
    Unconfirmed {
        /// The transaction.
        tx: String,
        /// How many receipts were asked for.
        wanted: usize,
        /// How many agreeing receipts came.
        got: usize,
        /// How many members the cluster has that the client can reach.
        members: usize,
        /// The members that did not answer, and why.
        missing: String,
    },
    /// No cluster can take a new contract.
    #[error(
        "no cluster at {url} can take a contract from this account (none has members, a \
         provisioned key and an owner who lets it deploy): create one with \
         `fat cluster create --workers ID,...`"
    )]
    NoCluster {
        /// The node.
        url: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
    /// Arguments that cannot be sent.
    #[error("{0}")]
    Invalid(String),
    /// The chain at a known URL is not the one pinned on first use.
    #[error(
        "the chain at {url} is not the one this machine knows: its genesis is {found}, but \
         {file} pins {pinned}; if the chain was reset on purpose, remove the \"{url}\" entry \
         from {file}"
    )]
    ChainChanged {
        /// The chain node's URL.
        url: String,
        /// The genesis hash pinned on first use.
        pinned: String,
        /// The genesis hash the node has now.
        found: String,
        /// The file that pins it.
        file: String,
    },
    /// The file of known chains cannot be read or written.
    #[error("{file}: {message}")]
    KnownChains {
        /// The file.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// The node's genesis configuration is not the one its block 0 links to, or block 0 is
    /// not the chain's: what the node says of the chain's rules cannot be believed.
    #[error(
        "the node at {url} serves a genesis configuration that does not match its block 0 \
         (or a block 0 that is not chain {chain}): its parameters and attestation policy are refused"
    )]
    ForgedGenesis {
        /// The node.
        url: String,
        /// The chain id the client holds.
        chain: String,
    },
    /// The key a chain node returned for a cluster or a contract is not the one its
    /// attested members derive (a forged registry answer, or the node behind a rotation):
    /// the client seals nothing to it.
    #[error(
        "the key the node gives for {what} is not confirmed by an attested member of its \
         cluster: {reason}; nothing was sealed to it"
    )]
    KeyNotConfirmed {
        /// The cluster or contract.
        what: String,
        /// What the members said, or why none answered.
        reason: String,
    },
    /// A worker whose registration does not satisfy the chain's attestation policy: the client
    /// sends it nothing.
    #[error("worker {worker} is not trusted: {reason}")]
    UntrustedWorker {
        /// The worker's id.
        worker: String,
        /// Why its registration was refused.
        reason: String,
    },
    /// A cluster or contract whose key a gatekeeper has not published yet, so nothing can be
    /// sealed to it.
    #[error("{what} has no key yet: {hint}")]
    NotProvisioned {
        /// The cluster or contract.
        what: String,
        /// What to do.
        hint: String,
    },
    /// An envelope could not be sealed or opened.
    #[error("{what}")]
    Envelope {
        /// What was sealed or opened.
        what: String,
        /// Why it failed.
        source: fat_crypto::EnvelopeError,
    },
}

/// The client's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
