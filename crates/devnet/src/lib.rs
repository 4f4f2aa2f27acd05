//! Build a dev network in one process: the chain, the dev gatekeeper and workers, and the
//! dev cluster that groups the workers.
//!
//! [`bootstrap`] registers workers with `dev` attestation reports and creates their cluster,
//! signed by the dev gatekeeper's well-known key: what `fat dev`, the tests and the benches
//! do before a contract can be deployed. None of it is for a real network: every key it uses
//! is public.

pub mod bootstrap;

/// What can go wrong building a dev network.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The chain refused a request or could not be reached.
    #[error("chain")]
    Chain(#[from] fat_proto::Error),
    /// A worker could not make its registration.
    #[error("worker")]
    Worker(#[from] fat_worker::WorkerError),
    /// The cluster's id could not be noted before its creation.
    #[error("cannot note the dev cluster {cluster}")]
    Note {
        /// The cluster about to be created.
        cluster: fat_types::ClusterId,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The result type of this crate.
pub type Result<T, E = DevnetError> = std::result::Result<T, E>;
