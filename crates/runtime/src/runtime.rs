//! The runtime: compiled code by hash, and the execution of one call within its limits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fat_types::CodeHash;
use fat_types::clock::{Clock, SystemClock};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::call::{Call, Entry, Mode, Outcome};
use crate::code::Code;
use crate::config::{Limits, RuntimeConfig};
use crate::engine::{ModeEngine, spawn_epoch_ticker};
use crate::error::{CallError, Error, Limit, LimitTrap, Result, engine_error};
use crate::gas::{GasHook, HostGas, YIELD_FUEL};
use crate::host::{ContractKeys, HostState};
use crate::http::{HttpHooks, HttpNetwork, SystemNetwork, tls_config};
use crate::jobs::{CallJobs, Deadline};
use crate::overlay::Overlay;
use crate::serve::HttpResponseHead;
use crate::wasi::CallWasi;

/// The runtime: two engines, a cache of compiled code and the settings of every call.
pub struct Runtime {
    config: RuntimeConfig,
    limits: Arc<Limits>,
    command: ModeEngine,
    query: ModeEngine,
    codes: Mutex<CodeCache>,
    /// A gate for each code being compiled: a second caller for the same code waits for the
    /// first and takes its result from the cache instead of compiling it again.
    compiling: Mutex<HashMap<CodeHash, Arc<CompileGate>>>,
    /// How many codes this runtime has compiled.
    compilations: std::sync::atomic::AtomicU64,
    tls: Arc<rustls::ClientConfig>,
    network: Arc<dyn HttpNetwork>,
    clock: Arc<dyn Clock>,
    ticker_stop: Arc<AtomicBool>,
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

impl Runtime {
    /// A runtime with the operating system's clock.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A runtime whose queries see `clock` (tests use a fixed one).
    pub fn with_clock(config: RuntimeConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let command = ModeEngine::new(&config, Mode::Command)?;
        let query = ModeEngine::new(&config, Mode::Query)?;
        let tick = config.epoch_tick.max(Duration::from_millis(1));
        let ticker_stop = Arc::new(AtomicBool::new(false));
        if config.limits.query_fuel.is_none() {
            spawn_epoch_ticker(&query.engine, tick, ticker_stop.clone());
        }
        let codes = Mutex::new(CodeCache::new(config.code_cache_entries));
        Ok(Self {
            limits: Arc::new(config.limits.clone()),
            config,
            command,
            query,
            codes,
            compiling: Mutex::new(HashMap::new()),
            compilations: Default::default(),
            tls: tls_config(),
            network: Arc::new(SystemNetwork),
            clock,
            ticker_stop,
        })
    }

    /// This runtime with contracts' outbound requests resolved and connected through
    /// `network` (tests use one with no route off the machine), still under the policy.
    pub fn with_network(mut self, network: Arc<dyn HttpNetwork>) -> Self {
        self.network = network;
        self
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
        if let Some(code) = self.cached(&hash) {
            return Ok(code);
        }
        // One compilation per code at a time: the others wait here, then find it cached.
        let gate = self
            .compiling
            .lock()
            .expect("compile gates")
            .entry(hash)
            .or_default()
            .clone();
        let compiled = {
            let mut outcome = gate
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &*outcome {
                // Compiled (or refused) while this caller waited: the same answer.
                Some(Ok(code)) => Ok(code.clone()),
                Some(Err(error)) => Err(error.shared()),
                None => {
                    let compiled = self.compile(hash, wasm);
                    *outcome = Some(match &compiled {
                        Ok(code) => Ok(code.clone()),
                        Err(error) => Err(error.shared()),
                    });
                    compiled
                }
            }
        };
        // Leave the gate under the map's lock: the last caller to leave removes it.
        let mut gates = self.compiling.lock().expect("compile gates");
        drop(gate);
        if gates
            .get(&hash)
            .is_some_and(|gate| Arc::strong_count(gate) == 1)
        {
            gates.remove(&hash);
        }
        compiled
    }

    fn compile(&self, hash: CodeHash, wasm: &[u8]) -> Result<Arc<Code>> {
        self.compilations.fetch_add(1, Ordering::Relaxed);
        let code = Arc::new(Code::compile(hash, wasm, &self.command, &self.query)?);
        self.codes
            .lock()
            .expect("code cache")
            .insert(hash, code.clone());
        Ok(code)
    }

    /// How many codes this runtime has compiled (each load that did not find its code in
    /// memory, once however many asked for it at the same time).
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// The compiled code of `hash`, if it is in the cache (it is then the most recently
    /// used).
    pub fn cached(&self, hash: &CodeHash) -> Option<Arc<Code>> {
        self.codes.lock().expect("code cache").get(hash)
    }

    /// How many compiled codes the cache holds.
    pub fn cached_codes(&self) -> usize {
        self.codes.lock().expect("code cache").entries.len()
    }

    /// Run one call. Whatever the contract does, this returns an [`Outcome`].
    pub async fn call(&self, code: &Code, call: Call) -> Outcome {
        let mode = call.entry.mode();
        if call.entry.input_len() > self.limits.input_bytes {
            return Outcome::failed(
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
        let deadline = Deadline::new(self.limits.query_deadline);
        let mut store = Store::new(engine, self.host_state(&call, mode, deadline.clone()));
        store.limiter(|state| state);
        // Host calls cost gas too (see `crate::gas`): each learns the fuel left as it begins,
        // and what it charged is taken from the fuel as it returns to wasm.
        store.call_hook_async(GasHook);
        let gas_limit = match mode {
            Mode::Command => Some(call.gas_limit),
            Mode::Query | Mode::Job => {
                // The call yields to the async runtime every `YIELD_FUEL` units of fuel or,
                // without fuel, every epoch tick, so other calls on the same thread go on and
                // the deadline's timer can fire; past the deadline (longer once a query spawns
                // jobs) the call is dropped at its next yield, or traps at the tick.
                if self.limits.query_fuel.is_none() {
                    let deadline = deadline.clone();
                    store.epoch_deadline_callback(move |_| {
                        if deadline.passed() {
                            return Err(wasmtime::Error::new(LimitTrap(Limit::Deadline)));
                        }
                        Ok(UpdateDeadline::Yield(1))
                    });
                    store.set_epoch_deadline(1);
                }
                self.limits.query_fuel
            }
        };
        if let Some(fuel) = gas_limit {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled on this engine");
            // Wasm never waits on the host by itself: without yielding, a long call would hold
            // its thread of the async runtime (and every task queued on it) until it ends.
            store
                .fuel_async_yield_interval(Some(YIELD_FUEL))
                .expect("fuel is enabled on this engine");
        }
        let run = invoke(&mut store, code, call.entry, self.limits.output_bytes);
        let result = match mode {
            // A command is bounded by its gas alone, never by the wall clock: whether a
            // deadline hits depends on the worker, and workers must agree on every outcome.
            // It waits for nothing in real time (its pollables are ready at once).
            Mode::Command => run.await,
            Mode::Query | Mode::Job => {
                deadline
                    .race(run)
                    .await
                    .unwrap_or(Err(CallError::LimitExceeded {
                        limit: Limit::Deadline,
                    }))
            }
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
            Err(error) => Outcome::failed(error, state.logs, gas_used),
        }
    }

    fn host_state(&self, call: &Call, mode: Mode, deadline: Arc<Deadline>) -> HostState {
        let deterministic = mode == Mode::Command;
        let now_ms = if deterministic {
            call.block.timestamp_ms
        } else {
            self.clock.now_ms()
        };
        let wasi = CallWasi::new(call, mode, &self.clock, self.limits.log_bytes);
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
            stdout: wasi.stdout,
            stderr: wasi.stderr,
            wasi: wasi.ctx,
            http: {
                let mut http = WasiHttpCtx::new();
                http.set_field_size_limit(self.limits.http_field_bytes);
                http
            },
            hooks: HttpHooks::new(
                !deterministic,
                self.config.http_policy.clone(),
                self.config.http_limits.clone(),
                self.tls.clone(),
                self.network.clone(),
            ),
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(self.limits.host_resources);
                table
            },
            jobs: CallJobs::new(call.jobs.clone(), deadline.clone()),
            gas: HostGas::new((!deterministic).then(|| deadline.clone())),
            written: 0,
        }
    }
}

/// Instantiate and enter the contract; contract errors and traps become [`CallError`]s.
async fn invoke(
    store: &mut Store<HostState>,
    code: &Code,
    entry: Entry,
    max_output: usize,
) -> std::result::Result<(Vec<u8>, Option<HttpResponseHead>), CallError> {
    let pre = code.contract(entry.mode());
    let entry = match entry {
        Entry::Http(request) => {
            let Some(proxy) = code.http() else {
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

/// Callers of one code waiting for its compilation, and its outcome once there is one. It
/// lives only while someone waits: code that failed is compiled again when asked again later.
type CompileGate = Mutex<Option<Result<Arc<Code>>>>;

/// Compiled code by hash, at most `capacity` of them: the least recently used goes first.
struct CodeCache {
    entries: HashMap<CodeHash, (Arc<Code>, u64)>,
    capacity: usize,
    clock: u64,
}

impl CodeCache {
    fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    fn get(&mut self, hash: &CodeHash) -> Option<Arc<Code>> {
        self.clock += 1;
        let (code, used) = self.entries.get_mut(hash)?;
        *used = self.clock;
        Some(code.clone())
    }

    fn insert(&mut self, hash: CodeHash, code: Arc<Code>) {
        self.clock += 1;
        if !self.entries.contains_key(&hash) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(h, _)| *h);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(hash, (code, self.clock));
    }
}
