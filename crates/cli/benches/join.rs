//! Benchmark a worker joining a cluster whose contract holds 100,000 entries: how long from
//! the `AddClusterWorker` transaction's commit until the new member serves the contract,
//! beside how long the member that holds it took to execute the command that wrote those
//! entries (what a replay of that one command would cost the joiner), in one run.
//!
//! Release `fat` processes on loopback: a `fat dev` node (its chain, its gatekeeper) and
//! `fat worker` processes that register themselves. A cluster of worker A runs the `probe`
//! contract, filled with 100,000 entries by one command. Each round starts a new worker and
//! adds it to the cluster; it receives the contract's state from A (checked against the other
//! members' signed roots and the contract's root) and installs it.
//!
//! - `join_100k_entries_s`: the median, over rounds, from the add's commit (`fat cluster
//!   add-worker` answered) until the joiner's `GET /v1/contracts/{id}` reports the 100,001
//!   entries. It includes the gatekeeper provisioning the cluster key to the joiner (one
//!   block) and the joiner catching up with the chain's blocks.
//! - `fill_100k_command_s`: the command that wrote the entries, submit to receipt, once.
//! - `join_over_fill_ratio`: the two side by side.
//! - `restart_100k_entries_s`: a worker holding the 100,001 entries SIGKILLed and started
//!   again on its data directory, until it prints `ready` (its API serves): a worker reads,
//!   decrypts and hashes the whole state it holds when it opens (`Store::check_state`).
//!   `restart_empty_s`: the same for a worker of the same chain holding no contract, in the
//!   same run; `restart_100k_over_empty_ratio` the two side by side (medians over rounds).
//!
//! `FAT_BENCH_QUICK=1` runs one round instead of three.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Dev, WorkerProcess, free_ports, http, start_worker};
use fat_bench::{median, quick, write_figures};
use serde_json::{Value, json};

const ENTRIES: u64 = 100_000;

fn get(addr: &str, path: &str) -> (u16, Value) {
    http(addr, "GET", path, b"").unwrap()
}

fn main() {
    let rounds = if quick() { 1 } else { 3 };
    let dev = Dev::start("bench-join", &[]);
    let home = dev.dir.path().to_path_buf();
    let apis: Vec<String> = free_ports(2 + rounds)
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let mut workers: Vec<WorkerProcess> = vec![start_worker(
        &home,
        &dev.url,
        &home.join("w0"),
        &apis[0],
        &[],
    )];
    let id = |api: &str| {
        get(api, "/v1/status").1["worker"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let cluster = dev.create_cluster(&[id(&apis[0])]);
    let probe = dev.deploy_to(
        fat_test_programs::PROBE,
        &cluster,
        &["--args", r#""hello""#],
    );
    let started = Instant::now();
    let filled = dev
        .fat(&[
            "command",
            &probe,
            "fill",
            &ENTRIES.to_string(),
            "--gas-limit",
            "1000000000",
            "--json",
        ])
        .json();
    let fill_s = started.elapsed().as_secs_f64();
    assert_eq!(filled["output"], "ok", "{filled}");

    let mut joins = Vec::new();
    for round in 0..rounds {
        let api = &apis[1 + round];
        workers.push(start_worker(
            &home,
            &dev.url,
            &home.join(format!("joiner-{round}")),
            api,
            &[],
        ));
        let joiner = id(api);
        let added = dev
            .fat(&["cluster", "add-worker", &cluster, &joiner, "--json"])
            .json();
        assert!(added["block"].is_number(), "{added}");
        let started = Instant::now();
        let deadline = started + Duration::from_secs(300);
        loop {
            let (code, body) = get(api, &format!("/v1/contracts/{probe}"));
            if code == 200 && body["entries"] == ENTRIES + 1 {
                break;
            }
            assert!(Instant::now() < deadline, "no join within 300 s: {body}");
            std::thread::sleep(Duration::from_millis(20));
        }
        joins.push(started.elapsed().as_secs_f64());
    }
    let join_s = median(&mut joins);

    // Restarts: the member holding the entries, and a worker holding nothing, in turn.
    let empty_api = &apis[1 + rounds];
    workers.push(start_worker(
        &home,
        &dev.url,
        &home.join("empty"),
        empty_api,
        &[],
    ));
    let last = workers.len() - 1;
    let mut restart = |index: usize, data: &str, api: &str| -> f64 {
        let child = &mut workers[index].0;
        child.kill().expect("SIGKILL the worker");
        child.wait().unwrap();
        let started = Instant::now();
        workers[index] = start_worker(&home, &dev.url, &home.join(data), api, &[]);
        started.elapsed().as_secs_f64()
    };
    let (mut full, mut empty) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        full.push(restart(0, "w0", &apis[0]));
        empty.push(restart(last, "empty", empty_api));
    }
    let (get_back, served) = get(&apis[0], &format!("/v1/contracts/{probe}"));
    assert_eq!(get_back, 200, "{served}");
    assert_eq!(served["entries"], ENTRIES + 1, "{served}");
    let (restart_full_s, restart_empty_s) = (median(&mut full), median(&mut empty));
    let figures = json!({
        "join_100k_entries_s": join_s,
        "fill_100k_command_s": fill_s,
        "join_over_fill_ratio": join_s / fill_s,
        "restart_100k_entries_s": restart_full_s,
        "restart_empty_s": restart_empty_s,
        "restart_100k_over_empty_ratio": restart_full_s / restart_empty_s,
        "rounds": rounds,
    });
    println!("| figure | value |");
    println!("|---|---|");
    for (name, value) in figures.as_object().unwrap() {
        println!("| {name} | {value} |");
    }
    let Value::Object(figures) = figures else {
        unreachable!("the figures are an object")
    };
    write_figures("join", figures);
    drop(workers);
}
