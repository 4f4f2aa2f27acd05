//! A network of four validators on commonware's simplex engine, in its deterministic runtime
//! over its simulated network. Each validator is a real chain node on its own disk; the faults
//! are the network's (latency, jitter, drops, partitions) and the validators' (a crash, a
//! restart from disk).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use commonware_p2p::simulated::{Config, Link, Network, Oracle};
use commonware_p2p::{Receiver as _, Recipients, Sender as _};
use commonware_runtime::{Clock as _, Handle, Quota, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::{NZU32, NZUsize, Probability};
use fat_chain::{Node, NodeConfig};
use fat_consensus::simplex::{self, CHANNELS, EngineConfig, PublicKey};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::{AccountId, Clock, Genesis, Hash32, Transaction, TxId, TxKind};

pub const VALIDATORS: usize = 4;

/// The node's clock is the simulation's.
struct SimClock(deterministic::Context);

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.0
            .current()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

fn genesis(validators: &[Keypair], users: &[Keypair]) -> Genesis {
    let mut genesis = fat_chain::genesis::dev();
    genesis.chain_id = "bft-sim".into();
    genesis.validators = validators.iter().map(Keypair::account_id).collect();
    genesis.accounts = users
        .iter()
        .map(|u| (u.account_id(), 1_000_000_000))
        .collect();
    genesis
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fat-bft-{name}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn link(success: f64, jitter: Duration) -> Link {
    Link {
        latency: Duration::from_millis(20),
        jitter,
        success_rate: Probability::from_f64(success).unwrap(),
    }
}

pub struct Sim {
    pub context: deterministic::Context,
    isolated: Vec<bool>,
    oracle: Oracle<PublicKey, deterministic::Context>,
    keys: Vec<Keypair>,
    peers: Vec<PublicKey>,
    dirs: Vec<PathBuf>,
    genesis: Genesis,
    nodes: Vec<Option<Node>>,
    running: Vec<Option<Handle<()>>>,
}

impl Sim {
    pub async fn new(context: deterministic::Context, name: &str, users: &[Keypair]) -> Self {
        let keys: Vec<Keypair> = (0..VALIDATORS)
            .map(|i| dev_keypair(&format!("validator-{i}")))
            .collect();
        let peers: Vec<PublicKey> = keys
            .iter()
            .map(|k| simplex::public_key(&k.account_id()).unwrap())
            .collect();
        let max_size = simplex::MAX_APP_MESSAGE.max(simplex::max_consensus_message(VALIDATORS));
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            Config {
                max_size,
                max_peers_per_set: NZUsize!(VALIDATORS),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            peers.clone(),
        )
        .await;
        network.start();
        let dirs = (0..VALIDATORS)
            .map(|i| temp_dir(&format!("{name}-{i}")))
            .collect();
        let genesis = genesis(&keys, users);
        let mut sim = Self {
            context,
            oracle,
            keys,
            peers,
            dirs,
            genesis,
            nodes: vec![None; VALIDATORS],
            isolated: vec![false; VALIDATORS],
            running: (0..VALIDATORS).map(|_| None).collect(),
        };
        sim.link_all(1.0).await;
        sim
    }

    pub async fn link_all(&mut self, success: f64) {
        self.link_all_with(success, Duration::from_millis(5)).await;
    }

    /// Link every validator to every other with `success` delivery and `jitter` on 20 ms.
    pub async fn link_all_with(&mut self, success: f64, jitter: Duration) {
        self.isolated = vec![false; VALIDATORS];
        for a in 0..VALIDATORS {
            for b in 0..VALIDATORS {
                if a != b {
                    let _ = self
                        .oracle
                        .remove_link(self.peers[a].clone(), self.peers[b].clone())
                        .await;
                    self.oracle
                        .add_link(
                            self.peers[a].clone(),
                            self.peers[b].clone(),
                            link(success, jitter),
                        )
                        .await
                        .unwrap();
                }
            }
        }
    }

    /// Cut validator `i` off from every other, both ways.
    pub async fn isolate(&mut self, i: usize) {
        self.isolated[i] = true;
        for j in 0..VALIDATORS {
            if i != j {
                let _ = self
                    .oracle
                    .remove_link(self.peers[i].clone(), self.peers[j].clone())
                    .await;
                let _ = self
                    .oracle
                    .remove_link(self.peers[j].clone(), self.peers[i].clone())
                    .await;
            }
        }
    }

    /// Open validator `i`'s node from its disk and start its engine.
    pub async fn start(&mut self, i: usize) {
        let config = NodeConfig {
            data_dir: self.dirs[i].clone(),
            genesis: self.genesis.clone(),
            mempool_limit: 10_000,
        };
        let clock = Arc::new(SimClock(self.context.child("clock")));
        let node = Node::open(config, Some(self.keys[i].clone()), clock).unwrap();
        let control = self.oracle.control(self.peers[i].clone());
        let quota = Quota::per_second(NZU32!(10_000));
        let mut channels = Vec::new();
        for channel in CHANNELS {
            channels.push(control.register(channel, quota).await.unwrap());
        }
        let channels: [_; 4] = channels.try_into().unwrap();
        let key = self.keys[i].clone();
        let app = node.clone();
        let engine_config = EngineConfig {
            partition: format!("validator-{i}"),
            ..EngineConfig::default()
        };
        let handle = self
            .context
            .child("validator")
            .with_attribute("index", i)
            .spawn(move |context| async move {
                let engine = simplex::start(context, app, &key, control, channels, engine_config)
                    .expect("the engine starts");
                let _ = engine.await;
            });
        self.nodes[i] = Some(node);
        self.running[i] = Some(handle);
    }

    /// Take over validator `i`'s identity (crash it first) and send `messages` to every other
    /// validator on the validators' own channel, as a faulty or malicious validator would.
    /// Returns how many messages validator `i` has received on our channel since, counted
    /// as they arrive.
    pub async fn byzantine(
        &mut self,
        i: usize,
        messages: Vec<Vec<u8>>,
    ) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
        let control = self.oracle.control(self.peers[i].clone());
        let (mut sender, mut receiver) = control
            .register(CHANNELS[3], Quota::per_second(NZU32!(1_000_000)))
            .await
            .unwrap();
        let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = received.clone();
        self.context
            .child("byzantine_ears")
            .spawn(move |_| async move {
                while receiver.recv().await.is_ok() {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        self.context
            .child("byzantine")
            .spawn(move |context| async move {
                for message in messages {
                    sender.send(Recipients::All, message, false);
                }
                context.sleep(Duration::from_secs(3600)).await;
            });
        received
    }

    /// The key of validator `i`.
    pub fn key(&self, i: usize) -> &Keypair {
        &self.keys[i]
    }

    /// Stop validator `i` at once, as a crash would: its tasks end, its disk stays.
    pub fn crash(&mut self, i: usize) {
        if let Some(handle) = self.running[i].take() {
            handle.abort();
        }
        self.nodes[i] = None;
    }

    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("validator is running")
    }

    /// Submit a transfer from `user` through validator `via`.
    pub fn transfer(&self, via: usize, user: &Keypair, to: AccountId) -> TxId {
        let node = self.node(via);
        let tx = Transaction {
            chain: node.genesis_hash(),
            signer: user.account_id(),
            nonce: node.next_nonce(&user.account_id()),
            fee: 1_000,
            kind: TxKind::Transfer { to, amount: 1 },
        };
        node.submit_tx(&user.sign_tx(tx))
            .expect("the transfer is admitted")
    }

    /// Wait (in simulated time) until every running validator that is not cut off has
    /// committed `txs`.
    pub async fn until_committed(&self, txs: &[TxId], within: Duration) {
        let deadline = self.context.current() + within;
        loop {
            let reachable = self
                .nodes
                .iter()
                .zip(&self.isolated)
                .filter(|(_, isolated)| !**isolated)
                .filter_map(|(node, _)| node.as_ref());
            let done = reachable.clone().all(|node| {
                txs.iter()
                    .all(|tx| node.store().tx_location(tx).unwrap().is_some())
            });
            if done {
                return;
            }
            assert!(
                self.context.current() < deadline,
                "transactions not committed on every running validator within {within:?}: heights {:?}",
                self.heights()
            );
            self.context.sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn heights(&self) -> Vec<Option<u64>> {
        self.nodes
            .iter()
            .map(|n| n.as_ref().map(|n| n.tip().height))
            .collect()
    }

    /// No two validators hold different blocks at one height; the hashes of the chain.
    pub fn agreed_chain(&self) -> Vec<Hash32> {
        let top = self
            .nodes
            .iter()
            .flatten()
            .map(|n| n.tip().height)
            .max()
            .unwrap();
        (1..=top)
            .map(|height| {
                let hashes: Vec<Hash32> = self
                    .nodes
                    .iter()
                    .flatten()
                    .filter_map(|n| n.store().block(height).unwrap().map(|b| b.hash()))
                    .collect();
                assert!(
                    hashes.windows(2).all(|w| w[0] == w[1]),
                    "validators finalized different blocks at height {height}: {hashes:?}"
                );
                hashes[0]
            })
            .collect()
    }
}

pub fn users() -> Vec<Keypair> {
    (0..VALIDATORS)
        .map(|i| dev_keypair(&format!("user-{i}")))
        .collect()
}

pub fn runner(seed: u64) -> deterministic::Runner {
    let start = UNIX_EPOCH + Duration::from_millis(fat_chain::genesis::dev().timestamp_ms + 1_000);
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_start_time(start)
            .with_timeout(Some(Duration::from_secs(600))),
    )
}

/// Submit `rounds` transfers from each user through its own validator, one round at a time.
pub async fn traffic(
    sim: &Sim,
    users: &[Keypair],
    validators: &[usize],
    rounds: usize,
) -> Vec<TxId> {
    let sink = dev_keypair("sink").account_id();
    let mut txs = Vec::new();
    for _ in 0..rounds {
        let round: Vec<TxId> = validators
            .iter()
            .map(|&v| sim.transfer(v, &users[v], sink))
            .collect();
        sim.until_committed(&round, Duration::from_secs(30)).await;
        txs.extend(round);
    }
    txs
}
