//! Where and for whom the contract runs.

use crate::bindings::fat::contract::env as host;

pub use crate::bindings::fat::contract::types::Mode;
pub use host::BlockInfo;

/// How the current call runs: command, query or job.
pub fn mode() -> Mode {
    host::execution_mode()
}

/// Whether the current call is a command (deterministic, may change state).
pub fn is_command() -> bool {
    matches!(mode(), Mode::Command)
}

/// The 32-byte account that signed the transaction or the query.
pub fn caller() -> Vec<u8> {
    host::caller()
}

/// The 32-byte id of this contract.
pub fn contract_id() -> Vec<u8> {
    host::contract_id()
}

/// The block the call runs in (in a query: the latest committed one).
pub fn block() -> BlockInfo {
    host::block()
}

/// The 32-byte identity key of the worker running this call.
pub fn worker_public_key() -> Vec<u8> {
    host::worker_public_key()
}
