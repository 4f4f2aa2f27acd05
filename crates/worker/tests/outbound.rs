//! A contract's outbound HTTP, end to end through the worker's query API: the limits the
//! worker is configured with (response size, time to the first byte, requests in flight) reach
//! the runtime and their errors reach the caller, and a query waiting on a slow server holds
//! up no other query.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Chain, RunningWorker, temp_dir};
use fat_runtime::HttpLimits;
use serde_json::{Value, json};
use tokio::sync::{Barrier, Notify, mpsc};

/// Requests to `/together` answer only once this many are in flight at the same time: the
/// runtime's default cap on a call's requests in flight.
const TOGETHER: usize = 8;

/// The test's server on 127.0.0.1 and its hooks.
struct Server {
    address: SocketAddr,
    /// Told each time a request to `/held` arrives.
    arrived: mpsc::UnboundedReceiver<()>,
    /// Releases the requests to `/held`.
    release: Arc<Notify>,
}

async fn serve() -> Server {
    let together = Arc::new(Barrier::new(TOGETHER));
    let release = Arc::new(Notify::new());
    let (arrive, arrived) = mpsc::unbounded_channel();
    let held = {
        let release = release.clone();
        move || async move {
            arrive.send(()).unwrap();
            release.notified().await;
            "released"
        }
    };
    let default_cap = HttpLimits::default().max_response_bytes as usize;
    let app = Router::new()
        .route("/small", get(|| async { "small" }))
        .route(
            "/big",
            get(move || async move { "x".repeat(default_cap + 1) }),
        )
        .route("/never", get(std::future::pending::<()>))
        .route("/held", get(held))
        .route(
            "/together",
            get(move || async move {
                together.wait().await;
                "together"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        address,
        arrived,
        release,
    }
}

/// The answer's output, or a panic naming the whole answer.
fn output(answer: &Value) -> &str {
    answer["output"]
        .as_str()
        .unwrap_or_else(|| panic!("no output: {answer}"))
}

/// The answer's error message, or a panic naming the whole answer.
fn failure(answer: &Value) -> String {
    assert_eq!(answer["code"], "call_failed", "{answer}");
    answer["message"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_limits_hold_through_a_worker_query_and_a_slow_server_blocks_no_other_query() {
    let dir = temp_dir("outbound");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(2).await;
    let mut server = serve().await;
    let url = |path: &str| format!("http://{}{path}", server.address);
    // Worker 0 keeps the runtime's default limits; worker 1 waits only 300 ms for a first
    // byte (the default, 10 s, would make this test wait as long).
    let w0 = RunningWorker::start(&chain.url, &dir, 0).await;
    let w1 = RunningWorker::start_with(&chain.url, &dir, 1, |c| {
        c.runtime.http_limits.first_byte_timeout = Duration::from_millis(300);
    })
    .await;
    let probe = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::PROBE),
            cluster,
            Value::Null,
        )
        .await;
    w0.wait_for(chain.height()).await;
    w1.wait_for(chain.height()).await;

    let small = w0.query(probe, "http-get", json!(url("/small"))).await;
    assert_eq!(output(&small), "200 small", "{small}");

    // Size: a body one byte over the default cap is cut off, and the caller learns why.
    let big = w0.query(probe, "http-get", json!(url("/big"))).await;
    let message = failure(&big);
    assert!(message.contains("HttpResponseBodySize"), "{big}");

    // Requests in flight: the server answers none of eight until all eight are in flight;
    // a ninth, started while they are, is refused by the cap.
    let eight = w0
        .query(probe, "http-many", json!(format!("8={}", url("/together"))))
        .await;
    assert_eq!(output(&eight), ["200"; 8].join("|"), "{eight}");
    let nine = w0
        .query(probe, "http-many", json!(format!("9={}", url("/together"))))
        .await;
    let nine = output(&nine).to_string();
    let parts: Vec<&str> = nine.split('|').collect();
    assert_eq!(&parts[..8], ["200"; 8], "{nine}");
    assert!(parts[8].contains("ConnectionLimitReached"), "{nine}");

    // Time: a server that never answers is given up at the worker's configured first-byte
    // timeout.
    let never = w1.query(probe, "http-get", json!(url("/never"))).await;
    let message = failure(&never);
    assert!(message.contains("ConnectionReadTimeout"), "{never}");

    // A query waiting on a slow server: while the server holds it, another query through
    // the same worker is answered; released, the first gets its answer too.
    let w0 = Arc::new(w0);
    let slow = tokio::spawn({
        let w0 = w0.clone();
        let held = url("/held");
        async move { w0.query(probe, "http-get", json!(held)).await }
    });
    server
        .arrived
        .recv()
        .await
        .expect("the held request arrives");
    let other = w0.query(probe, "http-get", json!(url("/small"))).await;
    assert_eq!(output(&other), "200 small", "{other}");
    assert!(
        !slow.is_finished(),
        "the slow query is still held by the server"
    );
    server.release.notify_one();
    let slow = slow.await.unwrap();
    assert_eq!(output(&slow), "200 released", "{slow}");

    Arc::into_inner(w0).unwrap().stop().await;
    w1.stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
