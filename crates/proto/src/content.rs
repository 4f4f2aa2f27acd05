//! Content types, named once for the servers and the clients.

/// JSON bodies (most answers).
pub const JSON: &str = "application/json";
/// Binary bodies: an encoded signed transaction, a sealed query envelope and its answer.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// A further query of a session (a session message) and its answer.
pub const SESSION: &str = "application/x-fat-session";
/// A contract's code as uploaded.
pub const WASM: &str = "application/wasm";
/// A stream of Server-Sent Events (blocks, followed logs).
pub const EVENT_STREAM: &str = "text/event-stream";
