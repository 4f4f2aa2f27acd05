//! Run one validator for real: commonware's tokio runtime on a thread of its own, its
//! authenticated, encrypted p2p network (`lookup`: every validator's address is known from the
//! genesis) and the engine over an [`Application`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use commonware_cryptography::{ChaCha20Poly1305, Signer as _};
use commonware_p2p::authenticated::lookup;
use commonware_p2p::{Address, AddressableManager as _};
use commonware_runtime::{Quota, Runner as _, Spawner as _, Supervisor as _, tokio as runtime};
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::ordered::Map;
use commonware_utils::{NZU32, NZUsize};
use fat_crypto::Keypair;
use fat_types::AccountId;
use tokio::sync::oneshot;

use super::{CHANNELS, EngineConfig, MAX_APP_MESSAGE, max_consensus_message, public_key};
use crate::application::Application;
use crate::error::ConsensusError;

/// The namespace of the p2p handshake, apart from the engine's.
const P2P_NAMESPACE: &[u8] = b"fat/p2p/v1";

/// Messages a peer may send per second on each channel before it is throttled.
const QUOTA_PER_SECOND: u32 = 20_000;

/// How long a stopping validator waits for its tasks.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Where a validator runs and who its peers are.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The address its p2p network listens on.
    pub listen: SocketAddr,
    /// Every validator of the genesis (itself included) with its p2p address.
    pub validators: Vec<(AccountId, SocketAddr)>,
    /// Where the engine keeps its journal.
    pub storage_dir: PathBuf,
    /// The engine's settings.
    pub engine: EngineConfig,
}

/// A validator running on its own thread.
#[derive(Debug)]
pub struct RunningValidator {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningValidator {
    /// Stop the engine and its network and wait for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Whether the validator's thread has ended (it ends only when stopped, or on a panic).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningValidator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Start validator `key` of `app`'s genesis on its own thread: the p2p network on
/// `config.listen`, connections to every other validator, the engine.
pub fn spawn_validator<A: Application>(
    app: A,
    key: &Keypair,
    config: NetworkConfig,
) -> Result<RunningValidator, ConsensusError> {
    let mut peers = Vec::with_capacity(config.validators.len());
    for (account, address) in &config.validators {
        peers.push((public_key(account)?, Address::from(*address)));
    }
    let peers: Map<_, Address> = peers.try_into().map_err(|_| ConsensusError::NoValidators)?;
    let signer = super::private_key(key);
    if peers.get_value(&signer.public_key()).is_none() {
        return Err(ConsensusError::NotValidator {
            account: key.account_id(),
        });
    }
    let key = key.clone();
    let (stop, stopped) = oneshot::channel();
    let max_message = MAX_APP_MESSAGE.max(max_consensus_message(config.validators.len()));
    let thread = std::thread::Builder::new()
        .name("fat-consensus".into())
        .spawn(move || {
            let runner = runtime::Runner::new(
                runtime::Config::new().with_storage_directory(config.storage_dir.clone()),
            );
            runner.start(|context| async move {
                let handshake = Cups::<_, ChaCha20Poly1305>::new(
                    Sake {
                        signer,
                        synchrony_bound: Duration::from_secs(5),
                        max_handshake_age: Duration::from_secs(10),
                        version: sake::Version::V1,
                    },
                    cups::Version::V1,
                );
                let p2p = lookup::Config::local(
                    handshake,
                    P2P_NAMESPACE,
                    config.listen,
                    NZUsize!(config.validators.len().max(1)),
                    max_message,
                    NZUsize!(4_096),
                );
                let (mut network, mut oracle) = lookup::Network::new(context.child("p2p"), p2p);
                oracle.track(0, peers);
                let quota = Quota::per_second(NZU32!(QUOTA_PER_SECOND));
                let channels = CHANNELS.map(|channel| network.register(channel, quota));
                network.start();
                let engine = super::start(
                    context.child("validator"),
                    app,
                    &key,
                    oracle,
                    channels,
                    config.engine,
                );
                match engine {
                    Ok(_engine) => {
                        let _ = stopped.await;
                    }
                    Err(error) => tracing::error!(%error, "the consensus engine did not start"),
                }
                let _ = context.stop(0, Some(STOP_GRACE)).await;
            });
        })
        .map_err(|e| ConsensusError::Task(e.to_string()))?;
    Ok(RunningValidator {
        stop: Some(stop),
        thread: Some(thread),
    })
}
