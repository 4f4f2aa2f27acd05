//! Benchmark the worker: queries over its HTTP API, and commands from submission to applied.
//!
//! Each round starts an in-process dev chain (a block as soon as there is work) and two
//! workers on loopback, in a data directory under the target directory, and deploys `counter`.
//! Worker 0 answers both sealed and plaintext queries, so the two are measured side by side.
//!
//! - `query_p50_us` / `query_p99_us`: one client querying `get` sealed, as the client library
//!   (`fat_client::Client::query`) does: the first query opens a session with a signed
//!   envelope (ephemeral ECDH, AEAD, signature), and the next ones are session messages
//!   (AEAD only), all through `fat_proto::WorkerApi` (which reuses idle connections).
//!   `query_per_s`: 16 such clients at once, each its own account and session.
//! - `fresh_query_p50_us` / `fresh_query_per_s`: every query a new session (a fresh signed
//!   envelope, the answer envelope verified and opened): what a first query costs.
//! - `plain_query_p50_us` / `plain_query_p99_us` / `plain_query_per_s`: the same with plaintext
//!   JSON queries to the same worker, interleaved with the sealed ones.
//! - `sealed_vs_plain_p50_ratio` / `sealed_vs_plain_qps_ratio`: sealed (sessions) over plain,
//!   per round; `fresh_vs_plain_qps_ratio` likewise for fresh envelopes.
//! - `echo_p50_us` / `echo_p99_us` / `echo_per_s`: the anchor of the queries. A route that
//!   sends its body back (no contract, no store, no crypto), added to the worker's own router
//!   (`fat_worker::api::app`) and served with it on one listener: the queries of every mode
//!   and the echo go to that listener through the same `WorkerApi` transport, interleaved.
//!   `query_vs_echo_p50_ratio` / `query_vs_echo_qps_ratio`: sealed (session) queries over
//!   echoes; `query_p99_over_p50`: the tail of sealed queries.
//! - `command_e2e_p50_ms`: a sealed command submitted and waited for by the chain, until the
//!   worker has applied its block.
//! - `command_exec_per_s`: commands applied per second by one worker. A worker, paused
//!   while many sealed `increment` commands are committed on a chain that leaves 100 ms
//!   between blocks (so they fill few blocks, as under load), resumes and applies them
//!   (fetch, verify, open, execute, seal, commit). The commands are sealed under one session,
//!   as the client library seals one sender's commands to a contract.
//! - `command_exec_fresh_per_s`: the same, each command sealed under its own session (an
//!   x25519 key agreement per command, as a new client per command would cost).
//! - `command_exec_held_per_s`: the same as `command_exec_per_s` once the worker has applied
//!   30,000 commands more (1,000 quick): its store then holds about 34,000 receipts, as a
//!   worker's does after a while, and what is written for each block may cost more as the
//!   store grows. `command_held_vs_call_ratio` is it over `command_call_per_s`.
//! - `command_exec_single_per_s`: the same on the block-time-0 chain, which cuts a block
//!   per command or two: every command also pays a whole block's overhead.
//! - `command_call_per_s`: the anchor of command application. The same `counter` code's
//!   `increment` called through `fat_runtime::Runtime::call` one after the other (so on one
//!   core), with the worker's runtime settings, on an in-memory store whose writes are applied
//!   after each call: no chain, envelope, receipt or disk. `command_apply_vs_call_ratio` is
//!   `command_exec_per_s` over it, in the same round.
//!
//! Figures are medians over rounds; `FAT_BENCH_QUICK=1` runs less.
//!
//! `FAT_BENCH_PROFILE=session` (or `fresh`, `plain`, `echo`) measures nothing: it sets up one
//! worker, then runs that mode's 16 clients for 10 s (or `FAT_BENCH_PROFILE_SECS`) and prints
//! their rate, so that a profiler attached to the process (`perf record`) sees one path alone.
//! A long `fresh` run is refused in the end: the worker keeps every sealed envelope's nonce for
//! five minutes, and each client's account may hold 65,536 of them (some 100 s of fresh
//! queries here). A session's further queries take no nonce of the guard, so `session` runs
//! as long as asked (before they did, it was refused after some 20 s).
//! `FAT_BENCH_PROFILE=commands`
//! replays 20,000 commands five times (`commands-fresh`: each under its own session, as for
//! `command_exec_fresh_per_s`). Their submission would show in the profile too, so
//! with `FAT_BENCH_PERF_CTL` (and `FAT_BENCH_PERF_ACK`) naming the FIFOs of
//! `perf record --control fifo:CTL,ACK --delay=-1`, the bench enables perf's events only
//! while the worker replays (the README's profiling section has the commands).

/// The allocator of the `fat` binary, so that the bench measures what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(unused_imports)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Chain, RunningWorker, median, now_ms, percentile, target_dir};
use fat_crypto::envelope::{
    Direction, EcdhPublic, Envelope, ReplayGuard, SealRandomness, Session, SessionMessage, seal,
};
use fat_crypto::{Keypair, dev_keypair};
use fat_proto::windows::{ANSWER_WINDOW_MS, SESSION_REUSE_MS};
use fat_proto::worker::{QueryReply, QueryRequest};
use fat_proto::{WorkerApi, content};
use fat_runtime::{Call, Entry, MemoryCache, MemoryStore, Runtime};
use fat_types::{AccountId, Bytes, ContractId, Transaction, TxKind};
use serde_json::{Value, json};

/// How a query travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A session, opened once and reused (as `fat_client::Client` does).
    Session,
    /// A fresh signed envelope each time.
    Fresh,
    /// Plaintext JSON.
    Plain,
    /// Not a query: [`ECHO_PATH`] sends the body back.
    Echo,
}

const MODES: [Mode; 4] = [Mode::Session, Mode::Fresh, Mode::Plain, Mode::Echo];

/// The bench's echo route, served beside the worker's API by the same router.
const ECHO_PATH: &str = "/bench/echo";
/// The echo's body: about the size of a session query and of its sealed answer.
const ECHO_BYTES: usize = 256;

/// The worker's API with [`ECHO_PATH`] added, served on a new loopback listener (as the
/// worker serves its API); the server's URL and task.
async fn serve_with_echo(
    worker: &fat_worker::Worker,
    shutdown: &fat_devnet::Shutdown,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    use axum::http::header;
    let router = fat_worker::api::app(worker.clone()).route(
        ECHO_PATH,
        axum::routing::post(|body: axum::body::Bytes| async move {
            ([(header::CONTENT_TYPE, content::OCTET_STREAM)], body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (url, fat_devnet::serve(listener, router, shutdown))
}

/// A client querying `get` of one contract on one worker. Clones share the query session.
#[derive(Clone)]
struct Querier {
    api: WorkerApi,
    contract: ContractId,
    caller: Keypair,
    worker: AccountId,
    worker_key: EcdhPublic,
    request: QueryRequest,
    body: Vec<u8>,
    /// The session of [`Mode::Session`] and when it was opened.
    session: Arc<Mutex<Option<(Session, u64)>>>,
}

impl Querier {
    /// A client of `w`'s API served at `url`.
    fn new(w: &RunningWorker, url: &str, contract: ContractId) -> Self {
        let request = QueryRequest {
            method: "get".into(),
            args: Value::Null,
            progress: None,
        };
        Self {
            api: WorkerApi::new(url).unwrap(),
            contract,
            caller: dev_keypair("alice"),
            worker: AccountId(w.worker.id().0),
            worker_key: EcdhPublic(w.worker.ecdh_public().0),
            body: serde_json::to_vec(&request).unwrap(),
            request,
            session: Arc::default(),
        }
    }

    /// Seal a fresh request, post it, verify and open the answer; the answer and the session.
    /// Answers are read as the client library reads them: into a [`QueryReply`].
    async fn sealed(&self) -> (QueryReply, Session) {
        let (envelope, session) = seal(
            &self.caller,
            &self.worker_key,
            self.contract,
            Direction::Request,
            &self.body,
            now_ms(),
            SealRandomness::generate().unwrap(),
        )
        .unwrap();
        let bytes = self
            .api
            .query_sealed(&self.contract, envelope.to_bytes())
            .await
            .unwrap();
        let response = Envelope::from_bytes(&bytes).unwrap();
        let plain = session
            .open_response(
                &response,
                &self.worker,
                &mut ReplayGuard::once(ANSWER_WINDOW_MS),
                now_ms(),
            )
            .unwrap();
        (serde_json::from_slice(&plain).unwrap(), session)
    }

    async fn plain(&self) -> QueryReply {
        self.api
            .query_plain(&self.contract, &self.request)
            .await
            .unwrap()
    }

    /// A further query of the session while it is young enough; else a new session.
    async fn session(&self) -> QueryReply {
        let young =
            |(_, opened): &(Session, u64)| now_ms().saturating_sub(*opened) < SESSION_REUSE_MS;
        let cached = self.session.lock().unwrap().clone().filter(young);
        if let Some((session, _)) = cached {
            let message = session
                .seal_message(
                    self.caller.account_id(),
                    Direction::Request,
                    &self.body,
                    now_ms(),
                )
                .unwrap();
            match self
                .api
                .query_session(&self.contract, message.to_bytes())
                .await
            {
                Ok(bytes) => {
                    let answer = SessionMessage::from_bytes(&bytes).unwrap();
                    let plain = session
                        .open_reply(
                            &answer,
                            &message,
                            &mut ReplayGuard::once(ANSWER_WINDOW_MS),
                            now_ms(),
                        )
                        .unwrap();
                    return serde_json::from_slice(&plain).unwrap();
                }
                // The worker no longer keeps the session: open a new one, as the client
                // library does.
                Err(e) if e.status() == Some(410) => {}
                Err(e) => panic!("session query: {e}"),
            }
        }
        let (answer, session) = self.sealed().await;
        *self.session.lock().unwrap() = Some((session, now_ms()));
        answer
    }

    /// Post [`ECHO_BYTES`] to the echo route and check they come back.
    async fn echo(&self) {
        let body = vec![0x5a; ECHO_BYTES];
        let back = self
            .api
            .http()
            .post_bytes(ECHO_PATH, content::OCTET_STREAM, body.clone())
            .await
            .unwrap();
        assert_eq!(back, body);
    }

    /// One request of `mode`; the query's answer (none for an echo).
    async fn query(&self, mode: Mode) -> Option<QueryReply> {
        match mode {
            Mode::Session => Some(self.session().await),
            Mode::Fresh => Some(self.sealed().await.0),
            Mode::Plain => Some(self.plain().await),
            Mode::Echo => {
                self.echo().await;
                None
            }
        }
    }
}

struct Sizes {
    rounds: usize,
    queries: usize,
    concurrent_for: Duration,
    commands_e2e: usize,
    commands_replayed: usize,
    /// Commands applied before `command_exec_held_per_s` is measured.
    commands_held: usize,
}

/// How the commands of a replay are sealed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sealing {
    /// Under one session, as the client library seals a sender's commands to a contract:
    /// the worker makes one key agreement.
    OneSession,
    /// Each command its own session: one key agreement per command.
    PerCommand,
}

/// Pause `w`, commit `n` sealed `increment`s to `counter` as fast as the chain takes them,
/// let the `others` catch up, then resume `w` and time its replay: commands per second.
async fn replay(
    chain: &Chain,
    w: RunningWorker,
    others: &[&RunningWorker],
    counter: ContractId,
    n: usize,
    sealing: Sealing,
) -> (f64, RunningWorker) {
    let alice = dev_keypair("alice");
    w.wait_for(chain.height()).await;
    let w = w.pause().await;
    let paused_at = chain.height();
    let first = chain.client.next_nonce(&alice.account_id()).await.unwrap();
    let chain_id = chain.client.status().await.unwrap().genesis;
    let contract_key = chain.public_key(&format!("/v1/contracts/{counter}")).await;
    let session = Session::start(
        &contract_key,
        counter,
        SealRandomness::generate().unwrap().ephemeral,
    )
    .unwrap();
    let mut last = None;
    for nonce in first..first + n as u64 {
        let envelope = match sealing {
            Sealing::OneSession => {
                let payload = fat_types::CommandPayload::new("increment", "", nonce);
                session
                    .seal_envelope(&alice, Direction::Command, &payload.encode(), now_ms())
                    .unwrap()
            }
            Sealing::PerCommand => {
                chain
                    .seal_command(&alice, nonce, counter, "increment", "")
                    .await
                    .0
            }
        };
        let tx = alice.sign_tx(Transaction {
            chain: chain_id,
            signer: alice.account_id(),
            nonce,
            fee: 1_000,
            kind: TxKind::Command {
                contract: counter,
                payload: Bytes(envelope.to_bytes()),
                gas_limit: 100_000_000,
            },
        });
        chain.client.submit(&tx, false).await.unwrap();
        last = Some(tx.id());
    }
    let location = chain
        .node
        .wait_committed(&last.unwrap(), Duration::from_secs(120))
        .await
        .unwrap()
        .expect("commands committed");
    for other in others {
        other.wait_for(location.height).await;
    }
    perf_control("enable");
    let start = Instant::now();
    let w = RunningWorker::serve(w, &chain.url).await;
    w.wait_for(location.height).await;
    let per_s = n as f64 / start.elapsed().as_secs_f64();
    perf_control("disable");
    eprintln!(
        "replayed {n} commands in {} blocks: {per_s:.0}/s",
        location.height - paused_at
    );
    (per_s, w)
}

/// Send `command` (`enable` or `disable`) to the `perf record` control FIFO named by
/// `FAT_BENCH_PERF_CTL`, if it is set, and wait for perf's acknowledgement on the FIFO
/// named by `FAT_BENCH_PERF_ACK`: so that a profile of the replay sees the worker apply
/// blocks, and not the commands' submission.
fn perf_control(command: &str) {
    use std::io::{Read, Write};
    let Ok(ctl) = std::env::var("FAT_BENCH_PERF_CTL") else {
        return;
    };
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(&ctl)
        .unwrap_or_else(|e| panic!("FAT_BENCH_PERF_CTL={ctl}: {e}"));
    fifo.write_all(format!("{command}\n").as_bytes())
        .unwrap_or_else(|e| panic!("FAT_BENCH_PERF_CTL={ctl}: {e}"));
    if let Ok(ack) = std::env::var("FAT_BENCH_PERF_ACK") {
        // perf answers `ack`, a newline and a NUL byte. Read up to the newline, a byte at a
        // time; the next answer's read passes over the NUL left behind.
        let mut reply =
            std::fs::File::open(&ack).unwrap_or_else(|e| panic!("FAT_BENCH_PERF_ACK={ack}: {e}"));
        let mut byte = [0u8; 1];
        loop {
            match reply.read(&mut byte) {
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => {}
                Err(e) => panic!("FAT_BENCH_PERF_ACK={ack}: {e}"),
            }
        }
    }
}

/// `n` commands `increment` of `counter` called one after the other through the runtime
/// alone (the worker's runtime settings, an in-memory store): calls per second.
async fn bare_calls(config: fat_runtime::RuntimeConfig, wasm: &[u8], n: usize) -> f64 {
    let runtime = Runtime::new(config).unwrap();
    let code = runtime.load(wasm).unwrap();
    let state = Arc::new(MemoryStore::new());
    let cache = Arc::new(MemoryCache::default());
    let contract = ContractId([7; 32]);
    let call = |entry: Entry| {
        let mut call = Call::new(entry, state.clone(), cache.clone());
        call.contract = contract;
        call.gas_limit = 100_000_000;
        call
    };
    let init = runtime.call(&code, call(Entry::init(""))).await;
    state.apply(&contract, &init.changes);
    let start = Instant::now();
    for _ in 0..n {
        let outcome = runtime
            .call(&code, call(Entry::command("increment", "")))
            .await;
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        state.apply(&contract, &outcome.changes);
    }
    let per_s = n as f64 / start.elapsed().as_secs_f64();
    let value = runtime.call(&code, call(Entry::query("get", ""))).await;
    assert_eq!(value.output_str().unwrap(), n.to_string());
    per_s
}

/// 16 clients querying for `duration`, each its own account with its own session (the
/// worker bounds what one sender and one session may have in its replay guard); answers
/// per second.
async fn throughput(querier: &Querier, mode: Mode, duration: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let querier = Querier {
                caller: dev_keypair(&format!("bench-client-{i}")),
                session: Arc::default(),
                ..querier.clone()
            };
            let done = done.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    if let Some(answer) = querier.query(mode).await {
                        assert!(
                            answer.output.as_ref().is_some_and(Value::is_u64),
                            "{answer:?}"
                        );
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

const FIGURES: [&str; 25] = [
    "query_p50_us",
    "query_p99_us",
    "query_per_s",
    "fresh_query_p50_us",
    "fresh_query_per_s",
    "plain_query_p50_us",
    "plain_query_p99_us",
    "plain_query_per_s",
    "sealed_vs_plain_p50_ratio",
    "sealed_vs_plain_qps_ratio",
    "fresh_vs_plain_qps_ratio",
    "command_e2e_p50_ms",
    "command_exec_single_per_s",
    "command_exec_per_s",
    "command_exec_fresh_per_s",
    "echo_p50_us",
    "echo_p99_us",
    "echo_per_s",
    "query_vs_echo_p50_ratio",
    "query_vs_echo_qps_ratio",
    "query_p99_over_p50",
    "command_call_per_s",
    "command_apply_vs_call_ratio",
    "command_exec_held_per_s",
    "command_held_vs_call_ratio",
];

async fn round(dir: &std::path::Path, sizes: &Sizes, index: usize) -> [f64; FIGURES.len()] {
    let chain = Chain::start(dir).await;
    let cluster = chain.dev_cluster(2).await;
    let w0 = RunningWorker::start_with(&chain.url, dir, 0, |config| {
        config.plaintext_queries = true;
    })
    .await;
    let w1 = RunningWorker::start(&chain.url, dir, 1).await;
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = chain.deploy(&wasm, cluster, Value::Null).await;
    let alice = dev_keypair("alice");

    let mut e2e = Vec::new();
    for _ in 0..sizes.commands_e2e {
        let start = Instant::now();
        let (_, height) = chain
            .command(&alice, counter, "increment", Value::Null)
            .await;
        w0.wait_for(height).await;
        e2e.push(start.elapsed().as_secs_f64() * 1e3);
    }

    // Worker 1 pauses; many commands go in, a block each or so; worker 1 resumes and
    // replays them all.
    let (single_per_s, w1) = replay(
        &chain,
        w1,
        &[&w0],
        counter,
        sizes.commands_replayed,
        Sealing::OneSession,
    )
    .await;
    let expected = (sizes.commands_e2e + sizes.commands_replayed) as u64;
    assert_eq!(
        w1.query(counter, "get", Value::Null).await["output"],
        expected
    );

    // The worker's API and the echo on one listener.
    let echo_shutdown = fat_devnet::Shutdown::new();
    let (url, echo_server) = serve_with_echo(&w0.worker, &echo_shutdown).await;

    // The four modes interleaved one by one (which goes first rotates).
    let querier = Querier::new(&w0, &url, counter);
    let mut latencies: [Vec<f64>; MODES.len()] = Default::default();
    for i in 0..sizes.queries {
        for k in 0..MODES.len() {
            let m = (i + k) % MODES.len();
            let start = Instant::now();
            let answer = querier.query(MODES[m]).await;
            let micros = start.elapsed().as_secs_f64() * 1e6;
            if let Some(answer) = answer {
                assert_eq!(answer.output.as_ref(), Some(&json!(expected)), "{answer:?}");
            }
            latencies[m].push(micros);
        }
    }

    // Throughput, one mode after the other; which goes first rotates between rounds.
    let mut per_s = [0.0; MODES.len()];
    for k in 0..MODES.len() {
        let m = (index + k) % MODES.len();
        per_s[m] = throughput(&querier, MODES[m], sizes.concurrent_for).await;
    }
    let [mut sealed, mut fresh, mut plain, mut echo] = latencies;
    let [sealed_per_s, fresh_per_s, plain_per_s, echo_per_s] = per_s;

    echo_shutdown.trigger();
    echo_server.await.unwrap().unwrap();
    w1.stop().await;
    w0.stop().await;
    chain.stop().await;

    // The same replay on a chain that leaves 100 ms between blocks: blocks of many commands,
    // as under load.
    let dir = dir.join("batched");
    let chain = Chain::start_with_block_time(&dir, Duration::from_millis(100)).await;
    let cluster = chain.dev_cluster(1).await;
    let w = RunningWorker::start(&chain.url, &dir, 0).await;
    let counter = chain.deploy(&wasm, cluster, Value::Null).await;
    let n = sizes.commands_replayed;
    let (exec_per_s, w) = replay(&chain, w, &[], counter, n, Sealing::OneSession).await;
    let (exec_fresh_per_s, w) = replay(&chain, w, &[], counter, n, Sealing::PerCommand).await;
    // The store fills up; then the same replay again.
    let held = sizes.commands_held;
    let (_, w) = replay(&chain, w, &[], counter, held, Sealing::OneSession).await;
    let (exec_held_per_s, w) = replay(&chain, w, &[], counter, n, Sealing::OneSession).await;
    w.stop().await;
    chain.stop().await;

    // The runtime alone, with the worker's settings, on the same code.
    let call_per_s = bare_calls(
        common::worker_config(&dir, 0).runtime,
        &wasm,
        sizes.commands_replayed,
    )
    .await;

    let sealed_p50 = percentile(&mut sealed, 0.5);
    let sealed_p99 = percentile(&mut sealed, 0.99);
    let plain_p50 = percentile(&mut plain, 0.5);
    let echo_p50 = percentile(&mut echo, 0.5);
    [
        sealed_p50,
        sealed_p99,
        sealed_per_s,
        percentile(&mut fresh, 0.5),
        fresh_per_s,
        plain_p50,
        percentile(&mut plain, 0.99),
        plain_per_s,
        sealed_p50 / plain_p50,
        sealed_per_s / plain_per_s,
        fresh_per_s / plain_per_s,
        median(&mut e2e),
        single_per_s,
        exec_per_s,
        exec_fresh_per_s,
        echo_p50,
        percentile(&mut echo, 0.99),
        echo_per_s,
        sealed_p50 / echo_p50,
        sealed_per_s / echo_per_s,
        sealed_p99 / sealed_p50,
        call_per_s,
        exec_per_s / call_per_s,
        exec_held_per_s,
        exec_held_per_s / call_per_s,
    ]
}

/// The set-up of [`round`] up to the queries, then `mode`'s 16 clients for `duration`.
async fn profile(dir: &std::path::Path, mode: Mode, duration: Duration) {
    let chain = Chain::start(dir).await;
    let cluster = chain.dev_cluster(1).await;
    let w0 = RunningWorker::start_with(&chain.url, dir, 0, |config| {
        config.plaintext_queries = true;
    })
    .await;
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = chain.deploy(&wasm, cluster, Value::Null).await;
    let (_, height) = chain
        .command(&dev_keypair("alice"), counter, "increment", Value::Null)
        .await;
    w0.wait_for(height).await;
    let shutdown = fat_devnet::Shutdown::new();
    let (url, server) = serve_with_echo(&w0.worker, &shutdown).await;
    let querier = Querier::new(&w0, &url, counter);
    eprintln!("profile: {mode:?} for {duration:?}");
    let per_s = throughput(&querier, mode, duration).await;
    println!("{mode:?}: {per_s:.0} per second");
    shutdown.trigger();
    server.await.unwrap().unwrap();
    w0.stop().await;
    chain.stop().await;
}

/// The batched replay of [`round`], five times over 20,000 commands sealed as `sealing`.
async fn profile_commands(dir: &std::path::Path, sealing: Sealing) {
    let chain = Chain::start_with_block_time(dir, Duration::from_millis(100)).await;
    let cluster = chain.dev_cluster(1).await;
    let mut w = RunningWorker::start(&chain.url, dir, 0).await;
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = chain.deploy(&wasm, cluster, Value::Null).await;
    for _ in 0..5 {
        let (per_s, resumed) = replay(&chain, w, &[], counter, 20_000, sealing).await;
        println!("commands ({sealing:?}): {per_s:.0} per second");
        w = resumed;
    }
    w.stop().await;
    chain.stop().await;
}

/// Whether ed25519 checks here run on curve25519-dalek's AVX-512 IFMA backend: compiled in
/// (`.cargo/config.toml`) and picked at run time because the CPU has what it needs. Other
/// machines may not, and this bench's command figures depend on it.
fn signatures_use_ifma() -> bool {
    #[cfg(all(target_arch = "x86_64", curve25519_dalek_backend = "avx512"))]
    {
        std::arch::is_x86_feature_detected!("avx512ifma")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(all(target_arch = "x86_64", curve25519_dalek_backend = "avx512")))]
    {
        false
    }
}

fn main() {
    // As the `fat` binary does, so that the bench measures what runs.
    fat_worker::process::no_transparent_huge_pages();
    if let Ok(mode) = std::env::var("FAT_BENCH_PROFILE") {
        let dir = target_dir()
            .join("bench")
            .join(format!("worker-profile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sealing = match mode.as_str() {
            "commands" => Some(Sealing::OneSession),
            "commands-fresh" => Some(Sealing::PerCommand),
            _ => None,
        };
        if let Some(sealing) = sealing {
            runtime.block_on(profile_commands(&dir, sealing));
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        let mode = match mode.as_str() {
            "session" => Mode::Session,
            "fresh" => Mode::Fresh,
            "plain" => Mode::Plain,
            "echo" => Mode::Echo,
            other => panic!(
                "FAT_BENCH_PROFILE={other}: expected session, fresh, plain, echo, commands or \
                 commands-fresh"
            ),
        };
        let secs = match std::env::var("FAT_BENCH_PROFILE_SECS") {
            Ok(secs) => secs
                .parse()
                .unwrap_or_else(|e| panic!("FAT_BENCH_PROFILE_SECS={secs}: {e}")),
            Err(_) => 10,
        };
        runtime.block_on(profile(&dir, mode, Duration::from_secs(secs)));
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let quick = fat_bench::quick();
    let sizes = if quick {
        Sizes {
            rounds: 3,
            queries: 300,
            concurrent_for: Duration::from_millis(1000),
            commands_e2e: 15,
            commands_replayed: 300,
            commands_held: 1_000,
        }
    } else {
        Sizes {
            rounds: 5,
            queries: 2000,
            concurrent_for: Duration::from_secs(3),
            commands_e2e: 50,
            commands_replayed: 2000,
            commands_held: 30_000,
        }
    };
    let bench_dir = target_dir().join("bench");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut figures: [Vec<f64>; FIGURES.len()] = Default::default();
    for r in 0..sizes.rounds {
        let dir = bench_dir.join(format!("worker-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let result = runtime.block_on(round(&dir, &sizes, r));
        for (all, value) in figures.iter_mut().zip(result) {
            all.push(value);
        }
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("round {} of {}: {result:?}", r + 1, sizes.rounds);
    }
    println!(
        "worker: counter, {} rounds, {} sequential requests in each mode (session, fresh, plain, echo), 16 concurrent clients for {:?} each, {} e2e commands, {} replayed, as many bare calls, {} held",
        sizes.rounds,
        sizes.queries,
        sizes.concurrent_for,
        sizes.commands_e2e,
        sizes.commands_replayed,
        sizes.commands_held
    );
    let ifma = signatures_use_ifma();
    println!(
        "signatures: curve25519-dalek's {} backend",
        if ifma {
            "AVX-512 IFMA"
        } else {
            "AVX2 or serial"
        }
    );
    println!("{:<28} {:>14}", "figure", "median");
    let mut json = serde_json::Map::new();
    json.insert("signatures_ifma".into(), json!(u8::from(ifma)));
    for (name, values) in FIGURES.iter().zip(figures.iter_mut()) {
        let value = median(values);
        if name.ends_with("_ratio") || name.contains("_over_") {
            println!("{name:<28} {value:>14.2}");
            json.insert(name.to_string(), json!(fat_bench::round(value, 2)));
        } else {
            println!("{name:<28} {value:>14.1}");
            json.insert(name.to_string(), json!(fat_bench::round(value, 1)));
        }
    }
    fat_bench::write_figures("worker", json);
}
