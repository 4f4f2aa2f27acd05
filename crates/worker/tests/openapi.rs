//! docs/openapi-worker.yaml against the code: its routes against `ROUTES` (the table the
//! router is built from) and the router itself, the
//! answers of a real worker against the schema of their status, and its component schemas
//! against the fields the Rust types serialize.

mod common;
#[path = "../../chain/tests/support/openapi.rs"]
mod openapi;

use common::{Chain, RunningWorker, temp_dir};
use fat_crypto::dev_keypair;
use fat_crypto::envelope::SessionMessage;
use fat_proto::worker::{
    JobProof, LogLine, LogsView, QueryReply, QueryRequest, ReceiptView, WorkerContract,
    WorkerStatus,
};
use fat_runtime::{CallError, Limit};
use fat_types::{
    Bytes, ClusterId, CodeHash, ContractId, ExecEvent, ExecStatus, ExecutionReceipt, Hash32,
    Signature, SignedExecutionReceipt, TxId, WorkerId,
};
use fat_worker::api::{ROUTES, app};
use fat_worker::{Worker, WorkerConfig};
use openapi::{Checker, Spec, assert_none, route_differences, route_set};
use serde_json::{Value, json};

const FILE: &str = "openapi-worker.yaml";
const JSON: Option<&str> = Some("application/json");
const OCTETS: Option<&str> = Some("application/octet-stream");
const SESSION: Option<&str> = Some("application/x-fat-session");

#[tokio::test]
async fn openapi_lists_exactly_the_routes() {
    let spec = Spec::load(FILE);
    let served = route_set(ROUTES);
    let documented = spec.routes(false);
    if let Some(difference) = route_differences(FILE, &documented, &served) {
        panic!("{difference}");
    }
    assert!(
        spec.routes(true).is_empty(),
        "a worker has no dev-only routes"
    );

    // Every operation of the file, sent to the router as the file describes it, reaches a
    // handler (not the fallback).
    let dir = temp_dir("openapi-routes");
    let key = fat_devnet::bootstrap::dev_worker_key(0);
    let worker = Worker::open(WorkerConfig::new(&dir, Some(key))).unwrap();
    let mut c = Checker::new(&spec, app(worker));
    for op in spec.operations() {
        let uri = op.example_uri();
        let body = c
            .call(&op.method, &op.path, &uri, None, Vec::new(), 0)
            .await;
        assert_ne!(
            body["code"], "no_route",
            "{} {uri} is not served",
            op.method
        );
    }
    let body = c.get("/v1/nothing", "/v1/nothing", 404).await;
    assert_eq!(body["code"], "no_route");
    // Only the statuses are wrong here (0 expected): what reached a handler is enough, if
    // it reached it with the documented method.
    assert!(
        c.problems.iter().all(|(p, _, _)| {
            (p.contains("expected 0") && !p.contains("got 405")) || p.contains("/v1/nothing")
        }),
        "{:?}",
        c.problems
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_fit_the_openapi_schemas() {
    use fat_proto::paths::worker as p;
    let spec = Spec::load(FILE);
    let dir = temp_dir("openapi-answers");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w0 = RunningWorker::start_with(&chain.url, &dir, 0, |c| c.plaintext_queries = true).await;
    let wasm = fat_test_programs::read(fat_test_programs::PROBE);
    let probe = chain.deploy(&wasm, cluster, json!("hello")).await;
    let alice = dev_keypair("alice");
    let emitted = chain.command(&alice, probe, "emit", json!(2)).await;
    let failed = chain.command(&alice, probe, "panic", Value::Null).await;
    let logged = chain.command(&alice, probe, "log", json!(3)).await;
    let height = logged.1;
    w0.wait_for(height).await;

    let mut c = Checker::new(&spec, app(w0.worker.clone()));
    let nothing = ContractId([9; 32]);
    c.get(p::STATUS, p::STATUS, 200).await;
    c.get(p::CONTRACT, &p::contract(&probe), 200).await;
    c.get(p::CONTRACT, &p::contract(&nothing), 404).await;
    c.get(p::CONTRACT, "/v1/contracts/zz", 400).await;
    let logs = c.get(p::LOGS, &p::logs(&probe, 0, 10), 200).await;
    assert!(!logs["logs"].as_array().unwrap().is_empty(), "{logs}");
    c.get(p::LOGS, &p::logs(&nothing, 0, 10), 404).await;
    c.get(p::LOGS, "/v1/contracts/zz/logs", 400).await;
    c.get(p::LOGS, &format!("/v1/contracts/{probe}/logs?limit=x"), 400)
        .await;
    c.events(p::LOGS, &p::follow_logs(&probe, 0), "log", 2)
        .await;
    for (tx, at) in [emitted, failed, logged] {
        c.get(p::RECEIPT, &p::receipt(&tx, at), 200).await;
        // Not in a block before it; nor after, where the worker has not reached yet.
        let body = c.get(p::RECEIPT, &p::receipt(&tx, at - 1), 404).await;
        assert_eq!(body["code"], "not_found", "{body}");
        let body = c.get(p::RECEIPT, &p::receipt(&tx, height + 1), 404).await;
        assert_eq!(body["code"], "not_reached", "{body}");
    }
    c.get(p::RECEIPT, &p::receipt(&TxId([9; 32]), height), 404)
        .await;
    c.get(p::RECEIPT, "/v1/receipts/zz?height=1", 400).await;
    let body = c
        .get(p::RECEIPT, &format!("/v1/receipts/{}", logged.0), 400)
        .await;
    assert!(
        body["message"].as_str().unwrap().contains("?height="),
        "{body}"
    );
    c.get(
        p::RECEIPT,
        &format!("/v1/receipts/{}?height=x", logged.0),
        400,
    )
    .await;

    let query = |method: &str| {
        json!({"method": method, "args": null})
            .to_string()
            .into_bytes()
    };
    let path = p::query(&probe);
    c.call("POST", p::QUERY, &path, JSON, query("random"), 200)
        .await;
    c.call("POST", p::QUERY, &path, JSON, query("panic"), 422)
        .await;
    c.call("POST", p::QUERY, &path, JSON, b"{".to_vec(), 400)
        .await;
    c.call(
        "POST",
        p::QUERY,
        &p::query(&nothing),
        JSON,
        query("get"),
        404,
    )
    .await;
    c.call(
        "POST",
        p::QUERY,
        "/v1/contracts/zz/query",
        JSON,
        query("get"),
        400,
    )
    .await;
    let (envelope, _) = w0.seal_query(&alice, probe, "random", Value::Null).await;
    c.call("POST", p::QUERY, &path, OCTETS, envelope.to_bytes(), 200)
        .await;
    c.call("POST", p::QUERY, &path, OCTETS, envelope.to_bytes(), 409)
        .await;
    c.call("POST", p::QUERY, &path, OCTETS, b"junk".to_vec(), 400)
        .await;
    let (unsent, _) = w0.seal_query(&alice, probe, "random", Value::Null).await;
    let message = SessionMessage {
        header: unsent.header.clone(),
        ciphertext: unsent.ciphertext.clone(),
    };
    c.call("POST", p::QUERY, &path, SESSION, message.to_bytes(), 410)
        .await;
    c.call("POST", p::QUERY, &path, SESSION, b"junk".to_vec(), 400)
        .await;

    // Jobs come only from other members of the contract's cluster, sealed to this worker.
    c.call("POST", p::JOBS, p::JOBS, OCTETS, b"junk".to_vec(), 400)
        .await;
    let job = fat_proto::worker::JobCall {
        contract: probe,
        caller: alice.account_id(),
        name: "reverse".into(),
        input: b"abc".to_vec(),
        min_height: 0,
    };
    let (outsider, _) = fat_crypto::envelope::seal(
        &fat_devnet::bootstrap::dev_worker_key(1),
        &fat_crypto::envelope::EcdhPublic(w0.worker.ecdh_public().0),
        probe,
        fat_crypto::envelope::Direction::Job,
        &fat_types::encoding::encode(&job),
        common::now_ms(),
        fat_crypto::envelope::SealRandomness::generate().unwrap(),
    )
    .unwrap();
    c.call("POST", p::JOBS, p::JOBS, OCTETS, outsider.to_bytes(), 403)
        .await;
    c.call("GET", p::PROGRESS, "/v1/progress/zz", JSON, Vec::new(), 400)
        .await;

    // Roots at the head, at block 0, past the head; snapshots only for members.
    let roots = c.get(p::ROOTS, p::ROOTS, 200).await;
    assert_eq!(roots["roots"].as_array().unwrap().len(), 1, "{roots}");
    c.get(p::ROOTS, &p::roots(Some(0)), 200).await;
    c.get(p::ROOTS, &p::roots(Some(height + 1000)), 404).await;
    c.get(p::ROOTS, &p::roots(Some(u64::MAX)), 404).await;
    // Refused with the API's error body, as every bad query string.
    for bad in ["/v1/roots?height=x", "/v1/roots?height=1&height=1"] {
        let body = c.get(p::ROOTS, bad, 400).await;
        assert_eq!(body["code"], "bad_request", "{body}");
    }
    c.call(
        "POST",
        p::SNAPSHOTS,
        p::SNAPSHOTS,
        OCTETS,
        b"junk".to_vec(),
        400,
    )
    .await;
    let request = fat_proto::worker::SnapshotRequest {
        contract: probe,
        min_height: 0,
    };
    let (outsider, _) = fat_crypto::envelope::seal(
        &fat_devnet::bootstrap::dev_worker_key(1),
        &fat_crypto::envelope::EcdhPublic(w0.worker.ecdh_public().0),
        probe,
        fat_crypto::envelope::Direction::Snapshot,
        &fat_types::encoding::encode(&request),
        common::now_ms(),
        fat_crypto::envelope::SealRandomness::generate().unwrap(),
    )
    .unwrap();
    c.call(
        "POST",
        p::SNAPSHOTS,
        p::SNAPSHOTS,
        OCTETS,
        outsider.to_bytes(),
        403,
    )
    .await;

    // Keys this member confirms: its cluster's and its contract's, signed.
    let confirmed = c.get(p::CLUSTER_KEY, &p::cluster_key(&cluster), 200).await;
    assert_eq!(confirmed["subject"]["cluster"]["epoch"], 0, "{confirmed}");
    c.get(p::CLUSTER_KEY, &p::cluster_key(&ClusterId([9; 32])), 404)
        .await;
    c.get(p::CLUSTER_KEY, "/v1/clusters/zz/key", 400).await;
    let confirmed = c.get(p::CONTRACT_KEY, &p::contract_key(&probe), 200).await;
    let answer: fat_proto::worker::KeyConfirmation = serde_json::from_value(confirmed).unwrap();
    answer.verify().unwrap();
    c.get(p::CONTRACT_KEY, &p::contract_key(&nothing), 404)
        .await;
    c.get(p::CONTRACT_KEY, "/v1/contracts/zz/key", 400).await;

    // A worker that never reached a chain and takes sealed queries only.
    let idle_dir = temp_dir("openapi-idle");
    let key = fat_devnet::bootstrap::dev_worker_key(1);
    let idle = Worker::open(WorkerConfig::new(&idle_dir, Some(key))).unwrap();
    let mut i = Checker::new(&spec, app(idle));
    let status = i.get(p::STATUS, p::STATUS, 200).await;
    assert_eq!(status["height"], Value::Null);
    i.call("POST", p::QUERY, &path, JSON, query("get"), 415)
        .await;
    for (problem, _, first) in i.problems {
        c.problem(problem, first, "");
    }

    c.finish(&spec.routes(false));
    w0.stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&idle_dir);
}

/// The JSON of a value.
fn js(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

fn exec_receipt(status: ExecStatus, sealed_output: Option<Bytes>) -> ExecutionReceipt {
    ExecutionReceipt {
        tx: TxId([1; 32]),
        contract: ContractId([2; 32]),
        height: 3,
        index: 4,
        status,
        output: "7".into(),
        sealed_output,
        events: vec![ExecEvent {
            topic: "t".into(),
            data: Bytes(vec![5]),
        }],
        gas_used: 6,
        state_root: Hash32([7; 32]),
    }
}

#[test]
fn component_schemas_name_the_fields_rust_serializes() {
    let spec = Spec::load(FILE);
    let reply = |output: Option<Value>, failed: Option<CallError>| QueryReply {
        worker: WorkerId([1; 32]),
        height: 2,
        gas_used: 3,
        elapsed_ms: 0.5,
        output,
        code: failed.as_ref().map(|_| "call_failed".to_string()),
        message: failed.as_ref().map(|e| e.to_string()),
        error: failed.map(js),
        jobs: vec![JobProof::sign(
            &fat_crypto::Keypair::from_seed([5; 32]),
            ContractId([6; 32]),
            "tile",
            b"in",
            &Ok(vec![1]),
        )],
    };
    let errors = [
        CallError::Reverted {
            message: "no".into(),
        },
        CallError::LimitExceeded { limit: Limit::Gas },
        CallError::Trapped {
            message: "trap".into(),
        },
        CallError::Instantiate {
            message: "import".into(),
        },
    ];
    let signed = SignedExecutionReceipt {
        receipt: exec_receipt(ExecStatus::Ok, Some(Bytes(vec![1]))),
        worker: WorkerId([8; 32]),
        signature: Signature([9; 64]),
    };
    let line = LogLine {
        seq: 0,
        height: 1,
        index: 2,
        tx: TxId([3; 32]),
        level: "info".into(),
        message: "hello".into(),
    };
    let mut samples: Vec<(&str, Value)> = vec![
        ("Hex32", js(Hash32([0xab; 32]))),
        ("Signature", js(Signature([0xcd; 64]))),
        ("Bytes", js(Bytes(vec![0, 0xff]))),
        ("U64", json!(u64::MAX)),
        ("ErrorBody", js(fat_proto::ErrorBody::new("busy", "busy"))),
        (
            "WorkerContract",
            js(WorkerContract {
                id: ContractId([1; 32]),
                code_hash: CodeHash([2; 32]),
                cluster: ClusterId([3; 32]),
                deployer: fat_types::AccountId([4; 32]),
                created: 5,
                height: 6,
                state_root: Hash32([7; 32]),
                entries: 8,
                logs: 9,
                synced_through: Some(10),
            }),
        ),
        (
            "QueryRequest",
            js(QueryRequest {
                method: "get".into(),
                args: json!({"k": 1}),
                progress: Some("00112233445566778899aabbccddeeff".into()),
            }),
        ),
        (
            "QueryReply",
            js(reply(Some(json!(7)), Some(errors[0].clone()))),
        ),
        ("QueryOk", js(reply(Some(json!(7)), None))),
        ("QueryFailed", js(reply(None, Some(errors[1].clone())))),
        (
            "ReceiptView",
            js(ReceiptView {
                hash: signed.receipt.hash(),
                signed: signed.clone(),
            }),
        ),
        ("SignedExecutionReceipt", js(&signed)),
        (
            "ExecutionReceipt",
            js(exec_receipt(ExecStatus::Ok, Some(Bytes(vec![1])))),
        ),
        ("ExecutionReceipt", js(exec_receipt(ExecStatus::Ok, None))),
        ("ExecStatus", js(ExecStatus::Ok)),
        ("ExecStatus", js(ExecStatus::Failed { error: "no".into() })),
        (
            "ExecEvent",
            js(ExecEvent {
                topic: "t".into(),
                data: Bytes(vec![]),
            }),
        ),
        ("LogLine", js(&line)),
        (
            "LogsView",
            js(LogsView {
                contract: ContractId([1; 32]),
                logs: vec![line],
            }),
        ),
    ];
    for error in errors {
        samples.push(("CallError", js(error)));
    }
    // Every limit a call can end with is one the file names.
    for limit in Limit::ALL {
        samples.push(("CallError", js(CallError::LimitExceeded { limit })));
    }
    samples.push((
        "JobProgress",
        js(fat_proto::worker::JobProgress { done: 3, total: 32 }),
    ));
    samples.push((
        "JobProof",
        js(JobProof::sign(
            &fat_crypto::Keypair::from_seed([5; 32]),
            ContractId([6; 32]),
            "tile",
            b"in",
            &Err("no".into()),
        )),
    ));
    for subject in [
        fat_proto::worker::KeySubject::Cluster {
            id: ClusterId([3; 32]),
            epoch: 2,
        },
        fat_proto::worker::KeySubject::Contract {
            id: ContractId([6; 32]),
        },
    ] {
        samples.push((
            "KeyConfirmation",
            js(fat_proto::worker::KeyConfirmation::sign(
                &fat_crypto::Keypair::from_seed([5; 32]),
                subject,
                Hash32([8; 32]),
                7,
            )),
        ));
    }
    samples.push((
        "SignedRoots",
        js(fat_proto::worker::SignedRoots::sign(
            &fat_crypto::Keypair::from_seed([5; 32]),
            7,
            vec![fat_proto::worker::ContractRoot {
                contract: ContractId([6; 32]),
                root: Hash32([8; 32]),
            }],
        )),
    ));
    for head in [Some(1), None] {
        samples.push((
            "WorkerStatus",
            js(WorkerStatus {
                worker: WorkerId([1; 32]),
                ecdh_public: Hash32([2; 32]),
                contracts: 3,
                queries_admitted: 4,
                jobs_admitted: 1,
                height: head,
                hash: head.map(|_| Hash32([5; 32])),
                timestamp_ms: head,
            }),
        ));
    }
    assert_none(
        &format!("docs/{FILE} against the Rust types"),
        &spec.check_samples(&samples),
    );
}
