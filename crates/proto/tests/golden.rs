//! Golden tests: the JSON of every body the chain and the worker send, pinned in
//! `tests/golden/NAME.json`. A change here is a change of the wire format: make it on purpose
//! (`FAT_BLESS=1 cargo test -p fat-proto --test golden` rewrites the files) and name it in the
//! commit.

use fat_proto::ErrorBody;
use fat_proto::chain::{
    AccountView, BlockFrame, BlockView, ChainStatus, DevWorker, DevWorkers, ReceiptsView,
    SubmitAnswer, TxAnswer, TxStatus, TxView,
};
use fat_proto::worker::{
    JobAnswer, JobCall, JobProof, LogLine, LogsView, QueryReply, QueryRequest, ReceiptView,
    WorkerContract, WorkerStatus,
};
use fat_types::block::{receipts_root, tx_root};
use fat_types::encoding::encode;
use fat_types::{
    AccountId, Block, BlockHeader, Bytes, Certificate, ChainReceipt, ClusterId, CodeHash,
    ContractId, ExecEvent, ExecStatus, ExecutionReceipt, Hash32, Outcome, Signature,
    SignedExecutionReceipt, TxId, TxRejection, WorkerId,
};
mod common;

use common::tx;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Compare the pretty JSON of `value` with `tests/golden/NAME.json`, and check it reads back
/// as the same value.
fn golden<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: &T) {
    let actual = serde_json::to_string_pretty(value).unwrap() + "\n";
    let back: T = serde_json::from_str(&actual).unwrap();
    assert_eq!(&back, value, "{name} does not read back as itself");
    pinned(&format!("{name}.json"), &actual);
}

/// [`golden`] for borsh bytes, pinned as lower-case hex in `tests/golden/NAME.hex`.
fn golden_hex(name: &str, bytes: &[u8]) {
    pinned(&format!("{name}.hex"), &(hex::encode(bytes) + "\n"));
}

/// Compare `actual` with `tests/golden/FILE`; `FAT_BLESS=1` rewrites the file instead.
fn pinned(file: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    if std::env::var_os("FAT_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no golden file {}: run with FAT_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected.as_str(),
        "{} changed: a wire format change must be deliberate (FAT_BLESS=1 rewrites it)",
        path.display()
    );
}

fn receipt(outcome: Outcome) -> ChainReceipt {
    ChainReceipt {
        tx: tx().id(),
        fee: 10,
        outcome,
    }
}

#[test]
fn chain_bodies() {
    golden(
        "chain-status",
        &ChainStatus {
            genesis: Hash32([1; 32]),
            height: 7,
            hash: Hash32([2; 32]),
            timestamp_ms: 1_767_225_600_000,
            state_root: Hash32([3; 32]),
            pending: 2,
        },
    );
    golden("submit-pending", &SubmitAnswer::pending(TxId([5; 32])));
    golden(
        "submit-committed",
        &SubmitAnswer {
            id: tx().id(),
            status: TxStatus::Committed,
            height: Some(7),
            index: Some(0),
            receipt: Some(receipt(Outcome::Failed(TxRejection::BadSignature))),
        },
    );
    golden(
        "tx",
        &TxAnswer {
            id: tx().id(),
            status: TxStatus::Committed,
            height: 7,
            index: 0,
            tx: TxView::from(tx()),
            receipt: receipt(Outcome::Ok),
        },
    );
    let receipts = vec![receipt(Outcome::Ok)];
    let block = Block {
        header: BlockHeader {
            height: 7,
            parent: Hash32([6; 32]),
            timestamp_ms: 1_767_225_600_000,
            tx_root: tx_root(&[tx()]),
            receipts_root: receipts_root(&receipts),
            state_root: Hash32([3; 32]),
        },
        certificate: Certificate::Ed25519 {
            round: 7,
            signatures: vec![(0, Signature([8; 64]))],
        },
        txs: vec![tx()],
    };
    let mut streamed = BlockView::from(block.clone());
    golden("block", &streamed);
    streamed.receipts = Some(receipts.clone());
    golden("block-with-receipts", &streamed);
    assert_eq!(
        streamed.into_parts(),
        (block.clone(), Some(receipts.clone()))
    );
    // The borsh stream's frame of the same block and receipts, and as a node joins it from
    // the bytes its store keeps.
    let frame = BlockFrame {
        block: block.clone(),
        receipts: Some(receipts.clone()),
    };
    let bytes = borsh::to_vec(&frame).unwrap();
    golden_hex("block-frame", &bytes);
    assert_eq!(
        bytes,
        BlockFrame::join(&encode(&block), Some(&encode(&receipts)))
    );
    assert_eq!(
        BlockFrame::from_event_data(&BlockFrame::to_event_data(&bytes)),
        Ok(frame)
    );
    golden(
        "receipts",
        &ReceiptsView {
            height: 7,
            receipts,
        },
    );
    golden(
        "account",
        &AccountView {
            id: AccountId([1; 32]),
            balance: 100,
            nonce: 3,
            next_nonce: 4,
        },
    );
    golden(
        "dev-workers",
        &DevWorkers {
            cluster: Some(ClusterId([9; 32])),
            workers: vec![DevWorker {
                id: WorkerId([10; 32]),
                path: "/workers/0".into(),
            }],
        },
    );
    let mut error = ErrorBody::new("not_found", "contract 00 not found");
    golden("error", &error);
    error.details.insert("max".into(), json!(4));
    golden("error-with-details", &error);
}

#[test]
fn worker_bodies() {
    golden(
        "worker-status",
        &WorkerStatus {
            worker: WorkerId([10; 32]),
            ecdh_public: Hash32([11; 32]),
            contracts: 1,
            queries_admitted: 0,
            jobs_admitted: 0,
            height: Some(7),
            hash: Some(Hash32([2; 32])),
            timestamp_ms: Some(1_767_225_600_000),
        },
    );
    golden(
        "worker-status-new",
        &WorkerStatus {
            worker: WorkerId([10; 32]),
            ecdh_public: Hash32([11; 32]),
            contracts: 0,
            queries_admitted: 0,
            jobs_admitted: 0,
            height: None,
            hash: None,
            timestamp_ms: None,
        },
    );
    golden(
        "worker-contract",
        &WorkerContract {
            id: ContractId([12; 32]),
            code_hash: CodeHash([13; 32]),
            cluster: ClusterId([9; 32]),
            deployer: AccountId([1; 32]),
            created: 5,
            height: 7,
            state_root: Hash32([14; 32]),
            entries: 1,
            logs: 2,
            synced_through: None,
        },
    );
    golden(
        "query-request",
        &QueryRequest {
            method: "get".into(),
            args: json!({"key": "a"}),
            progress: None,
        },
    );
    golden(
        "query-request-progress",
        &QueryRequest {
            method: "image".into(),
            args: json!({"width": 64}),
            progress: Some("00112233445566778899aabbccddeeff".into()),
        },
    );
    let ok = QueryReply {
        worker: WorkerId([10; 32]),
        height: 7,
        gas_used: 1234,
        elapsed_ms: 0.5,
        output: Some(json!(3)),
        code: None,
        message: None,
        error: None,
        jobs: Vec::new(),
    };
    golden("query-reply", &ok);
    let runner = fat_crypto::Keypair::from_seed([21; 32]);
    let output: Result<Vec<u8>, String> = Ok(vec![1, 2, 3]);
    let proof = JobProof::sign(&runner, ContractId([12; 32]), "tile", b"in", &output);
    proof.verify(b"in", &output).unwrap();
    golden(
        "query-reply-jobs",
        &QueryReply {
            jobs: vec![proof.clone()],
            ..ok.clone()
        },
    );
    golden_hex(
        "job-call",
        &fat_types::encoding::encode(&JobCall {
            contract: ContractId([12; 32]),
            caller: AccountId([1; 32]),
            name: "tile".into(),
            input: b"in".to_vec(),
            min_height: 7,
        }),
    );
    golden_hex(
        "job-answer",
        &fat_types::encoding::encode(&JobAnswer {
            output,
            height: 7,
            elapsed_us: 1500,
            proof,
        }),
    );
    golden(
        "query-reply-failed",
        &QueryReply {
            output: None,
            code: Some("call_failed".into()),
            message: Some("the contract trapped".into()),
            error: Some(json!({"trap": "unreachable"})),
            ..ok
        },
    );
    let exec = ExecutionReceipt {
        tx: tx().id(),
        contract: ContractId([12; 32]),
        height: 7,
        index: 0,
        status: ExecStatus::Ok,
        output: String::new(),
        sealed_output: Some(Bytes(vec![1, 2, 3])),
        events: vec![ExecEvent {
            topic: "counted".into(),
            data: Bytes(vec![4]),
        }],
        gas_used: 99,
        state_root: Hash32([14; 32]),
    };
    golden(
        "receipt",
        &ReceiptView {
            hash: exec.hash(),
            signed: SignedExecutionReceipt {
                receipt: exec,
                worker: WorkerId([10; 32]),
                signature: Signature([15; 64]),
            },
        },
    );
    golden(
        "logs",
        &LogsView {
            contract: ContractId([12; 32]),
            logs: vec![LogLine {
                seq: 0,
                height: 7,
                index: 0,
                tx: tx().id(),
                level: "info".into(),
                message: "hello".into(),
            }],
        },
    );
}

/// What members of a cluster exchange so that a worker joining it gets the contracts' state:
/// the signed roots (JSON), the request and the snapshot (borsh), and the chain's list of a
/// cluster's contracts (JSON).
#[test]
fn state_sync_bodies() {
    use fat_proto::chain::ClusterContracts;
    use fat_proto::worker::{ContractRoot, ContractSnapshot, SignedRoots, SnapshotRequest};
    let worker = fat_crypto::Keypair::from_seed([22; 32]);
    let roots = SignedRoots::sign(
        &worker,
        7,
        vec![
            ContractRoot {
                contract: ContractId([13; 32]),
                root: Hash32([15; 32]),
            },
            ContractRoot {
                contract: ContractId([12; 32]),
                root: Hash32([14; 32]),
            },
        ],
    );
    roots.verify().unwrap();
    assert_eq!(roots.root_of(&ContractId([12; 32])), Some(Hash32([14; 32])));
    golden("signed-roots", &roots);
    let mut forged = roots.clone();
    forged.roots[0].root = Hash32([16; 32]);
    assert!(
        forged.verify().is_err(),
        "a changed root breaks the signature"
    );
    golden_hex(
        "snapshot-request",
        &fat_types::encoding::encode(&SnapshotRequest {
            contract: ContractId([12; 32]),
            min_height: 7,
        }),
    );
    let info = fat_types::ContractInfo {
        id: ContractId([12; 32]),
        code_hash: CodeHash([13; 32]),
        cluster: ClusterId([9; 32]),
        deployer: AccountId([1; 32]),
        height: 5,
        key_epoch: 0,
        public_key: Some(Hash32([3; 32])),
    };
    golden_hex(
        "contract-snapshot",
        &fat_types::encoding::encode(&ContractSnapshot {
            height: 8,
            info: info.clone(),
            state_root: Hash32([14; 32]),
            logs: 2,
            entries: vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec()),
            ],
        }),
    );
    golden(
        "cluster-contracts",
        &ClusterContracts {
            cluster: ClusterId([9; 32]),
            contracts: vec![info],
        },
    );
}

#[test]
fn key_confirmation_bodies() {
    use fat_proto::worker::{KeyConfirmation, KeySubject};
    let worker = fat_crypto::Keypair::from_seed([22; 32]);
    let cluster = KeyConfirmation::sign(
        &worker,
        KeySubject::Cluster {
            id: ClusterId([9; 32]),
            epoch: 2,
        },
        Hash32([3; 32]),
        7,
    );
    cluster.verify().unwrap();
    golden("key-confirmation-cluster", &cluster);
    let contract = KeyConfirmation::sign(
        &worker,
        KeySubject::Contract {
            id: ContractId([12; 32]),
        },
        Hash32([4; 32]),
        7,
    );
    contract.verify().unwrap();
    golden("key-confirmation-contract", &contract);
    let mut forged = contract.clone();
    forged.public_key = Hash32([5; 32]);
    assert!(
        forged.verify().is_err(),
        "a changed key breaks the signature"
    );
    let mut moved = cluster;
    moved.subject = KeySubject::Contract {
        id: ContractId([9; 32]),
    };
    assert!(
        moved.verify().is_err(),
        "another subject breaks the signature"
    );
}
