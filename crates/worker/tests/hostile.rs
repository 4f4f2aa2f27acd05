//! A hostile node: a loopback proxy in front of a dev chain's HTTP API rewrites one block of
//! the block stream (a transaction, the header) or its receipts. A worker and the gatekeeper
//! following through it refuse the block and keep what they had; once the proxy is honest
//! again they go on. The gatekeeper also keeps to the genesis it pinned and to its own
//! attestation policy, whatever the chain accepted.

mod common;

use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Chain, ChainClient, RawChain, RunningWorker, deploy_via, temp_dir, worker_config};
use fat_attestation::seal::DevSealer;
use fat_consensus::FollowError;
use fat_devnet::bootstrap::create_dev_cluster;
use fat_devnet::{Devnet, Shutdown};
use fat_gatekeeper::{GENESIS_FILE, Gatekeeper, GatekeeperConfig};
use fat_proto::chain::{BLOCK_BORSH_EVENT, BLOCK_EVENT, BlockFrame, BlockView};
use fat_proto::follow::FollowerError;
use fat_types::{AttestationPolicy, Block, ChainReceipt, ClusterId};
use fat_worker::{Worker, WorkerError};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy changes in the block it rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tamper {
    /// The first transaction's fee.
    Tx,
    /// The header's timestamp.
    Header,
    /// The first receipt's fee.
    Receipts,
}

fn tamper(how: Tamper, block: &mut Block, receipts: &mut [ChainReceipt]) {
    match how {
        Tamper::Tx => block.txs[0].tx.fee += 1,
        Tamper::Header => block.header.timestamp_ms += 1,
        Tamper::Receipts => receipts[0].fee += 1,
    }
}

/// What the proxy does and saw.
#[derive(Default)]
struct ProxyState {
    /// Rewrite the block at this height, this way.
    tamper: Mutex<Option<(u64, Tamper)>>,
    /// The path of every request, in order.
    paths: Mutex<Vec<String>>,
    /// Each rewritten block it served.
    served: Mutex<Vec<Tamper>>,
    /// Serve the stream as a node that knows no `encoding=` does: JSON, whatever is asked.
    json_only: std::sync::atomic::AtomicBool,
    /// How many streams it served in borsh frames (asked for, and not `json_only`).
    borsh_streams: std::sync::atomic::AtomicUsize,
}

/// A loopback proxy in front of a node: it forwards every request as it is, one per
/// connection, except the block stream, which it serves itself from the node's, rewriting
/// the block its state names.
struct Proxy {
    url: String,
    state: Arc<ProxyState>,
}

impl Proxy {
    async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProxyState::default());
        let (upstream, shared) = (upstream.to_string(), state.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(relay(conn, upstream.clone(), shared.clone()));
            }
        });
        Self { url, state }
    }

    fn set(&self, tamper: Option<(u64, Tamper)>) {
        *self.state.tamper.lock().unwrap() = tamper;
    }

    fn json_only(&self, json: bool) {
        self.state
            .json_only
            .store(json, std::sync::atomic::Ordering::SeqCst);
    }

    fn served(&self, how: Tamper) -> usize {
        let served = self.state.served.lock().unwrap();
        served.iter().filter(|t| **t == how).count()
    }

    fn requests(&self, prefix: &str) -> usize {
        let paths = self.state.paths.lock().unwrap();
        paths.iter().filter(|p| p.starts_with(prefix)).count()
    }
}

async fn relay(mut conn: TcpStream, upstream: String, state: Arc<ProxyState>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let Ok(n) = conn.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let line = String::from_utf8_lossy(&head[..end]).to_string();
    let path = line.split(' ').nth(1).unwrap_or_default().to_string();
    state.paths.lock().unwrap().push(path.clone());
    if let Some(query) = path.strip_prefix(fat_proto::paths::chain::STREAM_BLOCKS) {
        let from = query
            .trim_start_matches('?')
            .split('&')
            .find_map(|kv| kv.strip_prefix("from="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let borsh = query.split('&').any(|kv| kv == "encoding=borsh")
            && !state.json_only.load(std::sync::atomic::Ordering::SeqCst);
        if borsh {
            state
                .borsh_streams
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        stream_blocks(conn, &upstream, from, borsh, &state).await;
        return;
    }
    // One request per connection, so that no later request (a stream) bypasses the proxy.
    let mut request = head[..end - 2].to_vec();
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    request.extend_from_slice(&head[end..]);
    let addr = upstream.strip_prefix("http://").unwrap();
    let Ok(mut node) = TcpStream::connect(addr).await else {
        return;
    };
    if node.write_all(&request).await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut conn, &mut node).await;
    }
}

/// Serve the node's block stream from `from` as Server-Sent Events, each block with its
/// receipts (in borsh frames when `borsh`, as the worker asks; else JSON views), rewriting
/// the one the state names.
async fn stream_blocks(
    mut conn: TcpStream,
    upstream: &str,
    from: u64,
    borsh: bool,
    state: &ProxyState,
) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
    if conn.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let node = ChainClient::new(upstream).unwrap();
    let Ok(mut blocks) = node.blocks(from).await else {
        return;
    };
    while let Ok(Some((mut block, mut receipts))) = blocks.next().await {
        let rewrite = *state.tamper.lock().unwrap();
        if let Some((height, how)) = rewrite
            && height == block.header.height
        {
            tamper(how, &mut block, &mut receipts);
            state.served.lock().unwrap().push(how);
        }
        let height = block.header.height;
        let event = if borsh {
            let frame = BlockFrame {
                block,
                receipts: Some(receipts),
            };
            let data = BlockFrame::to_event_data(&borsh::to_vec(&frame).unwrap());
            format!("event: {BLOCK_BORSH_EVENT}\nid: {height}\ndata: {data}\n\n")
        } else {
            let mut view = BlockView::from(block);
            view.receipts = Some(receipts);
            let data = serde_json::to_string(&view).unwrap();
            format!("event: {BLOCK_EVENT}\nid: {height}\ndata: {data}\n\n")
        };
        if conn.write_all(event.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Poll `ready` every 20 ms; panic naming `what` after 30 s.
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The state root the worker holds for `contract`.
fn root(worker: &Worker, contract: &fat_types::ContractId) -> fat_types::Hash32 {
    let snapshot = worker.snapshot().unwrap();
    snapshot.contract(contract).unwrap().unwrap().state_root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_refuses_tampered_blocks_and_receipts_and_keeps_its_state() {
    let dir = temp_dir("hostile-worker");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(1).await;
    let counter = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            Value::Null,
        )
        .await;
    let alice = fat_crypto::dev_keypair("alice");
    chain
        .command(&alice, counter, "increment", Value::Null)
        .await;
    let running = RunningWorker::start(&chain.url, &dir, 0).await;
    running.wait_for(chain.height()).await;
    let worker = running.pause().await;
    let had = worker.head().unwrap();
    let had_root = root(&worker, &counter);

    // The next block carries a command; the proxy rewrites it three ways in turn.
    let (_, height) = chain
        .command(&alice, counter, "increment", Value::Null)
        .await;
    assert_eq!(height, had.height + 1);
    let proxy = Proxy::start(&chain.url).await;
    // In the borsh frames the worker asks for, then in JSON (a node that knows no other).
    let rounds = [false, true].into_iter().flat_map(|json| {
        [Tamper::Tx, Tamper::Header, Tamper::Receipts].map(move |how| (json, how))
    });
    for (json, how) in rounds {
        if json {
            // The first rounds were served in borsh frames: the worker asked for them.
            let borsh = proxy
                .state
                .borsh_streams
                .load(std::sync::atomic::Ordering::SeqCst);
            assert!(borsh >= 3, "{borsh} streams in borsh");
        }
        proxy.json_only(json);
        proxy.set(Some((height, how)));
        let followed = tokio::time::timeout(
            Duration::from_secs(30),
            worker.follow(&proxy.url, pending()),
        )
        .await
        .unwrap_or_else(|_| panic!("{how:?}: the worker took the rewritten block"));
        let err = followed.unwrap_err();
        let reason = match &err {
            WorkerError::Follow(FollowerError::Block(reason)) => reason.to_string(),
            WorkerError::Follow(e @ FollowerError::ReceiptsMismatch { height: h }) => {
                assert_eq!(*h, height);
                e.to_string()
            }
            other => panic!("{how:?}: {other:?}"),
        };
        match (how, &err) {
            (Tamper::Tx, WorkerError::Follow(FollowerError::Block(e))) => assert!(
                matches!(e, FollowError::TxRootMismatch { height: h } if *h == height),
                "{e:?}"
            ),
            (Tamper::Header, WorkerError::Follow(FollowerError::Block(e))) => assert!(
                matches!(e, FollowError::Certificate { height: h, .. } if *h == height),
                "{e:?}"
            ),
            (Tamper::Receipts, WorkerError::Follow(FollowerError::ReceiptsMismatch { .. })) => {}
            _ => panic!("{how:?} refused for another reason: {reason}"),
        }
        assert!(
            reason.contains(&format!("block {height}")),
            "{how:?}: {reason}"
        );
        assert_eq!(proxy.served(how), 1 + usize::from(json), "{how:?}");
        // It keeps the block it had and the state of that block.
        assert_eq!(worker.head().unwrap(), had, "{how:?}");
        assert_eq!(root(&worker, &counter), had_root, "{how:?}");
    }

    // The proxy honest again (and still sending JSON), the worker takes the real block and
    // goes on.
    proxy.set(None);
    let running = RunningWorker::serve(worker, &proxy.url).await;
    running.wait_for(height).await;
    let answer = running.query(counter, "get", Value::Null).await;
    assert_eq!(answer["output"], 2, "{answer}");
    assert_ne!(root(&running.worker, &counter), had_root);
    running.stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gatekeeper with its data in `dir/gatekeeper` and `policy`, following `url` until the
/// returned signal fires.
fn run_gatekeeper(dir: &std::path::Path, url: &str, policy: AttestationPolicy) -> Shutdown {
    let gatekeeper = Gatekeeper::open(GatekeeperConfig {
        data_dir: dir.join("gatekeeper"),
        key: fat_crypto::dev_keypair(fat_chain::genesis::DEV_GATEKEEPER),
        sealer: Arc::new(DevSealer),
        policy,
    })
    .unwrap();
    let shutdown = Shutdown::new();
    let (stop, url) = (shutdown.wait(), url.to_string());
    tokio::spawn(async move { gatekeeper.run(&url, stop).await.unwrap() });
    shutdown
}

/// Whether `cluster` has a published key.
async fn provisioned(client: &ChainClient, cluster: &ClusterId) -> bool {
    client.cluster(cluster).await.unwrap().public_key.is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gatekeeper_refuses_tampered_blocks_a_foreign_genesis_and_workers_its_policy_refuses() {
    let dir = temp_dir("hostile-gatekeeper");
    let devnet = Devnet::builder(&dir)
        .workers(0)
        .bootstrap(false)
        .gatekeeper(false)
        .build()
        .await
        .unwrap();
    let client = devnet.chain();
    let proxy = Proxy::start(devnet.url()).await;
    let workers: Vec<Worker> = (0..2)
        .map(|i| Worker::open(worker_config(&dir, i)).unwrap())
        .collect();
    // A cluster of worker 0 waits for its key; its block is the tip.
    let first = create_dev_cluster(&client, &workers[..1]).await.unwrap();
    let height = devnet.node().tip().height;

    // A genesis other than the one it pinned: it follows nothing (it asks for the genesis
    // again and again, never for blocks) and leaves its pin as it was.
    std::fs::create_dir_all(dir.join("gatekeeper")).unwrap();
    let pin = dir.join("gatekeeper").join(GENESIS_FILE);
    let foreign = format!("{}\n", "ab".repeat(32));
    std::fs::write(&pin, &foreign).unwrap();
    let stop = run_gatekeeper(&dir, &proxy.url, fat_attestation::dev_chain_policy());
    wait_until("the gatekeeper to ask for the genesis twice", || {
        proxy.requests(fat_proto::paths::chain::GENESIS) >= 2
    })
    .await;
    stop.trigger();
    assert_eq!(
        proxy.requests(fat_proto::paths::chain::STREAM_BLOCKS),
        0,
        "it followed another chain"
    );
    assert_eq!(std::fs::read_to_string(&pin).unwrap(), foreign);
    assert!(!provisioned(&client, &first).await);
    std::fs::remove_file(&pin).unwrap();

    // Blocks rewritten on the way: the gatekeeper refuses the one that creates the
    // cluster, starts following again from its genesis (the proxy serves that block to it
    // a second time) and provisions nothing meanwhile.
    // (Rewriting from before it starts, so that it never sees the real block first.)
    proxy.set(Some((height, Tamper::Tx)));
    let stop = run_gatekeeper(&dir, &proxy.url, fat_attestation::dev_chain_policy());
    for how in [Tamper::Tx, Tamper::Header, Tamper::Receipts] {
        proxy.set(Some((height, how)));
        wait_until("the rewritten block refused and asked for again", || {
            proxy.served(how) >= 2
        })
        .await;
        assert!(!provisioned(&client, &first).await, "{how:?} taken");
    }
    proxy.set(None);
    wait_until_provisioned(&client, &first).await;

    // Worker 1's dev report is on chain (the chain accepts it), but a gatekeeper whose own
    // policy accepts no dev report gives it nothing, while it still serves the rest: the
    // key of a contract deployed after the cluster was made is published.
    stop.trigger();
    let strict = AttestationPolicy {
        providers: vec!["sgx-dcap".into()],
        measurements: Vec::new(),
        tcb_statuses: vec!["UpToDate".into()],
        max_age_secs: 0,
        snp_min_tcb: None,
    };
    let stop = run_gatekeeper(&dir, &proxy.url, strict);
    let second = create_dev_cluster(&client, &workers[1..]).await.unwrap();
    let worker1 = workers[1].id();
    let registered: Value = client
        .get_json(&format!("/v1/workers/{worker1}"))
        .await
        .unwrap();
    assert_eq!(registered["id"], worker1.to_string(), "{registered}");
    deploy_via(
        &client,
        &fat_test_programs::read(fat_test_programs::COUNTER),
        first,
        b"after",
        "",
    )
    .await;
    assert!(
        !provisioned(&client, &second).await,
        "a worker the gatekeeper's policy refuses got a key"
    );
    let provision = client
        .get_json::<Value>(&format!("/v1/provisions/{worker1}/{second}"))
        .await;
    assert!(provision.is_err(), "{provision:?}");
    stop.trigger();

    // A gatekeeper that accepts it provisions it.
    let stop = run_gatekeeper(&dir, &proxy.url, fat_attestation::dev_chain_policy());
    wait_until_provisioned(&client, &second).await;
    stop.trigger();
    // The proxy may still hold a stream open: an unclean stop is only reported.
    if let Err(e) = devnet.stop().await {
        eprintln!("the chain stopped uncleanly: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn wait_until_provisioned(client: &ChainClient, cluster: &ClusterId) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !provisioned(client, cluster).await {
        assert!(Instant::now() < deadline, "{cluster} never provisioned");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
