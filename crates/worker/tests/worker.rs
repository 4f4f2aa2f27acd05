//! The worker end to end: an in-process dev chain, workers following it over HTTP, contracts
//! deployed and commanded through the chain's API, queried through the workers' API.

mod common;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::{get, post};
use common::{Chain, RawChain, RunningWorker, open_output, post_raw, temp_dir};
use fat_crypto::{dev_keypair, verify};
use fat_types::{AccountId, SignedExecutionReceipt};
use serde_json::{Value, json};

fn root(value: &Value) -> String {
    value["state_root"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counter_replicas_agree_restart_and_catch_up() {
    let dir = temp_dir("counter");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(3).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let w1 = RunningWorker::start(&chain.url, &dir, 1).await;

    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = chain.deploy(&wasm, cluster, json!({"start": 5})).await;
    let alice = dev_keypair("alice");
    let (tx, height, session) = chain
        .command_session(&alice, counter, "increment", json!({"by": 2}))
        .await;
    w0.wait_for(height).await;
    w1.wait_for(height).await;

    // The signed receipt, from each worker.
    for w in [&w0, &w1] {
        let body = w.get(&fat_proto::paths::worker::receipt(&tx, height)).await;
        assert_eq!(body["receipt"]["status"]["status"], "ok", "{body}");
        assert_eq!(body["receipt"]["output"], "");
        assert_eq!(open_output(&body, &session), 7);
        let signed: SignedExecutionReceipt = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(signed.worker, w.worker.id());
        verify(
            &AccountId(signed.worker.0),
            signed.receipt.hash().as_bytes(),
            &signed.signature,
        )
        .unwrap();
        let answer = w.query(counter, "get", Value::Null).await;
        assert_eq!(answer["output"], 7, "{answer}");
    }

    // A failing command: a receipt that says so, state unchanged.
    let (bad, _) = chain
        .command(&alice, counter, "increment", json!({"by": u64::MAX}))
        .await;
    let (_, height) = chain
        .command(&alice, counter, "increment", Value::Null)
        .await;
    w0.wait_for(height).await;
    w1.wait_for(height).await;
    let body = w0.receipt(&bad).await;
    assert_eq!(body["receipt"]["status"]["status"], "failed", "{body}");
    assert_eq!(w1.query(counter, "get", Value::Null).await["output"], 8);

    let path = format!("/v1/contracts/{counter}");
    let (c0, c1) = (w0.get(&path).await, w1.get(&path).await);
    assert_eq!(root(&c0), root(&c1));
    assert_eq!(c0["height"], height);

    // Worker 0 stops, commands go on, it restarts from its store and catches up.
    w0.stop().await;
    let (_, height) = chain
        .command(&alice, counter, "increment", json!({"by": 10}))
        .await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    w0.wait_for(height).await;
    w1.wait_for(height).await;
    assert_eq!(w0.query(counter, "get", Value::Null).await["output"], 18);

    // Worker 2 starts from nothing and rebuilds the contract by replaying the chain.
    let w2 = RunningWorker::start(&chain.url, &dir, 2).await;
    w2.wait_for(height).await;
    assert_eq!(w2.query(counter, "get", Value::Null).await["output"], 18);
    let roots: Vec<String> = [&w0, &w1, &w2]
        .iter()
        .map(|w| {
            let snapshot = w.worker.snapshot().unwrap();
            snapshot
                .contract(&counter)
                .unwrap()
                .unwrap()
                .state_root
                .to_string()
        })
        .collect();
    assert!(roots.iter().all(|r| *r == roots[0]), "{roots:?}");

    let status = w2.get("/v1/status").await;
    assert_eq!(status["height"], height);
    assert_eq!(status["contracts"], 1);

    for w in [w0, w1, w2] {
        w.stop().await;
    }
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_bot_reports_through_fake_apis() {
    let sent: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let fake = axum::Router::new()
        .route("/price", get(|| async { Json(json!({"USD": 64123.5})) }))
        .route(
            "/{bot}/sendMessage",
            post({
                let sent = sent.clone();
                move |axum::extract::Path(bot): axum::extract::Path<String>,
                      Json(body): Json<Value>| async move {
                    sent.lock().unwrap().push((bot, body));
                    Json(json!({"ok": true}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let fake_server = tokio::spawn(async move { axum::serve(listener, fake).await });

    let dir = temp_dir("http-bot");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let wasm = fat_test_programs::read(fat_test_programs::HTTP_BOT);
    let args = json!({"price_url": format!("{api}/price"), "bot_url": api, "token": "T0KEN", "chat_id": 42});
    let bot = chain.deploy(&wasm, cluster, args).await;
    w0.wait_for(chain.height()).await;

    let answer = w0.query(bot, "report", Value::Null).await;
    assert_eq!(answer["output"], 64123.5, "{answer}");
    let sent = sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![(
            "botT0KEN".to_string(),
            json!({"chat_id": 42, "text": "BTC price: $64123.5"})
        )]
    );

    let logs = w0.get(&format!("/v1/contracts/{bot}/logs")).await;
    assert!(logs["logs"].is_array(), "{logs}");

    w0.stop().await;
    chain.stop().await;
    fake_server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_are_kept_and_followed_and_events_receipted() {
    let dir = temp_dir("probe");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let wasm = fat_test_programs::read(fat_test_programs::PROBE);
    let probe = chain.deploy(&wasm, cluster, json!("hello")).await;
    let alice = dev_keypair("alice");
    let (emitted, _) = chain.command(&alice, probe, "emit", json!(2)).await;
    let (_, height) = chain.command(&alice, probe, "log", json!(3)).await;
    w0.wait_for(height).await;

    let receipt = w0.receipt(&emitted).await;
    let events = receipt["receipt"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{receipt}");
    assert_eq!(events[0]["topic"], "probe");

    let logs = w0.get(&format!("/v1/contracts/{probe}/logs?from=1")).await;
    let lines = logs["logs"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{logs}");
    assert_eq!(lines[0]["seq"], 1);
    assert!(lines[0]["message"].as_str().unwrap().starts_with("line 1 "));

    let mut follow = w0
        .client
        .events(&format!("/v1/contracts/{probe}/logs?follow=true&from=2"))
        .await
        .unwrap();
    let first = follow.next().await.unwrap().unwrap();
    assert_eq!(first.event, "log");
    assert!(first.data.contains("line 2 "), "{first:?}");
    chain.command(&alice, probe, "log", json!(1)).await;
    let live = tokio::time::timeout(std::time::Duration::from_secs(10), follow.next())
        .await
        .expect("a followed line")
        .unwrap()
        .unwrap();
    let line: Value = serde_json::from_str(&live.data).unwrap();
    assert_eq!(
        (line["seq"].as_u64(), line["level"].as_str()),
        (Some(3), Some("info"))
    );

    // Stopping is not held up by the open stream, which ends.
    tokio::time::timeout(std::time::Duration::from_secs(10), w0.stop())
        .await
        .expect("the worker stops with a log stream open");
    assert!(follow.next().await.map_or(true, |e| e.is_none()));
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queries_run_while_commands_apply_and_a_full_queue_is_busy() {
    let dir = temp_dir("busy");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w0 = RunningWorker::start_with(&chain.url, &dir, 0, |config| {
        config.query_concurrency = 1;
        config.query_queue = 0;
    })
    .await;
    let counter = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            Value::Null,
        )
        .await;
    let probe = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::PROBE),
            cluster,
            json!(1),
        )
        .await;
    w0.wait_for(chain.height()).await;

    // Commands apply while queries read: every answer is a committed value, never going back.
    let alice = dev_keypair("alice");
    let first = chain.client.next_nonce(&alice.account_id()).await.unwrap();
    let mut txs = Vec::new();
    for nonce in first..first + 10 {
        let (envelope, _) = chain
            .seal_command(&alice, nonce, counter, "increment", "")
            .await;
        txs.push(alice.sign_tx(fat_types::Transaction {
            chain: common::dev_chain(),
            signer: alice.account_id(),
            nonce,
            fee: 1_000,
            kind: fat_types::TxKind::Command {
                contract: counter,
                payload: fat_types::Bytes(envelope.to_bytes()),
                gas_limit: 100_000_000,
            },
        }));
    }
    let commands = tokio::spawn({
        let chain_client = chain.client.clone();
        async move {
            for tx in txs {
                let answer = chain_client.submit_wait(&tx).await.unwrap();
                assert_eq!(answer["status"], "committed", "{answer}");
            }
        }
    });
    // Queries keep answering while the commands commit: some answer is a value strictly
    // between the first and the last, read while later commands were still to come.
    let mut last = 0;
    let mut between = Vec::new();
    while !commands.is_finished() {
        let value = w0.query(counter, "get", Value::Null).await["output"]
            .as_u64()
            .unwrap();
        assert!(value >= last, "{value} after {last}");
        if value > 0 && value < 10 && !commands.is_finished() {
            between.push(value);
        }
        last = value;
    }
    commands.await.unwrap();
    assert!(
        !between.is_empty(),
        "no query answered while the commands were applying"
    );
    // Every command applied: the last value is the tenth.
    w0.wait_for(chain.height()).await;
    let value = w0.query(counter, "get", Value::Null).await["output"].clone();
    assert_eq!(value, 10);

    // One query runs, none may wait: a second one is turned away at once.
    let (slow_query, slow_session) = w0.seal_query(&alice, probe, "sleep", json!(1000)).await;
    let slow = tokio::spawn({
        let url = w0.url.clone();
        let path = format!("/v1/contracts/{probe}/query");
        async move {
            post_raw(
                &url,
                &path,
                "application/octet-stream",
                slow_query.to_bytes(),
            )
            .await
        }
    });
    // Turned away, not queued: the refusal comes while the slow query still runs.
    let mut busy = None;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let answer = w0.query(counter, "get", Value::Null).await;
        if answer["http_status"].is_number() {
            busy = Some((answer.to_string(), slow.is_finished()));
            break;
        }
    }
    let (error, slow_done) = busy.expect("a query turned away while the slow one runs");
    assert!(
        error.contains("503") && error.contains("\"busy\""),
        "{error}"
    );
    assert!(!slow_done, "the refusal waited for the slow query");
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, 200);
    let response = fat_crypto::Envelope::from_bytes(&body).unwrap();
    let plain = slow_session
        .open_response(
            &response,
            &AccountId(w0.worker.id().0),
            &mut fat_crypto::ReplayGuard::new(300_000, 4),
            common::now_ms(),
        )
        .unwrap();
    let answer: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(answer["output"], "slept");

    w0.stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_crashed_mid_stream_recovers_to_the_same_state() {
    let dir = temp_dir("crash");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(2).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = chain.deploy(&wasm, cluster, Value::Null).await;
    let alice = dev_keypair("alice");
    // Worker 1 crashes right after commands commit, before its group commit is durable at
    // times; each restart resumes from its last durable block and executes the rest again.
    let mut height = 0;
    for _ in 0..3 {
        let w1 = RunningWorker::restart(&chain.url, &dir, 1).await;
        for _ in 0..5 {
            height = chain
                .command(&alice, counter, "increment", Value::Null)
                .await
                .1;
        }
        w1.crash().await;
    }
    let w1 = RunningWorker::restart(&chain.url, &dir, 1).await;
    w0.wait_for(height).await;
    w1.wait_for(height).await;
    assert_eq!(w1.query(counter, "get", Value::Null).await["output"], 15);
    let path = format!("/v1/contracts/{counter}");
    assert_eq!(root(&w0.get(&path).await), root(&w1.get(&path).await));
    w0.stop().await;
    w1.stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chain and worker 0 in a new directory named `name`, the counter deployed, the worker
/// stopped after following (stopping flushes: every block it applied is durable). Returns
/// the directory, the chain, the stopped worker, the counter and the height it followed to.
async fn paused_beside_counter(
    name: &str,
) -> (
    std::path::PathBuf,
    Chain,
    fat_worker::Worker,
    fat_types::ContractId,
    u64,
) {
    let dir = temp_dir(name);
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = chain.deploy(&wasm, cluster, Value::Null).await;
    w0.wait_for(chain.height()).await;
    let worker = w0.pause().await;
    let followed = worker.head().unwrap().height;
    assert_eq!(worker.durable_height(), followed);
    (dir, chain, worker, counter, followed)
}

/// A receipt leaves the worker only from a durable block. A worker stopped after following
/// (everything it applied durable) applies the block of a command by hand: the block commits
/// but is not durable, and its receipt is already in the store. Asking the API for it makes
/// the block durable before the answer; the answer is the receipt the store holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receipt_is_served_only_once_its_block_is_durable() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let (dir, chain, worker, counter, followed) = paused_beside_counter("durable-receipt").await;

    let alice = dev_keypair("alice");
    let (tx, height) = chain
        .command(&alice, counter, "increment", Value::Null)
        .await;
    let api = fat_proto::ChainApi::new(&chain.url).unwrap();
    let mut blocks = api.blocks(followed + 1).await.unwrap();
    for _ in followed + 1..height {
        let (block, receipts) = blocks.next().await.unwrap().unwrap();
        worker.apply_block(&block, &receipts).await.unwrap();
    }
    // The block of the command is the first after a flush: it commits without waiting for
    // the disk.
    worker.flush().await.unwrap();
    let (block, receipts) = blocks.next().await.unwrap().unwrap();
    assert_eq!(block.header.height, height);
    worker.apply_block(&block, &receipts).await.unwrap();
    assert_eq!(worker.head().unwrap().height, height);
    assert!(
        worker.durable_height() < height,
        "the block is not durable yet"
    );
    let stored = worker
        .snapshot()
        .unwrap()
        .receipt(&tx, height)
        .unwrap()
        .unwrap();
    assert_eq!(stored.height, height);

    let request = Request::get(fat_proto::paths::worker::receipt(&tx, height))
        .body(Body::empty())
        .unwrap();
    let response = fat_worker::api::app(worker.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let view: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        worker.durable_height() >= height,
        "the receipt was served while its block was not durable"
    );
    assert_eq!(view["hash"], json!(stored.hash()), "{view}");
    // Served again, it needs no flush and is the same, signed by the worker.
    let served = worker.receipt(&tx, height).await.unwrap().unwrap();
    assert_eq!(served.receipt, stored);
    assert_eq!(served.worker, worker.id());
    fat_crypto::verify(
        &fat_types::AccountId(worker.id().0),
        stored.hash().as_bytes(),
        &served.signature,
    )
    .unwrap();
    assert_eq!(view["signature"], json!(served.signature), "{view}");
    drop(worker);
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Blocks applied one after another, with no pause for the follower to flush in, still
/// become durable: once the group's time is up, a flush starts in the background, and the
/// blocks it covers are durable when it is done, with no flush asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocks_applied_back_to_back_become_durable_in_the_background() {
    let (dir, chain, worker, counter, followed) = paused_beside_counter("background-flush").await;

    let alice = dev_keypair("alice");
    chain
        .command(&alice, counter, "increment", Value::Null)
        .await;
    let (_, last) = chain
        .command(&alice, counter, "increment", Value::Null)
        .await;
    let api = fat_proto::ChainApi::new(&chain.url).unwrap();
    let mut blocks = api.blocks(followed + 1).await.unwrap();
    for _ in followed + 1..last {
        let (block, receipts) = blocks.next().await.unwrap().unwrap();
        worker.apply_block(&block, &receipts).await.unwrap();
    }
    // Past the group's window, the last block starts a flush of everything applied.
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let (block, receipts) = blocks.next().await.unwrap().unwrap();
    assert_eq!(block.header.height, last);
    worker.apply_block(&block, &receipts).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while worker.durable_height() < last {
        assert!(
            std::time::Instant::now() < deadline,
            "blocks through {last} were not made durable: durable through {}",
            worker.durable_height()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(worker);
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chain and worker 0 in a new directory named `name`; the counter deployed at 5 and
/// incremented to 6 by alice; the worker stopped with its store durable. Returns the
/// directory, the chain, the counter and the height of the increment.
async fn counter_at_six(name: &str) -> (std::path::PathBuf, Chain, fat_types::ContractId, u64) {
    let dir = temp_dir(name);
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = chain.deploy(&wasm, cluster, json!({"start": 5})).await;
    let (_, height) = chain
        .command(
            &dev_keypair("alice"),
            counter,
            "increment",
            json!({"by": 1}),
        )
        .await;
    w0.wait_for(height).await;
    w0.stop_durably().await;
    (dir, chain, counter, height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_value_put_back_on_disk_stops_the_worker_from_starting() {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
    // The counter's stored values (contract id ‖ key -> ciphertext) in worker 0's store.
    // Tasks of a stopped worker may hold its store for a moment.
    let open = |dir: &std::path::Path| {
        let path = dir.join("worker-0").join(fat_worker::store::DB_FILE);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match redb::Database::open(&path) {
                Ok(db) => return db,
                Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    };
    let values = |dir: &std::path::Path| -> Vec<(Vec<u8>, Vec<u8>)> {
        let db = open(dir);
        let rtx = db.begin_read().unwrap();
        let table = rtx.open_table(STATE).unwrap();
        table
            .iter()
            .unwrap()
            .map(|item| {
                let (k, v) = item.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect()
    };
    let (dir, chain, counter, _) = counter_at_six("state-put-back").await;
    let alice = dev_keypair("alice");
    let at_six = values(&dir);
    assert!(!at_six.is_empty());

    let w0 = RunningWorker::restart(&chain.url, &dir, 0).await;
    let (_, height) = chain
        .command(&alice, counter, "increment", json!({"by": 100}))
        .await;
    w0.wait_for(height).await;
    assert_eq!(w0.query(counter, "get", Value::Null).await["output"], 106);
    w0.stop_durably().await;

    // The operator puts the counter's value of block `6` back: it decrypts (same contract,
    // same key), but the worker refuses to start on it, and leaves the file as it is.
    {
        let db = open(&dir);
        let wtx = db.begin_write().unwrap();
        {
            let mut table = wtx.open_table(STATE).unwrap();
            for (k, v) in &at_six {
                table.insert(k.as_slice(), v.as_slice()).unwrap();
            }
        }
        wtx.commit().unwrap();
    }
    let err = fat_worker::Worker::open(common::worker_config(&dir, 0)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("refusing to run on it"), "{text}");
    assert!(text.contains(&counter.to_string()), "{text}");
    assert_eq!(values(&dir), at_six, "the file was changed");
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Copy the files of directory `from` (and of its directories) into `to`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The whole store put back as it was at an earlier block (head, digest, records and state
/// together) cannot be told from the real one without a monotonic counter. What it buys the
/// operator is nothing: the worker says which block its answers read, and runs the blocks
/// since again, to the same receipts, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_store_put_back_runs_the_blocks_since_to_the_same_receipts() {
    let (dir, chain, counter, at_six) = counter_at_six("store-put-back").await;
    let alice = dev_keypair("alice");
    let store = dir.join("worker-0");
    let saved = dir.join("worker-0-at-six");
    RunningWorker::wait_until_released(&dir, 0).await;
    copy_tree(&store, &saved);

    let w0 = RunningWorker::restart(&chain.url, &dir, 0).await;
    let mut txs = Vec::new();
    for by in [100, 1000] {
        let (tx, height) = chain
            .command(&alice, counter, "increment", json!({"by": by}))
            .await;
        w0.wait_for(height).await;
        txs.push((tx, height));
    }
    let last = txs[1].1;
    let mut receipts = Vec::new();
    for (tx, _) in &txs {
        receipts.push(w0.receipt(tx).await);
    }
    let answer = w0.query(counter, "get", Value::Null).await;
    assert_eq!(answer["output"], 1106, "{answer}");
    assert_eq!(answer["height"], last, "{answer}");
    let roots = w0.get(&format!("/v1/contracts/{counter}")).await;
    w0.stop_durably().await;

    // The operator puts the whole store of block `at_six` back. The worker opens on it...
    RunningWorker::wait_until_released(&dir, 0).await;
    std::fs::remove_dir_all(&store).unwrap();
    copy_tree(&saved, &store);
    let worker = fat_worker::Worker::open(common::worker_config(&dir, 0)).unwrap();
    // ...and, before it follows the chain again, answers from block `at_six` and says so.
    let early = worker
        .query(&counter, "get", "", AccountId(alice.account_id().0))
        .await
        .unwrap();
    assert_eq!(early.result.as_deref(), Ok("6"));
    assert_eq!(early.height, at_six);
    // Following the chain, it runs the blocks since again: the same state, the same
    // receipts (ed25519 signatures are deterministic), nothing of block `at_six` left.
    let w0 = RunningWorker::serve(worker, &chain.url).await;
    w0.wait_for(last).await;
    for ((tx, _), before) in txs.iter().zip(&receipts) {
        let after = w0.receipt(tx).await;
        assert_eq!(&after, before, "receipt of {tx}");
    }
    let answer = w0.query(counter, "get", Value::Null).await;
    assert_eq!(answer["output"], 1106, "{answer}");
    assert_eq!(
        w0.get(&format!("/v1/contracts/{counter}")).await["state_root"],
        roots["state_root"]
    );
    w0.stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A worker checks the signatures of the commands it runs and of every other transaction,
/// but not of commands to contracts it does not run: that is what lets clusters grow in
/// number without every worker checking all their traffic. Following blocks certified by the
/// chain's sequencer, a block carrying a made-up command to a contract of another cluster is
/// applied, its own command with it; one carrying a made-up command to its own contract
/// stops the worker, and nothing of that block is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_checks_the_signatures_of_commands_it_runs_only() {
    use fat_types::block::{receipts_root, tx_root};
    use fat_types::{Block, BlockHeader, Certificate, ChainReceipt, Outcome, TxKind};

    let (dir, chain, worker, counter, followed) = paused_beside_counter("own-signatures").await;
    let alice = dev_keypair("alice");
    let (tx, height) = chain
        .command(&alice, counter, "increment", Value::Null)
        .await;
    let api = fat_proto::ChainApi::new(&chain.url).unwrap();
    let genesis = fat_proto::follow::genesis_of(&api).await.unwrap();
    let memory = fat_proto::follow::MemoryChain::new(genesis.block, genesis.config);
    let mut blocks = api.blocks(1).await.unwrap();
    let mut parent = None;
    for _ in 1..height {
        let (block, receipts) = blocks.next().await.unwrap().unwrap();
        parent = Some(block.header.clone());
        memory.push(block, receipts);
    }
    let parent = parent.unwrap();
    let (block, mut receipts) = blocks.next().await.unwrap().unwrap();
    assert!(block.header.height == height && followed < height);
    let index = block.txs.iter().position(|t| t.id() == tx).unwrap();
    let command = block.txs[index].clone();

    // The command again under another nonce and to `contract`, with the first one's
    // signature: the chain's sequencer certifies it, as a quorum gone bad might.
    let made_up = |contract: fat_types::ContractId, nonce: u64| {
        let mut forged = command.clone();
        forged.tx.nonce = nonce;
        if let TxKind::Command { contract: to, .. } = &mut forged.tx.kind {
            *to = contract;
        }
        forged
    };
    let sequencer = dev_keypair("sequencer");
    let certified = |parent: &BlockHeader, txs: Vec<_>, receipts: &[ChainReceipt]| {
        let header = BlockHeader {
            height: parent.height + 1,
            parent: parent.hash(),
            timestamp_ms: parent.timestamp_ms + 1,
            tx_root: tx_root(&txs),
            receipts_root: receipts_root(receipts),
            state_root: parent.state_root,
        };
        let round = header.height;
        let signature = fat_consensus::sign_finalize(&sequencer, round, &header.hash());
        Block {
            header,
            certificate: Certificate::Ed25519 {
                round,
                signatures: vec![(0, signature)],
            },
            txs,
        }
    };
    let receipt = |tx: &fat_types::SignedTransaction| ChainReceipt {
        tx: tx.id(),
        fee: 0,
        outcome: Outcome::Ok,
    };
    let theirs = made_up(fat_types::ContractId([7; 32]), command.tx.nonce + 100);
    let mut txs = block.txs.clone();
    txs.push(theirs.clone());
    receipts.push(receipt(&theirs));
    let first = certified(&parent, txs, &receipts);
    let ours = made_up(counter, command.tx.nonce + 101);
    let second = certified(&first.header, vec![ours.clone()], &[receipt(&ours)]);
    memory.push(first.clone(), receipts);
    memory.push(second, vec![receipt(&ours)]);

    let stopped = worker
        .follow_source(memory, std::future::pending::<()>())
        .await;
    let stopped = stopped.unwrap_err();
    let mut error = stopped.to_string();
    let mut source = std::error::Error::source(&stopped);
    while let Some(cause) = source {
        error = format!("{error}: {cause}");
        source = cause.source();
    }
    let expected = format!("transaction 0 ({}): bad signature", ours.id());
    assert!(error.contains(&expected), "{error}");
    // The first block is applied, its command run; the second, nothing of it.
    assert_eq!(worker.head().unwrap().hash(), first.header.hash());
    let snapshot = worker.snapshot().unwrap();
    assert!(snapshot.receipt(&tx, height).unwrap().is_some());
    assert!(snapshot.receipt(&ours.id(), height + 1).unwrap().is_none());
    drop(worker);
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
