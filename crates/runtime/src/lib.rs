//! Run fat contracts: WebAssembly components executed by wasmtime, by mode, within limits.
//!
//! A [`Runtime`] holds two engines. The *command* engine meters with fuel (the gas limit of
//! the transaction), canonicalises NaNs and gives the contract only deterministic inputs, so
//! every worker of a cluster reaches the same state from the same blocks. The *query* engine
//! (queries and jobs) is interrupted at a wall-clock deadline, lets the contract use the
//! network through an address policy, the worker's clock and the OS's randomness, and sees
//! persistent state read-only.
//!
//! Code is compiled once per code hash for both engines ([`Runtime::load`]); every call then
//! takes a pre-linked instance from the pooling allocator. A call never fails the host:
//! whatever the contract does (trap, loop, allocate, recurse, log, write too much) ends that
//! call with a [`CallError`] in its [`Outcome`].
//!
//! ```no_run
//! # async fn demo(wasm: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use fat_runtime::{Call, Entry, MemoryCache, MemoryStore, Runtime, RuntimeConfig};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let code = runtime.load(wasm)?;
//! let store = Arc::new(MemoryStore::new());
//! let call = Call::new(Entry::query("get", "{}"), store, Arc::new(MemoryCache::default()));
//! let outcome = runtime.call(&code, call).await;
//! println!("{:?}", outcome.output_str());
//! # Ok(()) }
//! ```

mod cache;
mod call;
mod code;
mod config;
mod engine;
mod error;
mod gas;
mod host;
mod http;
mod jobs;
pub mod nan;
mod overlay;
mod runtime;
mod serve;
mod state_hash;
mod store;
mod wasi;

pub use cache::{Cache, CacheOp, MemoryCache};
pub use call::{BlockInfo, Call, Entry, Event, LogLevel, LogLine, Mode, Outcome};
pub use code::Code;
pub use config::{HttpLimits, HttpPolicy, Limits, RuntimeConfig};
pub use error::{CallError, Error, Limit, Result};
pub use fat_types::clock::{Clock, SystemClock};
pub use http::{HttpNetwork, NetworkFuture, SystemNetwork, is_public};
pub use jobs::{JobFuture, JobRequest, JobResult, JobRunner};
pub use overlay::OverlayStore;
pub use runtime::Runtime;
pub use serve::{HttpRequest, HttpResponseHead};
pub use state_hash::StateHash;
pub use store::{MemoryStore, StateChanges, StateStore, state_root, state_root_keyed};
