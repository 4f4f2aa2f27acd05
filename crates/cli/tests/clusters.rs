//! Clusters from the command line against a real `fat dev --workers 2`: `fat cluster create`,
//! `list`, `add-worker`, `remove-worker`; `fat deploy` places a contract without `--cluster`
//! in the cluster with the fewest contracts; queries and receipts go to a member of the
//! contract's cluster; a removed worker stops running the cluster's contracts; `set-deployers`
//! closes a cluster to all but the accounts its owner names.

mod common;
use common::{Dev, http, receipt_path, wait_provisioned};
use serde_json::Value;

/// The cluster `id` as `fat cluster list --json` shows it.
fn listed(dev: &Dev, id: &str) -> Value {
    let list = dev.fat(&["cluster", "list", "--json"]).json();
    list["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

/// `host:port` of a URL `http://host:port/...` and its path.
fn split(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    (host.to_string(), format!("/{path}"))
}

#[test]
fn clusters_are_made_placed_routed_and_left() {
    let dev = Dev::start_workers("clusters", 2, &[]);
    let status = dev.fat(&["status", "--json"]).json();
    let workers: Vec<(String, String)> = status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["id"].as_str().unwrap().to_string(),
                w["url"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(workers.len(), 2, "{status}");
    let dev_cluster = status["cluster"].as_str().unwrap().to_string();
    let chain_addr = dev.url.strip_prefix("http://").unwrap().to_string();

    // Refusals name what is wrong, before anything is sent.
    dev.fat(&["cluster", "create", "--workers", "nope"])
        .refused("'nope' is not a worker id");
    dev.fat(&["cluster", "add-worker", "x", &workers[0].0])
        .refused("'x' is not a cluster id");
    let unknown = "ab".repeat(32);
    dev.fat(&["cluster", "add-worker", &dev_cluster, &unknown])
        .refused("unknown_worker");

    // A cluster of worker 1 alone, owned by alice; the dev gatekeeper provisions its key.
    let created = dev
        .fat(&["cluster", "create", "--workers", &workers[1].0, "--json"])
        .json();
    let solo = created["cluster"].as_str().unwrap().to_string();
    wait_provisioned(&chain_addr, &solo);
    let entry = listed(&dev, &solo);
    assert_eq!(entry["workers"], serde_json::json!([workers[1].0]));
    assert_eq!(entry["contracts"], 0);
    // Only its owner changes its members.
    dev.fat(&["cluster", "add-worker", &solo, &workers[0].0, "--as", "bob"])
        .refused("not_cluster_owner");

    // Placement: the first contract goes to the lowest id of two empty clusters, the next
    // to the other one (fewest contracts).
    let counter = fat_test_programs::COUNTER;
    let first = dev.fat(&["deploy", counter, "--json"]).json();
    let second = dev
        .fat(&["deploy", counter, "--salt", "2", "--json"])
        .json();
    let mut placed = [
        first["cluster"].as_str().unwrap().to_string(),
        second["cluster"].as_str().unwrap().to_string(),
    ];
    assert_ne!(placed[0], placed[1], "{first} {second}");
    assert!(
        placed[0] < placed[1],
        "the lowest id first: {first} {second}"
    );
    placed.sort();
    let mut both = [solo.clone(), dev_cluster.clone()];
    both.sort();
    assert_eq!(placed, both);
    let in_solo = if first["cluster"] == solo.as_str() {
        &first
    } else {
        &second
    };
    let contract = in_solo["contract"].as_str().unwrap().to_string();

    // Commands and queries of the contract in the solo cluster go to worker 1, its member.
    let out = dev
        .fat(&["command", &contract, "increment", "--json"])
        .json();
    assert_eq!(out["output"], 1, "{out}");
    let query = dev.fat(&["query", &contract, "get", "--json"]).json();
    assert_eq!(query["output"], 1, "{query}");
    assert_eq!(query["worker"], workers[1].0.as_str(), "{query}");

    // A cluster of both (worker 1 added after), with a contract both run; then worker 1
    // leaves, and from then on only worker 0 runs the contract.
    let pair = dev
        .fat(&["cluster", "create", "--workers", &workers[0].0, "--json"])
        .json()["cluster"]
        .as_str()
        .unwrap()
        .to_string();
    dev.fat(&["cluster", "add-worker", &pair, &workers[1].0])
        .ok();
    dev.fat(&["cluster", "add-worker", &pair, &workers[1].0])
        .refused("membership");
    let epoch_0_key = wait_provisioned(&chain_addr, &pair)["public_key"].clone();
    let shared = dev.deploy_to(counter, &pair, &["--salt", "3"]);
    let out = dev.fat(&["command", &shared, "increment", "--json"]).json();
    let receipt = receipt_path(&out);
    for (_, url) in &workers {
        let (host, prefix) = split(url);
        let mut answer = (0, Value::Null);
        for _ in 0..200 {
            answer = http(&host, "GET", &format!("{prefix}{receipt}"), b"").unwrap();
            if answer.0 == 200 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(answer.0, 200, "both members run it: {}", answer.1);
    }
    dev.fat(&["cluster", "remove-worker", &pair, &workers[1].0])
        .ok();
    dev.fat(&["cluster", "remove-worker", &pair, &workers[1].0])
        .refused("membership");
    assert_eq!(
        listed(&dev, &pair)["workers"],
        serde_json::json!([workers[0].0])
    );
    let out = dev.fat(&["command", &shared, "increment", "--json"]).json();
    assert_eq!(out["output"], 2, "{out}");
    let receipt = receipt_path(&out);
    let (host, prefix) = split(&workers[1].1);
    let (code, body) = http(&host, "GET", &format!("{prefix}{receipt}"), b"").unwrap();
    assert_eq!(code, 404, "the removed worker ran the command: {body}");
    let (host, prefix) = split(&workers[0].1);
    let (code, body) = http(&host, "GET", &format!("{prefix}{receipt}"), b"").unwrap();
    assert_eq!(code, 200, "the member left runs it: {body}");

    // The removal moved the cluster's key to epoch 1, provisioned to the member that stays
    // and never to the removed one, which keeps epoch 0. A contract deployed now takes epoch
    // 1: its keys are out of the removed worker's reach.
    let info = wait_provisioned(&chain_addr, &pair);
    assert_eq!(info["key_epoch"], 1, "{info}");
    assert_ne!(info["public_key"], epoch_0_key, "{info}");
    let held = |worker: &str| {
        let path = format!("/v1/provisions/{worker}/{pair}");
        let (code, body) = http(&chain_addr, "GET", &path, b"").unwrap();
        assert_eq!(code, 200, "{body}");
        body["epoch"].clone()
    };
    assert_eq!(held(&workers[0].0), 1);
    assert_eq!(held(&workers[1].0), 0, "the removed worker got the new key");
    let text = dev.fat(&["cluster", "list"]).stdout;
    assert!(text.contains("key epoch 1 provisioned"), "{text}");
    let later = dev.deploy_to(counter, &pair, &["--salt", "7"]);
    let out = dev.fat(&["command", &later, "increment", "--json"]).json();
    assert_eq!(out["output"], 1, "{out}");
    let contract = http(&chain_addr, "GET", &format!("/v1/contracts/{later}"), b"")
        .unwrap()
        .1;
    assert_eq!(contract["key_epoch"], 1, "{contract}");
    let (host, prefix) = split(&workers[1].1);
    let (code, body) = http(&host, "GET", &format!("{prefix}/v1/contracts/{later}"), b"").unwrap();
    assert_eq!(
        code, 404,
        "the removed worker runs a later contract: {body}"
    );
    let out = dev.fat(&["command", &shared, "increment", "--json"]).json();
    assert_eq!(out["output"], 3, "the epoch-0 contract still runs: {out}");

    // Who deploys: the owner closes the solo cluster; bob's deploy into it is refused, and
    // one without --cluster goes elsewhere; named in a list, he deploys into it.
    dev.fat(&["cluster", "set-deployers", &solo, "owner", "--as", "bob"])
        .refused("not_cluster_owner");
    dev.fat(&["cluster", "set-deployers", &solo, "nobody-such"])
        .refused("is not `anyone`, `owner` or ACCOUNT,...");
    let set = dev
        .fat(&["cluster", "set-deployers", &solo, "owner", "--json"])
        .json();
    assert_eq!(set["deployers"], "owner", "{set}");
    assert_eq!(listed(&dev, &solo)["deployers"], "owner");
    dev.fat(&[
        "deploy",
        counter,
        "--cluster",
        &solo,
        "--salt",
        "4",
        "--as",
        "bob",
    ])
    .refused("not_deployer");
    let placed = dev
        .fat(&["deploy", counter, "--salt", "5", "--as", "bob", "--json"])
        .json();
    assert_ne!(placed["cluster"], solo.as_str(), "{placed}");
    dev.fat(&["cluster", "set-deployers", &solo, "bob,charlie"])
        .ok();
    let bob = dev.deploy_to(counter, &solo, &["--salt", "6", "--as", "bob"]);
    assert!(!bob.is_empty());
}
