//! Limits at the worker's API: a query session lives [`SESSION_TTL_MS`] on the worker's own
//! clock and is forgotten after; plaintext queries are refused unless the worker's mode
//! allows them.

mod common;

use std::sync::Arc;

use common::{Chain, RunningWorker, post_raw, temp_dir};
use fat_crypto::dev_keypair;
use fat_crypto::envelope::{Direction, EcdhPublic, SealRandomness, SessionMessage, seal};
use fat_proto::windows::SESSION_TTL_MS;
use fat_types::{Clock, ContractId, ManualClock};
use serde_json::{Value, json};

/// POST a session message to `w`; the status and the error code (if any).
async fn post_session(
    w: &RunningWorker,
    contract: ContractId,
    message: &SessionMessage,
) -> (u16, Value) {
    let (status, body) = post_raw(
        &w.url,
        &format!("/v1/contracts/{contract}/query"),
        fat_worker::api::SESSION_CONTENT_TYPE,
        message.to_bytes(),
    )
    .await;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, body["code"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_expire_on_the_workers_clock_and_plaintext_queries_follow_the_mode() {
    let dir = temp_dir("limits");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(2).await;
    let clock = Arc::new(ManualClock::new(common::now_ms()));
    let w0 = RunningWorker::start_with(&chain.url, &dir, 0, |c| c.clock = clock.clone()).await;
    let w1 = RunningWorker::start_with(&chain.url, &dir, 1, |c| c.plaintext_queries = true).await;
    let counter = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            Value::Null,
        )
        .await;
    w0.wait_for(chain.height()).await;
    w1.wait_for(chain.height()).await;

    // A session opened at the worker's time carries a further query.
    let alice = dev_keypair("alice");
    let me = alice.account_id();
    let body = json!({"method": "get", "args": null}).to_string();
    let (envelope, session) = seal(
        &alice,
        &EcdhPublic(w0.worker.ecdh_public().0),
        counter,
        Direction::Request,
        body.as_bytes(),
        clock.now_ms(),
        SealRandomness::generate().unwrap(),
    )
    .unwrap();
    assert_eq!(w0.post_envelope(counter, &envelope).await.0, 200);
    let further = |at: u64| {
        session
            .seal_message(me, Direction::Request, body.as_bytes(), at)
            .unwrap()
    };
    // Just before its end it still serves.
    clock.advance(SESSION_TTL_MS - 1_000);
    let (status, code) = post_session(&w0, counter, &further(clock.now_ms())).await;
    assert_eq!(status, 200, "{code}");
    // Past its end it is forgotten: 410, seal a new envelope.
    clock.advance(2_000);
    assert_eq!(
        post_session(&w0, counter, &further(clock.now_ms())).await,
        (410, json!("unknown_session"))
    );

    // Plaintext queries: refused by a worker in the default mode, answered by one that
    // allows them.
    let plain = json!({"method": "get", "args": null}).to_string();
    let path = format!("/v1/contracts/{counter}/query");
    let (status, _) = post_raw(
        &w0.url,
        &path,
        "application/json",
        plain.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 415, "the default mode refuses plaintext queries");
    assert!(!w0.worker.plaintext_queries());
    let (status, answer) = post_raw(&w1.url, &path, "application/json", plain.into_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["output"], 0, "{answer}");

    w0.stop().await;
    w1.stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
