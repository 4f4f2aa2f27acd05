//! The security design end to end (docs/security.md): nothing a client sends or receives
//! crosses the network in the clear, the worker refuses tampered, replayed, stale or
//! misdirected envelopes (queries at its API, commands in blocks), contracts cannot reach each
//! other's secrets, and a worker without an accepted attestation gets nothing.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Chain, RunningWorker, command_tx, deploy_via, now_ms, open_output, post_raw, public_key,
    temp_dir, worker_config,
};
use common::{ChainClient, RawChain};
use fat_attestation::dev::DevQuoter;
use fat_crypto::envelope::{
    Direction, EcdhPublic, EcdhSecret, Envelope, ReplayGuard, SealRandomness, Session,
    SessionMessage, seal,
};
use fat_crypto::{Keypair, dev_keypair};
use fat_devnet::bootstrap::{create_dev_cluster, wait_for_cluster_key};
use fat_types::{
    AccountId, CommandPayload, ContractId, Hash32, SignedTransaction, Transaction, TxId, TxKind,
};
use fat_worker::Worker;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const TEN_MINUTES_MS: u64 = 10 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// A recording TCP proxy.

/// Forwards every connection to a target and records every byte, both ways.
struct Recorder {
    url: String,
    bytes: Arc<Mutex<Vec<u8>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Listen on a loopback port and forward to `target` (`http://host:port`).
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = target.trim_start_matches("http://").to_string();
        let bytes: Arc<Mutex<Vec<u8>>> = Arc::default();
        let task = tokio::spawn({
            let bytes = bytes.clone();
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let Ok(outbound) = TcpStream::connect(&target).await else {
                        continue;
                    };
                    let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::spawn(pump(in_read, out_write, bytes.clone()));
                    tokio::spawn(pump(out_read, in_write, bytes.clone()));
                }
            }
        });
        Self { url, bytes, task }
    }

    fn recorded(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    fn stop(self) {
        self.task.abort();
    }
}

/// Copy `from` to `to`, appending every byte to `log`, until either side closes.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    log: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        log.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Deploying and commanding through any chain client (the harness's go to the node directly).

/// Seal a command payload to the contract's key, as `sealer`, at `timestamp_ms`.
fn seal_command_at(
    sealer: &Keypair,
    contract_key: &EcdhPublic,
    contract: ContractId,
    payload: &CommandPayload,
    timestamp_ms: u64,
) -> (Envelope, Session) {
    seal(
        sealer,
        contract_key,
        contract,
        Direction::Command,
        &payload.encode(),
        timestamp_ms,
        SealRandomness::generate().unwrap(),
    )
    .unwrap()
}

/// Submit a transaction and wait for it to commit; returns its id and height.
async fn commit(client: &ChainClient, tx: &SignedTransaction) -> (TxId, u64) {
    let answer = client.submit_wait(tx).await.unwrap();
    assert_eq!(answer["status"], "committed", "{answer}");
    (tx.id(), answer["height"].as_u64().unwrap())
}

/// Send a sealed command of alice with the raw text `args` through `client`; returns the tx,
/// its height and the session that opens its output.
async fn command_via(
    client: &ChainClient,
    contract: ContractId,
    method: &str,
    args: &str,
) -> (TxId, u64, Session) {
    let alice = dev_keypair("alice");
    let nonce = client.next_nonce(&alice.account_id()).await.unwrap();
    let key = public_key(client, &format!("/v1/contracts/{contract}")).await;
    let payload = CommandPayload::new(method, args, nonce);
    let (envelope, session) = seal_command_at(&alice, &key, contract, &payload, now_ms());
    let (tx, height) = commit(client, &command_tx(&alice, nonce, contract, &envelope)).await;
    (tx, height, session)
}

/// A sealed query as alice to worker `w`, posted to `base` (the worker or a proxy of it);
/// returns the opened answer.
async fn sealed_query_at(
    base: &str,
    w: &RunningWorker,
    contract: ContractId,
    method: &str,
    args: Value,
) -> Value {
    let (envelope, session) = w
        .seal_query(&dev_keypair("alice"), contract, method, args)
        .await;
    let path = format!("/v1/contracts/{contract}/query");
    let (status, body) =
        post_raw(base, &path, "application/octet-stream", envelope.to_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let response = Envelope::from_bytes(&body).unwrap();
    let plain = session
        .open_response(
            &response,
            &AccountId(w.worker.id().0),
            &mut ReplayGuard::new(300_000, 4),
            now_ms(),
        )
        .unwrap();
    serde_json::from_slice(&plain).unwrap()
}

/// The error of a failed execution receipt; panics if it did not fail.
fn failure(receipt: &Value) -> String {
    assert_eq!(
        receipt["receipt"]["status"]["status"], "failed",
        "{receipt}"
    );
    assert!(receipt["receipt"]["sealed_output"].is_null(), "{receipt}");
    receipt["receipt"]["status"]["error"]
        .as_str()
        .unwrap()
        .to_string()
}

fn cleanup(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------

/// Init args, command args, outputs, query args and query answers never cross the wire in the
/// clear: not between client and chain, chain and worker, nor client and worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_private_crosses_the_wire_in_the_clear() {
    const START: &str = "913275386104";
    const BY: &str = "486201975233";
    const SUM: &str = "1399477361337";
    const PROBE_INIT: &str = "okapi-init-19876";
    const VAULT: &str = "quokka-vault-58302";
    const SECRET: &str = "zebra-secret-77341";
    assert_eq!(
        START.parse::<u64>().unwrap() + BY.parse::<u64>().unwrap(),
        SUM.parse::<u64>().unwrap()
    );

    let dir = temp_dir("secure-wire");
    let chain = Chain::start(&dir).await;
    let chain_proxy = Recorder::start(&chain.url).await;
    let client = ChainClient::new(&chain_proxy.url).unwrap();

    // The cluster, registered and created through the proxy too (the gatekeeper itself talks
    // to the node directly).
    let cluster = {
        let worker = Worker::open(worker_config(&dir, 0)).unwrap();
        let cluster = create_dev_cluster(&client, &[worker]).await.unwrap();
        wait_for_cluster_key(&client, &cluster, Duration::from_secs(30))
            .await
            .unwrap();
        cluster
    };
    let w0 = RunningWorker::start(&chain_proxy.url, &dir, 0).await;
    let worker_proxy = Recorder::start(&w0.url).await;

    let counter = deploy_via(
        &client,
        &fat_test_programs::read(fat_test_programs::COUNTER),
        cluster,
        b"salt",
        &format!("{{\"start\": {START}}}"),
    )
    .await;
    let probe = deploy_via(
        &client,
        &fat_test_programs::read(fat_test_programs::PROBE),
        cluster,
        b"salt",
        PROBE_INIT,
    )
    .await;
    let (tx, tx_height, session) =
        command_via(&client, counter, "increment", &format!("{{\"by\": {BY}}}")).await;
    let (_, height, _) =
        command_via(&client, probe, "set", &format!("{}={SECRET}", json!(VAULT))).await;
    w0.wait_for(height).await;

    // The receipt, through the worker's proxy: its output is sealed to the command's session.
    let receipt: Value = ChainClient::new(&worker_proxy.url)
        .unwrap()
        .get_json(&fat_proto::paths::worker::receipt(&tx, tx_height))
        .await
        .unwrap();
    assert_eq!(receipt["receipt"]["status"]["status"], "ok", "{receipt}");
    assert_eq!(receipt["receipt"]["output"], "", "{receipt}");
    assert_eq!(
        open_output(&receipt, &session),
        json!(SUM.parse::<u64>().unwrap())
    );

    // Queries through the worker's proxy, sealed both ways.
    let answer = sealed_query_at(&worker_proxy.url, &w0, counter, "get", Value::Null).await;
    assert_eq!(
        answer["output"],
        json!(SUM.parse::<u64>().unwrap()),
        "{answer}"
    );
    let answer = sealed_query_at(&worker_proxy.url, &w0, probe, "get", json!(VAULT)).await;
    assert_eq!(answer["output"], SECRET, "{answer}");
    // The probe's init args are read in-process (a sealed query's args are JSON, so `get`
    // cannot name the key `init`).
    let stored = fat_runtime::StateStore::get(&w0.worker.snapshot().unwrap(), &probe, b"init");
    assert_eq!(stored.unwrap().as_deref(), Some(PROBE_INIT.as_bytes()));

    // A control: a plaintext query (refused) through the same proxy is seen.
    let control = "control-marker-40517";
    let body = json!({"method": "get", "args": control}).to_string();
    let path = format!("/v1/contracts/{probe}/query");
    let (status, _) = post_raw(
        &worker_proxy.url,
        &path,
        "application/json",
        body.into_bytes(),
    )
    .await;
    assert_eq!(status, 415);

    w0.stop().await;
    let chain_bytes = chain_proxy.recorded();
    let worker_bytes = worker_proxy.recorded();
    // The recorders did see the traffic, in the clear where it is not sealed.
    assert!(
        contains(&chain_bytes, "/v1/stream/blocks"),
        "no block stream recorded"
    );
    assert!(
        contains(&chain_bytes, "POST /v1/txs"),
        "no submission recorded"
    );
    assert!(contains(&chain_bytes, &counter.to_string()));
    assert!(contains(
        &worker_bytes,
        &format!("POST /v1/contracts/{probe}/query")
    ));
    assert!(contains(
        &worker_bytes,
        &format!("GET {}", fat_proto::paths::worker::receipt(&tx, tx_height))
    ));
    assert!(
        contains(&worker_bytes, control),
        "the recorder missed the control"
    );
    eprintln!(
        "recorded {} bytes at the chain, {} at the worker",
        chain_bytes.len(),
        worker_bytes.len()
    );
    for (name, bytes) in [("chain", &chain_bytes), ("worker", &worker_bytes)] {
        for marker in [START, BY, SUM, PROBE_INIT, VAULT, SECRET] {
            assert!(
                !contains(bytes, marker),
                "{marker} crossed the {name} link in the clear ({} bytes recorded)",
                bytes.len()
            );
        }
    }

    chain_proxy.stop();
    worker_proxy.stop();
    chain.stop().await;
    cleanup(&dir);
}

/// A chain, one worker, `counter` (started at 3) and `probe`, all applied.
async fn counter_and_probe(name: &str) -> (PathBuf, Chain, RunningWorker, ContractId, ContractId) {
    let dir = temp_dir(name);
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let counter = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            json!({"start": 3}),
        )
        .await;
    let probe = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::PROBE),
            cluster,
            json!("x"),
        )
        .await;
    w0.wait_for(chain.height()).await;
    (dir, chain, w0, counter, probe)
}

/// Query envelopes the worker's API refuses, each with a code and a message saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_refuses_bad_query_envelopes() {
    let (dir, chain, w0, counter, probe) = counter_and_probe("secure-queries").await;
    let alice = dev_keypair("alice");
    let worker_key = EcdhPublic(w0.worker.ecdh_public().0);
    let query = json!({"method": "get"}).to_string();

    let refused = |status: u16, body: &[u8], code: &str, word: &str| {
        let error: Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
        assert_eq!(
            (status, error["code"].as_str()),
            (status, Some(code)),
            "{error}"
        );
        let message = error["message"].as_str().unwrap().to_lowercase();
        assert!(message.contains(word), "{word:?} not in {error}");
    };
    let sealed = |contract: ContractId, timestamp_ms: u64, to: &EcdhPublic| {
        seal(
            &alice,
            to,
            contract,
            Direction::Request,
            query.as_bytes(),
            timestamp_ms,
            SealRandomness::generate().unwrap(),
        )
        .unwrap()
    };

    // A good one is answered.
    assert_eq!(w0.query(counter, "get", Value::Null).await["output"], 3);

    // A flipped ciphertext byte: the signature no longer verifies.
    let (mut envelope, _) = sealed(counter, now_ms(), &worker_key);
    envelope.ciphertext.0[0] ^= 1;
    let (status, body) = w0.post_envelope(counter, &envelope).await;
    assert_eq!(status, 400);
    refused(status, &body, "bad_envelope", "signature");

    // The same, re-signed by the sender: the AEAD refuses it.
    let hash = Envelope::signing_hash(&envelope.header, &envelope.ciphertext);
    envelope.signature = alice.sign(hash.as_bytes());
    let (status, body) = w0.post_envelope(counter, &envelope).await;
    assert_eq!(status, 400);
    refused(status, &body, "bad_envelope", "decrypt");

    // The same envelope twice: the second is a replay.
    let (envelope, session) = sealed(counter, now_ms(), &worker_key);
    let (status, body) = w0.post_envelope(counter, &envelope).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer = session
        .open_response(
            &Envelope::from_bytes(&body).unwrap(),
            &AccountId(w0.worker.id().0),
            &mut ReplayGuard::new(300_000, 4),
            now_ms(),
        )
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&answer).unwrap()["output"],
        3
    );
    let (status, body) = w0.post_envelope(counter, &envelope).await;
    assert_eq!(status, 409);
    refused(status, &body, "replayed", "replayed");

    // The worker's own answer presented back as a request.
    let response = Envelope::from_bytes(&{
        let (envelope, _) = sealed(counter, now_ms(), &worker_key);
        w0.post_envelope(counter, &envelope).await.1
    })
    .unwrap();
    let (status, body) = w0.post_envelope(counter, &response).await;
    assert_eq!(status, 400);
    refused(status, &body, "bad_envelope", "direction");

    // Ten minutes old, and ten minutes ahead.
    let (envelope, _) = sealed(counter, now_ms() - TEN_MINUTES_MS, &worker_key);
    let (status, body) = w0.post_envelope(counter, &envelope).await;
    assert_eq!(status, 400);
    refused(status, &body, "stale_envelope", "expired");
    let (envelope, _) = sealed(counter, now_ms() + TEN_MINUTES_MS, &worker_key);
    let (status, body) = w0.post_envelope(counter, &envelope).await;
    assert_eq!(status, 400);
    refused(status, &body, "stale_envelope", "future");

    // Sealed to another key.
    let stranger = EcdhSecret::generate().unwrap().public();
    let (envelope, _) = sealed(counter, now_ms(), &stranger);
    let (status, body) = w0.post_envelope(counter, &envelope).await;
    assert_eq!(status, 400);
    refused(status, &body, "bad_envelope", "recipient");

    // Sealed for the counter, sent to the probe's endpoint.
    let (envelope, _) = sealed(counter, now_ms(), &worker_key);
    let (status, body) = w0.post_envelope(probe, &envelope).await;
    assert_eq!(status, 400);
    refused(status, &body, "bad_envelope", "contract");

    // Garbage.
    let path = format!("/v1/contracts/{counter}/query");
    let garbage: Vec<u8> = (0..300u32).map(|i| (i * 7 + 13) as u8).collect();
    let (status, body) = post_raw(&w0.url, &path, "application/octet-stream", garbage).await;
    assert_eq!(status, 400);
    refused(status, &body, "bad_envelope", "envelope");
    let (status, body) = post_raw(&w0.url, &path, "application/octet-stream", Vec::new()).await;
    assert_eq!(status, 400);
    refused(status, &body, "bad_envelope", "envelope");

    // Plaintext JSON, which this worker does not answer.
    let (status, body) = post_raw(
        &w0.url,
        &path,
        "application/json",
        query.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 415);
    refused(status, &body, "sealed_only", "sealed");

    // None of this changed anything, and good queries are still answered.
    assert_eq!(w0.query(counter, "get", Value::Null).await["output"], 3);

    w0.stop().await;
    chain.stop().await;
    cleanup(&dir);
}

/// Command envelopes the workers refuse, deterministically: each ends in a failed receipt
/// saying why, and the contract's state is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_workers_refuse_bad_command_envelopes() {
    let dir = temp_dir("secure-commands");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(2).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let w1 = RunningWorker::start(&chain.url, &dir, 1).await;
    let counter = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            json!({"start": 100}),
        )
        .await;
    let key = chain.public_key(&format!("/v1/contracts/{counter}")).await;
    let (alice, bob) = (dev_keypair("alice"), dev_keypair("bob"));
    let increment = |nonce| CommandPayload::new("increment", "{\"by\": 1}", nonce);
    let next = || async { chain.client.next_nonce(&alice.account_id()).await.unwrap() };

    // A good command.
    let nonce = next().await;
    let (good, _) = seal_command_at(&alice, &key, counter, &increment(nonce), now_ms());
    let (good_tx, _) = commit(&chain.client, &command_tx(&alice, nonce, counter, &good)).await;

    // The same envelope again, in alice's next transaction.
    let nonce = next().await;
    let (replay, _) = commit(&chain.client, &command_tx(&alice, nonce, counter, &good)).await;

    // A flipped byte of the sealed payload.
    let nonce = next().await;
    let (mut flipped, _) = seal_command_at(&alice, &key, counter, &increment(nonce), now_ms());
    let last = flipped.ciphertext.0.len() - 1;
    flipped.ciphertext.0[last] ^= 0x80;
    let (flipped, _) = commit(&chain.client, &command_tx(&alice, nonce, counter, &flipped)).await;

    // A flipped byte, re-signed by alice: the AEAD refuses it.
    let nonce = next().await;
    let (mut resigned, _) = seal_command_at(&alice, &key, counter, &increment(nonce), now_ms());
    resigned.ciphertext.0[0] ^= 1;
    let hash = Envelope::signing_hash(&resigned.header, &resigned.ciphertext);
    resigned.signature = alice.sign(hash.as_bytes());
    let (resigned, _) = commit(
        &chain.client,
        &command_tx(&alice, nonce, counter, &resigned),
    )
    .await;

    // Sealed by bob, carried in alice's transaction.
    let nonce = next().await;
    let (bobs, _) = seal_command_at(&bob, &key, counter, &increment(nonce), now_ms());
    let (wrong_sender, _) = commit(&chain.client, &command_tx(&alice, nonce, counter, &bobs)).await;

    // Sealed ten minutes ago.
    let nonce = next().await;
    let (old, _) = seal_command_at(
        &alice,
        &key,
        counter,
        &increment(nonce),
        now_ms() - TEN_MINUTES_MS,
    );
    let (expired, height) = commit(&chain.client, &command_tx(&alice, nonce, counter, &old)).await;

    let bob_id = bob.account_id().to_string();
    for w in [&w0, &w1] {
        w.wait_for(height).await;
        assert_eq!(
            w.receipt(&good_tx).await["receipt"]["status"]["status"],
            "ok"
        );
        let cases = [
            (replay, &["replay", "nonce"][..]),
            // The transaction's signature covers the envelope, so the workers do not check
            // the envelope's own again: the AEAD refuses the change.
            (flipped, &["decrypt"][..]),
            (resigned, &["decrypt"][..]),
            (wrong_sender, &["signed by", &bob_id][..]),
            (expired, &["expired"][..]),
        ];
        for (tx, words) in cases {
            let receipt = w.receipt(&tx).await;
            let error = failure(&receipt);
            assert!(error.starts_with("command refused"), "{error}");
            for word in words {
                assert!(error.contains(word), "{word:?} not in {error:?}");
            }
        }
        // Only the good command changed the state.
        assert_eq!(w.query(counter, "get", Value::Null).await["output"], 101);
    }
    let path = format!("/v1/contracts/{counter}");
    assert_eq!(
        w0.get(&path).await["state_root"],
        w1.get(&path).await["state_root"]
    );

    // The contract still takes good commands.
    let (tx, height, session) = chain
        .command_session(&alice, counter, "increment", Value::Null)
        .await;
    w0.wait_for(height).await;
    let receipt = w0.receipt(&tx).await;
    assert_eq!(open_output(&receipt, &session), 102);

    w0.stop().await;
    w1.stop().await;
    chain.stop().await;
    cleanup(&dir);
}

/// Two instances of one code hold different secrets, each the same on every worker of the
/// cluster and on every call; neither can read the other's storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contracts_cannot_reach_each_others_secrets() {
    let dir = temp_dir("secure-secrets");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(2).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let w1 = RunningWorker::start(&chain.url, &dir, 1).await;
    let wasm = fat_test_programs::read(fat_test_programs::PROBE);
    let a = deploy_via(&chain.client, &wasm, cluster, b"salt-a", "a").await;
    let b = deploy_via(&chain.client, &wasm, cluster, b"salt-b", "b").await;
    assert_ne!(a, b);

    // A secret in a's storage.
    let (_, height, _) = command_via(
        &chain.client,
        a,
        "set",
        &format!("{}=a's secret", json!("vault")),
    )
    .await;
    // A derived key as a command (so in a receipt) too.
    let (derived_tx, height_b, session) =
        command_via(&chain.client, a, "derive", "\"label\"").await;
    let height = height.max(height_b);
    w0.wait_for(height).await;
    w1.wait_for(height).await;

    let mut keys = Vec::new();
    for contract in [a, b] {
        let mut seen = Vec::new();
        for w in [&w0, &w1] {
            for _ in 0..2 {
                let answer = w.query(contract, "derive", json!("label")).await;
                seen.push(answer["output"].as_str().unwrap().to_string());
                let signed = w.query(contract, "sign", json!("message")).await;
                let public = signed["output"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string();
                seen.push(public);
            }
        }
        // The same on both workers and on every call.
        for pair in seen.chunks(2) {
            assert_eq!(pair, &seen[..2], "{contract}: {seen:?}");
        }
        assert_eq!(seen[0].len(), 64, "{seen:?}");
        keys.push((seen[0].clone(), seen[1].clone()));
    }
    assert_ne!(keys[0].0, keys[1].0, "two contracts derived the same key");
    assert_ne!(
        keys[0].1, keys[1].1,
        "two contracts have the same signing key"
    );

    // A command derives what a query derives.
    let receipt = w0.receipt(&derived_tx).await;
    assert_eq!(open_output(&receipt, &session), json!(keys[0].0));

    // b cannot read a's storage; a can.
    for w in [&w0, &w1] {
        assert_eq!(
            w.query(a, "get", json!("vault")).await["output"],
            "a's secret"
        );
        assert_eq!(w.query(b, "get", json!("vault")).await["output"], "none");
        assert_eq!(w.query(b, "scan", Value::Null).await["output"], "init");
        assert_eq!(
            w.query(a, "scan", Value::Null).await["output"],
            "\"vault\",init"
        );
    }

    w0.stop().await;
    w1.stop().await;
    chain.stop().await;
    cleanup(&dir);
}

/// A report the chain's policy refuses is not registered, a cluster cannot name such a
/// worker, and a worker outside a cluster holds none of its keys and runs none of its
/// contracts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unattested_worker_gets_nothing() {
    let dir = temp_dir("secure-attestation");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let gatekeeper = dev_keypair(fat_devnet::bootstrap::DEV_GATEKEEPER);
    let submit_as = |gatekeeper: fat_crypto::Keypair, kind: TxKind| {
        let client = chain.client.clone();
        let url = chain.url.clone();
        async move {
            let nonce = client.next_nonce(&gatekeeper.account_id()).await.unwrap();
            let tx = fat_types::ChainParams::default().priced(Transaction {
                chain: common::dev_chain(),
                signer: gatekeeper.account_id(),
                nonce,
                fee: 0,
                kind,
            });
            let tx = gatekeeper.sign_tx(tx);
            let (status, body) = post_raw(
                &url,
                "/v1/txs?wait=true",
                "application/octet-stream",
                tx.encode(),
            )
            .await;
            let body: Value = serde_json::from_slice(&body).unwrap();
            (status, body)
        }
    };
    let submit_raw = |kind: TxKind| submit_as(gatekeeper.clone(), kind);

    // A worker claiming a measurement that is not on the allow-list.
    let rogue = Worker::open(worker_config(&dir, 5)).unwrap();
    let quoter = DevQuoter::new(
        fat_devnet::bootstrap::dev_worker_key(5),
        b"a patched worker build".to_vec(),
    );
    let (status, body) = submit_raw(rogue.registration(&quoter).unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("attestation_rejected")),
        "{body}"
    );
    assert!(
        body["reason"].as_str().unwrap().contains("allow-list"),
        "{body}"
    );

    // A genuine report, with another ECDH key put in the registration.
    let mut kind = rogue.dev_registration().unwrap();
    if let TxKind::RegisterWorker { ecdh_public, .. } = &mut kind {
        *ecdh_public = Hash32(EcdhSecret::generate().unwrap().public().0);
    }
    let (status, body) = submit_raw(kind).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("attestation_rejected")),
        "{body}"
    );
    assert!(
        body["reason"].as_str().unwrap().contains("report data"),
        "{body}"
    );

    // Neither registered it; no cluster may name it.
    let registration = chain
        .client
        .get_json::<Value>(&format!("/v1/workers/{}", rogue.id()))
        .await;
    assert!(
        matches!(
            &registration,
            Err(fat_proto::Error::Api { status: 404, .. })
        ),
        "{registration:?}"
    );
    // (Signed by the dev chain's cluster admin, so that the worker is what is refused.)
    let (status, body) = submit_as(
        dev_keypair(fat_devnet::bootstrap::DEV_CLUSTER_ADMIN),
        TxKind::CreateCluster {
            workers: vec![rogue.id()],
        },
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("unknown_worker")),
        "{body}"
    );
    drop(rogue);

    // Running anyway, following the chain, it holds no cluster key and runs no contract.
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let rogue = RunningWorker::start(&chain.url, &dir, 5).await;
    let counter = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            json!({"start": 1}),
        )
        .await;
    let (_, height) = chain
        .command(&dev_keypair("alice"), counter, "increment", Value::Null)
        .await;
    w0.wait_for(height).await;
    rogue.wait_for(height).await;
    assert_eq!(w0.query(counter, "get", Value::Null).await["output"], 2);
    assert!(w0.worker.has_cluster_key(&cluster));
    assert!(!rogue.worker.has_cluster_key(&cluster));
    assert_eq!(rogue.get("/v1/status").await["contracts"], 0);
    let answer = rogue.query(counter, "get", Value::Null).await;
    assert_eq!(answer["http_status"], 404, "{answer}");

    rogue.stop().await;
    w0.stop().await;
    chain.stop().await;
    cleanup(&dir);
}

/// POST a session message; the status and body.
async fn post_session(
    w: &RunningWorker,
    contract: ContractId,
    message: &SessionMessage,
) -> (u16, Vec<u8>) {
    post_raw(
        &w.url,
        &format!("/v1/contracts/{contract}/query"),
        fat_worker::api::SESSION_CONTENT_TYPE,
        message.to_bytes(),
    )
    .await
}

/// A session recorded before a restart cannot be replayed into the restarted worker: its
/// opening envelope runs again (answered under a fresh random nonce), but its messages,
/// stamped before the worker started, are refused as of an unknown session, so they do not
/// run again. (Were one answered again, its reply would still take a nonce of the new run:
/// `ReplyNonces`.) A message of the same session stamped after the restart is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_worker_answers_no_session_message_from_before_it_started() {
    let (dir, chain, w0, _, probe) = counter_and_probe("secure-restart-replay").await;
    let alice = dev_keypair("alice");
    let me = alice.account_id();
    let body = json!({"method": "env"}).to_string();
    let (opening, session) = w0.seal_query(&alice, probe, "env", Value::Null).await;
    assert_eq!(w0.post_envelope(probe, &opening).await.0, 200);
    let recorded = session
        .seal_message(me, Direction::Request, body.as_bytes(), now_ms())
        .unwrap();
    let (status, first) = post_session(&w0, probe, &recorded).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&first));

    // The worker restarts on the same store, a moment later.
    tokio::time::sleep(Duration::from_millis(5)).await;
    drop(w0.pause().await);
    RunningWorker::wait_until_released(&dir, 0).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    w0.wait_for(chain.height()).await;

    let (status, answer) = w0.post_envelope(probe, &opening).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let (status, again) = post_session(&w0, probe, &recorded).await;
    assert_eq!(status, 410, "{}", String::from_utf8_lossy(&again));
    let code: Value = serde_json::from_slice(&again).unwrap();
    assert_eq!(code["code"], "unknown_session");

    let later = session
        .seal_message(me, Direction::Request, body.as_bytes(), now_ms())
        .unwrap();
    let (status, answer) = post_session(&w0, probe, &later).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));

    w0.stop().await;
    chain.stop().await;
    cleanup(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn query_sessions_carry_further_queries_and_refuse_misuse() {
    let (dir, chain, w0, counter, probe) = counter_and_probe("secure-sessions").await;
    let alice = dev_keypair("alice");
    let me = alice.account_id();
    let code = |body: &[u8]| -> Value { serde_json::from_slice(body).unwrap() };

    // The first query opens the session; a further one rides it, as its caller.
    let (first, session) = w0.seal_query(&alice, probe, "env", Value::Null).await;
    assert_eq!(w0.post_envelope(probe, &first).await.0, 200);
    // The opening envelope, its signature cut off, has the shape of a session message (of a
    // random counter, far ahead): refused, it neither runs again nor moves the session's
    // window past the client's counters.
    let stripped = SessionMessage {
        header: first.header.clone(),
        ciphertext: first.ciphertext.clone(),
    };
    let (status, body) = post_session(&w0, probe, &stripped).await;
    assert_eq!(
        (status, code(&body)["code"].clone()),
        (400, json!("bad_envelope"))
    );
    let body = json!({"method": "env"}).to_string();
    let further = session
        .seal_message(me, Direction::Request, body.as_bytes(), now_ms())
        .unwrap();
    let (status, answer) = post_session(&w0, probe, &further).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let reply = SessionMessage::from_bytes(&answer).unwrap();
    let plain = session
        .open_reply(
            &reply,
            &further,
            &mut ReplayGuard::new(300_000, 4),
            now_ms(),
        )
        .unwrap();
    // The reply answers this request and no other: offered for another, it is refused.
    let other = session
        .seal_message(me, Direction::Request, body.as_bytes(), now_ms())
        .unwrap();
    assert!(matches!(
        session.open_reply(&reply, &other, &mut ReplayGuard::new(300_000, 4), now_ms()),
        Err(fat_crypto::EnvelopeError::NotTheReply)
    ));
    let answer: Value = serde_json::from_slice(&plain).unwrap();
    let env = answer["output"].as_str().unwrap();
    assert!(
        env.contains(&format!("caller={}", hex::encode(me.0))),
        "{env}"
    );

    // The same message again: replayed.
    let (status, body) = post_session(&w0, probe, &further).await;
    assert_eq!(
        (status, code(&body)["code"].clone()),
        (409, json!("replayed"))
    );
    // A changed byte: refused.
    let mut changed = session
        .seal_message(me, Direction::Request, b"{\"method\":\"env\"}", now_ms())
        .unwrap();
    changed.ciphertext.0[3] ^= 1;
    let (status, body) = post_session(&w0, probe, &changed).await;
    assert_eq!(
        (status, code(&body)["code"].clone()),
        (400, json!("bad_envelope"))
    );
    // Bound to the probe: refused at the counter.
    let elsewhere = session
        .seal_message(me, Direction::Request, b"{\"method\":\"get\"}", now_ms())
        .unwrap();
    let (status, body) = post_session(&w0, counter, &elsewhere).await;
    assert_eq!(
        (status, code(&body)["code"].clone()),
        (400, json!("bad_envelope"))
    );
    assert!(
        code(&body)["message"]
            .as_str()
            .unwrap()
            .contains("contract")
    );
    // Naming bob as the requester of alice's session: refused.
    let mut renamed = session
        .seal_message(me, Direction::Request, b"{\"method\":\"env\"}", now_ms())
        .unwrap();
    renamed.header.sender = dev_keypair("bob").account_id();
    let (status, body) = post_session(&w0, probe, &renamed).await;
    assert_eq!(
        (status, code(&body)["code"].clone()),
        (400, json!("bad_envelope"))
    );
    // A session the worker never saw: 410, open a new one.
    let (_, unseen) = w0.seal_query(&alice, probe, "env", Value::Null).await;
    let orphan = unseen
        .seal_message(me, Direction::Request, b"{\"method\":\"env\"}", now_ms())
        .unwrap();
    let (status, body) = post_session(&w0, probe, &orphan).await;
    assert_eq!(
        (status, code(&body)["code"].clone()),
        (410, json!("unknown_session"))
    );
    // Stale: refused like an envelope.
    let stale = session
        .seal_message(
            me,
            Direction::Request,
            b"{\"method\":\"env\"}",
            now_ms() - 600_000,
        )
        .unwrap();
    let (status, body) = post_session(&w0, probe, &stale).await;
    assert_eq!(
        (status, code(&body)["code"].clone()),
        (400, json!("stale_envelope"))
    );

    w0.stop().await;
    chain.stop().await;
    cleanup(&dir);
}
