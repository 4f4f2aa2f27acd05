//! Speak the platform's wire protocol: every body the chain and the worker send or receive,
//! their paths, content types and time windows, typed clients of both APIs, and one block
//! follower.
//!
//! The servers (`fat-chain`'s RPC, `fat-worker`'s API) build their answers from the types in
//! [`chain`] and [`worker`], and serve the routes of [`paths`]; the user's client library, the
//! worker and the gatekeeper read them through [`ChainApi`] and [`WorkerApi`]. What must agree
//! between two parties (how old an envelope may be, how long a session lives, how long the
//! chain waits for a commit) is defined once, in [`windows`] and [`content`].
//!
//! [`follow`] turns a chain's blocks into a stream of verified blocks with their receipts,
//! reconnecting when the source breaks: the worker and the gatekeeper both follow the chain
//! through it.

pub mod chain;
mod chain_api;
pub mod content;
mod error;
pub mod follow;
mod http;
pub mod paths;
pub mod server;
pub mod windows;
pub mod worker;
mod worker_api;

pub use chain_api::{BlockEvents, ChainApi};
pub use error::{Error, ErrorBody, Result, not_found_as_none};
pub use http::{EventStream, Http, SseDecoder, SseEvent};
pub use server::{BodyTimedOut, RequestBody, ServerLimits, serve};
pub use worker_api::WorkerApi;
