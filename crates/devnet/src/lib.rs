//! Build a dev network in one process: the chain, the dev gatekeeper and workers, and the
//! dev cluster that groups the workers.
//!
//! - [`Devnet::builder`] assembles a whole network (what `fat dev`, the tests and the benches
//!   run) and [`Devnet::stop`] stops it with one signal;
//! - [`chain::run`] runs the dev chain alone (`fat chain --dev`);
//! - [`Shutdown`] is that one signal, and [`serve`] serves an API until it fires;
//! - [`RunningWorker`] is one worker following a chain, which can be paused, stopped or
//!   crashed on its own;
//! - [`bootstrap`] registers workers with `dev` attestation reports and creates their cluster,
//!   signed by the dev gatekeeper's well-known key, and [`cluster_file`] remembers that
//!   cluster in the data directory;
//! - [`testing`] holds what the test crates share.
//!
//! None of it is for a real network: every key it uses is public.

pub mod bootstrap;
pub mod chain;
pub mod cluster_file;
mod network;
mod shutdown;
pub mod testing;
mod worker;

pub use network::{Devnet, DevnetBuilder};
pub use shutdown::{Shutdown, TaskFailure, serve};
pub use worker::{RunningWorker, reopen_worker};

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
    /// A part of the network cannot be opened.
    #[error("cannot open {what}")]
    Open {
        /// `the chain`, `the gatekeeper`, `worker 0`.
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The API's address cannot be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Only the dev chain can run here.
    #[error("not supported: a chain other than the dev chain; pass --dev")]
    NotDev,
    /// A dev cluster needs a worker.
    #[error("--workers must be at least 1")]
    NoWorkers,
    /// The data directory's cluster has another number of workers.
    #[error("{dir} was created with --workers {created}; use the same number (or a new data dir)")]
    WorkerCount {
        /// The data directory.
        dir: std::path::PathBuf,
        /// The cluster's workers.
        created: usize,
    },
    /// The data directory was created with another number of clusters.
    #[error("{dir} was created with --clusters {created}; use the same number (or a new data dir)")]
    ClusterCount {
        /// The data directory.
        dir: std::path::PathBuf,
        /// How many clusters it has.
        created: usize,
    },
    /// More clusters than workers, or none.
    #[error("--clusters must be between 1 and --workers ({workers}), not {clusters}")]
    Clusters {
        /// Clusters asked for.
        clusters: usize,
        /// Workers asked for.
        workers: usize,
    },
    /// The cluster file cannot be read.
    #[error("cannot read {path}")]
    ReadClusterFile {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The cluster file says something else than a cluster.
    #[error("{path} is not `[pending] <cluster> <workers>`")]
    BadClusterFile {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The cluster file cannot be written.
    #[error("cannot write the dev cluster's id")]
    WriteClusterFile(#[source] std::io::Error),
    /// The dev cluster cannot be created.
    #[error("cannot create the dev cluster")]
    CreateCluster(#[source] Box<DevnetError>),
    /// The gatekeeper did not provision the dev cluster.
    #[error("the gatekeeper did not provision the dev cluster")]
    NotProvisioned(#[source] Box<DevnetError>),
    /// A worker did not catch up with the chain in time.
    #[error("worker {0} did not catch up with the chain")]
    CatchUp(fat_types::WorkerId),
    /// The shutdown signal fired before the network was ready.
    #[error("stopped before the network was ready")]
    Interrupted,
    /// The sequencer stopped making blocks.
    #[error("block production stopped")]
    Production(#[source] fat_chain::ChainError),
    /// The sequencer panicked.
    #[error("block production panicked: {0}")]
    ProductionPanicked(String),
    /// Tasks that failed, panicked or did not stop in time when the network stopped.
    #[error("{}", describe_failures(.0))]
    Stopped(Vec<TaskFailure>),
}

fn describe_failures(failures: &[TaskFailure]) -> String {
    let all: Vec<String> = failures.iter().map(ToString::to_string).collect();
    all.join("; ")
}

/// The result type of this crate.
pub type Result<T, E = DevnetError> = std::result::Result<T, E>;
