//! `fat dev` as a process: it prints `ready <url>`, serves the chain and its workers, stops
//! cleanly on Ctrl-C (SIGINT) and resumes from its data directory; `fat worker` on its own
//! follows it, and the client refuses to query it until it is registered.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fat_client::Client;
use fat_crypto::dev_keypair;
use fat_types::ContractId;
use serde_json::Value;

use common::{free_port, read_ready, temp_dir};

/// Start `fat dev`; returns the child and the URL it printed.
fn start(dir: &Path, port: u16) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fat"))
        .args(["dev", "--workers", "2", "--rpc"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = read_ready(&mut child);
    (child, url)
}

fn interrupt(mut child: Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "fat dev exited with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("fat dev did not stop on SIGINT");
}

/// A client of the node at `url` whose queries and reads go to dev worker `worker`.
fn client_of(url: &str, worker: usize) -> Client {
    Client::new(url)
        .unwrap()
        .with_worker(&format!("{url}/workers/{worker}"))
        .unwrap()
}

async fn get(client: &Client, counter: &ContractId) -> Value {
    let alice = dev_keypair("alice");
    client
        .query(&alice, counter, "get", None)
        .await
        .unwrap()
        .output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_workers_and_resumes() {
    let dir = temp_dir("dev");
    let port = free_port();
    let (mut child, url) = start(&dir, port);
    // The process runs without transparent huge pages (`fat_worker::process`), where the
    // kernel shows that (Linux 5.0 on) and the allocator's switch does not say otherwise.
    #[cfg(target_os = "linux")]
    if std::env::var_os(fat_worker::process::ALLOCATOR_THP_SWITCH).is_none() {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
        let status = status.unwrap_or_default();
        if status.contains("THP_enabled:") && !status.contains("THP_enabled:\t0") {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("fat dev with transparent huge pages:\n{status}");
        }
    }
    let chain = Client::new(&url).unwrap();
    let info = serde_json::to_value(chain.dev_workers().await.unwrap()).unwrap();
    assert_eq!(info["workers"].as_array().unwrap().len(), 2);
    assert!(chain.is_dev_network().await.unwrap());

    let alice = dev_keypair("alice");
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let deployed = chain
        .deploy(&alice, wasm, "", &[], None, &mut |_| {})
        .await
        .unwrap();
    let counter = deployed.contract;
    let result = chain
        .command(&alice, &counter, "increment", r#"{"by":3}"#, true)
        .await
        .unwrap();
    assert_eq!(result.output, 3);
    let height = result.block.unwrap();
    for worker in 0..2 {
        let client = client_of(&url, worker);
        let tx = result.tx.parse().unwrap();
        let receipt = serde_json::to_value(client.receipt(&tx, height).await.unwrap()).unwrap();
        // The output is sealed to alice: nothing in plaintext.
        assert_eq!(receipt["receipt"]["output"], "", "{receipt}");
        assert!(receipt["receipt"]["sealed_output"].is_string(), "{receipt}");
        assert_eq!(get(&client, &counter).await, 3);
    }
    interrupt(child);

    let (child, url) = start(&dir, port);
    for worker in 0..2 {
        assert_eq!(get(&client_of(&url, worker), &counter).await, 3);
    }

    // `fat worker` pinned to another chain follows nothing and signs nothing for this one,
    // with or without an operator.
    let chain_id = Client::new(&url).unwrap().status().await.unwrap().genesis;
    let other = "ab".repeat(32);
    let bob = dev_keypair("bob").account_id();
    let bob_nonce = chain.account(&bob).await.unwrap().nonce;
    for operator in [&["--operator", "bob"][..], &[]] {
        let refused = Command::new(env!("CARGO_BIN_EXE_fat"))
            .args(["worker", "--chain", &url, "--chain-id", &other])
            .args(operator)
            .arg("--api")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--data-dir")
            .arg(dir.join("pinned"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{operator:?}: {stderr}");
        assert!(
            stderr.contains(&format!("serves chain {chain_id}, not chain {other}")),
            "{operator:?}: {stderr}"
        );
    }
    assert_eq!(chain.account(&bob).await.unwrap().nonce, bob_nonce);

    // `fat worker` on its own, with an empty store, follows the chain (pinned to it); it is
    // not registered, so the client sends it nothing.
    let mut alone = Command::new(env!("CARGO_BIN_EXE_fat"))
        .args([
            "worker",
            "--chain",
            &url,
            "--chain-id",
            &chain_id.to_string(),
            "--api",
        ])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.join("alone"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let api = read_ready(&mut alone);
    let tip =
        serde_json::to_value(Client::new(&url).unwrap().status().await.unwrap()).unwrap()["height"]
            .as_u64()
            .unwrap();
    let lone = fat_client::Http::new(&api).unwrap();
    let mut followed = false;
    for _ in 0..400 {
        let status: Value = lone.get_json("/v1/status").await.unwrap();
        if status["height"].as_u64() >= Some(tip) {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(followed, "the lone worker follows the chain to block {tip}");
    let client = Client::new(&url).unwrap().with_worker(&api).unwrap();
    let error = client
        .query(&alice, &counter, "get", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, fat_client::Error::UntrustedWorker { reason, .. }
            if reason.contains("not registered")),
        "{error:?}"
    );
    interrupt(alone);
    interrupt(child);
    let _ = std::fs::remove_dir_all(&dir);
}
