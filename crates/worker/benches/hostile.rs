//! Benchmark a neighbour under attack: the latency of a contract's queries and commands while
//! another contract on the same worker attacks it, beside the same at rest, in one round.
//!
//! Each round starts an in-process dev chain (a block as soon as there is work) and one worker
//! on loopback, deploys `counter` (the neighbour) and one probe per attack. For each scenario
//! (at rest, then each attack of the hostile-contract suite, `tests/hostile_contracts.rs`), the
//! attack runs over and over in the background (commands one at a time, each asking for the
//! chain's largest gas and sent once the worker applied the one before; queries two at a time)
//! while the neighbour is measured:
//!
//! - `{scenario}_query_p50_ms`: a sealed `get` to the neighbour through the worker's API, each a
//!   fresh envelope;
//! - `{scenario}_command_p50_ms`: a sealed `increment` submitted and waited for by the chain,
//!   until the worker has applied its block;
//! - `{scenario}_query_ratio` / `{scenario}_command_ratio`: over the same at rest, in the
//!   same round (the target is at most 2).
//!
//! Figures are medians over rounds; `FAT_BENCH_QUICK=1` runs less.

#[allow(unused_imports)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Chain, ChainClient, RunningWorker, command_with_gas, median, target_dir};
use fat_crypto::dev_keypair;
use fat_types::ContractId;
use serde_json::{Value, json};

/// How an attack reaches the worker.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    Command,
    Query,
}

/// A scenario: its name in the figures, and the attack (none at rest).
struct Scenario {
    name: &'static str,
    attack: Option<(Via, &'static str, &'static str)>,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "rest",
        attack: None,
    },
    Scenario {
        name: "loop_command",
        attack: Some((Via::Command, "loop", "")),
    },
    Scenario {
        name: "hash_bomb",
        attack: Some((Via::Command, "hash-bomb", "1000000")),
    },
    Scenario {
        name: "sign_bomb",
        attack: Some((Via::Command, "sign-bomb", "1000000")),
    },
    Scenario {
        name: "storage_bomb",
        attack: Some((Via::Command, "write-bomb", "100000")),
    },
    Scenario {
        name: "cache_bomb",
        attack: Some((Via::Command, "cache-bomb", "1000000")),
    },
    Scenario {
        name: "memory_bomb",
        attack: Some((Via::Command, "alloc", "")),
    },
    Scenario {
        name: "sleep_command",
        attack: Some((Via::Command, "sleep", "3600000")),
    },
    Scenario {
        name: "loop_query",
        attack: Some((Via::Query, "loop", "")),
    },
    Scenario {
        name: "memory_query",
        attack: Some((Via::Query, "alloc", "")),
    },
    Scenario {
        name: "job_bomb",
        attack: Some((Via::Query, "spawn", "100000 16")),
    },
];

struct Sizes {
    rounds: usize,
    queries: usize,
    commands: usize,
}

/// One attacking command asking for `gas`, sent by bob and waited for until the worker
/// applied it: the attacker keeps one command in flight, at the pace the cluster runs them.
/// (A chain commits commands faster than a worker runs a second of gas each: an attacker who
/// does not wait builds a backlog that delays every later command of the cluster, paying the
/// fee of the gas it asks for each.)
async fn attack_command(
    w: &RunningWorker,
    client: &ChainClient,
    contract: ContractId,
    method: &str,
    args: &str,
    gas: u64,
) {
    let (answer, _) =
        command_with_gas(client, &dev_keypair("bob"), contract, method, args, gas).await;
    w.wait_for(answer.height.unwrap()).await;
}

/// The neighbour's query and command medians (ms) under `scenario`.
async fn measure(
    chain: &Chain,
    w: &Arc<RunningWorker>,
    neighbour: ContractId,
    attacker: Option<ContractId>,
    scenario: &Scenario,
    sizes: &Sizes,
) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = Vec::new();
    if let (Some(contract), Some((via, method, args))) = (attacker, scenario.attack) {
        let gas = chain.client.params().await.unwrap().max_tx_gas;
        let lanes = if via == Via::Query { 2 } else { 1 };
        for _ in 0..lanes {
            let (stop, w, client) = (stop.clone(), w.clone(), chain.client.clone());
            attackers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match via {
                        Via::Query => {
                            w.query(contract, method, json!(args)).await;
                        }
                        Via::Command => {
                            attack_command(&w, &client, contract, method, args, gas).await
                        }
                    }
                }
            }));
        }
        // Let the attack get going.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut queries = Vec::with_capacity(sizes.queries);
    for _ in 0..sizes.queries {
        let start = Instant::now();
        let answer = w.query(neighbour, "get", Value::Null).await;
        assert!(answer["output"].is_u64(), "{}: {answer}", scenario.name);
        queries.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let alice = dev_keypair("alice");
    let mut commands = Vec::with_capacity(sizes.commands);
    for _ in 0..sizes.commands {
        let start = Instant::now();
        let (_, height) = chain
            .command(&alice, neighbour, "increment", Value::Null)
            .await;
        w.wait_for(height).await;
        commands.push(start.elapsed().as_secs_f64() * 1e3);
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }
    (median(&mut queries), median(&mut commands))
}

/// One round: every scenario's figures, then the ratios to rest.
async fn round(dir: &std::path::Path, sizes: &Sizes) -> Vec<f64> {
    let chain = Chain::start(dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w = Arc::new(RunningWorker::start(&chain.url, dir, 0).await);
    let neighbour = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            Value::Null,
        )
        .await;
    let probe = fat_test_programs::read(fat_test_programs::PROBE);
    let mut figures = Vec::new();
    let mut rest = (0.0, 0.0);
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        let attacker = match scenario.attack {
            Some(_) => {
                Some(common::deploy_via(&chain.client, &probe, cluster, &[i as u8], "").await)
            }
            None => None,
        };
        w.wait_for(chain.height()).await;
        let (query, command) = measure(&chain, &w, neighbour, attacker, scenario, sizes).await;
        if scenario.attack.is_none() {
            rest = (query, command);
        }
        figures.extend([query, command, query / rest.0, command / rest.1]);
    }
    Arc::into_inner(w).unwrap().stop().await;
    chain.stop().await;
    figures
}

fn main() {
    let quick = fat_bench::quick();
    let sizes = if quick {
        Sizes {
            rounds: 1,
            queries: 30,
            commands: 5,
        }
    } else {
        Sizes {
            rounds: 3,
            queries: 100,
            commands: 10,
        }
    };
    let bench_dir = target_dir().join("bench");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Four figures per scenario, in the order `round` returns them.
    let mut figures: Vec<Vec<f64>> = vec![Vec::new(); SCENARIOS.len() * 4];
    for r in 0..sizes.rounds {
        let dir = bench_dir.join(format!("hostile-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let result = runtime.block_on(round(&dir, &sizes));
        for (all, value) in figures.iter_mut().zip(&result) {
            all.push(*value);
        }
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("round {} of {} done", r + 1, sizes.rounds);
    }
    println!(
        "hostile: the counter's latency beside each attack, {} rounds, {} queries and {} commands per scenario",
        sizes.rounds, sizes.queries, sizes.commands
    );
    println!(
        "{:<16} {:>12} {:>14} {:>12} {:>14}",
        "scenario", "query ms", "query / rest", "command ms", "command / rest"
    );
    let mut json = serde_json::Map::new();
    let mut medians = figures.iter_mut().map(|v| median(v));
    for scenario in SCENARIOS {
        let [query, command, query_ratio, command_ratio] =
            std::array::from_fn(|_| medians.next().unwrap());
        println!(
            "{:<16} {query:>12.2} {query_ratio:>14.2} {command:>12.1} {command_ratio:>14.2}",
            scenario.name
        );
        for (figure, value) in [
            ("query_p50_ms", query),
            ("command_p50_ms", command),
            ("query_ratio", query_ratio),
            ("command_ratio", command_ratio),
        ] {
            json.insert(
                format!("{}_{figure}", scenario.name),
                json!(fat_bench::round(value, 2)),
            );
        }
    }
    fat_bench::write_figures("hostile", json);
}
