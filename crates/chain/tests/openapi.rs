//! docs/openapi-chain.yaml against the code: its routes against `ROUTES` and the router, the
//! answers of a real node against the schema of their status, and its component schemas
//! against the fields the Rust types serialize.

mod common;
#[path = "support/openapi.rs"]
mod openapi;

use std::time::Duration;

use common::{
    TempDir, alice, bob, gatekeeper, open, open_with, produce, register_worker, sign, worker_id,
};
use fat_chain::rpc::{ROUTES, app};
use fat_proto::chain::{
    AccountView, BlockView, ChainStatus, ClusterSummary, ClustersView, DevWorker, DevWorkers,
    ReceiptsView, SubmitAnswer, TxAnswer, TxStatus, TxView, ValidatorView, ValidatorsView,
};
use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{
    AccountId, Attestation, AttestationPolicy, Block, BlockHeader, Bytes, Certificate,
    ChainReceipt, ClusterId, ClusterInfo, CodeHash, CodeInfo, ContractId, ContractInfo, Deployers,
    Hash32, KeyProvision, Outcome, Signature, SignedTransaction, Transaction, TxId, TxKind,
    TxRejection, WorkerId, WorkerInfo,
};
use openapi::{Checker, Spec, assert_none, route_differences, route_set};
use serde_json::{Value, json};

const FILE: &str = "openapi-chain.yaml";

#[tokio::test]
async fn openapi_lists_exactly_the_served_routes() {
    let spec = Spec::load(FILE);
    let served = route_set(ROUTES);
    if let Some(difference) = route_differences(FILE, &spec.routes(false), &served) {
        panic!("{difference}");
    }
    let dev = route_set(&[("GET", fat_proto::paths::dev::WORKERS)]);
    if let Some(difference) = route_differences(FILE, &spec.routes(true), &dev) {
        panic!("the dev routes (x-fat-dev) differ from fat_proto::paths::dev: {difference}");
    }

    // Every operation of the file, sent to the router as the file describes it, reaches a
    // handler (not the fallback); the dev-only ones reach the fallback of `fat chain`.
    let dir = TempDir::new("openapi-routes");
    let router = app(open(&dir));
    for op in spec.operations() {
        let uri = op.example_uri();
        let (status, body) = send(&router, &op.method, &uri).await;
        if op.dev() {
            assert_eq!(
                body["code"], "no_route",
                "{} {uri} is dev-only but `fat chain` serves it",
                op.method
            );
            continue;
        }
        assert_ne!(status, 405, "{} {uri}: method not allowed", op.method);
        assert_ne!(
            body["code"], "no_route",
            "{} {uri} is not served",
            op.method
        );
    }
    let (status, body) = send(&router, "GET", "/v1/nothing").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("no_route")));
}

/// Send without checking: the status and the JSON body (`null` for none or an event stream).
async fn send(router: &axum::Router, method: &str, uri: &str) -> (u16, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let stream = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if stream {
        return (status, Value::Null);
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const OCTETS: Option<&str> = Some("application/octet-stream");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_fit_the_openapi_schemas() {
    let spec = Spec::load(FILE);
    let dir = TempDir::new("openapi-answers");
    let node = open(&dir);
    let mut c = Checker::new(&spec, app(node.clone()));
    use fat_proto::paths::chain as p;

    let (a, g) = (alice(), gatekeeper());
    let code = common::component(64);
    let hash = code_hash(&code.0);
    let cluster = cluster_id(&a.account_id(), 1);
    let contract = contract_id(&a.account_id(), &hash, &cluster, &[]);
    let command = TxKind::Command {
        contract,
        payload: Bytes(vec![1, 2]),
        gas_limit: 1,
    };
    // Every kind of transaction, and a command that fails when executed (its contract has
    // no key yet): every outcome.
    let blocks = [
        vec![
            sign(&a, 0, register_worker(1)),
            sign(
                &a,
                1,
                TxKind::CreateCluster {
                    workers: vec![worker_id(1)],
                },
            ),
            sign(&a, 2, TxKind::UploadCode { code }),
            sign(&a, 3, register_worker(2)),
        ],
        vec![
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
                4,
                TxKind::Instantiate {
                    code_hash: hash,
                    cluster,
                    salt: Bytes::default(),
                    args: Bytes(vec![3]),
                    gas_limit: 1,
                },
            ),
            sign(&a, 5, command.clone()),
            sign(
                &a,
                6,
                TxKind::AddClusterWorker {
                    cluster,
                    worker: worker_id(2),
                },
            ),
        ],
        vec![sign(
            &g,
            1,
            TxKind::PublishContractKey {
                contract,
                public_key: Hash32([0xc2; 32]),
            },
        )],
    ];
    let mut ids = Vec::new();
    for txs in &blocks {
        for tx in txs {
            let body = c
                .call("POST", p::TXS, p::TXS, OCTETS, tx.encode(), 202)
                .await;
            assert_eq!(body["status"], "pending", "{body}");
            ids.push(tx.id());
        }
        produce(&node);
    }
    assert_eq!(
        common::outcomes(&node, 2)[2],
        Outcome::Failed(TxRejection::ContractKeyMissing { contract })
    );

    // A transfer, waited for: 200 once a block commits it.
    let transfer = sign(
        &a,
        7,
        TxKind::Transfer {
            to: bob().account_id(),
            amount: 5,
        },
    );
    ids.push(transfer.id());
    let waiting = {
        let router = c.router.clone();
        let bytes = transfer.encode();
        tokio::spawn(async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let request = axum::http::Request::post("/v1/txs?wait=true")
                .header("content-type", "application/octet-stream")
                .body(axum::body::Body::from(bytes))
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let media = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, media, body)
        })
    };
    while !waiting.is_finished() {
        node.produce_block().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, media, body) = waiting.await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    if let Err(problem) = spec.check_answer("POST", p::TXS, status, &media, &body) {
        let text = String::from_utf8_lossy(&body).to_string();
        c.problem(problem, "POST /v1/txs?wait=true".into(), &text);
    }

    // Refusals.
    let stale = sign(
        &a,
        0,
        TxKind::Transfer {
            to: bob().account_id(),
            amount: 1,
        },
    );
    let body = c
        .call("POST", p::TXS, p::TXS, OCTETS, stale.encode(), 422)
        .await;
    assert_eq!(body["code"], "stale_nonce", "{body}");
    let body = c
        .call("POST", p::TXS, p::TXS, OCTETS, b"junk".to_vec(), 422)
        .await;
    assert_eq!(body["code"], "malformed", "{body}");
    let mut forged = sign(&a, 8, TxKind::CreateCluster { workers: vec![] });
    forged.signature = Signature([1; 64]);
    let body = c
        .call("POST", p::TXS, p::TXS, OCTETS, forged.encode(), 422)
        .await;
    assert_eq!(body["code"], "bad_signature", "{body}");
    let pending = sign(&a, 8, command);
    c.call("POST", p::TXS, p::TXS, OCTETS, pending.encode(), 202)
        .await;
    let body = c
        .call("POST", p::TXS, p::TXS, OCTETS, pending.encode(), 409)
        .await;
    assert_eq!(body["code"], "already_known", "{body}");
    let max = node.params().max_tx_bytes as usize;
    let body = c
        .call("POST", p::TXS, p::TXS, OCTETS, vec![0; max + 1], 413)
        .await;
    assert_eq!(body["code"], "too_large", "{body}");
    c.call("POST", p::TXS, p::TXS, OCTETS, vec![0; max + 2], 413)
        .await;
    c.call(
        "POST",
        p::TXS,
        "/v1/txs?wait=maybe",
        OCTETS,
        Vec::new(),
        400,
    )
    .await;
    {
        let full_dir = TempDir::new("openapi-full");
        let full = open_with(&full_dir, fat_chain::genesis::dev(), 1);
        let mut f = Checker::new(&spec, app(full));
        for (nonce, expected) in [(0, 202), (1, 503)] {
            let tx = sign(&alice(), nonce, TxKind::CreateCluster { workers: vec![] });
            f.call("POST", p::TXS, p::TXS, OCTETS, tx.encode(), expected)
                .await;
        }
        for (problem, _, first) in f.problems {
            c.problem(problem, first, "");
        }
    }

    // Reads.
    c.get(p::STATUS, p::STATUS, 200).await;
    c.get(p::PARAMS, p::PARAMS, 200).await;
    c.get(p::GENESIS, p::GENESIS, 200).await;
    c.get(p::VALIDATORS, p::VALIDATORS, 200).await;
    c.get(p::CLUSTERS, p::CLUSTERS, 200).await;
    for id in &ids {
        c.get(p::TX, &p::tx(id), 200).await;
    }
    c.get(p::TX, &p::tx(&pending.id()), 404).await;
    c.get(p::TX, "/v1/txs/zz", 400).await;
    let tip = node.tip().height;
    for height in 0..=tip {
        c.get(p::BLOCK, &p::block(height), 200).await;
        c.get(p::BLOCK_RECEIPTS, &p::block_receipts(height), 200)
            .await;
    }
    for (template, latest) in [
        (p::BLOCK, "/v1/blocks/latest"),
        (p::BLOCK_RECEIPTS, "/v1/blocks/latest/receipts"),
    ] {
        c.get(template, latest, 200).await;
    }
    c.get(p::BLOCK, &p::block(tip + 5), 404).await;
    c.get(p::BLOCK_RECEIPTS, &p::block_receipts(tip + 5), 404)
        .await;
    c.get(p::BLOCK, "/v1/blocks/x", 400).await;
    c.get(p::BLOCK_RECEIPTS, "/v1/blocks/x/receipts", 400).await;
    c.get(p::ACCOUNT, &p::account(&a.account_id()), 200).await;
    c.get(p::ACCOUNT, &p::account(&AccountId([9; 32])), 200)
        .await;
    c.get(p::ACCOUNT, "/v1/accounts/zz", 400).await;
    let nothing = CodeHash([9; 32]);
    c.get(p::CODE, &p::code(&hash), 200).await;
    c.get(p::CODE, &p::code(&nothing), 404).await;
    c.get(p::CODE, "/v1/codes/zz", 400).await;
    c.get(p::CODE_WASM, &p::code_wasm(&hash), 200).await;
    c.get(p::CODE_WASM, &p::code_wasm(&nothing), 404).await;
    c.get(p::CODE_WASM, "/v1/codes/zz/wasm", 400).await;
    c.get(p::CONTRACT, &p::contract(&contract), 200).await;
    c.get(p::CONTRACT, &p::contract(&ContractId([9; 32])), 404)
        .await;
    c.get(p::CONTRACT, "/v1/contracts/zz", 400).await;
    c.get(p::CLUSTER, &p::cluster(&cluster), 200).await;
    c.get(p::CLUSTER, &p::cluster(&ClusterId([9; 32])), 404)
        .await;
    c.get(p::CLUSTER, "/v1/clusters/zz", 400).await;
    c.get(p::CLUSTER_CONTRACTS, &p::cluster_contracts(&cluster), 200)
        .await;
    c.get(
        p::CLUSTER_CONTRACTS,
        &p::cluster_contracts(&ClusterId([9; 32])),
        404,
    )
    .await;
    c.get(p::CLUSTER_CONTRACTS, "/v1/clusters/zz/contracts", 400)
        .await;
    c.get(p::WORKER, &p::worker(&worker_id(1)), 200).await;
    c.get(p::WORKER, &p::worker(&WorkerId([9; 32])), 404).await;
    c.get(p::WORKER, "/v1/workers/zz", 400).await;
    c.get(p::PROVISION, &p::provision(&worker_id(1), &cluster), 200)
        .await;
    c.get(p::PROVISION, &p::provision(&worker_id(2), &cluster), 404)
        .await;
    c.get(p::PROVISION, &format!("/v1/provisions/zz/{cluster}"), 400)
        .await;
    let events = c
        .events(
            p::STREAM_BLOCKS,
            &p::stream_blocks(0, true),
            "block",
            tip as usize + 1,
        )
        .await;
    assert!(events.iter().all(|e| e["receipts"].is_array()));
    c.events(p::STREAM_BLOCKS, p::STREAM_BLOCKS, "block", 0)
        .await;
    c.get(p::STREAM_BLOCKS, "/v1/stream/blocks?from=x", 400)
        .await;

    c.finish(&spec.routes(false));
}

/// The JSON of a value.
fn js(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

/// Every variant of [`TxRejection`].
fn rejections() -> Vec<TxRejection> {
    let (contract, cluster, worker) = (ContractId([2; 32]), ClusterId([3; 32]), WorkerId([4; 32]));
    vec![
        TxRejection::Malformed { reason: "r".into() },
        TxRejection::TooLarge { size: 2, max: 1 },
        TxRejection::BadSignature,
        TxRejection::AlreadyKnown,
        TxRejection::StaleNonce {
            expected: 1,
            got: 0,
        },
        TxRejection::NonceGap {
            expected: 1,
            got: 2,
        },
        TxRejection::FeeTooLow { fee: 0, min: 1 },
        TxRejection::InsufficientBalance {
            needed: 2,
            available: 1,
        },
        TxRejection::UnknownCode {
            code_hash: CodeHash([1; 32]),
        },
        TxRejection::UnknownContract { contract },
        TxRejection::UnknownCluster { cluster },
        TxRejection::UnknownWorker { worker },
        TxRejection::ContractExists { contract },
        TxRejection::WorkerExists { worker },
        TxRejection::Membership { worker, cluster },
        TxRejection::NotClusterOwner { cluster },
        TxRejection::NotDeployer { cluster },
        TxRejection::NotClusterAdmin,
        TxRejection::StaleKeyEpoch {
            cluster,
            what: "w".into(),
            current: 2,
        },
        TxRejection::KeyEpochsExhausted { cluster },
        TxRejection::NotGatekeeper,
        TxRejection::AttestationRejected {
            provider: "dev".into(),
            reason: "r".into(),
        },
        TxRejection::ClusterKeyMissing { cluster },
        TxRejection::ContractKeyMissing { contract },
        TxRejection::KeyMismatch { what: "w".into() },
        TxRejection::MempoolFull { limit: 1 },
        TxRejection::GasLimitTooHigh { gas: 2, max: 1 },
        TxRejection::WrongChain {
            expected: Hash32([5; 32]),
            got: Hash32([6; 32]),
        },
        TxRejection::NotOperator {
            worker: WorkerId([7; 32]),
        },
        TxRejection::MempoolBytesFull { limit: 1 },
    ]
}

/// Every variant of [`TxKind`].
fn kinds() -> Vec<TxKind> {
    let (cluster, worker) = (ClusterId([3; 32]), WorkerId([4; 32]));
    vec![
        TxKind::Transfer {
            to: AccountId([1; 32]),
            amount: 1,
        },
        TxKind::UploadCode {
            code: Bytes(vec![0, 0x61]),
        },
        TxKind::Instantiate {
            code_hash: CodeHash([1; 32]),
            cluster,
            salt: Bytes(vec![]),
            args: Bytes(vec![1]),
            gas_limit: 1,
        },
        TxKind::Command {
            contract: ContractId([2; 32]),
            payload: Bytes(vec![1]),
            gas_limit: 1,
        },
        TxKind::CreateCluster {
            workers: vec![worker],
        },
        TxKind::AddClusterWorker { cluster, worker },
        TxKind::RegisterWorker {
            worker,
            ecdh_public: Hash32([5; 32]),
            attestation: attestation(),
        },
        TxKind::ProvisionKey {
            cluster,
            epoch: 0,
            cluster_public: Hash32([5; 32]),
            keys: vec![(worker, Bytes(vec![7]))],
        },
        TxKind::PublishContractKey {
            contract: ContractId([2; 32]),
            public_key: Hash32([5; 32]),
        },
        TxKind::RemoveClusterWorker { cluster, worker },
        TxKind::SetWorkerEndpoint {
            worker,
            endpoint: "http://127.0.0.1:8546".into(),
        },
        TxKind::PublishContractKeys {
            keys: vec![(ContractId([2; 32]), Hash32([5; 32]))],
        },
        TxKind::SetClusterDeployers {
            cluster,
            deployers: Deployers::Accounts(vec![AccountId([6; 32])]),
        },
        TxKind::Reattest {
            worker,
            attestation: attestation(),
        },
    ]
}

fn attestation() -> Attestation {
    Attestation {
        provider: "dev".into(),
        report: Bytes(vec![0xab]),
    }
}

fn header() -> BlockHeader {
    BlockHeader {
        height: 1,
        parent: Hash32([1; 32]),
        timestamp_ms: 2,
        tx_root: Hash32([3; 32]),
        receipts_root: Hash32([4; 32]),
        state_root: Hash32([5; 32]),
    }
}

fn signed() -> SignedTransaction {
    SignedTransaction {
        tx: Transaction {
            chain: Hash32([0xc1; 32]),
            signer: AccountId([1; 32]),
            nonce: 0,
            fee: 1,
            kind: kinds().remove(0),
        },
        signature: Signature([9; 64]),
    }
}

fn receipt(outcome: Outcome) -> ChainReceipt {
    ChainReceipt {
        tx: TxId([1; 32]),
        fee: 1,
        outcome,
    }
}

/// Component name of a `TxKind` variant's key (`upload_code` → `UploadCode`).
fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn component_schemas_name_the_fields_rust_serializes() {
    let spec = Spec::load(FILE);
    let id = TxId([1; 32]);
    let committed = SubmitAnswer {
        id,
        status: TxStatus::Committed,
        height: Some(1),
        index: Some(0),
        receipt: Some(receipt(Outcome::Ok)),
    };
    let mut samples: Vec<(String, Value)> = vec![
        ("Hex32".into(), js(Hash32([0xab; 32]))),
        ("Signature".into(), js(Signature([0xcd; 64]))),
        ("Bytes".into(), js(Bytes(vec![0, 0xff]))),
        ("Bytes".into(), js(Bytes(vec![]))),
        ("Height".into(), json!("7")),
        ("Height".into(), json!("latest")),
        ("U64".into(), json!(u64::MAX)),
        (
            "ErrorBody".into(),
            js(fat_proto::ErrorBody::new("not_found", "block 9 not found")),
        ),
        (
            "ChainStatus".into(),
            js(ChainStatus {
                genesis: Hash32([1; 32]),
                height: 1,
                hash: Hash32([2; 32]),
                timestamp_ms: 3,
                state_root: Hash32([4; 32]),
                pending: 6,
            }),
        ),
        ("ChainParams".into(), js(fat_chain::genesis::dev().params)),
        ("Genesis".into(), js(fat_chain::genesis::dev())),
        ("Certificate".into(), js(Certificate::Genesis)),
        (
            "Certificate".into(),
            js(Certificate::Ed25519 {
                round: 3,
                signatures: vec![(0, Signature([9; 64]))],
            }),
        ),
        (
            "Certificate".into(),
            js(Certificate::Simplex {
                view: 12,
                parent_view: 11,
                signatures: vec![(2, Signature([9; 64]))],
                descendants: vec![fat_types::BlockHeader {
                    height: 4,
                    parent: Hash32([1; 32]),
                    timestamp_ms: 5,
                    tx_root: Hash32([2; 32]),
                    receipts_root: Hash32([3; 32]),
                    state_root: Hash32([4; 32]),
                }],
            }),
        ),
        (
            "AttestationPolicy".into(),
            js(AttestationPolicy {
                providers: vec!["dev".into()],
                measurements: vec![("dev".into(), Bytes(vec![1]))],
                tcb_statuses: vec!["UpToDate".into()],
                max_age_secs: 0,
                snp_min_tcb: Some(fat_types::SnpTcb {
                    bootloader: 3,
                    tee: 0,
                    snp: 8,
                    microcode: 115,
                }),
            }),
        ),
        ("TxStatus".into(), js(TxStatus::Pending)),
        ("TxStatus".into(), js(TxStatus::Committed)),
        ("SubmitAnswer".into(), js(&committed)),
        ("SubmitCommitted".into(), js(&committed)),
        ("SubmitPending".into(), js(SubmitAnswer::pending(id))),
        (
            "TxAnswer".into(),
            js(TxAnswer {
                id,
                status: TxStatus::Committed,
                height: 1,
                index: 0,
                tx: TxView::from(signed()),
                receipt: receipt(Outcome::Ok),
            }),
        ),
        ("TxView".into(), js(TxView::from(signed()))),
        ("Transaction".into(), js(signed().tx)),
        ("Attestation".into(), js(attestation())),
        ("BlockHeader".into(), js(header())),
        (
            "BlockView".into(),
            js(BlockView {
                receipts: Some(vec![receipt(Outcome::Ok)]),
                ..BlockView::from(Block {
                    header: header(),
                    certificate: Certificate::Ed25519 {
                        round: 1,
                        signatures: vec![(0, Signature([9; 64]))],
                    },
                    txs: vec![signed()],
                })
            }),
        ),
        (
            "ReceiptsView".into(),
            js(ReceiptsView {
                height: 1,
                receipts: vec![receipt(Outcome::Ok)],
            }),
        ),
        (
            "ClustersView".into(),
            js(ClustersView {
                clusters: vec![ClusterSummary {
                    info: ClusterInfo {
                        id: ClusterId([1; 32]),
                        owner: AccountId([2; 32]),
                        workers: vec![WorkerId([3; 32])],
                        key_epoch: 0,
                        public_key: Some(Hash32([4; 32])),
                        deployers: Deployers::Accounts(vec![AccountId([5; 32])]),
                        key_deposits: 1,
                    },
                    contracts: 5,
                }],
            }),
        ),
        (
            "ValidatorsView".into(),
            js(ValidatorsView {
                height: 2,
                validators: vec![ValidatorView {
                    index: 0,
                    account: AccountId([1; 32]),
                    last_signed: Some(2),
                }],
            }),
        ),
        (
            "AccountView".into(),
            js(AccountView {
                id: AccountId([1; 32]),
                balance: 2,
                nonce: 3,
                next_nonce: 4,
            }),
        ),
        (
            "CodeInfo".into(),
            js(CodeInfo {
                hash: CodeHash([1; 32]),
                size: 2,
                uploader: AccountId([3; 32]),
                height: 4,
            }),
        ),
        (
            "WorkerInfo".into(),
            js(WorkerInfo {
                id: WorkerId([1; 32]),
                ecdh_public: Hash32([2; 32]),
                operator: AccountId([3; 32]),
                attestation: attestation(),
                height: 4,
                attested_at: 0,
                endpoint: Some("http://127.0.0.1:8546".into()),
            }),
        ),
        (
            "KeyProvision".into(),
            js(KeyProvision {
                epoch: 2,
                worker: WorkerId([1; 32]),
                cluster: ClusterId([2; 32]),
                gatekeeper: AccountId([3; 32]),
                sealed_key: Bytes(vec![4]),
                height: 5,
            }),
        ),
        (
            "DevWorker".into(),
            js(DevWorker {
                id: WorkerId([1; 32]),
                path: "/workers/0".into(),
            }),
        ),
    ];
    for public_key in [Some(Hash32([7; 32])), None] {
        samples.push((
            "ContractInfo".into(),
            js(ContractInfo {
                id: ContractId([1; 32]),
                code_hash: CodeHash([2; 32]),
                cluster: ClusterId([3; 32]),
                deployer: AccountId([4; 32]),
                height: 5,
                key_epoch: 0,
                public_key,
            }),
        ));
        samples.push((
            "ClusterInfo".into(),
            js(ClusterInfo {
                id: ClusterId([1; 32]),
                owner: AccountId([2; 32]),
                workers: vec![WorkerId([3; 32])],
                key_epoch: 0,
                public_key,
                deployers: if public_key.is_some() {
                    Deployers::Owner
                } else {
                    Deployers::Anyone
                },
                key_deposits: 0,
            }),
        ));
    }
    for cluster in [Some(ClusterId([1; 32])), None] {
        samples.push((
            "DevWorkers".into(),
            js(DevWorkers {
                cluster,
                workers: vec![DevWorker {
                    id: WorkerId([2; 32]),
                    path: "/workers/0".into(),
                }],
            }),
        ));
    }
    for deployers in [
        Deployers::Anyone,
        Deployers::Owner,
        Deployers::Accounts(vec![AccountId([7; 32])]),
    ] {
        samples.push(("Deployers".into(), js(deployers)));
    }
    for kind in kinds() {
        let value = js(&kind);
        let (variant, body) = value.as_object().unwrap().iter().next().unwrap();
        samples.push((camel(variant), body.clone()));
        samples.push(("TxKind".into(), value));
    }
    for rejection in rejections() {
        let mut error = js(&rejection);
        error["message"] = json!(rejection.to_string());
        samples.push(("RejectionError".into(), error));
        samples.push(("TxRejection".into(), js(&rejection)));
    }
    let mut outcomes = vec![
        Outcome::Ok,
        Outcome::CodeStored(CodeHash([1; 32])),
        Outcome::ContractCreated(ContractId([2; 32])),
        Outcome::ClusterCreated(ClusterId([3; 32])),
    ];
    outcomes.extend(rejections().into_iter().map(Outcome::Failed));
    for outcome in outcomes {
        samples.push(("ChainReceipt".into(), js(receipt(outcome.clone()))));
        samples.push(("Outcome".into(), js(outcome)));
    }
    let samples: Vec<(&str, Value)> = samples
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    assert_none(
        &format!("docs/{FILE} against the Rust types"),
        &spec.check_samples(&samples),
    );
}
