//! The client takes the chain's parameters and attestation policy from its genesis
//! configuration only once block 0 links to it: a node (or anyone on the path) that rewrites
//! the configuration or `GET /v1/params` is refused.

use axum::Json;
use axum::routing::get;
use fat_client::{Client, Error};
use fat_devnet::Devnet;
use fat_devnet::testing::TempDir;
use fat_proto::ChainApi;
use serde_json::Value;

/// Serve the real node's status and block 0, and its genesis and parameters with the key fee
/// rewritten; the server's URL.
async fn lying_node(real: &str) -> String {
    let api = ChainApi::new(real).unwrap();
    let status = serde_json::to_value(api.status().await.unwrap()).unwrap();
    let block0: Value = api.http().get_json("/v1/blocks/0").await.unwrap();
    let mut genesis = serde_json::to_value(api.genesis().await.unwrap()).unwrap();
    genesis["params"]["key_fee"] = Value::from(0);
    let params = genesis["params"].clone();
    let app = axum::Router::new()
        .route("/v1/status", get(move || async move { Json(status) }))
        .route("/v1/blocks/0", get(move || async move { Json(block0) }))
        .route("/v1/genesis", get(move || async move { Json(genesis) }))
        .route("/v1/params", get(move || async move { Json(params) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_come_from_a_genesis_that_block_zero_links_to() {
    let dir = TempDir::new("client-genesis");
    let devnet = Devnet::builder(dir.path())
        .workers(0)
        .bootstrap(false)
        .build()
        .await
        .unwrap();
    let honest = Client::new(devnet.url()).unwrap();
    let params = honest.params().await.unwrap();
    assert_eq!(params, fat_chain_params(&devnet).await);
    assert!(honest.is_dev_network().await.unwrap());

    let liar = Client::new(&lying_node(devnet.url()).await).unwrap();
    for refused in [liar.params().await.err(), liar.policy().await.err()] {
        assert!(
            matches!(refused, Some(Error::ForgedGenesis { .. })),
            "{refused:?}"
        );
    }
    devnet.stop().await.unwrap();
}

/// The parameters the node runs with.
async fn fat_chain_params(devnet: &Devnet) -> fat_types::genesis::ChainParams {
    devnet.node().params().clone()
}
