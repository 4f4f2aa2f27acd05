//! A runtime, a loaded contract and its state, for tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fat_runtime::{
    BlockInfo, Call, Clock, Code, Entry, HttpNetwork, MemoryCache, MemoryStore, NetworkFuture,
    Outcome, Runtime, RuntimeConfig,
};
use fat_types::{AccountId, ContractId, Hash32};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A clock that always says the same time.
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.0
    }
}

pub const WORKER_CLOCK_MS: u64 = 1_800_000_000_000;

pub struct Harness {
    pub runtime: Runtime,
    pub code: Arc<Code>,
    pub store: Arc<MemoryStore>,
    pub cache: Arc<MemoryCache>,
    pub contract: ContractId,
    pub block: BlockInfo,
}

impl Harness {
    pub fn new(wasm_path: &str) -> Self {
        Self::with_config(wasm_path, RuntimeConfig::default())
    }

    pub fn with_config(wasm_path: &str, config: RuntimeConfig) -> Self {
        Self::with_clock(wasm_path, config, Arc::new(FixedClock(WORKER_CLOCK_MS)))
    }

    /// A harness whose queries see `clock` as the worker's clock.
    pub fn with_clock(wasm_path: &str, config: RuntimeConfig, clock: Arc<dyn Clock>) -> Self {
        Self::with_runtime(
            wasm_path,
            Runtime::with_clock(config, clock).expect("runtime"),
        )
    }

    /// A harness whose contract's outbound requests go through `network`.
    pub fn with_network(
        wasm_path: &str,
        config: RuntimeConfig,
        network: Arc<dyn HttpNetwork>,
    ) -> Self {
        let runtime = Runtime::with_clock(config, Arc::new(FixedClock(WORKER_CLOCK_MS)))
            .expect("runtime")
            .with_network(network);
        Self::with_runtime(wasm_path, runtime)
    }

    fn with_runtime(wasm_path: &str, runtime: Runtime) -> Self {
        let code = runtime
            .load(&fat_test_programs::read(wasm_path))
            .expect("load contract");
        Self {
            runtime,
            code,
            store: Arc::new(MemoryStore::new()),
            cache: Arc::new(MemoryCache::default()),
            contract: ContractId([0xc0; 32]),
            block: BlockInfo {
                number: 7,
                timestamp_ms: 1_700_000_000_123,
                hash: Hash32([0xb1; 32]),
            },
        }
    }

    pub fn call(&self, entry: Entry) -> Call {
        let mut call = Call::new(entry, self.store.clone(), self.cache.clone());
        call.contract = self.contract;
        call.caller = AccountId([0xaa; 32]);
        call.block = self.block.clone();
        call.contract_secret = [0x5e; 32];
        call.worker_key = [0x77; 32];
        call
    }

    /// Run a call; apply a successful command's writes like a worker would.
    pub async fn run(&self, call: Call) -> Outcome {
        let command = matches!(call.entry, Entry::Command { .. } | Entry::Init { .. });
        let outcome = self.runtime.call(&self.code, call).await;
        if command && outcome.result.is_ok() {
            self.store.apply(&self.contract, &outcome.changes);
        }
        outcome
    }

    pub async fn command(&self, method: &str, args: &str) -> Outcome {
        self.run(self.call(Entry::command(method, args))).await
    }

    pub async fn query(&self, method: &str, args: &str) -> Outcome {
        self.run(self.call(Entry::query(method, args))).await
    }
}

/// The text of a successful call, or a panic naming the failure.
pub fn ok(outcome: &Outcome) -> String {
    match outcome.output_str() {
        Ok(text) => text.to_string(),
        Err(e) => panic!("call failed: {e}; logs: {:?}", outcome.logs),
    }
}

/// The error text of a call that must have failed.
pub fn err(outcome: &Outcome) -> String {
    match &outcome.result {
        Ok(bytes) => panic!("call succeeded: {}", String::from_utf8_lossy(bytes)),
        Err(e) => e.to_string(),
    }
}

/// A network with no route off this machine: names resolve from a table, and every
/// connection, whatever address it was asked for, goes to one loopback listener, which
/// counts the connections it sees and answers each `200 reached`.
pub struct Offline {
    names: HashMap<String, IpAddr>,
    /// The loopback listener.
    pub listener: SocketAddr,
    dialled: Mutex<Vec<SocketAddr>>,
    seen: Arc<AtomicUsize>,
}

impl Offline {
    /// Start the listener; `names` are the only names that resolve.
    pub async fn start(names: &[(&str, IpAddr)]) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let answer =
                        "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nreached";
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Arc::new(Self {
            names: names.iter().map(|(n, ip)| (n.to_string(), *ip)).collect(),
            listener: address,
            dialled: Mutex::new(Vec::new()),
            seen,
        })
    }

    /// The addresses the runtime asked to connect to.
    pub fn dialled(&self) -> Vec<SocketAddr> {
        self.dialled.lock().unwrap().clone()
    }

    /// How many connections the listener saw.
    pub fn connections(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

impl HttpNetwork for Offline {
    fn resolve(&self, host: &str, port: u16) -> NetworkFuture<Vec<SocketAddr>> {
        let found = self
            .names
            .get(host)
            .map(|ip| vec![SocketAddr::new(*ip, port)]);
        let host = host.to_string();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("no name {host} here"))
            })
        })
    }

    fn connect(&self, addresses: Vec<SocketAddr>) -> NetworkFuture<TcpStream> {
        self.dialled.lock().unwrap().extend(&addresses);
        let listener = self.listener;
        Box::pin(async move { TcpStream::connect(listener).await })
    }
}
