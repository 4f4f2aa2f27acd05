//! A worker joins a cluster that already runs contracts: it receives their state from a
//! member, not by replaying the chain, and refuses members that tamper with it.
//!
//! Four `fat worker` processes beside a `fat dev` node. Three form a cluster, in this order:
//! one that sends a tampered state whose root it recomputed (`consistent`: only the other
//! members' signed roots give it away), one that sends a changed value under the true root
//! (`entries`: the entries do not hash to it), and an honest one. The cluster runs a counter
//! and a probe holding a thousand entries. The fourth worker is added: it must refuse the first
//! two, take the state from the third, answer the same, and run the next commands itself.
//! Then a command that fits the others' memory and not the joiner's makes it diverge (the
//! joiner runs with less memory per call, the test's fault), and
//! `fat status` names it.
//!
//! A second test removes a joiner whose sync keeps failing (its only source tampers): once
//! the retry it had scheduled is due, it must go idle, not wake at every tick of the timer.

mod common;

use std::time::Duration;

use common::{
    Dev, WorkerProcess, free_addrs, http, start_logged_worker, start_worker, wait_for_height,
    worker_ids,
};
use serde_json::Value;

fn get(addr: &str, path: &str) -> (u16, Value) {
    http(addr, "GET", path, b"").unwrap()
}

#[test]
fn a_joining_worker_takes_the_state_from_an_honest_member_and_refuses_tampered_ones() {
    let dev = Dev::start("join", &[]);
    let home = dev.dir.path().to_path_buf();
    let apis = free_addrs(4);
    let faults: [&[&str]; 3] = [
        &["--test-corrupt-snapshots", "consistent"],
        &["--test-corrupt-snapshots", "entries"],
        &[],
    ];
    let mut workers: Vec<WorkerProcess> = (0..3)
        .map(|i| {
            start_worker(
                &home,
                &dev.url,
                &home.join(format!("w{i}")),
                &apis[i],
                faults[i],
            )
        })
        .collect();
    let log = home.join("joiner.log");
    workers.push(start_logged_worker(
        &home,
        &dev.url,
        &home.join("joiner"),
        &apis[3],
        &["--max-memory-mib", "2"],
        &log,
    ));
    let ids = worker_ids(&apis);
    let cluster = dev.create_cluster(&ids[..3]);
    let counter = dev.deploy_to(fat_test_programs::COUNTER, &cluster, &[]);
    let probe = dev.deploy_to(
        fat_test_programs::PROBE,
        &cluster,
        &["--args", r#""hello""#],
    );
    for by in [3, 4] {
        let out = dev
            .fat(&[
                "command",
                &counter,
                "increment",
                &format!(r#"{{"by": {by}}}"#),
                "--json",
            ])
            .json();
        assert!(out["output"].is_number(), "{out}");
    }
    let out = dev
        .fat(&["command", &probe, "fill", "1000", "--json"])
        .json();
    assert_eq!(out["output"], "ok", "{out}");
    let before = out["block"].as_u64().unwrap();

    // The fourth worker joins; the gatekeeper provisions its key; it receives both contracts.
    let added = dev
        .fat(&["cluster", "add-worker", &cluster, &ids[3], "--json"])
        .json();
    assert!(added["block"].as_u64().unwrap() > before, "{added}");
    let mut joined = Value::Null;
    for _ in 0..400 {
        let (code, body) = get(&apis[3], &format!("/v1/contracts/{probe}"));
        if code == 200
            && !get(&apis[3], &format!("/v1/contracts/{counter}"))
                .1
                .is_null()
        {
            joined = body;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        joined["synced_through"].as_u64() >= Some(before),
        "the joiner received the probe's state as of a block after the fill: {joined}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(joined["entries"], 1001, "{joined}");
    let honest = get(&apis[2], &format!("/v1/contracts/{probe}")).1;
    assert_eq!(
        joined["state_root"], honest["state_root"],
        "{joined} {honest}"
    );

    // It refused both tampering members, each for its own reason, and took the honest one's.
    let text = std::fs::read_to_string(&log).unwrap();
    let refusal = |worker: &str, why: &str| {
        text.lines().any(|l| {
            l.contains("refused a contract's state") && l.contains(worker) && l.contains(why)
        })
    };
    assert!(
        refusal(&ids[0], "differs from the roots"),
        "the consistent tamperer is out-voted by the others' signed roots:\n{text}"
    );
    assert!(
        refusal(&ids[1], "hash to"),
        "the entries of the other tamperer do not hash to its root:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("received a contract's state") && l.contains(&ids[2])),
        "{text}"
    );

    // It answers the same as the members, and runs the next command itself.
    let on = |api: &str, contract: &str| {
        dev.fat(&[
            "query",
            contract,
            "get",
            "--json",
            "--worker",
            &format!("http://{api}"),
        ])
        .json()
    };
    assert_eq!(on(&apis[3], &counter)["output"], 7);
    assert_eq!(on(&apis[2], &counter)["output"], 7);
    let out = dev
        .fat(&["command", &counter, "increment", r#"{"by": 5}"#, "--json"])
        .json();
    let block = out["block"].as_u64().unwrap();
    for api in &apis {
        wait_for_height(api, block);
    }
    assert_eq!(on(&apis[3], &counter)["output"], 12);
    let roots: Vec<Value> = apis
        .iter()
        .map(|api| get(api, &format!("/v1/roots?height={block}")).1)
        .collect();
    for (i, signed) in roots.iter().enumerate() {
        assert_eq!(signed["worker"], ids[i].as_str(), "{signed}");
        assert_eq!(
            signed["roots"], roots[2]["roots"],
            "worker {i} signs the same roots"
        );
    }
    assert_eq!(
        roots[2]["roots"].as_array().unwrap().len(),
        2,
        "{}",
        roots[2]
    );
    let check = common::replicas_of(&dev.fat(&["status", "--json"]).json(), &cluster);
    assert_eq!(check["diverged"], serde_json::json!([]), "{check}");

    // Holding 3 MiB fits the members' memory, not the joiner's 2 MiB: its root of the
    // probe now differs from the three others', and `fat status` names it.
    let out = dev
        .fat(&["command", &probe, "hoard-then-set", "3", "--json"])
        .json();
    let block = out["block"].as_u64().unwrap();
    for api in &apis {
        wait_for_height(api, block);
    }
    let check = common::replicas_of(&dev.fat(&["status", "--json"]).json(), &cluster);
    let diverged = check["diverged"].as_array().unwrap();
    assert_eq!(diverged.len(), 1, "{check}");
    assert_eq!(diverged[0]["worker"], ids[3].as_str(), "{check}");
    assert_eq!(diverged[0]["contract"], probe.as_str(), "{check}");
    assert_eq!(
        diverged[0]["majority"],
        honest_root(&apis[2], &probe),
        "{check}"
    );
    let text = dev.fat(&["status"]).ok().to_string();
    assert!(
        text.contains(&format!("DIVERGED: worker {}", ids[3])),
        "{text}"
    );
}

fn honest_root(api: &str, contract: &str) -> Value {
    get(api, &format!("/v1/contracts/{contract}")).1["state_root"].clone()
}

/// How many times the threads of process `pid` have been switched out so far (voluntarily,
/// to wait, or not): a process that waits for nothing does not add to it.
fn context_switches(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|thread| {
            // A thread that ended since the directory was read counts for nothing.
            std::fs::read_to_string(thread.unwrap().path().join("status"))
                .unwrap_or_default()
                .lines()
                .filter(|line| line.contains("ctxt_switches:"))
                .map(|line| {
                    line.split_whitespace()
                        .last()
                        .unwrap()
                        .parse::<u64>()
                        .unwrap()
                })
                .sum::<u64>()
        })
        .sum()
}

/// What a worker logs each time it fails to receive the state of a cluster it joined.
const SYNC_FAILED: &str = "cannot receive the state of the cluster's contracts yet";

#[test]
fn a_worker_removed_while_its_state_sync_fails_goes_idle() {
    let dev = Dev::start("leave", &[]);
    let home = dev.dir.path().to_path_buf();
    let apis = free_addrs(2);
    // The only member tampers with every state it sends: the joiner's sync can only fail.
    let _member = start_worker(
        &home,
        &dev.url,
        &home.join("member"),
        &apis[0],
        &["--test-corrupt-snapshots", "entries"],
    );
    let log = home.join("joiner.log");
    let joiner = start_logged_worker(&home, &dev.url, &home.join("joiner"), &apis[1], &[], &log);
    let ids = worker_ids(&apis);
    let cluster = dev.create_cluster(&ids[..1]);
    let counter = dev.deploy_to(fat_test_programs::COUNTER, &cluster, &[]);
    let out = dev
        .fat(&["command", &counter, "increment", r#"{"by": 1}"#, "--json"])
        .json();
    assert!(out["output"].is_number(), "{out}");
    dev.fat(&["cluster", "add-worker", &cluster, &ids[1], "--json"])
        .ok();
    let failed = || std::fs::read_to_string(&log).unwrap().contains(SYNC_FAILED);
    for _ in 0..400 {
        if failed() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        failed(),
        "the joiner's sync from the tampering member failed:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );

    // Removed while a retry is pending: once that retry is due, nothing is left to sync.
    let removed = dev
        .fat(&["cluster", "remove-worker", &cluster, &ids[1], "--json"])
        .json();
    wait_for_height(&apis[1], removed["block"].as_u64().unwrap());
    // The retries wait 1 s after the first failure, then 2 s, 4 s... up to 30 s: wait until
    // the one pending is surely due.
    let failures = std::fs::read_to_string(&log)
        .unwrap()
        .matches(SYNC_FAILED)
        .count() as u32;
    std::thread::sleep(Duration::from_secs(
        (1u64 << (failures - 1).min(5)).min(30) + 1,
    ));
    let pid = joiner.0.id();
    let before = context_switches(pid);
    std::thread::sleep(Duration::from_secs(3));
    let woke = context_switches(pid) - before;
    // Idle, a worker does not wake at all here; with the bug this guards against, its
    // follower woke at every tick of the timer (about 8,000 switches in 3 s here).
    assert!(
        woke < 300,
        "the removed worker's threads were switched {woke} times in 3 s:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(
        get(&apis[1], "/v1/status").0,
        200,
        "the removed worker still answers"
    );
}
