//! What a call is and what it did: its mode, block, entry point and outcome.

use std::sync::Arc;

use fat_types::{AccountId, ContractId, Hash32};

use crate::cache::{Cache, CacheOp};
use crate::error::{CallError, Limit};
use crate::jobs::JobRunner;
use crate::serve::{HttpRequest, HttpResponseHead};
use crate::store::{StateChanges, StateStore};

/// How a call runs (see `docs/architecture.md`, "Execution modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Deterministic, may change state; also the constructor.
    Command,
    /// One worker, read-only state, network allowed.
    Query,
    /// Parallel work fanned out by a query; rules of a query.
    Job,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Command => "command",
            Mode::Query => "query",
            Mode::Job => "job",
        })
    }
}

/// The block a call runs in (a command) or on top of (a query: the latest committed one).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockInfo {
    /// Height.
    pub number: u64,
    /// Timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Block hash.
    pub hash: Hash32,
}

/// An event emitted by a command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The topic.
    pub topic: String,
    /// The payload.
    pub data: Vec<u8>,
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info (also stdout).
    Info,
    /// Warn (also stderr).
    Warn,
    /// Error.
    Error,
}

/// One line a contract logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    /// Level.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// The entry point a call enters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The constructor, with JSON arguments (a command).
    Init {
        /// JSON arguments.
        args: String,
    },
    /// A command method with JSON arguments.
    Command {
        /// Method name.
        method: String,
        /// JSON arguments.
        args: String,
    },
    /// A query method with JSON arguments.
    Query {
        /// Method name.
        method: String,
        /// JSON arguments.
        args: String,
    },
    /// A job with opaque input.
    Job {
        /// Job name.
        name: String,
        /// Input bytes.
        input: Vec<u8>,
    },
    /// An HTTP request to a contract that exports `wasi:http/incoming-handler`; runs as a
    /// query. The response body is the result; its status and headers are in
    /// [`Outcome::http_response`].
    Http(HttpRequest),
}

impl Entry {
    /// The constructor entry.
    pub fn init(args: impl Into<String>) -> Self {
        Entry::Init { args: args.into() }
    }

    /// A command entry.
    pub fn command(method: impl Into<String>, args: impl Into<String>) -> Self {
        Entry::Command {
            method: method.into(),
            args: args.into(),
        }
    }

    /// A query entry.
    pub fn query(method: impl Into<String>, args: impl Into<String>) -> Self {
        Entry::Query {
            method: method.into(),
            args: args.into(),
        }
    }

    /// A job entry.
    pub fn job(name: impl Into<String>, input: impl Into<Vec<u8>>) -> Self {
        Entry::Job {
            name: name.into(),
            input: input.into(),
        }
    }

    /// The mode the entry runs in.
    pub fn mode(&self) -> Mode {
        match self {
            Entry::Init { .. } | Entry::Command { .. } => Mode::Command,
            Entry::Query { .. } | Entry::Http(_) => Mode::Query,
            Entry::Job { .. } => Mode::Job,
        }
    }

    /// The size of the call's input, checked against
    /// [`Limits::input_bytes`](crate::Limits::input_bytes).
    pub(crate) fn input_len(&self) -> usize {
        match self {
            Entry::Init { args } => args.len(),
            Entry::Command { method, args } | Entry::Query { method, args } => {
                method.len() + args.len()
            }
            Entry::Job { name, input } => name.len() + input.len(),
            Entry::Http(request) => request.len(),
        }
    }
}

/// Everything one call needs besides the code.
pub struct Call {
    /// What to run.
    pub entry: Entry,
    /// The contract.
    pub contract: ContractId,
    /// Who signed the transaction or the query.
    pub caller: AccountId,
    /// The block.
    pub block: BlockInfo,
    /// Index of the transaction in its block (commands; seeds randomness).
    pub tx_index: u32,
    /// Gas for a command (fuel units).
    pub gas_limit: u64,
    /// The contract's secret, from the key tree.
    pub contract_secret: [u8; 32],
    /// The worker's identity public key.
    pub worker_key: [u8; 32],
    /// The contract state the call reads (and, for commands, writes on top of).
    pub state: Arc<dyn StateStore>,
    /// The worker's cache.
    pub cache: Arc<dyn Cache>,
    /// Who runs the jobs a query spawns; without one, `spawn` is refused.
    pub jobs: Option<Arc<dyn JobRunner>>,
}

impl Call {
    /// A call with zero ids, block 0 and a gas limit of ten billion; set fields as needed.
    pub fn new(entry: Entry, state: Arc<dyn StateStore>, cache: Arc<dyn Cache>) -> Self {
        Self {
            entry,
            contract: ContractId::default(),
            caller: AccountId::default(),
            block: BlockInfo::default(),
            tx_index: 0,
            gas_limit: 10_000_000_000,
            contract_secret: [0; 32],
            worker_key: [0; 32],
            state,
            cache,
            jobs: None,
        }
    }
}

/// What a call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result: JSON text for init, commands and queries, bytes for jobs.
    pub result: std::result::Result<Vec<u8>, CallError>,
    /// State writes of a successful command, to apply; empty otherwise.
    pub changes: StateChanges,
    /// Cache writes of a successful command, to apply after the block.
    pub cache_ops: Vec<CacheOp>,
    /// Events of a successful command.
    pub events: Vec<Event>,
    /// What the contract logged, even when it failed.
    pub logs: Vec<LogLine>,
    /// Fuel used (commands always; queries when they are metered with fuel).
    pub gas_used: u64,
    /// Status and headers of the response to an [`Entry::Http`] call.
    pub http_response: Option<HttpResponseHead>,
}

impl Outcome {
    /// The result as text (JSON for everything but jobs).
    pub fn output_str(&self) -> std::result::Result<&str, CallError> {
        match &self.result {
            Ok(bytes) => std::str::from_utf8(bytes).map_err(|_| CallError::Trapped {
                message: "the contract returned text that is not UTF-8".into(),
            }),
            Err(e) => Err(e.clone()),
        }
    }

    /// A call that ended with `error`: no writes, cache operations or events.
    pub(crate) fn failed(error: CallError, logs: Vec<LogLine>, gas_used: u64) -> Self {
        Self {
            result: Err(error),
            changes: StateChanges::new(),
            cache_ops: Vec::new(),
            events: Vec::new(),
            logs,
            gas_used,
            http_response: None,
        }
    }

    /// The limit that ended the call, if one did.
    pub fn limit(&self) -> Option<Limit> {
        match &self.result {
            Err(CallError::LimitExceeded { limit }) => Some(*limit),
            _ => None,
        }
    }
}
