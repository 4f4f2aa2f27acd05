//! The wasmtime engine of each mode: its configuration, its linker and the epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Linker, ResourceType};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::call::Mode;
use crate::config::RuntimeConfig;
use crate::error::{Error, Result};
use crate::host::{Contract, HostState};
use crate::wasi::{CommandClock, CommandClockData};
use wasmtime::component::HasSelf;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::io::poll;
use wasmtime_wasi::p2::bindings::random;

/// An engine and the linker of the contract world on it.
pub(crate) struct ModeEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    /// Whether this is the command engine, where the network traps (see
    /// [`ModeEngine::instantiate_pre`]).
    command: bool,
}

impl ModeEngine {
    /// The engine of `mode` (queries and jobs share one) with the host linked in.
    pub(crate) fn new(config: &RuntimeConfig, mode: Mode) -> Result<Self> {
        let name = if mode == Mode::Command {
            "command"
        } else {
            "query"
        };
        let fail = |source| Error::Engine { mode: name, source };
        let engine = Engine::new(&engine_config(config, mode)).map_err(fail)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(fail)?;
        if mode != Mode::Command {
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(fail)?;
        }
        // Randomness paid by the byte and polls by the pollable (see `crate::wasi`), over
        // WASI's own.
        linker.allow_shadowing(true);
        poll::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s).map_err(fail)?;
        random::random::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(fail)?;
        random::insecure::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(fail)?;
        linker.allow_shadowing(false);
        if mode == Mode::Command {
            // A command's clock stands still and its pollables are ready at once (see
            // `CommandClock`): it replaces the WASI clock that sleeps in real time.
            linker.allow_shadowing(true);
            monotonic_clock::add_to_linker::<HostState, CommandClockData>(&mut linker, |state| {
                CommandClock {
                    table: &mut state.table,
                }
            })
            .map_err(fail)?;
            linker.allow_shadowing(false);
        }
        Contract::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state).map_err(fail)?;
        Ok(Self {
            engine,
            linker,
            command: mode == Mode::Command,
        })
    }

    /// Pre-link `component`. A command makes no HTTP request and opens no socket, yet a
    /// contract that does in queries imports `wasi:http` (or `wasi:sockets`): on the command
    /// engine each of their functions is one that traps ([`off_in_commands`]), rather than
    /// WASI's own. Those copy their arguments (a header value, a name to resolve) out of the
    /// guest for the price of one host call and then refuse them, again and again, in a
    /// command bounded by gas alone.
    pub(crate) fn instantiate_pre(
        &self,
        component: &Component,
    ) -> wasmtime::Result<InstancePre<HostState>> {
        let ty = component.component_type();
        let network: Vec<_> = ty
            .imports(&self.engine)
            .filter(|(name, _)| self.command && off_in_commands(name))
            .collect();
        if network.is_empty() {
            return self.linker.instantiate_pre(component);
        }
        // Resources that these take from other interfaces (`pollable`, the streams):
        // those keep their own definitions.
        let elsewhere: Vec<ResourceType> = ty
            .imports(&self.engine)
            .filter(|(name, _)| !off_in_commands(name))
            .filter_map(|(_, import)| match import.ty {
                ComponentItem::ComponentInstance(instance) => Some(instance),
                _ => None,
            })
            .flat_map(|instance| {
                instance
                    .exports(&self.engine)
                    .filter_map(|(_, item)| match item.ty {
                        ComponentItem::Resource(resource) => Some(resource),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut linker = self.linker.clone();
        linker.allow_shadowing(true);
        for (name, import) in network {
            let ComponentItem::ComponentInstance(instance) = import.ty else {
                continue;
            };
            let mut stubs = linker.instance(name)?;
            for (export, item) in instance.exports(&self.engine) {
                match item.ty {
                    ComponentItem::ComponentFunc(_) => {
                        let what = format!("{name}#{export}");
                        stubs.func_new(export, move |_, _, _, _| {
                            wasmtime::bail!("{what}: the network is not available in a command")
                        })?;
                    }
                    ComponentItem::Resource(resource) if !elsewhere.contains(&resource) => {
                        stubs.resource(export, ResourceType::host::<NoNetwork>(), |_, _| Ok(()))?;
                    }
                    _ => {}
                }
            }
        }
        linker.instantiate_pre(component)
    }
}

/// Interfaces whose functions trap in a command: the network. `wasi:http` is not linked on
/// the command engine, and `wasi:sockets` (linked, and refusing everything there) is stubbed
/// too, since a name to resolve is copied out of the guest before it is refused.
fn off_in_commands(import: &str) -> bool {
    import.starts_with("wasi:http/") || import.starts_with("wasi:sockets/")
}

/// The host side of a network resource in a command: none is ever made.
struct NoNetwork;

/// Bytes of each linear memory reset in place when an instance is freed (see `engine_config`).
const KEEP_RESIDENT_MEMORY: usize = 1 << 20;
/// Bytes of each table reset in place when an instance is freed.
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

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
    // A call's instance is freed when the call ends. Reset its memory and tables by rewriting
    // the pages the call dirtied (found with Linux's `PAGEMAP_SCAN` where there is one), up to
    // these sizes, rather than giving every page back with `madvise`: that unmaps them, flushes
    // the TLB of every core the process runs on and faults them in again on the next call.
    // Either way the next instance starts from the pristine image.
    pool.linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .pagemap_scan(Enabled::Auto);
    let mut c = Config::new();
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .wasm_component_model(true)
        .max_wasm_stack(limits.stack_bytes)
        .relaxed_simd_deterministic(true);
    match mode {
        Mode::Command => {
            // NaNs are made canonical in the code itself, before it is compiled
            // (`crate::nan`): much cheaper on x86-64 than Cranelift's own pass.
            c.consume_fuel(true);
        }
        Mode::Query | Mode::Job => {
            // A call with fuel yields every `YIELD_FUEL` units, and its deadline is checked at
            // each yield: the epoch's checks in every loop would only add their cost. Only a
            // call metered by its deadline alone needs the epoch to interrupt it.
            let metered = limits.query_fuel.is_some();
            c.consume_fuel(metered).epoch_interruption(!metered);
        }
    }
    c
}

/// Advance the epoch of `engine` every `tick` until `stop` is set or the engine is dropped
/// (only the query engine of a runtime whose queries have no fuel uses it).
pub(crate) fn spawn_epoch_ticker(engine: &Engine, tick: Duration, stop: Arc<AtomicBool>) {
    let engine = engine.weak();
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
