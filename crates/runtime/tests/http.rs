//! Outbound HTTP from queries: a local server the test starts, allowed by an explicit
//! policy; the same request refused under the default policy; caps on size and concurrency.

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Harness, Offline, err, ok};
use fat_runtime::{HttpLimits, HttpPolicy, RuntimeConfig};
use fat_test_programs::PROBE;
use tokio::sync::Barrier;

/// Requests to `/together` answer only once this many are in flight at the same time.
const TOGETHER: usize = 4;

/// A server on 127.0.0.1 with a free port; stopped when the test's runtime ends.
async fn serve() -> SocketAddr {
    let together = Arc::new(Barrier::new(TOGETHER));
    let app = Router::new()
        .route("/price", get(|| async { r#"{"USD": 64123.5}"# }))
        .route("/big", get(|| async { "x".repeat(100_000) }))
        .route("/never", get(std::future::pending::<()>))
        .route(
            "/together",
            get(move || async move {
                together.wait().await;
                "together"
            }),
        )
        .route(
            "/redirect",
            get(|| async { (axum::http::StatusCode::FOUND, [("location", "/price")], "") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

fn allowing_local(http_limits: HttpLimits) -> RuntimeConfig {
    RuntimeConfig {
        http_policy: HttpPolicy::allow_local(),
        http_limits,
        ..RuntimeConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_fetches_from_a_local_server_when_the_policy_allows_it() {
    let address = serve().await;
    let h = Harness::with_config(PROBE, allowing_local(HttpLimits::default()));
    let text = ok(&h
        .query("http-get", &format!("http://{address}/price"))
        .await);
    assert_eq!(text, r#"200 {"USD": 64123.5}"#);
    // Redirects reach the contract, which follows them itself (each hop re-checked).
    let text = ok(&h
        .query("http-get", &format!("http://{address}/redirect"))
        .await);
    assert!(text.starts_with("302"), "{text}");
    // By name as well as by address.
    let text = ok(&h
        .query(
            "http-get",
            &format!("http://localhost:{}/price", address.port()),
        )
        .await);
    assert!(text.starts_with("200"), "{text}");
}

// Through a network with no route off the machine: were the policy to let one of these
// through, the connection would reach the test's loopback listener, not the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_policy_refuses_loopback_private_and_metadata_addresses() {
    let metadata = IpAddr::from([169, 254, 169, 254]);
    let network = Offline::start(&[
        ("localhost", IpAddr::from([127, 0, 0, 1])),
        ("metadata.test", metadata),
        ("private.test", IpAddr::from([10, 0, 0, 1])),
        ("v6-loopback.test", IpAddr::from(Ipv6Addr::LOCALHOST)),
    ])
    .await;
    let h = Harness::with_network(PROBE, RuntimeConfig::default(), network.clone());
    for url in [
        format!("http://{}/price", network.listener),
        format!("http://localhost:{}/price", network.listener.port()),
        "http://metadata.test/latest/meta-data/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://private.test/".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://v6-loopback.test/".to_string(),
        "http://[::1]/".to_string(),
    ] {
        let message = err(&h.query("http-get", &url).await);
        assert!(
            message.contains("DestinationIpProhibited"),
            "{url}: {message}"
        );
    }
    assert_eq!(network.dialled(), []);
    assert_eq!(network.connections(), 0);
    // The same network under a policy that allows non-public addresses: the name of the
    // metadata address is dialled, and the listener sees it.
    let allowing = Harness::with_network(
        PROBE,
        allowing_local(HttpLimits::default()),
        network.clone(),
    );
    let text = ok(&allowing
        .query("http-get", "http://metadata.test/latest/meta-data/")
        .await);
    assert_eq!(text, "200 reached");
    assert_eq!(network.dialled(), [SocketAddr::new(metadata, 80)]);
    assert_eq!(network.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_larger_than_the_cap_are_cut_off() {
    let address = serve().await;
    let limits = HttpLimits {
        max_response_bytes: 10_000,
        ..HttpLimits::default()
    };
    let h = Harness::with_config(PROBE, allowing_local(limits));
    let message = err(&h.query("http-get", &format!("http://{address}/big")).await);
    assert!(message.contains("HttpResponseBodySize"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_requests_run_concurrently_up_to_the_cap() {
    let address = serve().await;
    let limits = HttpLimits {
        max_concurrent: TOGETHER,
        ..HttpLimits::default()
    };
    let h = Harness::with_config(PROBE, allowing_local(limits));
    // The server answers none of the four until all four are in flight; one at a time,
    // the first would wait for the others until its first-byte timeout.
    let text = ok(&h
        .query(
            "http-many",
            &format!("{TOGETHER}=http://{address}/together"),
        )
        .await);
    assert_eq!(text, "200|200|200|200");
    // The probe starts all five before it reads any answer, and a request holds its slot
    // until its body is dropped: the fifth finds four in flight, whenever it starts.
    let text = ok(&h
        .query("http-many", &format!("5=http://{address}/together"))
        .await);
    let parts: Vec<&str> = text.split('|').collect();
    assert_eq!(&parts[..4], ["200"; 4]);
    assert!(parts[4].contains("ConnectionLimitReached"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_servers_hit_the_first_byte_timeout() {
    let address = serve().await;
    let limits = HttpLimits {
        first_byte_timeout: Duration::from_millis(50),
        ..HttpLimits::default()
    };
    let h = Harness::with_config(PROBE, allowing_local(limits));
    let message = err(&h
        .query("http-get", &format!("http://{address}/never"))
        .await);
    assert!(message.contains("ConnectionReadTimeout"), "{message}");
}
