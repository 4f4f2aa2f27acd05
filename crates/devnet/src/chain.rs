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

/// Open the nodes of the dev chain run by `n` validators
/// ([`fat_chain::genesis::dev_with_validators`]), validator 0 in `data_dir/chain`, validator
/// `i` in `data_dir/chain-{i}`, and start each one's simplex engine on a free loopback p2p
/// port; validator 0's node, and the running validators.
pub(crate) fn open_dev_validators(
    data_dir: &std::path::Path,
    n: usize,
    clock: &Arc<dyn Clock>,
) -> Result<(Node, Vec<fat_consensus::simplex::RunningValidator>)> {
    let genesis = fat_chain::genesis::dev_with_validators(n);
    let mut p2p = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|source| {
            DevnetError::Listen {
                addr: "127.0.0.1:0".into(),
                source,
            }
        })?;
        p2p.push(
            listener
                .local_addr()
                .map_err(|source| DevnetError::Listen {
                    addr: "127.0.0.1:0".into(),
                    source,
                })?,
        );
    }
    let peers: Vec<_> = genesis
        .validators
        .iter()
        .copied()
        .zip(p2p.iter().copied())
        .collect();
    let open_error = |what: String| {
        move |e: fat_chain::ChainError| DevnetError::Open {
            what,
            source: Box::new(e),
        }
    };
    let mut first = None;
    let mut running = Vec::with_capacity(n);
    for (i, listen) in p2p.iter().enumerate() {
        let dir = match i {
            0 => data_dir.join("chain"),
            i => data_dir.join(format!("chain-{i}")),
        };
        let key = fat_chain::genesis::dev_validator(i);
        let node = Node::open(
            NodeConfig {
                data_dir: dir.clone(),
                genesis: genesis.clone(),
                mempool_limit: MEMPOOL_LIMIT,
            },
            Some(key.clone()),
            clock.clone(),
        )
        .map_err(open_error(format!("the chain of validator {i}")))?;
        let network = fat_consensus::simplex::NetworkConfig {
            listen: *listen,
            validators: peers.clone(),
            storage_dir: dir.join("consensus"),
            engine: fat_consensus::simplex::EngineConfig::default(),
        };
        let validator = fat_consensus::simplex::spawn_validator(node.clone(), &key, network)
            .map_err(|e| open_error(format!("validator {i}"))(e.into()))?;
        running.push(validator);
        first.get_or_insert(node);
    }
    let node = first.expect("at least one validator");
    Ok((node, running))
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

/// How `fat chain --genesis FILE --key FILE` runs one validator of a network.
#[derive(Debug, Clone)]
pub struct ValidatorRunConfig {
    /// The genesis file (`fat genesis new` writes it).
    pub genesis: PathBuf,
    /// This validator's key file.
    pub key: PathBuf,
    /// Where the chain's database and the engine's journal live.
    pub data_dir: PathBuf,
    /// The RPC address to bind.
    pub rpc: SocketAddr,
    /// The least time between blocks (zero: a block as soon as there is work).
    pub block_time: Duration,
}

/// The file in a validator's data directory that names the validator it belongs to.
const VALIDATOR_FILE: &str = "validator";

/// Open validator `config.key`'s node of the chain `config.genesis`, serve its API and run the
/// BFT engine with its peers until `shutdown` fires. Refuses a data directory made for another
/// chain or another validator, saying which.
pub async fn run_validator(
    config: ValidatorRunConfig,
    shutdown: Shutdown,
    on_ready: impl FnOnce(&str),
) -> Result<()> {
    let open_error = |what: &str| {
        let what = what.to_string();
        move |e: fat_chain::ChainError| DevnetError::Open {
            what,
            source: Box::new(e),
        }
    };
    let file = fat_chain::genesis::GenesisFile::read(&config.genesis)
        .map_err(open_error("the genesis file"))?;
    let key = fat_chain::genesis::ValidatorKeyFile::read(&config.key)
        .map_err(open_error("the validator key"))?;
    let index = file
        .genesis
        .validators
        .iter()
        .position(|v| *v == key.account_id())
        .ok_or_else(|| {
            open_error("the validator key")(fat_chain::ChainError::NotValidator {
                account: key.account_id(),
            })
        })?;
    claim_data_dir(&config.data_dir, &key).map_err(open_error("the data directory"))?;
    let node = Node::open(
        NodeConfig {
            data_dir: config.data_dir.clone(),
            genesis: file.genesis.clone(),
            mempool_limit: MEMPOOL_LIMIT,
        },
        Some(key.clone()),
        Arc::new(fat_types::SystemClock),
    )
    .map_err(open_error("the chain"))?;
    let (listener, url) = listen(config.rpc).await?;
    let mut tasks = Tasks::default();
    tasks.add(
        "RPC server",
        serve(listener, fat_chain::rpc::app(node.clone()), &shutdown),
    );
    let network = fat_consensus::simplex::NetworkConfig {
        listen: file.p2p[index],
        validators: file.validators(),
        storage_dir: config.data_dir.join("consensus"),
        engine: fat_consensus::simplex::EngineConfig {
            block_time: config.block_time,
            ..Default::default()
        },
    };
    let validator = fat_consensus::simplex::spawn_validator(node, &key, network)
        .map_err(|e| open_error("the consensus engine")(e.into()))?;
    on_ready(&url);
    shutdown.wait().await;
    tokio::task::spawn_blocking(move || validator.stop())
        .await
        .map_err(|e| DevnetError::ProductionPanicked(e.to_string()))?;
    for failure in &tasks.join(GRACE).await {
        tracing::warn!(%failure, "the validator stopped uncleanly");
    }
    Ok(())
}

/// Note in `dir` which validator it belongs to, or check it is `key`'s.
fn claim_data_dir(dir: &std::path::Path, key: &fat_crypto::Keypair) -> fat_chain::Result<()> {
    let data_dir = |source| fat_chain::ChainError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(data_dir)?;
    let path = dir.join(VALIDATOR_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let expected: fat_types::AccountId = text.trim().parse().map_err(|_| {
                fat_chain::ChainError::Corrupt(format!(
                    "{} does not name a validator",
                    path.display()
                ))
            })?;
            if expected != key.account_id() {
                return Err(fat_chain::ChainError::WrongValidator {
                    dir: dir.to_path_buf(),
                    expected,
                    got: key.account_id(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, format!("{}\n", key.account_id())).map_err(data_dir)
        }
        Err(e) => Err(data_dir(e)),
    }
}
