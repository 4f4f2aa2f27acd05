//! The examples run as users would run them: counter, http-bot against local fake APIs, and
//! render compared pixel for pixel with the same kernel built natively.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Json, Path};
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::{Harness, err, ok};
use fat_runtime::{CallError, Entry, HttpPolicy, RuntimeConfig};
use fat_test_programs::{COUNTER, HTTP_BOT, RENDER};
use render::kernel::{TileParams, hex, render_tile};
use serde_json::{Value, json};

#[tokio::test]
async fn counter_counts() {
    let h = Harness::new(COUNTER);
    assert_eq!(
        ok(&h.run(h.call(Entry::init(r#"{"start": 5}"#))).await),
        "null"
    );
    assert_eq!(ok(&h.command("increment", "").await), "6");
    assert_eq!(ok(&h.command("increment", r#"{"by": 10}"#).await), "16");
    assert_eq!(ok(&h.query("get", "").await), "16");
    let overflow = h
        .command("increment", r#"{"by": 18446744073709551615}"#)
        .await;
    assert!(err(&overflow).contains("overflow"), "{}", err(&overflow));
    assert_eq!(
        ok(&h.query("get", "{}").await),
        "16",
        "a failed command changes nothing"
    );
    let unknown = h.command("decrement", "").await;
    assert!(
        err(&unknown).contains("unknown command 'decrement'"),
        "{}",
        err(&unknown)
    );
    let bad = h.command("increment", r#"{"by": "ten"}"#).await;
    assert!(
        err(&bad).contains("invalid arguments for 'increment'"),
        "{}",
        err(&bad)
    );
    // Queries cannot run commands.
    let refused = h.query("increment", "").await;
    assert_eq!(
        refused.result,
        Err(fat_runtime::CallError::Reverted {
            message: "unknown query 'increment'".into()
        })
    );
}

#[tokio::test]
async fn counter_starts_at_zero_without_arguments() {
    let h = Harness::new(COUNTER);
    ok(&h.run(h.call(Entry::init(""))).await);
    assert_eq!(ok(&h.query("get", "").await), "0");
}

/// A fake price API and a fake Telegram bot API on 127.0.0.1; returns the base URL and the
/// messages the bot received, with the path they came to.
async fn fake_apis(price: &'static str) -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = Router::new()
        .route("/price", get(move || async move { price }))
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        )
        .route(
            "/{bot}/sendMessage",
            post(move |Path(bot): Path<String>, Json(body): Json<Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push((bot, body));
                    Json(json!({"ok": true}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, received)
}

fn local_http() -> RuntimeConfig {
    RuntimeConfig {
        http_policy: HttpPolicy::allow_local(),
        ..RuntimeConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bot_reports_the_price_to_the_chat() {
    let (base, received) = fake_apis(r#"{"USD": 64123.5}"#).await;
    let h = Harness::with_config(HTTP_BOT, local_http());
    let token = "123456:SECRET-token";
    let init = json!({"price_url": format!("{base}/price"), "bot_url": base, "token": token, "chat_id": 42});
    ok(&h.run(h.call(Entry::init(init.to_string()))).await);

    let outcome = h.query("report", "").await;
    assert_eq!(ok(&outcome), "64123.5");
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0, format!("bot{token}"));
    assert_eq!(
        messages[0].1,
        json!({"chat_id": 42, "text": "BTC price: $64123.5"})
    );
    for line in &outcome.logs {
        assert!(
            !line.message.contains("SECRET"),
            "the token leaked into a log: {line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bot_says_which_api_failed() {
    let (base, received) = fake_apis("not json").await;
    let h = Harness::with_config(HTTP_BOT, local_http());
    let init = |price_url: String| {
        json!({"price_url": price_url, "bot_url": base, "token": "T0KEN", "chat_id": "@ch"})
            .to_string()
    };
    ok(&h
        .run(h.call(Entry::init(init(format!("{base}/price")))))
        .await);
    let message = err(&h.query("report", "").await);
    assert!(message.contains("price API"), "{message}");
    ok(&h
        .run(h.call(Entry::init(init(format!("{base}/broken")))))
        .await);
    let message = err(&h.query("report", "").await);
    assert!(
        message.contains("price API") && message.contains("500"),
        "{message}"
    );
    assert!(!message.contains("T0KEN"));
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bot_is_refused_local_addresses_by_default() {
    let (base, received) = fake_apis(r#"{"USD": 1.0}"#).await;
    let h = Harness::new(HTTP_BOT);
    let init =
        json!({"price_url": format!("{base}/price"), "bot_url": base, "token": "t", "chat_id": 1});
    ok(&h.run(h.call(Entry::init(init.to_string()))).await);
    let message = err(&h.query("report", "").await);
    assert!(message.contains("price API"), "{message}");
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn render_in_wasm_gives_the_native_pixels() {
    let h = Harness::new(RENDER);
    let params = TileParams {
        width: 64,
        height: 48,
        x0: 16,
        y0: 8,
        w: 24,
        h: 16,
        samples: 2,
    };
    let args =
        json!({"width": 64, "height": 48, "x0": 16, "y0": 8, "w": 24, "h": 16, "samples": 2});
    let outcome = h.query("tile", &args.to_string()).await;
    let tile: Value = serde_json::from_str(&ok(&outcome)).unwrap();
    assert_eq!(tile["width"], 24);
    assert_eq!(tile["height"], 16);
    assert_eq!(tile["rgb"].as_str().unwrap(), hex(&render_tile(&params)));
    // The job entry gives the raw bytes.
    let job = h
        .run(h.call(Entry::job("tile_rgb", args.to_string().into_bytes())))
        .await;
    assert_eq!(job.result, Ok(render_tile(&params)));
}

#[tokio::test]
async fn render_refuses_bad_tiles() {
    let h = Harness::new(RENDER);
    let outside =
        json!({"width": 64, "height": 48, "x0": 60, "y0": 0, "w": 8, "h": 8, "samples": 1});
    assert!(matches!(
        h.query("tile", &outside.to_string()).await.result,
        Err(CallError::Reverted { .. })
    ));
    let missing = h.query("tile", r#"{"width": 64}"#).await;
    assert!(
        err(&missing).contains("invalid arguments"),
        "{}",
        err(&missing)
    );
}
