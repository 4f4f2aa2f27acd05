//! Benchmark the worker: queries over its HTTP API, and commands from submission to applied.
//!
//! Each round starts an in-process dev chain (a block as soon as there is work) and a worker
//! on loopback, in a data directory under the target directory, and deploys `counter`.
//! `query_p50_us` / `query_p99_us`: one client querying `get` over HTTP (a new connection per
//! query, as the test client does). `query_per_s`: 16 clients querying at once.
//! `command_e2e_p50_ms`: a command submitted and waited for by the chain, until the worker has
//! applied its block. `command_exec_per_s`: a second worker, paused while many `increment`
//! commands are committed, resumes and replays them (fetch, verify, execute, commit). Figures are medians
//! over rounds; `FAT_BENCH_QUICK=1` runs less.

#[allow(unused_imports)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Chain, RunningWorker};
use fat_crypto::dev_keypair;
use fat_types::{Bytes, CommandPayload, Transaction, TxKind};
use serde_json::{Value, json};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[i]
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

struct Sizes {
    rounds: usize,
    queries: usize,
    concurrent_for: Duration,
    commands_e2e: usize,
    commands_replayed: usize,
}

async fn round(dir: &std::path::Path, sizes: &Sizes) -> [f64; 5] {
    let chain = Chain::start(dir).await;
    let cluster = chain.dev_cluster(2).await;
    let w0 = RunningWorker::start(&chain.url, dir, 0).await;
    let w1 = RunningWorker::start(&chain.url, dir, 1).await;
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = chain.deploy(&wasm, cluster, Value::Null).await;
    let alice = dev_keypair("alice");

    let mut e2e = Vec::new();
    for _ in 0..sizes.commands_e2e {
        let start = Instant::now();
        let (_, height) = chain
            .command(&alice, counter, "increment", Value::Null)
            .await;
        w0.wait_for(height).await;
        e2e.push(start.elapsed().as_secs_f64() * 1e3);
    }

    // Worker 1 pauses; many commands go in; worker 1 resumes and replays them all.
    w1.wait_for(chain.height()).await;
    let w1 = w1.pause().await;
    let mut nonce = chain.client.next_nonce(&alice.account_id()).await.unwrap();
    let mut last = None;
    for _ in 0..sizes.commands_replayed {
        let tx = alice.sign_tx(Transaction {
            signer: alice.account_id(),
            nonce,
            fee: 10,
            kind: TxKind::Command {
                contract: counter,
                payload: Bytes(CommandPayload::new("increment", "").encode()),
                gas_limit: 1_000_000_000,
            },
        });
        nonce += 1;
        let _: Value = chain
            .client
            .post_json("/v1/txs", "application/octet-stream", tx.encode())
            .await
            .unwrap();
        last = Some(tx.id());
    }
    let location = chain
        .node
        .wait_committed(&last.unwrap(), Duration::from_secs(120))
        .await
        .unwrap()
        .expect("commands committed");
    w0.wait_for(location.height).await;
    let start = Instant::now();
    let w1 = RunningWorker::serve(w1, &chain.url).await;
    w1.wait_for(location.height).await;
    let exec_per_s = sizes.commands_replayed as f64 / start.elapsed().as_secs_f64();
    let expected = (sizes.commands_e2e + sizes.commands_replayed) as u64;
    assert_eq!(
        w1.query(counter, "get", Value::Null).await["output"],
        expected
    );

    let mut latencies = Vec::new();
    for _ in 0..sizes.queries {
        let start = Instant::now();
        let answer = w0.query(counter, "get", Value::Null).await;
        latencies.push(start.elapsed().as_secs_f64() * 1e6);
        assert!(answer["output"].is_u64());
    }

    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + sizes.concurrent_for;
    let start = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (client, done) = (w0.client.clone(), done.clone());
            let body = json!({"method": "get"}).to_string().into_bytes();
            let path = format!("/v1/contracts/{counter}/query");
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let answer: Value = client
                        .post_json(&path, "application/json", body.clone())
                        .await
                        .unwrap();
                    assert!(answer["output"].is_u64(), "{answer}");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    let per_s = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();

    w1.stop().await;
    w0.stop().await;
    chain.stop().await;
    [
        percentile(&mut latencies.clone(), 0.5),
        percentile(&mut latencies, 0.99),
        per_s,
        median(&mut e2e),
        exec_per_s,
    ]
}

fn main() {
    let quick = std::env::var("FAT_BENCH_QUICK").is_ok_and(|v| v == "1");
    let sizes = if quick {
        Sizes {
            rounds: 3,
            queries: 300,
            concurrent_for: Duration::from_millis(1000),
            commands_e2e: 15,
            commands_replayed: 300,
        }
    } else {
        Sizes {
            rounds: 5,
            queries: 2000,
            concurrent_for: Duration::from_secs(3),
            commands_e2e: 50,
            commands_replayed: 2000,
        }
    };
    let bench_dir = target_dir().join("bench");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut figures: [Vec<f64>; 5] = Default::default();
    for r in 0..sizes.rounds {
        let dir = bench_dir.join(format!("worker-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let result = runtime.block_on(round(&dir, &sizes));
        for (all, value) in figures.iter_mut().zip(result) {
            all.push(value);
        }
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("round {} of {}: {result:?}", r + 1, sizes.rounds);
    }
    let names = [
        "query_p50_us",
        "query_p99_us",
        "query_per_s",
        "command_e2e_p50_ms",
        "command_exec_per_s",
    ];
    println!(
        "worker: counter, {} rounds, {} sequential queries, 16 concurrent clients for {:?}, {} e2e commands, {} replayed",
        sizes.rounds,
        sizes.queries,
        sizes.concurrent_for,
        sizes.commands_e2e,
        sizes.commands_replayed
    );
    println!("{:<24} {:>14}", "figure", "median");
    let mut json = serde_json::Map::new();
    for (name, values) in names.iter().zip(figures.iter_mut()) {
        let value = median(values);
        println!("{name:<24} {value:>14.1}");
        json.insert(name.to_string(), json!((value * 10.0).round() / 10.0));
    }
    std::fs::create_dir_all(&bench_dir).unwrap();
    std::fs::write(
        bench_dir.join("worker.json"),
        Value::Object(json).to_string(),
    )
    .unwrap();
}
