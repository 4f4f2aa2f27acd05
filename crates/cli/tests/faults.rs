//! Faults injected into a network of separate processes (`fat chain --dev`, `fat gatekeeper`,
//! `fat worker`, `fat dev`): the gatekeeper SIGKILLed while clusters and contracts wait for
//! it; the chain SIGKILLed and restarted under the workers and the gatekeeper that follow it;
//! `fat dev` SIGKILLed as a whole while commands are in flight.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fat_types::{Block, ClusterId, ContractId, TxKind, WorkerId};
use serde_json::Value;

use common::{
    Dev, WorkerProcess, fat, free_ports, http, receipt_path, run, spawn_ready, start_gatekeeper,
    start_worker, temp_dir, wait_for_height,
};
use fat_proto::paths;

/// A child process, SIGKILLed on drop.
struct Proc(Child);

impl Proc {
    /// SIGKILL it and reap it.
    fn kill9(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().unwrap();
    }

    /// Whether it is still running.
    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `fat chain --dev` on `addr` with its data in `dir`.
fn start_chain(home: &Path, dir: &Path, addr: &str) -> Proc {
    let mut command = fat(home);
    command
        .args(["chain", "--dev", "--block-time", "0", "--rpc", addr])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "error");
    Proc(spawn_ready(&mut command, addr))
}

/// `GET {addr}{path}`: 200 and its JSON.
fn get(addr: &str, path: &str) -> Value {
    let (code, body) = http(addr, "GET", path, b"").unwrap();
    assert_eq!(code, 200, "GET {path}: {body}");
    body
}

/// Poll `ready` every 50 ms until it holds; panic naming `what` after 20 s.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether cluster `id` has a published key on the node at `addr`.
fn provisioned(addr: &str, id: &str) -> bool {
    !get(addr, &format!("/v1/clusters/{id}"))["public_key"].is_null()
}

/// What every block of the chain at `addr` holds of the gatekeeper's work: how many times
/// each (worker, cluster) got a sealed cluster key, and each contract's key was published.
struct Work {
    keys: BTreeMap<(WorkerId, ClusterId), usize>,
    published: BTreeMap<ContractId, usize>,
}

fn gatekeeper_work(addr: &str) -> Work {
    let tip = get(addr, "/v1/status")["height"].as_u64().unwrap();
    let mut work = Work {
        keys: BTreeMap::new(),
        published: BTreeMap::new(),
    };
    for h in 1..=tip {
        let block: Block = serde_json::from_value(get(addr, &format!("/v1/blocks/{h}"))).unwrap();
        for tx in &block.txs {
            match &tx.tx.kind {
                TxKind::ProvisionKey { cluster, keys, .. } => {
                    for (worker, _) in keys {
                        *work.keys.entry((*worker, *cluster)).or_default() += 1;
                    }
                }
                TxKind::PublishContractKey { contract, .. } => {
                    *work.published.entry(*contract).or_default() += 1;
                }
                TxKind::PublishContractKeys { keys } => {
                    for (contract, _) in keys {
                        *work.published.entry(*contract).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
    }
    work
}

/// The network the tests below break: a dev chain, a gatekeeper and two workers, each its
/// own process, with FAT_HOME and every data directory under one temp dir.
struct Network {
    home: std::path::PathBuf,
    url: String,
    addr: String,
    chain: Proc,
    gatekeeper: Proc,
    workers: Vec<WorkerProcess>,
    apis: Vec<String>,
    ids: Vec<String>,
}

impl Network {
    fn start(name: &str) -> Self {
        let home = temp_dir(name);
        let ports = free_ports(3);
        let addr = format!("127.0.0.1:{}", ports[0]);
        let url = format!("http://{addr}");
        let chain = start_chain(&home, &home.join("chain"), &addr);
        let gatekeeper = Proc(start_gatekeeper(&home, &url, &home.join("gatekeeper")));
        let apis: Vec<String> = ports[1..]
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let workers: Vec<WorkerProcess> = apis
            .iter()
            .enumerate()
            .map(|(i, api)| start_worker(&home, &url, &home.join(format!("worker-{i}")), api, &[]))
            .collect();
        let ids = common::worker_ids(&apis);
        Self {
            home,
            url,
            addr,
            chain,
            gatekeeper,
            workers,
            apis,
            ids,
        }
    }

    /// `fat ARGS --rpc URL --json` as `who`: its JSON output.
    fn fat(&self, who: &str, args: &[&str]) -> Value {
        run(fat(&self.home)
            .args(args)
            .args(["--json", "--as", who, "--rpc", &self.url]))
        .json()
    }

    /// `fat cluster create --workers ...` as alice: the new cluster's id (committed, maybe
    /// not provisioned yet).
    fn create_cluster(&self, members: &[usize]) -> String {
        let workers: Vec<&str> = members.iter().map(|&i| self.ids[i].as_str()).collect();
        let created = self.fat(
            "alice",
            &["cluster", "create", "--workers", &workers.join(",")],
        );
        created["cluster"].as_str().unwrap().to_string()
    }

    /// `fat deploy COUNTER` as `who` into `cluster`, started in the background.
    fn spawn_deploy(&self, who: &str, cluster: &str, salt: &str) -> Child {
        fat(&self.home)
            .args(["deploy", fat_test_programs::COUNTER, "--cluster", cluster])
            .args(["--salt", salt, "--json", "--as", who, "--rpc", &self.url])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fat deploy")
    }

    /// The members of `cluster` as the chain has them.
    fn members(&self, cluster: &str) -> Vec<WorkerId> {
        let info = get(&self.addr, &format!("/v1/clusters/{cluster}"));
        info["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().parse().unwrap())
            .collect()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.workers.clear();
        let _ = self.gatekeeper.0.kill();
        let _ = self.chain.0.kill();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// A finished background `fat deploy`: its contract id.
fn deployed(child: Child) -> String {
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "fat deploy failed: {stderr}");
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    out["contract"].as_str().unwrap().to_string()
}

#[test]
fn a_gatekeeper_killed_mid_work_provisions_each_key_once_and_the_chain_restarts_under_followers() {
    let mut net = Network::start("faults-gatekeeper");
    let gatekeeper_dir = net.home.join("gatekeeper");

    // Work the gatekeeper finishes before any fault: a cluster and a contract.
    let first = net.create_cluster(&[0]);
    wait_until("the first cluster's key", || provisioned(&net.addr, &first));
    let first_contract = deployed(net.spawn_deploy("alice", &first, "a"));

    // Killed; meanwhile two clusters and two contracts wait for it.
    net.gatekeeper.kill9();
    let mut clusters = vec![first.clone(), net.create_cluster(&[0, 1])];
    clusters.push(net.create_cluster(&[1]));
    let deploys = [
        net.spawn_deploy("bob", &first, "b"),
        net.spawn_deploy("charlie", &first, "c"),
    ];
    // Both instantiations are on chain (their init waits for the contract key).
    let bob = fat_crypto::dev_keypair("bob").account_id().to_string();
    let charlie = fat_crypto::dev_keypair("charlie").account_id().to_string();
    wait_until("both instantiations", || {
        [&bob, &charlie]
            .iter()
            .all(|who| get(&net.addr, &format!("/v1/accounts/{who}"))["nonce"] == 1)
    });

    // Restarted, it is killed again as soon as it has done a part of that work: the
    // first pending cluster's key is on chain.
    net.gatekeeper = Proc(start_gatekeeper(&net.home, &net.url, &gatekeeper_dir));
    wait_until(
        "the gatekeeper's first provisioning after its restart",
        || provisioned(&net.addr, &clusters[1]),
    );
    net.gatekeeper.kill9();
    clusters.push(net.create_cluster(&[0]));

    // Restarted once more, it finishes everything.
    net.gatekeeper = Proc(start_gatekeeper(&net.home, &net.url, &gatekeeper_dir));
    for cluster in &clusters {
        wait_until("every cluster's key", || provisioned(&net.addr, cluster));
    }
    let mut contracts = vec![first_contract];
    contracts.extend(deploys.into_iter().map(deployed));

    // No key provisioned twice and none lost; each contract's key published once.
    let work = gatekeeper_work(&net.addr);
    let mut expected = BTreeSet::new();
    for cluster in &clusters {
        let id: ClusterId = cluster.parse().unwrap();
        for worker in net.members(cluster) {
            expected.insert((worker, id));
        }
    }
    let given: BTreeSet<_> = work.keys.keys().copied().collect();
    assert_eq!(given, expected, "every member got its cluster's key");
    for (place, times) in &work.keys {
        assert_eq!(*times, 1, "{place:?} provisioned {times} times");
    }
    let published: Vec<ContractId> = contracts.iter().map(|c| c.parse().unwrap()).collect();
    assert_eq!(
        work.published.keys().copied().collect::<Vec<_>>(),
        {
            let mut sorted = published.clone();
            sorted.sort();
            sorted
        },
        "every contract's key published"
    );
    for (contract, times) in &work.published {
        assert_eq!(*times, 1, "{contract} published {times} times");
    }
    // And the contracts run.
    for contract in &contracts {
        let out = net.fat("alice", &["command", contract, "increment"]);
        assert_eq!(out["output"], 1, "{out}");
    }

    // The chain is SIGKILLed and restarted on its data and address under the worker and
    // the gatekeeper that follow it: they reconnect and miss nothing after it.
    let before = get(&net.addr, "/v1/status")["height"].as_u64().unwrap();
    net.chain.kill9();
    net.chain = start_chain(&net.home, &net.home.join("chain"), &net.addr);
    let after = get(&net.addr, "/v1/status")["height"].as_u64().unwrap();
    assert_eq!(after, before, "the restarted chain kept every block");
    // The gatekeeper provisions a cluster made after the restart; a worker runs a contract
    // deployed into it and commands to an older one.
    let late = net.create_cluster(&[1]);
    wait_until("the key of a cluster made after the restart", || {
        provisioned(&net.addr, &late)
    });
    let late_contract = deployed(net.spawn_deploy("alice", &late, "late"));
    let out = net.fat("alice", &["command", &late_contract, "increment"]);
    assert_eq!(out["output"], 1, "{out}");
    let out = net.fat("alice", &["command", &contracts[0], "increment"]);
    assert_eq!(out["output"], 2, "{out}");
    let tip = out["block"].as_u64().unwrap();
    assert!(tip > before, "heights continue: {tip} after {before}");
    for api in &net.apis {
        wait_for_height(api, tip);
        let height = get(api, "/v1/status")["height"].as_u64().unwrap();
        assert!(height >= tip, "a worker stopped at {height} below {tip}");
    }
    // Neither follower gave up: both are the processes started before the restart.
    assert!(net.gatekeeper.alive(), "the gatekeeper exited");
    for worker in &mut net.workers {
        assert!(worker.0.try_wait().unwrap().is_none(), "a worker exited");
    }
    // The gatekeeper did the new work once, and nothing again.
    let work = gatekeeper_work(&net.addr);
    assert!(work.keys.values().all(|&n| n == 1), "{:?}", work.keys);
    assert!(work.published.values().all(|&n| n == 1));
    assert_eq!(work.published.len(), contracts.len() + 1);
}

/// A command `fat command` acknowledged: its transaction, block and output, and the
/// receipt the worker served right after (when it could before the kill).
struct Acked {
    tx: String,
    block: u64,
    output: u64,
    receipt: Option<Value>,
}

/// Send `increment` to `contract` as `who`, one `fat command` at a time, until `killed`;
/// every acknowledgement (and its receipt, if the worker still answers) goes to `acked`.
/// A failure before the kill panics with what happened.
fn command_until_killed(
    home: &Path,
    url: &str,
    who: &str,
    contract: &str,
    acked: &Mutex<Vec<Acked>>,
    killed: &AtomicBool,
) {
    let addr = url.strip_prefix("http://").unwrap();
    while !killed.load(Ordering::SeqCst) {
        let out = run(fat(home).args([
            "command",
            contract,
            "increment",
            "--json",
            "--as",
            who,
            "--rpc",
            url,
        ]));
        if out.code != 0 {
            assert!(
                killed.load(Ordering::SeqCst),
                "{who}: a command failed on a live node: {out:#?}"
            );
            return;
        }
        let out = out.json();
        let tx = out["tx"].as_str().unwrap().to_string();
        let block = out["block"].as_u64().unwrap();
        let path = format!("/workers/0{}", receipt_path(&out));
        let receipt = match http(addr, "GET", &path, b"") {
            Ok((200, receipt)) => Some(receipt),
            _ if killed.load(Ordering::SeqCst) => None,
            other => panic!("{who}: no receipt for {tx} from a live worker: {other:?}"),
        };
        acked.lock().unwrap().push(Acked {
            tx,
            block,
            output: out["output"].as_u64().unwrap(),
            receipt,
        });
    }
}

#[test]
fn fat_dev_sigkilled_with_commands_in_flight_keeps_what_it_acknowledged() {
    let mut dev = Dev::start("faults-dev", &[]);
    let addr = dev.url.strip_prefix("http://").unwrap().to_string();
    let deployed = dev
        .fat(&["deploy", fat_test_programs::COUNTER, "--json"])
        .json();
    let contract = deployed["contract"].as_str().unwrap().to_string();
    let id: ContractId = contract.parse().unwrap();

    // Three clients send commands; once fifteen are acknowledged, the whole process is
    // SIGKILLed under them.
    let acked = Mutex::new(Vec::new());
    let killed = AtomicBool::new(false);
    let clients = ["alice", "bob", "charlie"];
    let (home, url) = (dev.dir.path().to_path_buf(), dev.url.clone());
    std::thread::scope(|scope| {
        let running: Vec<_> = clients
            .iter()
            .map(|who| {
                let (home, url) = (home.as_path(), url.as_str());
                let (acked, killed, contract) = (&acked, &killed, contract.as_str());
                scope.spawn(move || command_until_killed(home, url, who, contract, acked, killed))
            })
            .collect();
        wait_until("fifteen acknowledged commands", || {
            running.iter().any(|c| c.is_finished()) || acked.lock().unwrap().len() >= 15
        });
        killed.store(true, Ordering::SeqCst);
        dev.kill9();
    });
    let acked = acked.into_inner().unwrap();
    assert!(acked.len() >= 15, "only {} acknowledged", acked.len());

    // Restarted on the same data directory and address.
    dev.restart(1, &[]);
    let tip = get(&addr, "/v1/status")["height"].as_u64().unwrap();
    let mut committed = 0;
    for h in 1..=tip {
        let block: Block = serde_json::from_value(get(&addr, &format!("/v1/blocks/{h}"))).unwrap();
        committed += block
            .txs
            .iter()
            .filter(|t| matches!(&t.tx.kind, TxKind::Command { contract, .. } if *contract == id))
            .count() as u64;
    }
    wait_until("the worker to catch up with the chain", || {
        get(&addr, "/workers/0/v1/status")["height"].as_u64() >= Some(tip)
    });
    // Every acknowledged command is where it was, with the same receipt to the byte.
    let mut outputs = BTreeSet::new();
    for a in &acked {
        let tx = get(&addr, &format!("/v1/txs/{}", a.tx));
        assert_eq!(tx["height"].as_u64(), Some(a.block), "{} moved: {tx}", a.tx);
        let path = paths::worker::receipt(&a.tx.parse().unwrap(), a.block);
        let receipt = get(&addr, &format!("/workers/0{path}"));
        if let Some(before) = &a.receipt {
            assert_eq!(&receipt, before, "the receipt of {} changed", a.tx);
        }
        assert!(
            outputs.insert(a.output),
            "two commands answered {}",
            a.output
        );
        assert!(a.output <= committed, "{} of {committed}", a.output);
    }
    // The state is the committed commands', no more, no less, and it goes on from there.
    let value = dev.fat(&["query", &contract, "get", "--json"]).json();
    assert_eq!(value["output"], committed, "{value}");
    let out = dev
        .fat(&["command", &contract, "increment", "--json"])
        .json();
    assert_eq!(out["output"], committed + 1, "{out}");
}

#[test]
fn a_gatekeeper_pinned_to_another_chain_logs_why_and_provisions_nothing() {
    let home = temp_dir("faults-pin");
    let addr = format!("127.0.0.1:{}", free_ports(1)[0]);
    let url = format!("http://{addr}");
    let _chain = start_chain(&home, &home.join("chain"), &addr);
    let data = home.join("gatekeeper");
    std::fs::create_dir_all(&data).unwrap();
    let pinned = fat_types::Hash32([0x11; 32]).to_string();
    std::fs::write(
        data.join(fat_gatekeeper::GENESIS_FILE),
        format!("{pinned}\n"),
    )
    .unwrap();

    // Default logging (no RUST_LOG): the refusal and its reason reach standard error.
    let mut gatekeeper = Proc(
        fat(&home)
            .args(["gatekeeper", "--dev", "--chain", &url])
            .arg("--data-dir")
            .arg(&data)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fat gatekeeper"),
    );
    let stderr = gatekeeper.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    // Its first lines warn of the dev key; then comes the refusal, named.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("stopped following the chain") => break line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no refusal logged within 20 s; it logged {seen:?}"),
        }
    };
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains(&format!("this gatekeeper serves {pinned}")),
        "the reason is given: {line}"
    );
    assert!(
        line.contains(fat_gatekeeper::GENESIS_FILE),
        "the pin's file: {line}"
    );
    // It keeps refusing, and the pin is left as it was.
    assert!(gatekeeper.alive());
    assert_eq!(
        std::fs::read_to_string(data.join(fat_gatekeeper::GENESIS_FILE)).unwrap(),
        format!("{pinned}\n")
    );
    gatekeeper.kill9();
    let _ = std::fs::remove_dir_all(&home);
}
