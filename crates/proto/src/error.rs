//! What can go wrong talking to a chain node or a worker, and the error body both APIs send.

use serde::{Deserialize, Serialize};

/// What went wrong talking to a node or a worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing listens at the URL.
    #[error("no node at {url}")]
    NoNode {
        /// The base URL.
        url: String,
        /// The connection error.
        source: std::io::Error,
    },
    /// The URL is not `http://host:port`.
    #[error("{url} is not a node URL: expected http://host:port")]
    BadUrl {
        /// What was given.
        url: String,
    },
    /// The server answered with an error status.
    #[error("{message} ({status} from {url})")]
    Api {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The API's error code (`not_found`, `call_failed`, a rejection code, ...).
        code: Option<String>,
        /// The API's message.
        message: String,
        /// The whole error body.
        body: Box<serde_json::Value>,
    },
    /// The connection failed half way.
    #[error("{url}: {message}")]
    Transport {
        /// The request's URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The answer is not what the API documents.
    #[error("{url}: unexpected answer: {message}")]
    Decode {
        /// The request's URL.
        url: String,
        /// What did not parse.
        message: String,
    },
    /// The chain committed the transaction but it failed (only the fee was charged).
    #[error("transaction {tx} failed on chain: {reason}")]
    Rejected {
        /// The transaction.
        tx: String,
        /// The chain's outcome.
        reason: String,
    },
    /// The node's genesis configuration is not the one block 0 of the chain commits to, or its
    /// block 0 is not that chain's: what it says of the chain's rules cannot be believed.
    #[error(
        "the node at {url} serves a genesis configuration that does not match its block 0 \
         (or a block 0 that is not chain {chain}): its parameters cannot be trusted"
    )]
    ForgedGenesis {
        /// The node.
        url: String,
        /// The chain id its block 0 was to have.
        chain: String,
    },
    /// The node serves another chain than the one the client is pinned to.
    #[error("the node at {url} serves chain {served}, not chain {expected}")]
    OtherChain {
        /// The node.
        url: String,
        /// The genesis hash of the chain it serves.
        served: String,
        /// The genesis hash of the chain expected.
        expected: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
}

impl Error {
    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said it has no such thing (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether this is the server's answer rather than a failure to reach it: retrying the
    /// same request will not help.
    pub fn is_answer(&self) -> bool {
        matches!(self, Error::Api { .. } | Error::Decode { .. })
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Ok(None)` for a 404, so "not there" reads as a value, not a failure.
pub fn not_found_as_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The body of every error answer of both APIs: a machine-readable code, a message for
/// people, and fields that depend on the code (a transaction rejection's details, a failed
/// call's error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `not_found`, `bad_request`, `no_route`, `internal`, `busy`, a rejection's code, ...
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Further fields of the code.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl ErrorBody {
    /// An error body with no further fields.
    pub fn new(code: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            code: code.into(),
            message: message.to_string(),
            details: serde_json::Map::new(),
        }
    }
}
