//! The worker's API without a socket: its errors (docs/openapi-worker.yaml is checked in
//! tests/openapi.rs).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fat_worker::api::app;
use fat_worker::{Worker, WorkerConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn call(worker: &Worker, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app(worker.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn errors_name_their_cause() {
    let dir = std::env::temp_dir().join(format!("fat-worker-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let key = fat_devnet::bootstrap::dev_worker_key(0);
    let worker = Worker::open(WorkerConfig::new(&dir, Some(key))).unwrap();

    let (status, body) = call(&worker, "GET", "/v1/status", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["height"], Value::Null);
    assert_eq!(body["worker"], worker.id().to_string());

    let id = "ab".repeat(32);
    let (status, body) = call(&worker, "GET", "/v1/contracts/zz", "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    // A block the worker has not reached (it has reached none) may hold it yet.
    let (status, body) = call(&worker, "GET", &format!("/v1/receipts/{id}?height=3"), "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_reached"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not reached block 3"),
        "{body}"
    );
    // Without the block's height, with one that is not a height, or with two, the error
    // says what to ask for, in the API's error body.
    let too_big = format!("?height={}0", u64::MAX);
    for (query, says) in [
        ("", "?height=H"),
        ("?height=-1", "height"),
        (too_big.as_str(), "height"),
        ("?height=1&height=2", "duplicate field `height`"),
    ] {
        let (status, body) = call(&worker, "GET", &format!("/v1/receipts/{id}{query}"), "").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request"))
        );
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    let (status, _) = call(&worker, "GET", "/v1/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let _ = std::fs::remove_dir_all(&dir);
}
