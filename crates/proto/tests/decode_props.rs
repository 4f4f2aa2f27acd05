//! Property tests of what the typed clients and the follower read from a server or a peer:
//! the Server-Sent Events of the block stream and of a query's progress ([`SseDecoder`]),
//! the JSON bodies of both APIs, and the borsh plaintexts workers of a cluster exchange for
//! jobs ([`JobCall`], [`JobAnswer`]) and for a joining member's state ([`SnapshotRequest`],
//! [`ContractSnapshot`]), and the roots they sign ([`SignedRoots`]).

use fat_proto::chain::{BlockFrame, BlockView, ReceiptsView, SubmitAnswer, TxView};
use fat_proto::worker::{
    ContractRoot, ContractSnapshot, JobAnswer, JobCall, JobProgress, JobProof, LogsView,
    QueryReply, QueryRequest, ReceiptView, SignedRoots, SnapshotRequest, WorkerStatus,
};
use fat_proto::{ErrorBody, SseDecoder, SseEvent};
use fat_types::encoding::{decode, encode};
use fat_types::strategies::{self, Codec};
use fat_types::{AccountId, ContractId, DecodeError, WorkerId};
use proptest::collection::vec;
use proptest::prelude::*;
use serde::de::DeserializeOwned;

/// Every event in `chunks`, fed to one decoder in that order.
fn events(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::default();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        while let Some(event) = decoder.next_event() {
            out.push(event);
        }
    }
    out
}

/// `bytes` cut at `cuts` (positions in any order, out of range ones clamped).
fn split<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut chunks = Vec::new();
    let mut from = 0;
    for to in at {
        chunks.push(&bytes[from..to]);
        from = to;
    }
    chunks.push(&bytes[from..]);
    chunks
}

/// Bytes that look like an event stream often enough: fields, colons, line ends, anything.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"event: block".to_vec()),
        Just(b": keep-alive".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        vec(any::<u8>(), 0..8),
    ];
    vec(piece, 0..32).prop_map(|pieces| pieces.concat())
}

/// An event as a server writes it: a name, data lines, perhaps a comment and an id.
#[derive(Debug, Clone)]
struct Written {
    event: Option<String>,
    lines: Vec<String>,
    comment: bool,
    crlf: bool,
}

impl Written {
    fn text(&self) -> String {
        let end = if self.crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        if self.comment {
            text.push_str(&format!(": keep-alive{end}"));
        }
        if let Some(event) = &self.event {
            text.push_str(&format!("event: {event}{end}"));
        }
        text.push_str(&format!("id: 7{end}"));
        for line in &self.lines {
            text.push_str(&format!("data: {line}{end}"));
        }
        text.push_str(end);
        text
    }

    fn expected(&self) -> SseEvent {
        SseEvent {
            event: self.event.clone().unwrap_or_else(|| "message".into()),
            data: self.lines.join("\n"),
        }
    }
}

fn written() -> impl Strategy<Value = Written> {
    // Data lines hold anything but line ends; a leading space would be taken as the one
    // after the colon, which the format drops.
    let line = "[^\r\n ][^\r\n]{0,20}|";
    (
        proptest::option::of("[a-z_]{1,8}"),
        vec(line, 1..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(event, lines, comment, crlf)| Written {
            event,
            lines,
            comment,
            crlf,
        })
}

/// Parsing `text` as `T` never panics; and a JSON text cut short is refused.
fn json_never_panics<T: DeserializeOwned>(text: &[u8]) {
    let _ = serde_json::from_slice::<T>(text);
}

/// A value's JSON parses back to it; cut short it is refused; with a byte changed it never
/// panics the parser.
fn json_round_trip<T>(value: &T, at: prop::sample::Index, flip: u8) -> Result<(), TestCaseError>
where
    T: serde::Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_vec(value).unwrap();
    prop_assert_eq!(&serde_json::from_slice::<T>(&json).unwrap(), value);
    let at = at.index(json.len());
    prop_assert!(serde_json::from_slice::<T>(&json[..at]).is_err());
    let mut changed = json;
    changed[at] ^= flip.max(1);
    json_never_panics::<T>(&changed);
    Ok(())
}

const JOB_CALL: Codec<JobCall, DecodeError> = Codec {
    what: "job call",
    decode: |b| decode("job call", b),
    encode,
};

const JOB_ANSWER: Codec<JobAnswer, DecodeError> = Codec {
    what: "job answer",
    decode: |b| decode("job answer", b),
    encode,
};

const SNAPSHOT_REQUEST: Codec<SnapshotRequest, DecodeError> = Codec {
    what: "snapshot request",
    decode: |b| decode("snapshot request", b),
    encode,
};

const CONTRACT_SNAPSHOT: Codec<ContractSnapshot, DecodeError> = Codec {
    what: "contract snapshot",
    decode: |b| decode("contract snapshot", b),
    encode,
};

const SIGNED_ROOTS: Codec<SignedRoots, DecodeError> = Codec {
    what: "signed roots",
    decode: |b| decode("signed roots", b),
    encode,
};

fn contract_snapshot() -> impl Strategy<Value = ContractSnapshot> {
    let info = (
        strategies::bytes32(),
        strategies::bytes32(),
        strategies::bytes32(),
        strategies::bytes32(),
        any::<u64>(),
        any::<u32>(),
        proptest::option::of(strategies::hash()),
    )
        .prop_map(
            |(id, code, cluster, deployer, height, key_epoch, public_key)| {
                fat_types::ContractInfo {
                    id: ContractId(id),
                    code_hash: fat_types::CodeHash(code),
                    cluster: fat_types::ClusterId(cluster),
                    deployer: AccountId(deployer),
                    height,
                    key_epoch,
                    public_key,
                }
            },
        );
    let entry = (vec(any::<u8>(), 0..16), vec(any::<u8>(), 0..16));
    (
        any::<u64>(),
        info,
        strategies::hash(),
        any::<u64>(),
        vec(entry, 0..8),
    )
        .prop_map(
            |(height, info, state_root, logs, entries)| ContractSnapshot {
                height,
                info,
                state_root,
                logs,
                entries,
            },
        )
}

fn signed_roots() -> impl Strategy<Value = SignedRoots> {
    let root = (strategies::bytes32(), strategies::hash()).prop_map(|(c, root)| ContractRoot {
        contract: ContractId(c),
        root,
    });
    (
        strategies::bytes32(),
        any::<u64>(),
        vec(root, 0..8),
        strategies::signature(),
    )
        .prop_map(|(worker, height, roots, signature)| SignedRoots {
            worker: WorkerId(worker),
            height,
            roots,
            signature,
        })
}

fn job_call() -> impl Strategy<Value = JobCall> {
    (
        strategies::bytes32(),
        strategies::bytes32(),
        strategies::text(),
        vec(any::<u8>(), 0..32),
        any::<u64>(),
    )
        .prop_map(|(contract, caller, name, input, min_height)| JobCall {
            contract: ContractId(contract),
            caller: AccountId(caller),
            name,
            input,
            min_height,
        })
}

fn job_proof() -> impl Strategy<Value = JobProof> {
    (
        strategies::bytes32(),
        strategies::bytes32(),
        strategies::text(),
        strategies::hash(),
        any::<bool>(),
        strategies::hash(),
        strategies::signature(),
    )
        .prop_map(
            |(worker, contract, name, input_hash, ok, output_hash, signature)| JobProof {
                worker: WorkerId(worker),
                contract: ContractId(contract),
                name,
                input_hash,
                ok,
                output_hash,
                signature,
            },
        )
}

fn job_answer() -> impl Strategy<Value = JobAnswer> {
    let output = prop_oneof![
        vec(any::<u8>(), 0..32).prop_map(Ok),
        strategies::text().prop_map(Err),
    ];
    (output, any::<u64>(), any::<u64>(), job_proof()).prop_map(
        |(output, height, elapsed_us, proof)| JobAnswer {
            output,
            height,
            elapsed_us,
            proof,
        },
    )
}

/// A JSON output other than `null`, which the reply omits (readers take no output as `null`).
fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        strategies::text().prop_map(serde_json::Value::from),
    ]
}

fn query_reply() -> impl Strategy<Value = QueryReply> {
    (
        strategies::bytes32(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        proptest::option::of(json_leaf()),
        proptest::option::of(strategies::text()),
        vec(job_proof(), 0..2),
    )
        .prop_map(
            |(worker, height, gas_used, elapsed, output, message, jobs)| QueryReply {
                worker: WorkerId(worker),
                height,
                gas_used,
                // Quarters: exact in binary, so the float survives JSON unchanged.
                elapsed_ms: f64::from(elapsed) / 4.0,
                code: message.as_ref().map(|_| "call_failed".to_string()),
                output,
                message,
                error: None,
                jobs,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// However a stream's bytes are cut into chunks, the same events come out, and nothing
    /// panics on arbitrary bytes.
    #[test]
    fn sse_events_do_not_depend_on_chunking(
        bytes in stream_bytes(),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let whole = events(&[&bytes]);
        prop_assert_eq!(events(&split(&bytes, &cuts)), whole.clone());
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(events(&one_by_one), whole);
    }

    /// Events as a server writes them (either line end, comments, ids) come out as written,
    /// in order, however the stream is cut.
    #[test]
    fn sse_events_round_trip(
        written in vec(written(), 0..5),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let text: String = written.iter().map(Written::text).collect();
        let expected: Vec<SseEvent> = written.iter().map(Written::expected).collect();
        prop_assert_eq!(events(&split(text.as_bytes(), &cuts)), expected);
    }

    /// The chain's blocks as its API and its stream send them: the view round-trips and
    /// gives back the block; a view cut short is refused; nothing panics the parser.
    #[test]
    fn block_views(
        block in strategies::block(),
        receipts in proptest::option::of(vec(strategies::chain_receipt(), 0..3)),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        text in vec(any::<u8>(), 0..256),
    ) {
        let mut view = BlockView::from(block.clone());
        view.receipts = receipts.clone();
        json_round_trip(&view, at, flip)?;
        prop_assert_eq!(view.into_parts(), (block, receipts));
        json_never_panics::<BlockView>(&text);
    }

    /// The borsh stream's frames: the frame joined from stored bytes is borsh of the frame
    /// and reads back as it; its event data round-trips; a frame cut short or with a byte
    /// more is refused, and so is data that is not base64; nothing panics the reader.
    #[test]
    fn block_frames(
        block in strategies::block(),
        receipts in proptest::option::of(vec(strategies::chain_receipt(), 0..3)),
        cut in any::<prop::sample::Index>(),
        text in "[A-Za-z0-9+/=]{0,64}|\\PC{0,64}",
    ) {
        let frame = BlockFrame { block: block.clone(), receipts: receipts.clone() };
        let bytes = BlockFrame::join(&encode(&block), receipts.as_ref().map(encode).as_deref());
        prop_assert_eq!(&bytes, &borsh::to_vec(&frame).unwrap());
        let data = BlockFrame::to_event_data(&bytes);
        prop_assert_eq!(BlockFrame::from_event_data(&data), Ok(frame));
        let short = BlockFrame::to_event_data(&bytes[..cut.index(bytes.len())]);
        prop_assert!(BlockFrame::from_event_data(&short).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(BlockFrame::from_event_data(&BlockFrame::to_event_data(&longer)).is_err());
        let bad = format!("{data}!");
        prop_assert!(BlockFrame::from_event_data(&bad).is_err());
        let _ = BlockFrame::from_event_data(&text);
    }

    /// The chain's other answers that carry transactions and receipts.
    #[test]
    fn chain_answers(
        tx in strategies::signed_transaction(),
        receipt in strategies::chain_receipt(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        text in vec(any::<u8>(), 0..256),
    ) {
        json_round_trip(&TxView::from(tx), at, flip)?;
        let mut answer = SubmitAnswer::pending(receipt.tx);
        answer.receipt = Some(receipt);
        json_round_trip(&answer, at, flip)?;
        json_never_panics::<ReceiptsView>(&text);
        json_never_panics::<SubmitAnswer>(&text);
        json_never_panics::<ErrorBody>(&text);
    }

    /// What a worker answers a client.
    #[test]
    fn worker_answers(
        reply in query_reply(),
        receipt in strategies::signed_execution_receipt(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        text in vec(any::<u8>(), 0..256),
    ) {
        json_round_trip(&reply, at, flip)?;
        let hash = receipt.receipt.hash();
        json_round_trip(&ReceiptView { signed: receipt, hash }, at, flip)?;
        for parse in [
            json_never_panics::<QueryRequest>,
            json_never_panics::<QueryReply>,
            json_never_panics::<WorkerStatus>,
            json_never_panics::<LogsView>,
            json_never_panics::<JobProgress>,
        ] {
            parse(&text);
        }
    }

    /// The plaintexts of the job envelopes workers of a cluster send each other.
    #[test]
    fn job_plaintexts(
        bytes in vec(any::<u8>(), 0..256),
        call in job_call(),
        answer in job_answer(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        JOB_CALL.arbitrary(&bytes)?;
        JOB_CALL.round_trip(&call)?;
        JOB_CALL.tampered(&call, at, flip, extra)?;
        JOB_ANSWER.arbitrary(&bytes)?;
        JOB_ANSWER.round_trip(&answer)?;
        JOB_ANSWER.tampered(&answer, at, flip, extra)?;
    }

    /// What a joining member and the member it asks exchange, and the roots workers sign
    /// (as JSON from `GET /v1/roots`, and borsh as signed).
    #[test]
    fn state_sync_bodies(
        bytes in vec(any::<u8>(), 0..256),
        contract in strategies::bytes32(),
        min_height in any::<u64>(),
        snapshot in contract_snapshot(),
        roots in signed_roots(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        let request = SnapshotRequest { contract: ContractId(contract), min_height };
        SNAPSHOT_REQUEST.arbitrary(&bytes)?;
        SNAPSHOT_REQUEST.round_trip(&request)?;
        SNAPSHOT_REQUEST.tampered(&request, at, flip, extra)?;
        CONTRACT_SNAPSHOT.arbitrary(&bytes)?;
        CONTRACT_SNAPSHOT.round_trip(&snapshot)?;
        CONTRACT_SNAPSHOT.tampered(&snapshot, at, flip, extra)?;
        SIGNED_ROOTS.arbitrary(&bytes)?;
        SIGNED_ROOTS.round_trip(&roots)?;
        SIGNED_ROOTS.tampered(&roots, at, flip, extra)?;
        json_round_trip(&roots, at, flip)?;
        // Roots signed by a key verify; any change to what was signed does not.
        let key = fat_crypto::Keypair::from_seed(contract);
        let signed = SignedRoots::sign(&key, min_height, roots.roots.clone());
        prop_assert!(signed.verify().is_ok());
        let mut moved = signed.clone();
        moved.height = moved.height.wrapping_add(1);
        prop_assert!(moved.verify().is_err());
    }
}
