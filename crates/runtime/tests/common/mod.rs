//! A runtime, a loaded contract and its state, for tests.
#![allow(dead_code)]

use std::sync::Arc;

use fat_runtime::{
    BlockInfo, Call, Clock, Code, Entry, MemoryCache, MemoryStore, Outcome, Runtime, RuntimeConfig,
};
use fat_types::{AccountId, ContractId, Hash32};

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
        let runtime = Runtime::with_clock(config, clock).expect("runtime");
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
