//! `fat dev` as a process: it prints `ready <url>`, serves the chain and its workers, stops
//! cleanly on Ctrl-C (SIGINT) and resumes from its data directory; `fat worker` on its own
//! follows it and replays the chain.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fat_crypto::dev_keypair;
use fat_types::tx::{code_hash, contract_id};
use fat_types::{Bytes, ClusterId, CommandPayload, ContractId, TxKind};
use fat_worker::ChainClient;
use fat_worker::dev::submit;
use serde_json::{Value, json};

use common::{free_port, read_ready};

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

async fn query(chain: &ChainClient, worker: usize, contract: ContractId) -> Value {
    let body = json!({"method": "get"}).to_string().into_bytes();
    chain
        .post_json(
            &format!("/workers/{worker}/v1/contracts/{contract}/query"),
            "application/json",
            body,
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_workers_and_resumes() {
    let dir = std::env::temp_dir().join(format!("fat-dev-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let (child, url) = start(&dir, port);
    let chain = ChainClient::new(&url).unwrap();
    let info: Value = chain.get_json("/workers").await.unwrap();
    let cluster: ClusterId = info["cluster"].as_str().unwrap().parse().unwrap();
    assert_eq!(info["workers"].as_array().unwrap().len(), 2);

    let alice = dev_keypair("alice");
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let hash = code_hash(&wasm);
    submit(&chain, &alice, TxKind::UploadCode { code: Bytes(wasm) })
        .await
        .unwrap();
    let instantiate = TxKind::Instantiate {
        code_hash: hash,
        cluster,
        salt: Bytes(Vec::new()),
        args: Bytes(Vec::new()),
        gas_limit: 10_000_000_000,
    };
    submit(&chain, &alice, instantiate).await.unwrap();
    let counter = contract_id(&alice.account_id(), &hash, &cluster, &[]);
    let command = TxKind::Command {
        contract: counter,
        payload: Bytes(CommandPayload::new("increment", r#"{"by":3}"#).encode()),
        gas_limit: 10_000_000_000,
    };
    let answer = submit(&chain, &alice, command).await.unwrap();
    let height = answer["height"].as_u64().unwrap();
    let tx = answer["id"].as_str().unwrap().to_string();
    for worker in 0..2 {
        let receipt: Value = loop {
            let status: Value = chain
                .get_json(&format!("/workers/{worker}/v1/status"))
                .await
                .unwrap();
            if status["height"].as_u64() >= Some(height) {
                break chain
                    .get_json(&format!("/workers/{worker}/v1/receipts/{tx}"))
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(receipt["receipt"]["output"], "3", "{receipt}");
        assert_eq!(query(&chain, worker, counter).await["output"], 3);
    }
    interrupt(child);

    let (child, url) = start(&dir, port);
    let chain = ChainClient::new(&url).unwrap();
    for worker in 0..2 {
        assert_eq!(query(&chain, worker, counter).await["output"], 3);
    }

    // `fat worker` on its own, with worker 1's key and an empty store, replays the chain.
    let mut alone = Command::new(env!("CARGO_BIN_EXE_fat"))
        .args(["worker", "--dev-key", "1", "--chain", &url, "--api"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.join("alone"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let api = ChainClient::new(&read_ready(&mut alone)).unwrap();
    let body = json!({"method": "get"}).to_string().into_bytes();
    let path = format!("/v1/contracts/{counter}/query");
    let mut answer = None;
    for _ in 0..200 {
        if let Ok(value) = api
            .post_json::<Value>(&path, "application/json", body.clone())
            .await
        {
            answer = Some(value);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(answer.expect("the lone worker answers")["output"], 3);
    interrupt(alone);
    interrupt(child);
    let _ = std::fs::remove_dir_all(&dir);
}
