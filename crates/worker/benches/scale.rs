//! Benchmark how far worker processes scale out: commands per second on one worker process and
//! on two, what ordering and executing a command cost, and how fast a client fails over.
//!
//! The chain (the dev sequencer, a block as soon as there is work, and the dev gatekeeper)
//! runs in this process, with the clients. The workers are real `fat worker --operator alice`
//! processes (the `fat` binary of this build: `cargo build --release -p fat-cli` runs first;
//! `FAT_BIN` names another), which register themselves and their URLs. Where `taskset` exists,
//! worker 0 is pinned to core 0 and worker 1 to core 1; the chain and clients are not pinned.
//! Clusters: `a` (worker 0) with four `probe` contracts, `b` (worker 1) with two, `f` (both)
//! with `counter`, and `z`, whose one member is a registered dev worker that never runs.
//!
//! The command is the probe's `loop` asking for [`GAS`] (a tenth of the chain's `max_tx_gas`,
//! about 9 ms of wasm on this machine): the same CPU work on every worker, ended by gas.
//! Commands are sealed and signed before any clock starts, then submitted by [`LANES`] signers
//! side by side, each in nonce order, as fast as the chain admits them.
//!
//! - `scale_1_cmd_per_s`: commands to the four contracts of `a`, all run by worker 0, from the
//!   first submission until worker 0 has applied the block of the last.
//! - `scale_2_cmd_per_s`: as many commands, half to two contracts of `a` and half to the two
//!   of `b` (interleaved), until both workers have applied the last block.
//! - `scale_2_ratio`: the two over the one, per round (target >= 1.8 on 2 cores). The two
//!   workers share the machine's two cores with the chain and the submitting clients:
//!   `scale_{1,2}_chain_client_cores` is this process's CPU time (chain, gatekeeper, clients)
//!   over the run's wall time, `scale_{1,2}_worker_cores` the workers' together, and
//!   `scale_{1,2}_cmd_per_worker_cpu_s` the commands per second of the workers' CPU time:
//!   equal in both runs when a worker's work per command does not grow beside another, so
//!   that a shortfall of `scale_2_ratio` is CPU time the workers did not get.
//! - `chain_order_us_per_cmd`: wall time per command of the chain ordering the same commands
//!   to the contract of `z`, which nobody executes, at saturation: from the first submission
//!   until the last is committed. `chain_order_cpu_us_per_cmd`: this process's CPU time per
//!   command meanwhile (the chain, and the clients' HTTP requests; not their sealing).
//! - `worker_exec_us_per_cmd`: wall time per command of worker 0 executing a backlog alone:
//!   it is stopped (SIGSTOP) while the commands to the contracts of `a` are committed, then
//!   continued (SIGCONT) and timed until it has applied the last block (fetch, verify, open,
//!   run, seal, commit). `worker_exec_cpu_us_per_cmd`: its CPU time per command meanwhile.
//! - `chain_saturation_clusters`: `worker_exec_us_per_cmd` over `chain_order_us_per_cmd`, per
//!   round: how many clusters, each busy with such commands, one chain can order for before
//!   ordering rather than execution is the limit.
//! - `failover_ms`: a client (`fat_client::Client::query`, which asks the members of a
//!   contract's cluster in the registry's order and moves on when one is unreachable) queries
//!   `counter` on `f` in a loop; the member answering is killed (SIGKILL); the time from the
//!   kill to the first answer from the other member. The killed worker is started again from
//!   its data directory, and runs a command of each of its clusters (compiling their code),
//!   before the next round.
//! - `workers_pinned`: 1 when each worker process had a core of its own, else 0.
//!
//! Figures are medians over rounds; `FAT_BENCH_QUICK=1` runs less. Every process started is
//! killed at the end, or when the bench panics.

#[allow(unused_imports)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Chain, ChainClient, command_tx_with_gas, median, public_key, target_dir};
use fat_crypto::envelope::EcdhPublic;
use fat_crypto::{Keypair, dev_keypair};
use fat_devnet::bootstrap::{submit, submit_at, wait_for_cluster_key};
use fat_proto::WorkerApi;
use fat_types::tx::cluster_id;
use fat_types::{ClusterId, CommandPayload, ContractId, SignedTransaction, TxId, TxKind, WorkerId};
use serde_json::json;

/// The gas each command asks for, all of which the probe's `loop` spends.
const GAS: u64 = 100_000_000;
/// How many signers submit side by side (each keeps its nonces in order).
const LANES: usize = 8;
/// The longest any wait of the bench may take before it fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// The figures, in the order [`Round`] holds them.
const FIGURES: [&str; 16] = [
    "scale_1_cmd_per_s",
    "scale_2_cmd_per_s",
    "scale_2_ratio",
    "scale_1_chain_client_cores",
    "scale_2_chain_client_cores",
    "scale_1_worker_cores",
    "scale_2_worker_cores",
    "scale_1_cmd_per_worker_cpu_s",
    "scale_2_cmd_per_worker_cpu_s",
    "chain_order_us_per_cmd",
    "chain_order_cpu_us_per_cmd",
    "worker_exec_us_per_cmd",
    "worker_exec_cpu_us_per_cmd",
    "chain_saturation_clusters",
    "failover_ms",
    "workers_pinned",
    // `join_100k_entries_s` (a worker joining a cluster whose contract holds 100k entries)
    // is the `join` bench of fat-cli: `cargo bench -p fat-cli --bench join`.
];

type Round = [f64; FIGURES.len()];

struct Sizes {
    rounds: usize,
    /// Commands in each scale run.
    scale: usize,
    /// Commands ordered for nobody.
    order: usize,
    /// Commands a stopped worker executes once continued.
    exec: usize,
}

/// The `fat` binary beside this bench's profile directory, built first when cargo runs the
/// bench (a no-op when fresh), or `FAT_BIN`.
fn fat_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FAT_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/scale-<hash>
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let binary = profile.join("fat");
    if let Some(cargo) = std::env::var_os("CARGO") {
        eprintln!("building fat: cargo build --release -p fat-cli --bin fat");
        let mut build = Command::new(cargo);
        // What cargo set for this bench would reach the build scripts that watch it (ring's
        // watches CARGO_MANIFEST_DIR) and rebuild them, and everything above, for nothing.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "OUT_DIR",
                ]
                .contains(&name.as_ref())
            {
                build.env_remove(name.as_ref());
            }
        }
        let status = build
            .args(["build", "--release", "-p", "fat-cli", "--bin", "fat"])
            .arg("--target-dir")
            .arg(profile.parent().unwrap())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cannot build fat");
    }
    assert!(
        binary.exists(),
        "no {}: build it (cargo build --release -p fat-cli) or name one in FAT_BIN",
        binary.display()
    );
    binary
}

/// Whether each of two worker processes can have a core of its own.
fn can_pin() -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taskset = Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    cores >= 2 && taskset
}

/// Clock ticks per second, the unit of `/proc/*/stat`'s CPU times.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The CPU time (user and system, every thread) process `pid` has used, in seconds.
fn cpu_seconds(pid: &str, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, from the process state on: utime is the 12th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    field(11).unwrap_or(0.0).max(0.0) / ticks + field(12).unwrap_or(0.0).max(0.0) / ticks
}

/// A `fat worker --operator alice` process with its API on a loopback address; killed (and
/// waited for) on drop.
struct WorkerProcess {
    child: Option<Child>,
    fat: PathBuf,
    chain: String,
    data: PathBuf,
    addr: String,
    core: Option<usize>,
    api: WorkerApi,
    id: WorkerId,
}

impl WorkerProcess {
    /// Start a worker following `chain` with its store in `data`, on `core` when given;
    /// returns once it is registered and serves.
    async fn start(fat: &Path, chain: &str, data: &Path, core: Option<usize>) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = spawn_worker(fat, chain, data, &addr, core).await;
        let api = WorkerApi::new(&format!("http://{addr}")).unwrap();
        let id = api.status().await.unwrap().worker;
        Self {
            child: Some(child),
            fat: fat.to_path_buf(),
            chain: chain.to_string(),
            data: data.to_path_buf(),
            addr,
            core,
            api,
            id,
        }
    }

    fn pid(&self) -> String {
        self.child
            .as_ref()
            .expect("the worker runs")
            .id()
            .to_string()
    }

    /// Send `signal` (`STOP`, `CONT`) to the process.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGKILL, and wait until it is gone.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again from its data directory, at the same address and on the same core.
    async fn restart(&mut self) {
        assert!(self.child.is_none(), "the worker still runs");
        self.child =
            Some(spawn_worker(&self.fat, &self.chain, &self.data, &self.addr, self.core).await);
        assert_eq!(self.api.status().await.unwrap().worker, self.id);
    }

    /// Its CPU time so far, in seconds.
    fn cpu(&self, ticks: f64) -> f64 {
        cpu_seconds(&self.pid(), ticks)
    }

    /// Wait until it has applied block `height`.
    async fn wait_for(&self, height: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(status) = self.api.status().await
                && status.height >= Some(height)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "worker {} did not reach block {height}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A stopped process would not die until continued.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
        }
        self.kill();
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spawn `fat worker` (under `taskset -c CORE` when pinned), its log beside its data
/// directory, and wait for its `ready` line.
async fn spawn_worker(
    fat: &Path,
    chain: &str,
    data: &Path,
    addr: &str,
    core: Option<usize>,
) -> Child {
    let mut command = match core {
        Some(core) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &core.to_string()]).arg(fat);
            command
        }
        None => Command::new(fat),
    };
    let log = File::options()
        .create(true)
        .append(true)
        .open(data.with_extension("log"))
        .unwrap();
    let mut child = command
        .args([
            "worker",
            "--chain",
            chain,
            "--operator",
            "alice",
            "--api",
            addr,
        ])
        .arg("--data-dir")
        .arg(data)
        .env_remove("FAT_RPC")
        .env("FAT_HOME", data.with_extension("home"))
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start fat worker");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        line
    });
    let line = match tokio::time::timeout(Duration::from_secs(60), line).await {
        Ok(line) => line.unwrap(),
        Err(_) => String::new(),
    };
    if line.trim() != format!("ready http://{addr}") {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "fat worker did not start (got {line:?}); see {}",
            data.with_extension("log").display()
        );
    }
    child
}

/// Create a cluster of `workers` as alice; returns once the gatekeeper provisioned it.
async fn create_cluster(client: &ChainClient, workers: &[WorkerId]) -> ClusterId {
    let alice = dev_keypair("alice");
    let nonce = client.next_nonce(&alice.account_id()).await.unwrap();
    let kind = TxKind::CreateCluster {
        workers: workers.to_vec(),
    };
    submit_at(client, &alice, nonce, kind).await.unwrap();
    let cluster = cluster_id(&alice.account_id(), nonce);
    wait_for_cluster_key(client, &cluster, PATIENCE)
        .await
        .unwrap();
    cluster
}

/// A contract and the key its commands are sealed to.
type Target = (ContractId, EcdhPublic);

/// Deploy `n` instances of `wasm` to `cluster` (salts `tag0`, `tag1`, ...).
async fn deploy(
    client: &ChainClient,
    wasm: &[u8],
    cluster: ClusterId,
    tag: &str,
    n: usize,
) -> Vec<Target> {
    let mut targets = Vec::new();
    for i in 0..n {
        let salt = format!("{tag}{i}");
        let contract = common::deploy_via(client, wasm, cluster, salt.as_bytes(), "").await;
        let key = public_key(client, &format!("/v1/contracts/{contract}")).await;
        targets.push((contract, key));
    }
    targets
}

/// `n` probe `loop` commands asking for [`GAS`], the `i`th to `targets[i % len]` signed by
/// lane `i % LANES`: each lane's transactions, in nonce order.
async fn commands(
    client: &ChainClient,
    lanes: &[Keypair],
    targets: &[Target],
    n: usize,
) -> Vec<Vec<SignedTransaction>> {
    let params = client.params().await.unwrap();
    let mut batches = Vec::new();
    for key in lanes {
        let next = client.next_nonce(&key.account_id()).await.unwrap();
        batches.push((key, next, Vec::new()));
    }
    for i in 0..n {
        let (key, nonce, txs) = &mut batches[i % lanes.len()];
        let (contract, contract_key) = &targets[i % targets.len()];
        let payload = CommandPayload::new("loop", "", *nonce);
        txs.push(command_tx_with_gas(
            key,
            *contract,
            contract_key,
            &payload,
            GAS,
            &params,
        ));
        *nonce += 1;
    }
    batches.into_iter().map(|(_, _, txs)| txs).collect()
}

/// Submit every lane's transactions, the lanes side by side, each lane one at a time as the
/// chain admits them; returns the block of the last once every lane's last is committed.
async fn submit_all(chain: &Chain, lanes: Vec<Vec<SignedTransaction>>) -> u64 {
    let tasks: Vec<_> = lanes
        .into_iter()
        .map(|txs| {
            let client = chain.client.clone();
            tokio::spawn(async move {
                let mut last = None;
                for tx in &txs {
                    last = Some(client.submit(tx, false).await.unwrap().id);
                }
                last
            })
        })
        .collect();
    let mut last: Vec<TxId> = Vec::new();
    for task in tasks {
        last.extend(task.await.unwrap());
    }
    let mut height = 0;
    for id in last {
        let location = chain
            .node
            .wait_committed(&id, PATIENCE)
            .await
            .unwrap()
            .expect("the commands are committed");
        height = height.max(location.height);
    }
    height
}

/// What one run of commands measured: commands per second, and the cores this process and
/// the workers used meanwhile.
struct Run {
    per_s: f64,
    own_cores: f64,
    worker_cores: f64,
}

/// Submit `n` commands over `targets` while every worker in `workers` runs, and time them
/// until each has applied the last one's block.
async fn scale_run(net: &Network, workers: &[&WorkerProcess], targets: &[Target], n: usize) -> Run {
    let tip = net.chain.height();
    for w in &net.workers {
        w.wait_for(tip).await;
    }
    let lanes = commands(&net.chain.client, &net.lanes, targets, n).await;
    let (own, cpu): (f64, Vec<f64>) = (
        cpu_seconds("self", net.ticks),
        workers.iter().map(|w| w.cpu(net.ticks)).collect(),
    );
    let start = Instant::now();
    let height = submit_all(&net.chain, lanes).await;
    for w in workers {
        w.wait_for(height).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let worker_cpu: f64 = workers
        .iter()
        .zip(cpu)
        .map(|(w, before)| w.cpu(net.ticks) - before)
        .sum();
    Run {
        per_s: n as f64 / seconds,
        own_cores: (cpu_seconds("self", net.ticks) - own) / seconds,
        worker_cores: worker_cpu / seconds,
    }
}

/// The chain ordering `n` commands for nobody: wall and CPU µs per command.
async fn order_run(net: &Network, n: usize) -> (f64, f64) {
    let lanes = commands(&net.chain.client, &net.lanes, &net.nobody, n).await;
    let own = cpu_seconds("self", net.ticks);
    let start = Instant::now();
    submit_all(&net.chain, lanes).await;
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self", net.ticks) - own;
    (wall * 1e6 / n as f64, cpu * 1e6 / n as f64)
}

/// Worker 0, stopped while `n` commands to the contracts of `a` are committed, executing
/// them once continued: wall and CPU µs per command.
async fn exec_run(net: &Network, n: usize) -> (f64, f64) {
    let w = &net.workers[0];
    w.wait_for(net.chain.height()).await;
    let lanes = commands(&net.chain.client, &net.lanes, &net.a, n).await;
    w.signal("STOP");
    let height = submit_all(&net.chain, lanes).await;
    let cpu = w.cpu(net.ticks);
    let start = Instant::now();
    w.signal("CONT");
    w.wait_for(height).await;
    let wall = start.elapsed().as_secs_f64();
    let cpu = w.cpu(net.ticks) - cpu;
    (wall * 1e6 / n as f64, cpu * 1e6 / n as f64)
}

/// Query `counter` on `f` through the client library in a loop, kill the member answering,
/// and time the first answer from the other; then start the killed one again.
async fn failover_run(net: &mut Network) -> f64 {
    let client = fat_client::Client::new(&net.chain.url).unwrap();
    let alice = dev_keypair("alice");
    let counter = net.counter;
    let first = client.query(&alice, &counter, "get", None).await.unwrap();
    let victim = net
        .workers
        .iter()
        .position(|w| w.id.to_string() == first.worker)
        .expect("a member of f answered");
    let answers: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let querier = {
        let (answers, stop, alice) = (answers.clone(), stop.clone(), alice.clone());
        tokio::spawn(async move {
            let mut failed = 0;
            while !stop.load(Ordering::Relaxed) {
                match client.query(&alice, &counter, "get", None).await {
                    Ok(answer) => answers
                        .lock()
                        .unwrap()
                        .push((Instant::now(), answer.worker)),
                    Err(_) => failed += 1,
                }
            }
            failed
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    net.workers[victim].kill();
    let other = net.workers[1 - victim].id.to_string();
    let deadline = killed + PATIENCE;
    let failover = loop {
        let answered = answers
            .lock()
            .unwrap()
            .iter()
            .find(|(at, worker)| *at > killed && *worker == other)
            .map(|(at, _)| *at - killed);
        if let Some(after) = answered {
            break after;
        }
        assert!(
            Instant::now() < deadline,
            "no member answered after the kill"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    stop.store(true, Ordering::Relaxed);
    let failed = querier.await.unwrap();
    if failed > 0 {
        eprintln!("{failed} queries failed across the kill");
    }
    net.workers[victim].restart().await;
    net.warm_up().await;
    failover.as_secs_f64() * 1e3
}

/// The chain, the worker processes and the contracts every round uses.
struct Network {
    chain: Chain,
    workers: Vec<WorkerProcess>,
    lanes: Vec<Keypair>,
    /// The four probes of cluster `a` (worker 0 alone).
    a: Vec<Target>,
    /// The two probes of cluster `b` (worker 1 alone).
    b: Vec<Target>,
    /// The probe of cluster `z`, which nobody runs.
    nobody: Vec<Target>,
    /// The counter of cluster `f` (both workers).
    counter: ContractId,
    pinned: bool,
    ticks: f64,
}

impl Network {
    async fn start(dir: &Path, fat: &Path) -> Self {
        let chain = Chain::start(dir).await;
        let client = chain.client.clone();
        // `z`: dev worker 0 registered, never started.
        let z = chain.dev_cluster(1).await;
        let pinned = can_pin();
        let mut workers = Vec::new();
        for i in 0..2 {
            let data = dir.join(format!("fat-worker-{i}"));
            let core = pinned.then_some(i);
            workers.push(WorkerProcess::start(fat, &chain.url, &data, core).await);
        }
        let a = create_cluster(&client, &[workers[0].id]).await;
        let b = create_cluster(&client, &[workers[1].id]).await;
        let f = create_cluster(&client, &[workers[0].id, workers[1].id]).await;
        let probe = fat_test_programs::read(fat_test_programs::PROBE);
        let counter = fat_test_programs::read(fat_test_programs::COUNTER);
        let alice = dev_keypair("alice");
        let lanes: Vec<Keypair> = (0..LANES)
            .map(|i| dev_keypair(&format!("scale-lane-{i}")))
            .collect();
        for lane in &lanes {
            let kind = TxKind::Transfer {
                to: lane.account_id(),
                amount: 10_000_000_000,
            };
            submit(&client, &alice, kind).await.unwrap();
        }
        let network = Self {
            a: deploy(&client, &probe, a, "a", 4).await,
            b: deploy(&client, &probe, b, "b", 2).await,
            nobody: deploy(&client, &probe, z, "z", 1).await,
            counter: deploy(&client, &counter, f, "f", 1).await[0].0,
            chain,
            workers,
            lanes,
            pinned,
            ticks: clock_ticks(),
        };
        let tip = network.chain.height();
        for w in &network.workers {
            w.wait_for(tip).await;
        }
        network
    }

    /// One command to a contract of `a` and one to a contract of `b`, until both workers have
    /// applied them: a worker started again compiles a contract's code on its first call, and
    /// that is not what the figures measure.
    async fn warm_up(&self) {
        let targets = [self.a[0], self.b[0]];
        let lanes = commands(&self.chain.client, &self.lanes, &targets, 2).await;
        let height = submit_all(&self.chain, lanes).await;
        for w in &self.workers {
            w.wait_for(height).await;
        }
    }

    async fn stop(self) {
        drop(self.workers);
        self.chain.stop().await;
    }
}

/// One round of every figure; `index` rotates which scale run goes first.
async fn round(net: &mut Network, sizes: &Sizes, index: usize) -> Round {
    let (order_us, order_cpu_us) = order_run(net, sizes.order).await;
    let (exec_us, exec_cpu_us) = exec_run(net, sizes.exec).await;
    let split = [net.a[0], net.b[0], net.a[1], net.b[1]];
    let mut one = None;
    let mut two = None;
    for k in 0..2 {
        if (index + k).is_multiple_of(2) {
            one = Some(scale_run(net, &[&net.workers[0]], &net.a, sizes.scale).await);
        } else {
            let both = [&net.workers[0], &net.workers[1]];
            two = Some(scale_run(net, &both, &split, sizes.scale).await);
        }
    }
    let (one, two) = (one.unwrap(), two.unwrap());
    let failover = failover_run(net).await;
    [
        one.per_s,
        two.per_s,
        two.per_s / one.per_s,
        one.own_cores,
        two.own_cores,
        one.worker_cores,
        two.worker_cores,
        one.per_s / one.worker_cores,
        two.per_s / two.worker_cores,
        order_us,
        order_cpu_us,
        exec_us,
        exec_cpu_us,
        exec_us / order_us,
        failover,
        if net.pinned { 1.0 } else { 0.0 },
    ]
}

fn main() {
    let quick = fat_bench::quick();
    let sizes = if quick {
        Sizes {
            rounds: 3,
            scale: 200,
            order: 1000,
            exec: 100,
        }
    } else {
        Sizes {
            rounds: 7,
            scale: 1000,
            order: 5000,
            exec: 500,
        }
    };
    let fat = fat_binary();
    let bench_dir = target_dir().join("bench");
    let dir = bench_dir.join(format!("scale-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut figures: [Vec<f64>; FIGURES.len()] = Default::default();
    let pinned = runtime.block_on(async {
        let mut net = Network::start(&dir, &fat).await;
        for r in 0..sizes.rounds {
            let result = round(&mut net, &sizes, r).await;
            for (all, value) in figures.iter_mut().zip(result) {
                all.push(value);
            }
            eprintln!("round {} of {}: {result:.2?}", r + 1, sizes.rounds);
        }
        let pinned = net.pinned;
        net.stop().await;
        pinned
    });
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "scale: probe `loop` commands of {GAS} gas, {} rounds, {} per scale run, {} ordered for nobody, {} executed from a backlog; workers {}",
        sizes.rounds,
        sizes.scale,
        sizes.order,
        sizes.exec,
        if pinned {
            "pinned to cores 0 and 1 (taskset)"
        } else {
            "not pinned (no taskset or fewer than 2 cores)"
        }
    );
    println!("{:<28} {:>12}", "figure", "median");
    let mut json = serde_json::Map::new();
    for (name, values) in FIGURES.iter().zip(figures.iter_mut()) {
        let value = median(values);
        println!("{name:<28} {value:>12.2}");
        json.insert(name.to_string(), json!(fat_bench::round(value, 2)));
    }
    fat_bench::write_figures("scale", json);
}
