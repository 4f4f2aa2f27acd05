//! Workers as their own processes: two `fat worker --operator alice` register themselves and
//! their URLs beside a `fat dev` node, form a cluster, run a contract; one is killed
//! (SIGKILL): queries and commands go on through the other member; restarted from its data
//! directory it keeps its identity, registers nothing again and catches up.

mod common;

use std::time::Duration;

use common::{
    Dev, WorkerProcess, free_addrs, http, receipt_path, start_worker, wait_for_height, worker_ids,
};
use serde_json::Value;

/// `GET {addr}{path}` as JSON, with its status.
fn get(addr: &str, path: &str) -> (u16, Value) {
    http(addr, "GET", path, b"").unwrap()
}

#[test]
fn worker_processes_register_serve_fail_over_and_catch_up() {
    let dev = Dev::start("workers", &[]);
    let chain = dev.url.clone();
    let chain_addr = chain.strip_prefix("http://").unwrap().to_string();
    let home = dev.dir.path().to_path_buf();
    let apis = free_addrs(2);
    let data: Vec<_> = (0..2).map(|i| home.join(format!("worker-{i}"))).collect();
    let mut workers: Vec<Option<WorkerProcess>> = (0..2)
        .map(|i| Some(start_worker(&home, &chain, &data[i], &apis[i], &[])))
        .collect();

    // Each registered itself, operated by alice, its URL in the registry.
    let alice = fat_crypto::dev_keypair("alice").account_id().to_string();
    let mut ids = Vec::new();
    for api in &apis {
        let (code, status) = get(api, "/v1/status");
        assert_eq!(code, 200, "{status}");
        let id = status["worker"].as_str().unwrap().to_string();
        let (code, info) = get(&chain_addr, &format!("/v1/workers/{id}"));
        assert_eq!(code, 200, "{info}");
        assert_eq!(info["operator"], alice.as_str(), "{info}");
        assert_eq!(info["endpoint"], format!("http://{api}"), "{info}");
        ids.push(id);
    }

    // A cluster of the two; the dev gatekeeper provisions it; a contract runs on both.
    let cluster = dev.create_cluster(&ids);
    let contract = dev.deploy_to(fat_test_programs::COUNTER, &cluster, &[]);
    let out = dev
        .fat(&["command", &contract, "increment", "--json"])
        .json();
    assert_eq!(out["output"], 1, "{out}");
    let query = dev.fat(&["query", &contract, "get", "--json"]).json();
    assert_eq!(query["output"], 1, "{query}");
    assert_eq!(
        query["worker"],
        ids[0].as_str(),
        "the first member answers: {query}"
    );

    // What the first member signed for the command and its contract's state, to compare
    // after it is killed and restarted.
    let first_receipt = receipt_path(&out);
    let (code, receipt_before) = get(&apis[0], &first_receipt);
    assert_eq!(code, 200, "{receipt_before}");

    // The first member dies: the second answers queries and commands go on. (A member
    // answers from the last block it applied: wait until the second has applied the
    // command's, so its answer is the same.)
    wait_for_height(&apis[1], out["block"].as_u64().unwrap());
    let mut first = workers[0].take().unwrap();
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    std::mem::forget(first);
    let query = dev.fat(&["query", &contract, "get", "--json"]).json();
    assert_eq!(query["output"], 1, "{query}");
    assert_eq!(query["worker"], ids[1].as_str(), "failed over: {query}");
    let out = dev
        .fat(&["command", &contract, "increment", "--json"])
        .json();
    assert_eq!(out["output"], 2, "{out}");

    // Restarted from its data directory: the same identity, registered once, and it
    // catches up with the block it missed.
    let restarted = start_worker(&home, &chain, &data[0], &apis[0], &[]);
    let (_, status) = get(&apis[0], "/v1/status");
    assert_eq!(status["worker"], ids[0].as_str(), "{status}");
    let mut answer = Value::Null;
    for _ in 0..200 {
        answer = dev
            .fat(&[
                "query",
                &contract,
                "get",
                "--json",
                "--worker",
                &format!("http://{}", apis[0]),
            ])
            .json();
        if answer["output"] == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        answer["output"], 2,
        "the restarted worker caught up: {answer}"
    );
    assert_eq!(answer["worker"], ids[0].as_str(), "{answer}");
    // Killed without a chance to flush, it ran again what was not durable: the receipt it
    // serves is the same to the byte (its signature included), and its contract's state
    // root is the other member's.
    let (code, receipt_after) = get(&apis[0], &first_receipt);
    assert_eq!(code, 200, "{receipt_after}");
    assert_eq!(receipt_after, receipt_before);
    let roots: Vec<Value> = apis
        .iter()
        .map(|api| get(api, &format!("/v1/contracts/{contract}")).1)
        .map(|c| c["state_root"].clone())
        .collect();
    assert!(!roots[0].is_null(), "{roots:?}");
    assert_eq!(roots[0], roots[1], "both members hold the same state");
    workers[0] = Some(restarted);
}

#[test]
fn four_worker_processes_in_two_clusters_keep_each_contract_on_its_own() {
    let dev = Dev::start("two-clusters", &[]);
    let chain = dev.url.clone();
    let home = dev.dir.path().to_path_buf();
    let apis = free_addrs(4);
    let _workers: Vec<WorkerProcess> = (0..4)
        .map(|i| start_worker(&home, &chain, &home.join(format!("w{i}")), &apis[i], &[]))
        .collect();
    let ids = worker_ids(&apis);
    let clusters = [dev.create_cluster(&ids[..2]), dev.create_cluster(&ids[2..])];
    let mut contracts = Vec::new();
    for (i, cluster) in clusters.iter().enumerate() {
        contracts.push(dev.deploy_to(
            fat_test_programs::COUNTER,
            cluster,
            &["--salt", &i.to_string()],
        ));
    }
    let mut last_block = 0;
    for (i, contract) in contracts.iter().enumerate() {
        let by = format!(r#"{{"by": {}}}"#, i + 1);
        let out = dev
            .fat(&["command", contract, "increment", &by, "--json"])
            .json();
        assert_eq!(out["output"], i + 1, "{out}");
        last_block = out["block"].as_u64().unwrap();
    }
    // Every worker has applied the last command's block (a member answers from the last
    // block it applied).
    for api in &apis {
        wait_for_height(api, last_block);
    }

    // Each contract's state lives on its own cluster's workers only, and each of them
    // answers its queries with the same value.
    for (c, contract) in contracts.iter().enumerate() {
        for (w, api) in apis.iter().enumerate() {
            let member = w / 2 == c;
            let mut code = 0;
            for _ in 0..200 {
                code = get(api, &format!("/v1/contracts/{contract}")).0;
                if code == 200 || !member {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(
                code,
                if member { 200 } else { 404 },
                "contract {c} on worker {w}"
            );
            if member {
                let answer = dev
                    .fat(&[
                        "query",
                        contract,
                        "get",
                        "--json",
                        "--worker",
                        &format!("http://{api}"),
                    ])
                    .json();
                assert_eq!(
                    answer["output"],
                    c + 1,
                    "contract {c} on worker {w}: {answer}"
                );
            }
        }
        // Without --worker, the client asks a member of the contract's cluster.
        let answer = dev.fat(&["query", contract, "get", "--json"]).json();
        assert_eq!(answer["worker"], ids[2 * c].as_str(), "{answer}");
    }
}
