//! The HTTP API: submit and read, and the block stream (docs/openapi-chain.yaml is checked
//! in tests/openapi.rs).

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TempDir, alice, gatekeeper, open, produce, register_worker, sign, worker_id};
use fat_chain::rpc::app;
use fat_chain::{Consensus, Sequencer};
use fat_consensus::{BlockVerifier, ValidatorSet};
use fat_crypto::dev_keypair;
use fat_proto::chain::{BLOCK_BORSH_EVENT, BLOCK_EVENT, BlockFrame, StreamEncoding};
use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{AccountId, Block, Bytes, Hash32, Outcome, TxKind};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// `GET uri`.
async fn get(router: &axum::Router, uri: &str) -> (StatusCode, Value) {
    call(router, "GET", uri, Vec::new()).await
}

/// The stream at `uri`, opened.
async fn open_stream(router: &axum::Router, uri: &str) -> Body {
    let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
    router.clone().oneshot(request).await.unwrap().into_body()
}

/// The next `count` events of `stream` that carry data: each one's name (empty when it has
/// none) and data.
async fn read_events(stream: &mut Body, count: usize) -> Vec<(String, String)> {
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while events.len() < count {
        let frame = tokio::time::timeout(Duration::from_secs(10), stream.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.push_str(std::str::from_utf8(&data).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| event.lines().find_map(|l| l.strip_prefix(name));
            if let Some(data) = field("data: ") {
                let name = field("event: ").unwrap_or_default();
                events.push((name.to_string(), data.to_string()));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_wait_read_and_follow_the_stream() {
    let dir = TempDir::new("rpc");
    let node = open(&dir);
    let router = app(node.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sequencer = tokio::spawn(
        Sequencer {
            key: dev_keypair(fat_chain::genesis::DEV_SEQUENCER),
            block_time: Duration::ZERO,
        }
        .run(node.clone(), async {
            let _ = stopped.await;
        }),
    );

    // The stream from genesis, opened before any block exists.
    let mut stream = open_stream(&router, "/v1/stream/blocks?from=0").await;

    let a = alice();
    let mut ids = Vec::new();
    for nonce in 0..3 {
        let tx = sign(
            &a,
            nonce,
            TxKind::Transfer {
                to: AccountId([9; 32]),
                amount: 5,
            },
        );
        let (status, body) = call(&router, "POST", "/v1/txs?wait=true", tx.encode()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "committed");
        assert_eq!(body["receipt"]["outcome"], "ok");
        ids.push((tx.id(), body["height"].as_u64().unwrap()));
    }
    let stale = sign(
        &a,
        0,
        TxKind::Transfer {
            to: AccountId([9; 32]),
            amount: 6,
        },
    );
    let (status, body) = call(&router, "POST", "/v1/txs", stale.encode()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "stale_nonce");
    assert_eq!(
        (body["expected"].as_u64(), body["got"].as_u64()),
        (Some(3), Some(0))
    );
    let (status, body) = call(&router, "POST", "/v1/txs", b"junk".to_vec()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("malformed"))
    );

    let (id, height) = ids[2];
    let (status, body) = get(&router, &format!("/v1/txs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tx"]["id"], id.to_string());
    assert_eq!(body["height"].as_u64(), Some(height));
    let (_, body) = get(&router, &format!("/v1/accounts/{}", a.account_id())).await;
    assert_eq!(body["nonce"].as_u64(), Some(3));
    let (_, body) = get(&router, "/v1/blocks/latest").await;
    let latest: Block = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(body["hash"], latest.hash().to_string());
    let (_, body) = get(&router, &format!("/v1/blocks/{height}/receipts")).await;
    assert_eq!(body["receipts"][0]["tx"], id.to_string());

    // The stream delivers genesis and every block since, which a follower verifies.
    let mut blocks = Vec::new();
    for (name, json) in read_events(&mut stream, 4).await {
        assert_eq!(name, BLOCK_EVENT, "{json}");
        blocks.push(serde_json::from_str::<Block>(&json).unwrap());
    }
    let mut follower = BlockVerifier::new(
        blocks[0].hash(),
        blocks[0].header.clone(),
        ValidatorSet::new(vec![dev_keypair("sequencer").account_id()]).unwrap(),
    );
    for block in &blocks[1..] {
        follower.accept(block).unwrap();
    }
    assert_eq!(follower.last_hash(), latest.hash());

    // The borsh stream sends the same blocks, joined from the stored bytes, with their
    // receipts when asked for; an encoding it does not know is refused.
    for with_receipts in [true, false] {
        let uri =
            fat_proto::paths::chain::stream_blocks_in(0, with_receipts, StreamEncoding::Borsh);
        let mut stream = open_stream(&router, &uri).await;
        let frames = read_events(&mut stream, blocks.len()).await;
        for ((height, (name, data)), block) in frames.into_iter().enumerate().zip(&blocks) {
            assert_eq!(name, BLOCK_BORSH_EVENT);
            let frame = BlockFrame::from_event_data(&data).unwrap();
            assert_eq!(&frame.block, block);
            let stored = node.store().receipts(height as u64).unwrap();
            assert_eq!(frame.receipts, stored.filter(|_| with_receipts));
        }
    }
    let (status, _) = get(&router, "/v1/stream/blocks?encoding=xml").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let _ = stop.send(());
    sequencer.await.unwrap().unwrap();
}

#[tokio::test]
async fn params_and_published_keys_are_served() {
    let dir = TempDir::new("rpc-keys");
    let node = open(&dir);
    let router = app(node.clone());

    let (status, body) = get(&router, "/v1/params").await;
    assert_eq!(status, StatusCode::OK);
    let params: fat_chain::ChainParams = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(&params, node.params());
    assert_eq!(body["attestation"]["providers"], serde_json::json!(["dev"]));
    assert_eq!(
        body["attestation"]["measurements"][0],
        serde_json::json!(["dev", hex::encode(fat_attestation::DEV_MEASUREMENT)])
    );

    let (a, g) = (alice(), gatekeeper());
    let code = common::component(64);
    let hash = code_hash(&code.0);
    let cluster = cluster_id(&a.account_id(), 1);
    let contract = contract_id(&a.account_id(), &hash, &cluster, &[]);
    let txs = [
        sign(&a, 0, register_worker(1)),
        sign(
            &a,
            1,
            TxKind::CreateCluster {
                workers: vec![worker_id(1)],
            },
        ),
        sign(&a, 2, TxKind::UploadCode { code }),
    ];
    for tx in &txs {
        node.submit_tx(tx).unwrap();
    }
    produce(&node);
    let (_, body) = get(&router, &format!("/v1/clusters/{cluster}")).await;
    assert_eq!(body["public_key"], Value::Null, "{body}");

    let txs = [
        sign(
            &g,
            0,
            TxKind::ProvisionKey {
                cluster,
                epoch: 0,
                cluster_public: Hash32([0xc1; 32]),
                keys: vec![(worker_id(1), Bytes(vec![7]))],
            },
        ),
        sign(
            &a,
            3,
            TxKind::Instantiate {
                code_hash: hash,
                cluster,
                salt: Bytes::default(),
                args: Bytes::default(),
                gas_limit: 1,
            },
        ),
    ];
    for tx in &txs {
        node.submit_tx(tx).unwrap();
    }
    assert_eq!(produce(&node)[1], Outcome::ContractCreated(contract));
    let (_, body) = get(&router, &format!("/v1/clusters/{cluster}")).await;
    assert_eq!(body["public_key"], "c1".repeat(32), "{body}");
    let (_, body) = get(&router, &format!("/v1/contracts/{contract}")).await;
    assert_eq!(body["public_key"], Value::Null, "{body}");

    let publish = TxKind::PublishContractKey {
        contract,
        public_key: Hash32([0xc2; 32]),
    };
    node.submit_tx(&sign(&g, 1, publish)).unwrap();
    produce(&node);
    let (_, body) = get(&router, &format!("/v1/contracts/{contract}")).await;
    assert_eq!(body["public_key"], "c2".repeat(32), "{body}");
    let (status, body) = get(
        &router,
        &format!("/v1/provisions/{}/{cluster}", worker_id(1)),
    )
    .await;
    assert_eq!(
        (status, &body["sealed_key"]),
        (StatusCode::OK, &Value::from("07"))
    );
}
