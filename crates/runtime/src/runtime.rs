//! Engines, compiled code and the execution of one call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fat_types::clock::{Clock, SystemClock};
use fat_types::{AccountId, CodeHash, ContractId, Hash32};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::cache::{Cache, CacheOp};
use crate::config::{Limits, RuntimeConfig};
use crate::error::{CallError, Error, Limit, Result, engine_error};
use crate::host::{ContractKeys, ContractPre, HostState};
use crate::http::{HttpHooks, tls_config};
use crate::serve::{HttpRequest, HttpResponseHead};
use crate::store::{Overlay, StateChanges, StateStore};

/// How a call runs (see DESIGN.md, "Execution modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Deterministic, may change state; also the constructor.
    Command,
    /// One worker, read-only state, network allowed.
    Query,
    /// Parallel work fanned out by a query; rules of a query.
    Job,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Command => "command",
            Mode::Query => "query",
            Mode::Job => "job",
        })
    }
}

/// The block a call runs in (a command) or on top of (a query: the latest committed one).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockInfo {
    /// Height.
    pub number: u64,
    /// Timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Block hash.
    pub hash: Hash32,
}

/// An event emitted by a command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The topic.
    pub topic: String,
    /// The payload.
    pub data: Vec<u8>,
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info (also stdout).
    Info,
    /// Warn (also stderr).
    Warn,
    /// Error.
    Error,
}

/// One line a contract logged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    /// Level.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// The entry point a call enters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The constructor, with JSON arguments (a command).
    Init {
        /// JSON arguments.
        args: String,
    },
    /// A command method with JSON arguments.
    Command {
        /// Method name.
        method: String,
        /// JSON arguments.
        args: String,
    },
    /// A query method with JSON arguments.
    Query {
        /// Method name.
        method: String,
        /// JSON arguments.
        args: String,
    },
    /// A job with opaque input.
    Job {
        /// Job name.
        name: String,
        /// Input bytes.
        input: Vec<u8>,
    },
    /// An HTTP request to a contract that exports `wasi:http/incoming-handler`; runs as a
    /// query. The response body is the result; its status and headers are in
    /// [`Outcome::http_response`].
    Http(HttpRequest),
}

impl Entry {
    /// The constructor entry.
    pub fn init(args: impl Into<String>) -> Self {
        Entry::Init { args: args.into() }
    }

    /// A command entry.
    pub fn command(method: impl Into<String>, args: impl Into<String>) -> Self {
        Entry::Command {
            method: method.into(),
            args: args.into(),
        }
    }

    /// A query entry.
    pub fn query(method: impl Into<String>, args: impl Into<String>) -> Self {
        Entry::Query {
            method: method.into(),
            args: args.into(),
        }
    }

    /// A job entry.
    pub fn job(name: impl Into<String>, input: impl Into<Vec<u8>>) -> Self {
        Entry::Job {
            name: name.into(),
            input: input.into(),
        }
    }

    /// The mode the entry runs in.
    pub fn mode(&self) -> Mode {
        match self {
            Entry::Init { .. } | Entry::Command { .. } => Mode::Command,
            Entry::Query { .. } | Entry::Http(_) => Mode::Query,
            Entry::Job { .. } => Mode::Job,
        }
    }

    fn input_len(&self) -> usize {
        match self {
            Entry::Init { args } => args.len(),
            Entry::Command { method, args } | Entry::Query { method, args } => {
                method.len() + args.len()
            }
            Entry::Job { name, input } => name.len() + input.len(),
            Entry::Http(request) => request.len(),
        }
    }
}

/// Everything one call needs besides the code.
pub struct Call {
    /// What to run.
    pub entry: Entry,
    /// The contract.
    pub contract: ContractId,
    /// Who signed the transaction or the query.
    pub caller: AccountId,
    /// The block.
    pub block: BlockInfo,
    /// Index of the transaction in its block (commands; seeds randomness).
    pub tx_index: u32,
    /// Gas for a command (fuel units).
    pub gas_limit: u64,
    /// The contract's secret, from the key tree.
    pub contract_secret: [u8; 32],
    /// The worker's identity public key.
    pub worker_key: [u8; 32],
    /// The contract state the call reads (and, for commands, writes on top of).
    pub state: Arc<dyn StateStore>,
    /// The worker's cache.
    pub cache: Arc<dyn Cache>,
}

impl Call {
    /// A call with zero ids, block 0 and a gas limit of ten billion; set fields as needed.
    pub fn new(entry: Entry, state: Arc<dyn StateStore>, cache: Arc<dyn Cache>) -> Self {
        Self {
            entry,
            contract: ContractId::default(),
            caller: AccountId::default(),
            block: BlockInfo::default(),
            tx_index: 0,
            gas_limit: 10_000_000_000,
            contract_secret: [0; 32],
            worker_key: [0; 32],
            state,
            cache,
        }
    }
}

/// What a call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result: JSON text for init, commands and queries, bytes for jobs.
    pub result: std::result::Result<Vec<u8>, CallError>,
    /// State writes of a successful command, to apply; empty otherwise.
    pub changes: StateChanges,
    /// Cache writes of a successful command, to apply after the block.
    pub cache_ops: Vec<CacheOp>,
    /// Events of a successful command.
    pub events: Vec<Event>,
    /// What the contract logged, even when it failed.
    pub logs: Vec<LogLine>,
    /// Fuel used (commands always; queries when they are metered with fuel).
    pub gas_used: u64,
    /// Status and headers of the response to an [`Entry::Http`] call.
    pub http_response: Option<HttpResponseHead>,
}

impl Outcome {
    /// The result as text (JSON for everything but jobs).
    pub fn output_str(&self) -> std::result::Result<&str, CallError> {
        match &self.result {
            Ok(bytes) => std::str::from_utf8(bytes).map_err(|_| CallError::Trapped {
                message: "the contract returned text that is not UTF-8".into(),
            }),
            Err(e) => Err(e.clone()),
        }
    }

    /// The limit that ended the call, if one did.
    pub fn limit(&self) -> Option<Limit> {
        match &self.result {
            Err(CallError::LimitExceeded { limit }) => Some(*limit),
            _ => None,
        }
    }
}

/// Code compiled for both engines, ready to instantiate.
pub struct Code {
    hash: CodeHash,
    command: ContractPre<HostState>,
    query: ContractPre<HostState>,
    /// Present when the component also exports `wasi:http/incoming-handler`.
    http: Option<ProxyPre<HostState>>,
}

impl Code {
    /// The hash of the code, as the chain names it.
    pub fn hash(&self) -> CodeHash {
        self.hash
    }

    /// Whether the contract serves HTTP itself (exports `wasi:http/incoming-handler`).
    pub fn serves_http(&self) -> bool {
        self.http.is_some()
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code").field("hash", &self.hash).finish()
    }
}

struct ModeEngine {
    engine: Engine,
    linker: Linker<HostState>,
}

/// The runtime: two engines, a cache of compiled code and the settings of every call.
pub struct Runtime {
    config: RuntimeConfig,
    limits: Arc<Limits>,
    command: ModeEngine,
    query: ModeEngine,
    codes: Mutex<HashMap<CodeHash, Arc<Code>>>,
    tls: Arc<rustls::ClientConfig>,
    clock: Arc<dyn Clock>,
    ticker_stop: Arc<AtomicBool>,
    /// Deadline in epoch ticks.
    query_ticks: u64,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn engine_config(config: &RuntimeConfig, mode: Mode) -> Config {
    let limits = &config.limits;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(config.pool_instances)
        .total_core_instances(config.pool_instances * limits.instances as u32)
        .total_memories(config.pool_instances * limits.memories as u32)
        .total_tables(config.pool_instances * limits.tables as u32)
        .max_memories_per_component(limits.memories as u32)
        .max_tables_per_component(limits.tables as u32)
        .max_core_instances_per_component(limits.instances as u32)
        .table_elements(limits.table_elements)
        .max_memory_size(limits.memory_bytes)
        .total_stacks(config.pool_instances);
    let mut c = Config::new();
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .wasm_component_model(true)
        .max_wasm_stack(limits.stack_bytes)
        .relaxed_simd_deterministic(true);
    match mode {
        Mode::Command => {
            c.consume_fuel(true).cranelift_nan_canonicalization(true);
        }
        Mode::Query | Mode::Job => {
            c.epoch_interruption(true)
                .consume_fuel(limits.query_fuel.is_some());
        }
    }
    c
}

fn mode_engine(config: &RuntimeConfig, mode: Mode) -> Result<ModeEngine> {
    let name = if mode == Mode::Command {
        "command"
    } else {
        "query"
    };
    let fail = |source| Error::Engine { mode: name, source };
    let engine = Engine::new(&engine_config(config, mode)).map_err(fail)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(fail)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(fail)?;
    crate::host::Contract::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
        &mut linker,
        |state| state,
    )
    .map_err(fail)?;
    Ok(ModeEngine { engine, linker })
}

impl Runtime {
    /// A runtime with the operating system's clock.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A runtime whose queries see `clock` (tests use a fixed one).
    pub fn with_clock(config: RuntimeConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let command = mode_engine(&config, Mode::Command)?;
        let query = mode_engine(&config, Mode::Query)?;
        let tick = config.epoch_tick.max(Duration::from_millis(1));
        let query_ticks =
            (config.limits.query_deadline.as_micros() / tick.as_micros()).max(1) as u64;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = query.engine.weak();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("fat-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        match engine.upgrade() {
                            Some(engine) => engine.increment_epoch(),
                            None => break,
                        }
                    }
                })
                .expect("spawn the epoch thread");
        }
        Ok(Self {
            limits: Arc::new(config.limits.clone()),
            config,
            command,
            query,
            codes: Mutex::new(HashMap::new()),
            tls: tls_config(),
            clock,
            ticker_stop,
            query_ticks,
        })
    }

    /// The settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The hash that names `wasm`: the chain's [`fat_types::tx::code_hash`].
    pub fn code_hash(wasm: &[u8]) -> CodeHash {
        fat_types::tx::code_hash(wasm)
    }

    /// Validate and compile a component for both engines, or return the cached result.
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<Code>> {
        if wasm.len() > self.limits.code_bytes {
            return Err(Error::CodeTooLarge {
                size: wasm.len(),
                limit: self.limits.code_bytes,
            });
        }
        let hash = Self::code_hash(wasm);
        if let Some(code) = self.codes.lock().expect("code cache").get(&hash) {
            return Ok(code.clone());
        }
        let prepare = |mode: &ModeEngine| -> Result<InstancePre<HostState>> {
            let component = Component::new(&mode.engine, wasm)
                .map_err(|source| Error::InvalidCode { code: hash, source })?;
            mode.linker
                .instantiate_pre(&component)
                .map_err(|source| Error::NotAContract { code: hash, source })
        };
        let contract = |pre: InstancePre<HostState>| {
            ContractPre::new(pre).map_err(|source| Error::NotAContract { code: hash, source })
        };
        let query = prepare(&self.query)?;
        let code = Arc::new(Code {
            hash,
            command: contract(prepare(&self.command)?)?,
            // Serving HTTP is optional: no export, no HTTP entry.
            http: ProxyPre::new(query.clone()).ok(),
            query: contract(query)?,
        });
        self.codes
            .lock()
            .expect("code cache")
            .insert(hash, code.clone());
        Ok(code)
    }

    /// Run one call. Whatever the contract does, this returns an [`Outcome`].
    pub async fn call(&self, code: &Code, call: Call) -> Outcome {
        let mode = call.entry.mode();
        if call.entry.input_len() > self.limits.input_bytes {
            return failed(
                CallError::LimitExceeded {
                    limit: Limit::InputSize,
                },
                Vec::new(),
                0,
            );
        }
        let engine = match mode {
            Mode::Command => &self.command.engine,
            Mode::Query | Mode::Job => &self.query.engine,
        };
        let mut store = Store::new(engine, self.host_state(&call, mode));
        store.limiter(|state| state);
        let gas_limit = match mode {
            Mode::Command => Some(call.gas_limit),
            Mode::Query | Mode::Job => {
                store.set_epoch_deadline(self.query_ticks);
                store.epoch_deadline_trap();
                self.limits.query_fuel
            }
        };
        if let Some(fuel) = gas_limit {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled on this engine");
        }
        let deadline = match mode {
            Mode::Command => self.limits.command_deadline,
            Mode::Query | Mode::Job => self.limits.query_deadline,
        };

        let run = tokio::time::timeout(
            deadline,
            invoke(&mut store, code, call.entry, self.limits.output_bytes),
        );
        let result = match run.await {
            Err(_elapsed) => Err(CallError::LimitExceeded {
                limit: Limit::Deadline,
            }),
            Ok(result) => result,
        };
        let gas_used = gas_limit.map_or(0, |limit| limit - store.get_fuel().unwrap_or(0));
        let mut state = store.into_data();
        state.take_stdio_logs();
        let result = match result {
            Err(CallError::Trapped { message }) => Err(state
                .limit_hit
                .map(|limit| CallError::LimitExceeded { limit })
                .unwrap_or(CallError::Trapped { message })),
            Ok((output, _)) if output.len() > self.limits.output_bytes => {
                Err(CallError::LimitExceeded {
                    limit: Limit::OutputSize,
                })
            }
            other => other,
        };
        match result {
            Ok((output, http_response)) => Outcome {
                result: Ok(output),
                changes: state.overlay.into_writes(),
                cache_ops: state.cache_ops,
                events: state.events,
                logs: state.logs,
                gas_used,
                http_response,
            },
            Err(error) => failed(error, state.logs, gas_used),
        }
    }

    fn host_state(&self, call: &Call, mode: Mode) -> HostState {
        let deterministic = mode == Mode::Command;
        let now_ms = if deterministic {
            call.block.timestamp_ms
        } else {
            self.clock.now_ms()
        };
        let stdout = MemoryOutputPipe::new(self.limits.log_bytes);
        let stderr = MemoryOutputPipe::new(self.limits.log_bytes);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if deterministic {
            let seed = command_seed(&call.block.hash, &call.contract, call.tx_index);
            let insecure = Sha256::digest([&seed[..], b"insecure"].concat());
            wasi.wall_clock(FixedWallClock(call.block.timestamp_ms))
                .monotonic_clock(FixedMonotonicClock)
                .secure_random(
                    <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_seed(seed),
                )
                .insecure_random(
                    <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_seed(
                        insecure.into(),
                    ),
                )
                .insecure_random_seed(u128::from_le_bytes(
                    seed[..16].try_into().expect("16 bytes"),
                ));
        } else {
            wasi.wall_clock(WorkerWallClock(self.clock.clone()));
        }
        HostState {
            mode,
            contract: call.contract,
            caller: call.caller,
            block: call.block.clone(),
            worker_key: call.worker_key,
            keys: ContractKeys::new(call.contract_secret),
            now_ms,
            limits: self.limits.clone(),
            overlay: Overlay::new(call.state.clone(), call.contract),
            cache: call.cache.clone(),
            cache_ops: Vec::new(),
            events: Vec::new(),
            logs: Vec::new(),
            log_bytes: 0,
            limit_hit: None,
            stdout,
            stderr,
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: HttpHooks::new(
                !deterministic,
                self.config.http_policy.clone(),
                self.config.http_limits.clone(),
                self.tls.clone(),
            ),
            table: ResourceTable::new(),
        }
    }
}

fn failed(error: CallError, logs: Vec<LogLine>, gas_used: u64) -> Outcome {
    Outcome {
        result: Err(error),
        changes: StateChanges::new(),
        cache_ops: Vec::new(),
        events: Vec::new(),
        logs,
        gas_used,
        http_response: None,
    }
}

/// Instantiate and enter the contract; contract errors and traps become [`CallError`]s.
async fn invoke(
    store: &mut Store<HostState>,
    code: &Code,
    entry: Entry,
    max_output: usize,
) -> std::result::Result<(Vec<u8>, Option<HttpResponseHead>), CallError> {
    let pre = match entry.mode() {
        Mode::Command => &code.command,
        Mode::Query | Mode::Job => &code.query,
    };
    let entry = match entry {
        Entry::Http(request) => {
            let Some(proxy) = &code.http else {
                return Err(CallError::Reverted {
                    message: "this contract does not serve HTTP".into(),
                });
            };
            return crate::serve::handle(store, proxy, request, max_output)
                .await
                .map(|(head, body)| (body, Some(head)));
        }
        other => other,
    };
    let instance = pre
        .instantiate_async(&mut *store)
        .await
        .map_err(|e| engine_error(&e, true))?;
    let contract = instance.fat_contract_entry();
    let returned = match entry {
        Entry::Init { args } => contract.call_init(&mut *store, &args).await.map(text),
        Entry::Command { method, args } => contract
            .call_command(&mut *store, &method, &args)
            .await
            .map(text),
        Entry::Query { method, args } => contract
            .call_query(&mut *store, &method, &args)
            .await
            .map(text),
        Entry::Job { name, input } => {
            instance
                .fat_contract_job()
                .call_run(&mut *store, &name, &input)
                .await
        }
        Entry::Http(_) => unreachable!("handled above"),
    };
    match returned {
        Ok(Ok(output)) => Ok((output, None)),
        Ok(Err(message)) => Err(CallError::Reverted { message }),
        Err(trap) => Err(engine_error(&trap, false)),
    }
}

fn text(result: std::result::Result<String, String>) -> std::result::Result<Vec<u8>, String> {
    result.map(String::into_bytes)
}

/// The seed of a command's randomness: SHA-256 over (block hash, contract id, tx index).
fn command_seed(block: &Hash32, contract: &ContractId, tx_index: u32) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"fat/command-random/v1");
    hasher.update(block.as_bytes());
    hasher.update(contract.as_bytes());
    hasher.update(tx_index.to_le_bytes());
    hasher.finalize().into()
}

/// A command's wall clock: the block's timestamp, fixed for the whole call.
struct FixedWallClock(u64);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0)
    }
}

/// A command's monotonic clock: it does not move during a call.
struct FixedMonotonicClock;

impl HostMonotonicClock for FixedMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// A query's wall clock: the runtime's clock.
struct WorkerWallClock(Arc<dyn Clock>);

impl HostWallClock for WorkerWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now_ms())
    }
}
