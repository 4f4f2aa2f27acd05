//! The runtime's errors.

use fat_types::CodeHash;
use fat_types::component::ComponentProblem;
use wasmtime::Trap;

/// What went wrong in the runtime itself (as opposed to inside a contract call, which is
/// reported in [`crate::Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine could not be configured.
    #[error("cannot configure the wasm engine ({mode})")]
    Engine {
        /// Which engine.
        mode: &'static str,
        /// The cause.
        #[source]
        source: wasmtime::Error,
    },
    /// The code is not a valid component.
    #[error("code {code} is not a valid WebAssembly component")]
    InvalidCode {
        /// Hash of the code.
        code: CodeHash,
        /// The cause.
        #[source]
        source: wasmtime::Error,
    },
    /// The code is a valid component of a shape the platform does not run (see
    /// [`fat_types::component`]).
    #[error("code {code} is refused: {problem}")]
    RefusedCode {
        /// Hash of the code.
        code: CodeHash,
        /// What is wrong with it.
        problem: ComponentProblem,
    },
    /// The code is larger than the runtime accepts.
    #[error("code is {size} bytes; the limit is {limit}")]
    CodeTooLarge {
        /// Size of the code in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The component does not match the contract world (missing export, unknown import).
    #[error("code {code} does not fit the contract world")]
    NotAContract {
        /// Hash of the code.
        code: CodeHash,
        /// The cause.
        #[source]
        source: wasmtime::Error,
    },
    /// The state store failed.
    #[error("state store: {0}")]
    Store(String),
}

impl Error {
    /// The same error for another caller: causes are kept as their text.
    pub(crate) fn shared(&self) -> Error {
        let text = |source: &wasmtime::Error| wasmtime::Error::msg(format!("{source:#}"));
        match self {
            Error::Engine { mode, source } => Error::Engine {
                mode,
                source: text(source),
            },
            Error::InvalidCode { code, source } => Error::InvalidCode {
                code: *code,
                source: text(source),
            },
            Error::RefusedCode { code, problem } => Error::RefusedCode {
                code: *code,
                problem: problem.clone(),
            },
            Error::CodeTooLarge { size, limit } => Error::CodeTooLarge {
                size: *size,
                limit: *limit,
            },
            Error::NotAContract { code, source } => Error::NotAContract {
                code: *code,
                source: text(source),
            },
            Error::Store(text) => Error::Store(text.clone()),
        }
    }
}

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A limit that ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// The gas (fuel) given to the call ran out.
    Gas,
    /// The wall-clock deadline of the call passed.
    Deadline,
    /// Linear memory would grow past the limit.
    Memory,
    /// A table would grow past the limit.
    TableElements,
    /// Too many instances, tables or memories.
    Instances,
    /// The wasm stack overflowed (too deep recursion).
    Stack,
    /// Arguments larger than accepted.
    InputSize,
    /// The result is larger than allowed.
    OutputSize,
    /// The call logged more than its budget.
    LogVolume,
    /// A storage key larger than allowed.
    StorageKeySize,
    /// A storage value larger than allowed.
    StorageValueSize,
    /// The contract would hold more storage entries than allowed.
    StorageEntries,
    /// The call wrote more bytes to storage and the cache than allowed.
    WriteBytes,
    /// A command made more cache writes and removals than allowed.
    CacheOps,
    /// The call emitted too many or too large events.
    Events,
    /// A query had more jobs in flight at once than allowed.
    JobsInFlight,
    /// A query spawned more jobs in all than allowed.
    Jobs,
    /// The inputs of a query's jobs passed their byte budget.
    JobInputBytes,
    /// The outputs of a query's jobs passed their byte budget.
    JobOutputBytes,
    /// A query's jobs ran longer, added up, than its job-time budget.
    JobTime,
    /// The call held more host resources at once than allowed.
    HostResources,
}

impl Limit {
    /// Every limit, in the order of their declaration.
    pub const ALL: [Limit; 21] = [
        Limit::Gas,
        Limit::Deadline,
        Limit::Memory,
        Limit::TableElements,
        Limit::Instances,
        Limit::Stack,
        Limit::InputSize,
        Limit::OutputSize,
        Limit::LogVolume,
        Limit::StorageKeySize,
        Limit::StorageValueSize,
        Limit::StorageEntries,
        Limit::WriteBytes,
        Limit::CacheOps,
        Limit::Events,
        Limit::JobsInFlight,
        Limit::Jobs,
        Limit::JobInputBytes,
        Limit::JobOutputBytes,
        Limit::JobTime,
        Limit::HostResources,
    ];

    /// The limit's name, as in JSON and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Gas => "gas",
            Limit::Deadline => "deadline",
            Limit::Memory => "memory",
            Limit::TableElements => "table-elements",
            Limit::Instances => "instances",
            Limit::Stack => "stack",
            Limit::InputSize => "input-size",
            Limit::OutputSize => "output-size",
            Limit::LogVolume => "log-volume",
            Limit::StorageKeySize => "storage-key-size",
            Limit::StorageValueSize => "storage-value-size",
            Limit::StorageEntries => "storage-entries",
            Limit::WriteBytes => "write-bytes",
            Limit::CacheOps => "cache-ops",
            Limit::Events => "events",
            Limit::JobsInFlight => "jobs-in-flight",
            Limit::Jobs => "jobs",
            Limit::JobInputBytes => "job-input-bytes",
            Limit::JobOutputBytes => "job-output-bytes",
            Limit::JobTime => "job-time",
            Limit::HostResources => "host-resources",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod limit_tests {
    use super::Limit;

    #[test]
    fn all_lists_every_limit_once() {
        // A new variant fails to compile here until it is listed in `Limit::ALL`.
        let position = |limit: Limit| match limit {
            Limit::Gas => 0,
            Limit::Deadline => 1,
            Limit::Memory => 2,
            Limit::TableElements => 3,
            Limit::Instances => 4,
            Limit::Stack => 5,
            Limit::InputSize => 6,
            Limit::OutputSize => 7,
            Limit::LogVolume => 8,
            Limit::StorageKeySize => 9,
            Limit::StorageValueSize => 10,
            Limit::StorageEntries => 11,
            Limit::WriteBytes => 12,
            Limit::CacheOps => 13,
            Limit::Events => 14,
            Limit::JobsInFlight => 15,
            Limit::Jobs => 16,
            Limit::JobInputBytes => 17,
            Limit::JobOutputBytes => 18,
            Limit::JobTime => 19,
            Limit::HostResources => 20,
        };
        for (i, limit) in Limit::ALL.iter().enumerate() {
            assert_eq!(position(*limit), i, "{limit}");
        }
    }
}

/// A host-side trap carrying the limit that caused it; found again by downcasting.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("limit exceeded: {0}")]
pub(crate) struct LimitTrap(pub Limit);

/// Why a contract call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CallError {
    /// The contract returned an error; its writes are discarded.
    #[error("contract error: {message}")]
    Reverted {
        /// The contract's message.
        message: String,
    },
    /// A limit ended the call.
    #[error("limit exceeded: {limit}")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
    },
    /// The contract trapped (panic, unreachable, bad memory access, ...).
    #[error("contract trapped: {message}")]
    Trapped {
        /// What the engine reported.
        message: String,
    },
    /// The code cannot be instantiated (for example it imports something the host lacks).
    #[error("cannot instantiate the contract: {message}")]
    Instantiate {
        /// What the engine reported.
        message: String,
    },
}

/// The [`CallError`] for an engine error: a limit when one caused it, otherwise a trap (or
/// a failed instantiation).
pub(crate) fn engine_error(error: &wasmtime::Error, instantiating: bool) -> CallError {
    match classify(error) {
        Some(limit) => CallError::LimitExceeded { limit },
        None if instantiating => CallError::Instantiate {
            message: format!("{error:#}"),
        },
        None => CallError::Trapped {
            message: format!("{error:#}"),
        },
    }
}

/// The limit behind an engine error, if it was one.
fn classify(error: &wasmtime::Error) -> Option<Limit> {
    if let Some(LimitTrap(limit)) = error.downcast_ref::<LimitTrap>() {
        return Some(*limit);
    }
    // A full resource table, wherever in the chain of causes WASI put it.
    if error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<wasmtime::component::ResourceTableError>(),
            Some(wasmtime::component::ResourceTableError::Full)
        )
    }) {
        return Some(Limit::HostResources);
    }
    match error.downcast_ref::<Trap>()? {
        Trap::OutOfFuel => Some(Limit::Gas),
        Trap::Interrupt => Some(Limit::Deadline),
        Trap::StackOverflow => Some(Limit::Stack),
        _ => None,
    }
}
