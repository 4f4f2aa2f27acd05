//! The HTTP API (axum). Documented in `docs/openapi-chain.yaml`; a test keeps the two in sync.

mod error;
mod handlers;
mod stream;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use fat_proto::ServerLimits;
use tokio::net::TcpListener;

use crate::error::{ChainError, Result};
use crate::node::Node;

pub use error::ApiError;
pub use fat_proto::chain::{BlockView, TxView};

/// Every route the API serves, as (method, path) in OpenAPI's template syntax.
pub use fat_proto::paths::chain::ROUTES;

/// The API as a router, servable or callable directly in tests.
pub fn app(node: Node) -> Router {
    use fat_proto::paths::chain as path;
    let body_limit = node.params().max_tx_bytes as usize + 1;
    Router::new()
        .route(path::STATUS, get(handlers::status))
        .route(path::PARAMS, get(handlers::params))
        .route(path::GENESIS, get(handlers::genesis))
        .route(
            path::TXS,
            post(handlers::submit).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route(path::TX, get(handlers::tx))
        .route(path::BLOCK, get(handlers::block))
        .route(path::BLOCK_RECEIPTS, get(handlers::receipts))
        .route(path::STREAM_BLOCKS, get(stream::blocks))
        .route(path::ACCOUNT, get(handlers::account))
        .route(path::CODE, get(handlers::code))
        .route(path::CODE_WASM, get(handlers::code_bytes))
        .route(path::CONTRACT, get(handlers::contract))
        .route(path::CLUSTER, get(handlers::cluster))
        .route(path::WORKER, get(handlers::worker))
        .route(path::PROVISION, get(handlers::provision))
        .route(path::VALIDATORS, get(handlers::validators))
        .route(path::CLUSTERS, get(handlers::clusters))
        .route(path::CLUSTER_CONTRACTS, get(handlers::cluster_contracts))
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
    fat_proto::serve(listener, app(node), ServerLimits::default(), shutdown)
        .await
        .map_err(|source| ChainError::Serve { addr, source })
}
