//! Benchmark consensus: four validators on commonware's simplex BFT engine against the single
//! sequencer, in one process on loopback.
//!
//! The four validators are real chain nodes, each on its own temporary data directory, each
//! running [`fat_consensus::simplex::spawn_validator`] (commonware's tokio runtime on a thread
//! of its own, authenticated p2p on a free loopback port), the engine's defaults but a zero
//! block time. They share this one process and the machine's cores (2 on the reference
//! machine) with each other and with the clients: every signature is checked by each of the
//! four, every block executed and fsynced four times. Figures are for that setting, not for
//! four machines.
//!
//! `finality_p50_ms`, `finality_p99_ms`: one client submits a transfer through validator 0 and
//! waits until validator 0 has committed it, one at a time, after a warm-up.
//! `bft_commit_tx_per_s`: 64 accounts, each keeping up to [`IN_FLIGHT`] transfers with
//! consecutive nonces pending on its own validator (spread over the four), for a fixed window
//! after a ramp; transactions committed on validator 0 per second.
//! `sequencer_commit_tx_per_s`: the same load on one node that is the only validator of its
//! genesis, driven by [`Sequencer`]; `sequencer_finality_p50_ms` its single-client finality.
//! `bft_vs_sequencer_ratio`: bft / sequencer. `FAT_BENCH_QUICK=1` runs less.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fat_bench::{quick, round, write_figures};
use fat_chain::{Consensus as _, Genesis, Node, NodeConfig, Sequencer, SystemClock};
use fat_consensus::simplex::{EngineConfig, NetworkConfig, RunningValidator, spawn_validator};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::{AccountId, Hash32, Transaction, TxKind};
use tokio::runtime::Runtime;

/// The validators of the BFT network.
const VALIDATORS: usize = 4;
/// The accounts sending the throughput load, each through validator `i % VALIDATORS`.
const CLIENTS: usize = 64;
/// How many of its transfers an account keeps pending (submitted, not committed) at most.
/// 64 x 100 keeps blocks under ~6,400 transfers. At 400 (blocks of the full 10,000) the four
/// validators on 2 cores could not verify a block within the engine's 1 s leader timeout:
/// views timed out and the chain committed two blocks in 10 s, so this measures a load the
/// network sustains, not its collapse.
const IN_FLIGHT: u64 = 100;
/// How many transactions a node's mempool holds.
const MEMPOOL_LIMIT: usize = 100_000;
/// The longest a single transfer may take to commit before the bench gives up.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

struct Settings {
    warmup: usize,
    samples: usize,
    ramp: Duration,
    window: Duration,
    per_account: usize,
}

/// Temporary data directories, removed when dropped.
struct TempDirs(Vec<PathBuf>);

impl TempDirs {
    fn new(name: &str, count: usize) -> Self {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dirs = (0..count)
            .map(|i| {
                let dir = std::env::temp_dir().join(format!(
                    "fat-bench-{name}-{i}-{}-{stamp}",
                    std::process::id()
                ));
                std::fs::create_dir_all(&dir).unwrap();
                dir
            })
            .collect();
        Self(dirs)
    }
}

impl Drop for TempDirs {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A loopback address with a port nobody listens on right now.
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The `q` quantile of sorted `values` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn genesis(chain_id: &str, validators: &[AccountId], funded: &[AccountId]) -> Genesis {
    let mut genesis = fat_chain::genesis::dev();
    genesis.chain_id = chain_id.into();
    genesis.validators = validators.to_vec();
    genesis.accounts = funded.iter().map(|a| (*a, 1_000_000_000_000)).collect();
    genesis
}

fn open(dir: &std::path::Path, genesis: &Genesis, key: &Keypair) -> Node {
    let config = NodeConfig {
        data_dir: dir.to_path_buf(),
        genesis: genesis.clone(),
        mempool_limit: MEMPOOL_LIMIT,
    };
    Node::open(config, Some(key.clone()), Arc::new(SystemClock)).unwrap()
}

fn transfer(chain: Hash32, key: &Keypair, nonce: u64) -> Vec<u8> {
    let tx = fat_types::ChainParams::default().priced(Transaction {
        chain,
        signer: key.account_id(),
        nonce,
        fee: 0,
        kind: TxKind::Transfer {
            to: AccountId([7; 32]),
            amount: 1,
        },
    });
    key.sign_tx(tx).encode()
}

/// Each account's transfers, nonces 0.., encoded; signed on two threads before anything runs.
/// Transactions name their chain, so each chain of the run gets its own.
fn sign_load(chain: Hash32, users: &[Keypair], per_account: usize) -> Arc<Vec<Vec<Vec<u8>>>> {
    let half = users.len().div_ceil(2);
    let signed = std::thread::scope(|s| {
        let parts: Vec<_> = users
            .chunks(half)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|key| {
                            (0..per_account as u64)
                                .map(|n| transfer(chain, key, n))
                                .collect()
                        })
                        .collect::<Vec<Vec<Vec<u8>>>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|p| p.join().unwrap()).collect()
    });
    Arc::new(signed)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Single-client finality, in ms, each sorted.
struct Finality {
    /// From submitting a transfer to its commit on the node it was submitted to.
    latencies: Vec<f64>,
    /// From submitting to the timestamp of the proposal that holds it (ms resolution).
    to_proposal: Vec<f64>,
    /// From that timestamp to the commit.
    to_commit: Vec<f64>,
}

/// One client at a time: submit a transfer through `node`, wait until `node` commits it.
/// `warmup` rounds are not counted.
fn finality(
    runtime: &Runtime,
    node: &Node,
    key: &Keypair,
    warmup: usize,
    samples: usize,
) -> Finality {
    let mut latencies = Vec::with_capacity(samples);
    let mut to_proposal = Vec::with_capacity(samples);
    let mut to_commit = Vec::with_capacity(samples);
    runtime.block_on(async {
        for round in 0..warmup + samples {
            let tx = transfer(node.genesis_hash(), key, node.next_nonce(&key.account_id()));
            let submitted_ms = now_ms();
            let start = Instant::now();
            let id = node.submit(&tx).expect("the probe transfer is admitted");
            let location = node.wait_committed(&id, COMMIT_TIMEOUT).await.unwrap();
            let done_ms = now_ms();
            let location = location.expect("the probe transfer commits in time");
            if round >= warmup {
                latencies.push(start.elapsed().as_secs_f64() * 1000.0);
                // The leader stamps its proposal with the same clock (one process).
                let block = node.store().block(location.height).unwrap().unwrap();
                let proposed_ms = block.header.timestamp_ms as f64;
                to_proposal.push(proposed_ms - submitted_ms as f64);
                to_commit.push(done_ms as f64 - proposed_ms);
            }
        }
    });
    for values in [&mut latencies, &mut to_proposal, &mut to_commit] {
        values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    Finality {
        latencies,
        to_proposal,
        to_commit,
    }
}

/// What the throughput load measured.
struct Throughput {
    tx_per_s: f64,
    blocks: u64,
    committed: u64,
    /// Some account sent every transfer it had before the window ended: a lower bound.
    exhausted: bool,
    /// The most transactions in one of those blocks.
    largest_block: usize,
    /// Views that ended without a block (timed out) between those blocks.
    skipped_views: u64,
    /// CPU the whole process used over the window, in percent of one core.
    cpu_percent: f64,
}

/// The sum of the users' committed nonces on `node`: how many of their transfers it committed.
fn committed(node: &Node, users: &[AccountId]) -> u64 {
    node.with_state(|s| {
        users
            .iter()
            .map(|a| s.accounts.get(a).map_or(0, |acc| acc.nonce))
            .sum()
    })
}

/// Keep every account's transfers flowing into its node (`nodes[i % nodes.len()]`), at most
/// [`IN_FLIGHT`] pending each; count what `observer` commits over `window` after `ramp`.
fn throughput(
    runtime: &Runtime,
    nodes: &[Node],
    observer: &Node,
    users: &[Keypair],
    load: &Arc<Vec<Vec<Vec<u8>>>>,
    settings: &Settings,
) -> Throughput {
    let stop = Arc::new(AtomicBool::new(false));
    let exhausted = Arc::new(AtomicBool::new(false));
    let accounts: Vec<AccountId> = users.iter().map(Keypair::account_id).collect();
    let clients: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(i, &account)| {
            let node = nodes[i % nodes.len()].clone();
            let (load, stop, exhausted) = (load.clone(), stop.clone(), exhausted.clone());
            runtime.spawn(async move {
                let txs = &load[i];
                let mut tip = node.subscribe();
                while !stop.load(Ordering::Relaxed) {
                    tip.borrow_and_update();
                    let done = node.with_state(|s| s.accounts.get(&account).map_or(0, |a| a.nonce));
                    let mut next = node.next_nonce(&account);
                    while next < done + IN_FLIGHT {
                        let Some(tx) = txs.get(next as usize) else {
                            exhausted.store(true, Ordering::Relaxed);
                            break;
                        };
                        if node.submit(tx).is_err() {
                            break;
                        }
                        next += 1;
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(20), tip.changed()).await;
                }
            })
        })
        .collect();
    std::thread::sleep(settings.ramp);
    let (start, start_count, start_height) = (
        Instant::now(),
        committed(observer, &accounts),
        observer.tip().height,
    );
    let start_exhausted = exhausted.load(Ordering::Relaxed);
    let cpu_start = cpu_seconds();
    std::thread::sleep(settings.window);
    let cpu = cpu_seconds() - cpu_start;
    let (elapsed, end_count, end_height) = (
        start.elapsed(),
        committed(observer, &accounts),
        observer.tip().height,
    );
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for client in clients {
            client.await.unwrap();
        }
    });
    assert!(
        !start_exhausted,
        "the load ran out during the ramp: sign more transfers per account"
    );
    let mut largest_block = 0;
    let mut skipped_views = 0;
    let mut last_view = None;
    for height in start_height..=end_height {
        let block = observer.store().block(height).unwrap().unwrap();
        if height > start_height {
            largest_block = largest_block.max(block.txs.len());
        }
        if let fat_types::Certificate::Simplex { view, .. } = block.certificate {
            if let Some(last) = last_view {
                skipped_views += view - last - 1;
            }
            last_view = Some(view);
        }
    }
    Throughput {
        largest_block,
        skipped_views,
        tx_per_s: (end_count - start_count) as f64 / elapsed.as_secs_f64(),
        blocks: end_height - start_height,
        committed: end_count - start_count,
        exhausted: exhausted.load(Ordering::Relaxed),
        cpu_percent: cpu / elapsed.as_secs_f64() * 100.0,
    }
}

/// CPU time (user and system) this process has used, in seconds; 0 where /proc is missing.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let settings = if quick() {
        Settings {
            warmup: 5,
            samples: 30,
            ramp: Duration::from_secs(1),
            window: Duration::from_secs(5),
            per_account: 2_500,
        }
    } else {
        Settings {
            warmup: 20,
            samples: 200,
            ramp: Duration::from_secs(2),
            window: Duration::from_secs(10),
            per_account: 5_000,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys: Vec<Keypair> = (0..VALIDATORS)
        .map(|i| dev_keypair(&format!("validator-{i}")))
        .collect();
    let users: Vec<Keypair> = (0..CLIENTS)
        .map(|i| dev_keypair(&format!("bench-user-{i}")))
        .collect();
    let prober = dev_keypair("bench-finality");
    let mut funded: Vec<AccountId> = users.iter().map(Keypair::account_id).collect();
    funded.push(prober.account_id());

    // Four validators on loopback, in this process.
    let validators: Vec<AccountId> = keys.iter().map(Keypair::account_id).collect();
    let bft_genesis = genesis("bench-bft", &validators, &funded);
    let load = sign_load(
        fat_chain::genesis::chain_id(&bft_genesis),
        &users,
        settings.per_account,
    );
    let dirs = TempDirs::new("bft", VALIDATORS);
    let addrs: Vec<SocketAddr> = (0..VALIDATORS).map(|_| free_addr()).collect();
    let peers: Vec<(AccountId, SocketAddr)> = validators
        .iter()
        .copied()
        .zip(addrs.iter().copied())
        .collect();
    let nodes: Vec<Node> = (0..VALIDATORS)
        .map(|i| open(&dirs.0[i], &bft_genesis, &keys[i]))
        .collect();
    let running: Vec<RunningValidator> = (0..VALIDATORS)
        .map(|i| {
            let network = NetworkConfig {
                listen: addrs[i],
                validators: peers.clone(),
                storage_dir: dirs.0[i].join("consensus"),
                engine: EngineConfig {
                    block_time: Duration::ZERO,
                    ..EngineConfig::default()
                },
            };
            spawn_validator(nodes[i].clone(), &keys[i], network).unwrap()
        })
        .collect();
    let bft_finality = finality(
        &runtime,
        &nodes[0],
        &prober,
        settings.warmup,
        settings.samples,
    );
    let bft = throughput(&runtime, &nodes, &nodes[0], &users, &load, &settings);
    let heights: Vec<u64> = nodes.iter().map(|n| n.tip().height).collect();
    std::thread::scope(|s| {
        for validator in running {
            s.spawn(move || validator.stop());
        }
    });
    drop(nodes);
    drop(dirs);

    // The single sequencer: one node, the only validator of its genesis.
    let sequencer_genesis = genesis("bench-sequencer", &validators[..1], &funded);
    let load = sign_load(
        fat_chain::genesis::chain_id(&sequencer_genesis),
        &users,
        settings.per_account,
    );
    let dirs = TempDirs::new("sequencer", 1);
    let node = open(&dirs.0[0], &sequencer_genesis, &keys[0]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sequencer = Sequencer {
        key: keys[0].clone(),
        block_time: Duration::ZERO,
    };
    let producing = runtime.spawn(sequencer.run(node.clone(), async {
        let _ = stopped.await;
    }));
    let sequencer_finality = finality(&runtime, &node, &prober, settings.warmup, settings.samples);
    let single = throughput(
        &runtime,
        std::slice::from_ref(&node),
        &node,
        &users,
        &load,
        &settings,
    );
    let _ = stop.send(());
    runtime.block_on(producing).unwrap().unwrap();
    drop(node);
    drop(dirs);

    let lat = &bft_finality.latencies;
    let figures = [
        ("finality_p50_ms", quantile(lat, 0.5)),
        ("finality_p99_ms", quantile(lat, 0.99)),
        ("bft_commit_tx_per_s", bft.tx_per_s),
        ("sequencer_commit_tx_per_s", single.tx_per_s),
        ("bft_vs_sequencer_ratio", bft.tx_per_s / single.tx_per_s),
        (
            "sequencer_finality_p50_ms",
            quantile(&sequencer_finality.latencies, 0.5),
        ),
    ];
    println!(
        "consensus: {VALIDATORS} simplex validators on loopback, all in ONE process sharing {} \
         cores with each other and the clients (not {VALIDATORS} machines); block time 0",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "finality: {} transfers one at a time via validator 0 after {} warm-up: min {:.1} ms, \
         max {:.1} ms; submit to leader's proposal p50 {:.0} ms, proposal to commit p50 {:.0} ms",
        settings.samples,
        settings.warmup,
        lat[0],
        lat[lat.len() - 1],
        quantile(&bft_finality.to_proposal, 0.5),
        quantile(&bft_finality.to_commit, 0.5),
    );
    for (name, t) in [("bft", &bft), ("sequencer", &single)] {
        println!(
            "{name} load: {CLIENTS} accounts, up to {IN_FLIGHT} pending each, {:.0} s after a \
             {:.0} s ramp: {} transfers in {} blocks (largest {}), {} views skipped, process \
             CPU {:.0}%{}",
            settings.window.as_secs_f64(),
            settings.ramp.as_secs_f64(),
            t.committed,
            t.blocks,
            t.largest_block,
            t.skipped_views,
            t.cpu_percent,
            if t.exhausted {
                " (load ran out: a lower bound)"
            } else {
                ""
            }
        );
    }
    println!("bft heights at the end: {heights:?}");
    println!("{:<28} {:>12}", "figure", "value");
    for (name, value) in figures {
        println!("{name:<28} {value:>12.2}");
    }
    let json: serde_json::Map<String, serde_json::Value> = figures
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(round(*v, 2))))
        .collect();
    write_figures("consensus", json);
}
