//! Run the chain node: order transactions into blocks, commit them durably, and serve them.
//!
//! The node is a library so tests and `fat dev` can embed it: [`Node`] holds the mempool, the
//! registry and the [`store::Store`], and is the [`fat_consensus::Application`] a consensus
//! engine drives (propose, verify, finalize); a [`Consensus`] (the single [`Sequencer`] for
//! now) turns pending transactions into final blocks; [`rpc::app`] serves the HTTP API; [`run`]
//! wires them together.

pub mod error;
pub mod genesis;
pub mod mempool;
pub mod node;
pub mod rpc;
mod rules;
pub mod state;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::{ChainError, InvalidProposal, Result};
pub use fat_consensus::{Consensus, Sequencer};
pub use fat_types::clock::{Clock, ManualClock, SystemClock};
pub use genesis::{ChainParams, Genesis};
pub use node::{Node, NodeConfig};

/// How `fat chain` runs a node.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Where the database lives.
    pub data_dir: PathBuf,
    /// The RPC address to bind.
    pub rpc: SocketAddr,
    /// The least time between blocks (zero: a block as soon as there is work).
    pub block_time: Duration,
    /// Run the dev chain ([`genesis::dev`]) with the dev sequencer key.
    pub dev: bool,
}

/// Open the node, serve its API and produce blocks until Ctrl-C or a failed commit.
/// `on_ready` is called with the API's URL once it accepts connections.
pub async fn run(config: RunConfig, on_ready: impl FnOnce(&str)) -> Result<()> {
    if !config.dev {
        return Err(ChainError::Unsupported(
            "a chain other than the dev chain; pass --dev".into(),
        ));
    }
    let genesis = genesis::dev();
    let key = fat_crypto::dev_keypair(genesis::DEV_SEQUENCER);
    let node_config = NodeConfig {
        data_dir: config.data_dir,
        genesis,
        mempool_limit: 100_000,
    };
    let node = Node::open(node_config, Some(key.clone()), Arc::new(SystemClock))?;
    let listener = tokio::net::TcpListener::bind(config.rpc)
        .await
        .map_err(|source| ChainError::Serve {
            addr: config.rpc.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ChainError::Serve {
        addr: config.rpc.to_string(),
        source,
    })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server = tokio::spawn(rpc::serve(node.clone(), listener, stopped(stop_rx.clone())));
    let sequencer = Sequencer {
        key,
        block_time: config.block_time,
    };
    let producing = tokio::spawn(sequencer.run(node, stopped(stop_rx)));
    on_ready(&format!("http://{addr}"));
    tokio::pin!(producing);
    let result = tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        done = &mut producing => done.map_err(|e| ChainError::Task(e.to_string())).and_then(|r| r),
    };
    let _ = stop_tx.send(true);
    let _ = server.await;
    result
}
