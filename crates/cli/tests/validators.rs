//! Four `fat chain` validator processes on loopback, made by `fat genesis new`: transfers
//! commit through any of them; with one killed (SIGKILL) the other three keep committing; with
//! all killed and restarted from their disks, every acknowledged transfer is at the same height
//! and index on every validator, and every block's certificate checks against the genesis.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use fat_consensus::{BlockVerifier, ValidatorSet};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::{AccountId, Block, Genesis, Transaction, TxId, TxKind};

use common::{fat_run, free_ports, http, start_validator, temp_dir};

const VALIDATORS: usize = 4;
/// How long past the node's own wait a transfer may take to commit.
const COMMIT_LATE: Duration = Duration::from_secs(90);

struct Validator {
    child: Child,
    addr: String,
}

impl Drop for Validator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start validator `i` of the network in `net` on `rpc`, its data in `data`.
fn start(net: &Path, data: &Path, i: usize, rpc: &str) -> Validator {
    Validator {
        child: start_validator(net, data, i, rpc),
        addr: rpc.to_string(),
    }
}

/// Submit a transfer from `key` with `nonce` through `addr` and wait for its commit: its
/// (height, index).
fn transfer(addr: &str, key: &Keypair, nonce: u64) -> (TxId, u64, u64) {
    let tx = key.sign_tx(common::least_fee(Transaction {
        chain: common::chain_id(addr),
        signer: key.account_id(),
        nonce,
        fee: 0,
        kind: TxKind::Transfer {
            to: AccountId([7; 32]),
            amount: 1,
        },
    }));
    let id = tx.id();
    let (mut status, mut body) = http(addr, "POST", "/v1/txs?wait=true", &tx.encode())
        .unwrap_or_else(|e| panic!("submit to {addr}: {e}"));
    // Accepted but not committed within the node's wait (202): four validators just
    // started on a loaded machine can take longer than that to connect and commit their
    // first block. Ask for the transaction, as a client would, for up to COMMIT_LATE more.
    let late = std::time::Instant::now() + COMMIT_LATE;
    while status == 202 && std::time::Instant::now() < late {
        std::thread::sleep(Duration::from_millis(500));
        (status, body) = http(addr, "GET", &format!("/v1/txs/{id}"), &[])
            .unwrap_or_else(|e| panic!("ask {addr} for {id}: {e}"));
        if status == 404 {
            status = 202;
        }
    }
    assert_eq!(
        status, 200,
        "transfer {nonce} through {addr} refused: {body}"
    );
    assert_eq!(body["status"], "committed", "{body}");
    (
        id,
        body["height"].as_u64().unwrap(),
        body["index"].as_u64().unwrap(),
    )
}

fn genesis_new(net: &Path, ports: &[u16]) {
    let p2p: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_fat"))
        .args([
            "genesis",
            "new",
            "--validators",
            "4",
            "--dev-accounts",
            "--p2p",
        ])
        .arg(p2p.join(","))
        .arg("--out")
        .arg(net)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    for i in 0..VALIDATORS {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(net.join(format!("validator-{i}.key")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key files are for their owner only");
    }
}

#[test]
fn four_validator_processes_survive_sigkill_of_one_and_then_of_all() {
    let net: PathBuf = temp_dir("validators-net").to_path_buf();
    let data: PathBuf = temp_dir("validators-data").to_path_buf();
    let ports = free_ports(2 * VALIDATORS);
    let p2p: Vec<u16> = ports[..VALIDATORS].to_vec();
    let rpc: Vec<String> = ports[VALIDATORS..]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    genesis_new(&net, &p2p);
    let mut validators: Vec<Option<Validator>> = (0..VALIDATORS)
        .map(|i| Some(start(&net, &data, i, &rpc[i])))
        .collect();

    let alice = dev_keypair("alice");
    let mut nonce = 0;
    let mut acked = Vec::new();
    // Through every validator in turn.
    for round in 0..8 {
        let i = round % VALIDATORS;
        acked.push(transfer(&rpc[i], &alice, nonce));
        nonce += 1;
    }
    // One validator dies: the other three keep committing.
    let mut dead = validators[3].take().unwrap();
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    for round in 0..6 {
        let i = round % 3;
        acked.push(transfer(&rpc[i], &alice, nonce));
        nonce += 1;
    }
    // What a user sees meanwhile: `fat status` shows the certificate checked against the
    // genesis set and that validator 3 signed none of the blocks since it died; `fat
    // transfer` and `fat account show` move and show tokens through any validator.
    let home = temp_dir("validators-home");
    let down_since = acked[7].1;
    let status = fat_run(
        &home,
        &["status", "--json", "--rpc", &format!("http://{}", rpc[0])],
    )
    .json();
    let height = status["height"].as_u64().unwrap();
    assert!(height >= acked.last().unwrap().1, "{status}");
    let certificate = &status["certificate"];
    assert_eq!(certificate["scheme"], "simplex", "{status}");
    assert_eq!(certificate["verified"], true, "{status}");
    let signers: Vec<u64> = certificate["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert!(signers.len() >= 3 && !signers.contains(&3), "{status}");
    let listed = status["validators"].as_array().unwrap();
    assert_eq!(listed.len(), VALIDATORS, "{status}");
    let last_signed = |i: usize| listed[i]["last_signed"].as_u64();
    assert!(
        last_signed(3).is_some_and(|h| h <= down_since),
        "validator 3 signs nothing after its death: {status}"
    );
    for &i in &signers {
        assert!(
            last_signed(i as usize).is_some_and(|h| h >= height),
            "{status}"
        );
    }
    let charlie = dev_keypair("charlie").account_id().to_string();
    let sent = fat_run(
        &home,
        &[
            "transfer",
            "charlie",
            "7",
            "--as",
            "bob",
            "--json",
            "--rpc",
            &format!("http://{}", rpc[1]),
        ],
    )
    .json();
    assert_eq!(sent["to"], charlie.as_str(), "{sent}");
    assert!(sent["block"].as_u64().is_some(), "{sent}");
    let mut shown = serde_json::Value::Null;
    for _ in 0..100 {
        shown = fat_run(
            &home,
            &[
                "account",
                "show",
                &charlie,
                "--json",
                "--rpc",
                &format!("http://{}", rpc[2]),
            ],
        )
        .json();
        if shown["balance"] == fat_chain::genesis::DEV_BALANCE + 7 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        shown["balance"],
        fat_chain::genesis::DEV_BALANCE + 7,
        "{shown}"
    );
    assert_eq!(shown["nonce"], 0, "{shown}");
    // Every validator dies at once, and all restart from their disks.
    for validator in validators.iter_mut() {
        if let Some(mut v) = validator.take() {
            v.child.kill().unwrap();
            v.child.wait().unwrap();
        }
    }
    let validators: Vec<Validator> = (0..VALIDATORS)
        .map(|i| start(&net, &data, i, &rpc[i]))
        .collect();
    // Through a validator that was up all along: the one that was down catches up from its
    // peers (checked below).
    acked.push(transfer(&rpc[0], &alice, nonce));

    // Every acknowledged transfer, at the same place on every validator (the one that was down
    // catches up from its peers).
    for validator in &validators {
        for (id, height, index) in &acked {
            let mut found = None;
            for _ in 0..100 {
                let (status, body) =
                    http(&validator.addr, "GET", &format!("/v1/txs/{id}"), b"").unwrap();
                if status == 200 {
                    found = Some((
                        body["height"].as_u64().unwrap(),
                        body["index"].as_u64().unwrap(),
                    ));
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert_eq!(found, Some((*height, *index)), "{id} on {}", validator.addr);
        }
    }
    // Each validator's chain links and every certificate is a quorum of the genesis set.
    for validator in &validators {
        let addr = &validator.addr;
        let fetch = |h: u64| -> Block {
            let (code, body) = http(addr, "GET", &format!("/v1/blocks/{h}"), b"").unwrap();
            assert_eq!(code, 200, "{body}");
            serde_json::from_value(body).unwrap()
        };
        let (_, config) = http(addr, "GET", "/v1/genesis", b"").unwrap();
        let config: Genesis = serde_json::from_value(config).unwrap();
        let genesis = fetch(0);
        let mut follower = BlockVerifier::new(
            genesis.hash(),
            genesis.header,
            ValidatorSet::new(config.validators).unwrap(),
        );
        let top = acked.iter().map(|(_, h, _)| *h).max().unwrap();
        for h in 1..=top {
            follower
                .accept(&fetch(h))
                .unwrap_or_else(|e| panic!("block {h} on {addr}: {e}"));
        }
    }
}

#[test]
fn workers_following_different_validators_reach_the_same_state_roots() {
    let net: PathBuf = temp_dir("followers-net").to_path_buf();
    let home: PathBuf = temp_dir("followers-home").to_path_buf();
    let ports = free_ports(2 * VALIDATORS + 2);
    let rpc: Vec<String> = ports[VALIDATORS..2 * VALIDATORS]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let url = |i: usize| format!("http://{}", rpc[i]);
    genesis_new(&net, &ports[..VALIDATORS]);
    let mut validators: Vec<Option<Validator>> = (0..VALIDATORS)
        .map(|i| Some(start(&net, &home, i, &rpc[i])))
        .collect();
    let _gatekeeper = Validator {
        child: common::start_gatekeeper(&home, &url(0), &home.join("gatekeeper")),
        addr: url(0),
    };
    // Worker w follows validator w + 1, and registers itself through it.
    let apis: Vec<String> = ports[2 * VALIDATORS..]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let _workers: Vec<common::WorkerProcess> = (0..2)
        .map(|w| {
            common::start_worker(
                &home,
                &url(w + 1),
                &home.join(format!("w{w}")),
                &apis[w],
                &[],
            )
        })
        .collect();
    let ids = common::worker_ids(&apis);
    let fat_at = |i: usize, args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        let rpc = url(i);
        all.extend_from_slice(&["--json", "--rpc", &rpc]);
        fat_run(&home, &all).json()
    };
    for id in &ids {
        common::wait_known(&rpc[3], &format!("/v1/workers/{id}"));
    }
    // Made through validator 3, provisioned by the gatekeeper following validator 0.
    let created = fat_at(3, &["cluster", "create", "--workers", &ids.join(",")]);
    let cluster = created["cluster"].as_str().unwrap().to_string();
    common::wait_provisioned(&rpc[0], &cluster);
    let deployed = fat_at(
        0,
        &["deploy", fat_test_programs::COUNTER, "--cluster", &cluster],
    );
    let counter = deployed["contract"].as_str().unwrap().to_string();
    for node in &rpc[1..3] {
        common::wait_known(node, &format!("/v1/contracts/{counter}"));
    }
    let mut height = 0;
    for (i, by) in [(1, 2), (2, 3)] {
        let out = fat_at(
            i,
            &[
                "command",
                &counter,
                "increment",
                &format!(r#"{{"by": {by}}}"#),
            ],
        );
        height = out["block"].as_u64().unwrap();
    }
    let same_state = |height: u64, value: u64| {
        let mut roots = Vec::new();
        for api in &apis {
            common::wait_for_height(api, height);
            let (_, signed) = http(api, "GET", &format!("/v1/roots?height={height}"), b"").unwrap();
            roots.push(signed["roots"].clone());
            let answer = fat_at(
                0,
                &[
                    "query",
                    &counter,
                    "get",
                    "--worker",
                    &format!("http://{api}"),
                ],
            );
            assert_eq!(answer["output"], value, "{answer}");
        }
        assert_eq!(roots[0].as_array().map(Vec::len), Some(1), "{roots:?}");
        assert_eq!(
            roots[0], roots[1],
            "the two followers sign the same roots at block {height}"
        );
    };
    same_state(height, 5);

    // A validator neither follows dies: commands go on through another, and both followers
    // still agree.
    let mut dead = validators[3].take().unwrap();
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let out = fat_at(0, &["command", &counter, "increment", r#"{"by": 4}"#]);
    same_state(out["block"].as_u64().unwrap(), 9);
    let check = common::replicas_of(&fat_at(0, &["status"]), &cluster);
    assert_eq!(check["members"].as_array().unwrap().len(), 2, "{check}");
    assert_eq!(check["diverged"], serde_json::json!([]), "{check}");
}
