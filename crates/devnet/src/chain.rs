//! The dev chain node alone (`fat chain --dev`), and opening the dev node every network runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fat_chain::{Consensus, Node, NodeConfig, Sequencer};
use fat_types::Clock;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::shutdown::{Shutdown, Tasks, join, serve};
use crate::{DevnetError, Result};

/// How many transactions the dev node's mempool holds.
const MEMPOOL_LIMIT: usize = 100_000;

/// How long a task may take to stop before it is aborted.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// How `fat chain` runs a node.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Where the database lives.
    pub data_dir: PathBuf,
    /// The RPC address to bind.
    pub rpc: SocketAddr,
    /// The least time between blocks (zero: a block as soon as there is work).
    pub block_time: Duration,
    /// Run the dev chain ([`fat_chain::genesis::dev`]) with the dev sequencer key.
    pub dev: bool,
}

/// Open the dev chain's node in `data_dir`, signing blocks with the dev sequencer key.
pub fn open_dev_node(data_dir: PathBuf, clock: Arc<dyn Clock>) -> Result<Node> {
    let config = NodeConfig {
        data_dir,
        genesis: fat_chain::genesis::dev(),
        mempool_limit: MEMPOOL_LIMIT,
    };
    let key = fat_crypto::dev_keypair(fat_chain::genesis::DEV_SEQUENCER);
    Node::open(config, Some(key), clock).map_err(|e| DevnetError::Open {
        what: "the chain".into(),
        source: Box::new(e),
    })
}

/// Bind `addr`; the listener and its URL.
pub(crate) async fn listen(addr: SocketAddr) -> Result<(TcpListener, String)> {
    let listen_error = |source| DevnetError::Listen {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
    let url = format!("http://{}", listener.local_addr().map_err(listen_error)?);
    Ok((listener, url))
}

/// Make blocks on `node` until `shutdown` fires.
pub(crate) fn produce(
    node: &Node,
    block_time: Duration,
    shutdown: &Shutdown,
) -> JoinHandle<fat_chain::Result<()>> {
    let sequencer = Sequencer {
        key: fat_crypto::dev_keypair(fat_chain::genesis::DEV_SEQUENCER),
        block_time,
    };
    tokio::spawn(sequencer.run(node.clone(), shutdown.wait()))
}

/// Wait for the sequencer: an error if it stopped making blocks or panicked.
pub(crate) async fn production_ended(
    producing: &mut JoinHandle<fat_chain::Result<()>>,
) -> Result<()> {
    match producing.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(DevnetError::Production(e)),
        Err(e) => Err(DevnetError::ProductionPanicked(e.to_string())),
    }
}

/// Open the dev node, serve its API and produce blocks until `shutdown` fires or a commit
/// fails. `on_ready` is called with the API's URL once it accepts connections.
pub async fn run(config: RunConfig, shutdown: Shutdown, on_ready: impl FnOnce(&str)) -> Result<()> {
    if !config.dev {
        return Err(DevnetError::NotDev);
    }
    let node = open_dev_node(config.data_dir, Arc::new(fat_types::SystemClock))?;
    let (listener, url) = listen(config.rpc).await?;
    let mut tasks = Tasks::default();
    tasks.add(
        "RPC server",
        serve(listener, fat_chain::rpc::app(node.clone()), &shutdown),
    );
    let mut producing = produce(&node, config.block_time, &shutdown);
    on_ready(&url);
    let result = tokio::select! {
        () = shutdown.wait() => Ok(()),
        ended = production_ended(&mut producing) => ended,
    };
    shutdown.trigger();
    let mut failures = tasks.join(GRACE).await;
    if !producing.is_finished() {
        failures.extend(join("sequencer", producing, GRACE).await);
    }
    for failure in &failures {
        tracing::warn!(%failure, "the chain stopped uncleanly");
    }
    result
}
