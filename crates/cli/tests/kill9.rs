//! Start `fat chain` as a process, submit transactions while killing it with SIGKILL several
//! times, restart it, and check every transaction acknowledged as committed is still in the
//! chain at the same place, in the same order, in a chain whose links and signatures verify.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fat_consensus::{BlockVerifier, ValidatorSet};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::{AccountId, Block, Genesis, Transaction, TxId, TxKind};

use common::{free_port, http, spawn_ready, temp_dir};

struct NodeProcess {
    child: Child,
    addr: String,
}

fn start(dir: &Path) -> NodeProcess {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = spawn_ready(
        Command::new(env!("CARGO_BIN_EXE_fat"))
            .args([
                "chain",
                "--dev",
                "--block-time",
                "0",
                "--rpc",
                &addr,
                "--data-dir",
            ])
            .arg(dir),
        &addr,
    );
    NodeProcess { child, addr }
}

fn next_nonce(addr: &str, account: &AccountId) -> u64 {
    let (status, body) = http(addr, "GET", &format!("/v1/accounts/{account}"), b"").unwrap();
    assert_eq!(status, 200, "{body}");
    body["nonce"].as_u64().unwrap()
}

/// A transaction the node acknowledged as committed: id, signer, height, index.
type Acked = (TxId, AccountId, u64, u64);

/// Submit transfers from `key` one at a time, waiting for each to commit, until the node is
/// killed. Every answer of a live node must be an acknowledgement: a refusal, or a connection
/// lost before the test killed the node, panics with what happened.
fn submit_until_killed(
    round: usize,
    addr: String,
    key: Keypair,
    acked: Arc<Mutex<Vec<Acked>>>,
    killed: Arc<AtomicBool>,
) {
    let signer = key.account_id();
    let mut nonce = next_nonce(&addr, &signer);
    let chain = common::chain_id(&addr);
    while !killed.load(Ordering::SeqCst) {
        let tx = key.sign_tx(common::least_fee(Transaction {
            chain,
            signer,
            nonce,
            fee: 0,
            kind: TxKind::Transfer {
                to: AccountId([7; 32]),
                amount: 1,
            },
        }));
        let id = tx.id();
        let (status, body) = match http(&addr, "POST", "/v1/txs?wait=true", &tx.encode()) {
            Ok(answer) => answer,
            Err(_) if killed.load(Ordering::SeqCst) => return,
            Err(e) => panic!("round {round}: {signer} nonce {nonce}: the live node hung up: {e}"),
        };
        // An answer cut short by the SIGKILL is no acknowledgement.
        if body.is_null() && killed.load(Ordering::SeqCst) {
            return;
        }
        assert_eq!(
            status, 200,
            "round {round}: the node refused {signer} nonce {nonce}: {body}"
        );
        assert_eq!(body["status"], "committed", "{body}");
        assert_eq!(body["id"], id.to_string());
        acked.lock().unwrap().push((
            id,
            signer,
            body["height"].as_u64().unwrap(),
            body["index"].as_u64().unwrap(),
        ));
        nonce += 1;
    }
}

const CLIENTS: [&str; 3] = ["alice", "bob", "charlie"];

#[test]
fn acknowledged_transactions_survive_sigkill() {
    let dir = temp_dir("kill9");
    let acked = Arc::new(Mutex::new(Vec::new()));
    // Once every client has an acknowledgement in the round, kill after these many
    // milliseconds more of load, each time at a different point of a commit.
    for (round, delay_ms) in [150u64, 420, 90, 333, 260].into_iter().enumerate() {
        let mut node = start(&dir);
        let killed = Arc::new(AtomicBool::new(false));
        let before = acked.lock().unwrap().len();
        let clients: Vec<_> = CLIENTS
            .into_iter()
            .map(|name| {
                let (addr, acked, killed) = (node.addr.clone(), acked.clone(), killed.clone());
                std::thread::spawn(move || {
                    submit_until_killed(round, addr, dev_keypair(name), acked, killed)
                })
            })
            .collect();
        // A client ends early only by panicking (a refusal, or a node that stopped
        // answering: its requests time out); then join it to fail with its message.
        while !every_client_acknowledged(&acked.lock().unwrap()[before..]) {
            if clients.iter().any(|c| c.is_finished()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if clients.iter().all(|c| !c.is_finished()) {
            std::thread::sleep(Duration::from_millis(delay_ms));
        }
        killed.store(true, Ordering::SeqCst);
        node.child.kill().expect("SIGKILL the node");
        node.child.wait().unwrap();
        for client in clients {
            client.join().unwrap();
        }
        let this_round = &acked.lock().unwrap()[before..];
        assert!(
            every_client_acknowledged(this_round),
            "round {round}: a client had nothing acknowledged"
        );
        println!(
            "round {round}: {} transactions acknowledged before SIGKILL",
            this_round.len()
        );
    }
    let acked = acked.lock().unwrap().clone();

    let node = start(&dir);
    for (id, _, height, index) in &acked {
        let (status, body) = http(&node.addr, "GET", &format!("/v1/txs/{id}"), b"").unwrap();
        assert_eq!(status, 200, "acknowledged {id} lost: {body}");
        assert_eq!(
            (
                body["height"].as_u64().unwrap(),
                body["index"].as_u64().unwrap()
            ),
            (*height, *index),
            "{id} moved"
        );
    }
    // The whole chain links and is finalized by the genesis validators; acknowledged order is
    // chain order.
    let (_, status) = http(&node.addr, "GET", "/v1/status", b"").unwrap();
    let tip = status["height"].as_u64().unwrap();
    let fetch = |h: u64| -> Block {
        let (code, body) = http(&node.addr, "GET", &format!("/v1/blocks/{h}"), b"").unwrap();
        assert_eq!(code, 200);
        serde_json::from_value(body).unwrap()
    };
    let genesis = fetch(0);
    let (_, config) = http(&node.addr, "GET", "/v1/genesis", b"").unwrap();
    let config: Genesis = serde_json::from_value(config).unwrap();
    assert_eq!(config.config_hash(), genesis.header.parent);
    let validators = ValidatorSet::new(config.validators).unwrap();
    let mut follower = BlockVerifier::new(genesis.hash(), genesis.header, validators);
    let mut order = Vec::new();
    for h in 1..=tip {
        let block = fetch(h);
        follower
            .accept(&block)
            .unwrap_or_else(|e| panic!("block {h}: {e}"));
        order.extend(block.txs.iter().map(|t| t.id()));
    }
    for (id, ..) in &acked {
        assert!(order.contains(id), "{id} not in any block");
    }
    // Each client waited for one commit before sending the next, so its acknowledged
    // transactions must sit in the chain in the order they were acknowledged.
    for name in CLIENTS {
        let signer = dev_keypair(name).account_id();
        let places: Vec<(u64, u64)> = acked
            .iter()
            .filter(|a| a.1 == signer)
            .map(|a| (a.2, a.3))
            .collect();
        assert!(
            places.windows(2).all(|w| w[0] < w[1]),
            "{name}'s acknowledged transactions reordered"
        );
    }
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether each client has a transaction among `acked`.
fn every_client_acknowledged(acked: &[Acked]) -> bool {
    CLIENTS.iter().all(|name| {
        let signer = dev_keypair(name).account_id();
        acked.iter().any(|a| a.1 == signer)
    })
}
