//! The HTTP API (axum). Documented in `docs/openapi-chain.yaml`; a test keeps the two in sync.

mod error;
mod handlers;
mod stream;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::error::{ChainError, Result};
use crate::node::Node;

pub use error::ApiError;
pub use handlers::{BlockView, TxView};

/// Every route the API serves, as (method, path) in OpenAPI's template syntax.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/status"),
    ("GET", "/v1/params"),
    ("GET", "/v1/genesis"),
    ("POST", "/v1/txs"),
    ("GET", "/v1/txs/{id}"),
    ("GET", "/v1/blocks/{height}"),
    ("GET", "/v1/blocks/{height}/receipts"),
    ("GET", "/v1/stream/blocks"),
    ("GET", "/v1/accounts/{id}"),
    ("GET", "/v1/codes/{hash}"),
    ("GET", "/v1/codes/{hash}/wasm"),
    ("GET", "/v1/contracts/{id}"),
    ("GET", "/v1/clusters/{id}"),
    ("GET", "/v1/workers/{id}"),
    ("GET", "/v1/provisions/{worker}/{cluster}"),
];

/// The API as a router, servable or callable directly in tests.
pub fn app(node: Node) -> Router {
    let body_limit = node.params().max_tx_bytes as usize + 1;
    Router::new()
        .route("/v1/status", get(handlers::status))
        .route("/v1/params", get(handlers::params))
        .route("/v1/genesis", get(handlers::genesis))
        .route(
            "/v1/txs",
            post(handlers::submit).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/v1/txs/{id}", get(handlers::tx))
        .route("/v1/blocks/{height}", get(handlers::block))
        .route("/v1/blocks/{height}/receipts", get(handlers::receipts))
        .route("/v1/stream/blocks", get(stream::blocks))
        .route("/v1/accounts/{id}", get(handlers::account))
        .route("/v1/codes/{hash}", get(handlers::code))
        .route("/v1/codes/{hash}/wasm", get(handlers::code_bytes))
        .route("/v1/contracts/{id}", get(handlers::contract))
        .route("/v1/clusters/{id}", get(handlers::cluster))
        .route("/v1/workers/{id}", get(handlers::worker))
        .route(
            "/v1/provisions/{worker}/{cluster}",
            get(handlers::provision),
        )
        .fallback(handlers::no_route)
        .with_state(node)
}

/// Serve the API on `listener` until `shutdown` completes.
pub async fn serve(
    node: Node,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    axum::serve(listener, app(node))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ChainError::Serve { addr, source })
}
