//! The host side of the contract world: what a call's store holds and how imports behave.

mod bindings;
mod crypto;
mod imports;

use std::sync::Arc;

use fat_types::{AccountId, ContractId};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::cache::{Cache, CacheOp};
use crate::call::{BlockInfo, Event, LogLevel, LogLine, Mode};
use crate::config::Limits;
use crate::error::Limit;
use crate::gas::HostGas;
use crate::http::HttpHooks;
use crate::jobs::CallJobs;
use crate::overlay::Overlay;

pub(crate) use bindings::{Contract, ContractPre};
pub(crate) use crypto::ContractKeys;

/// Everything a running call can reach. One per call; dropped with the call's store.
pub(crate) struct HostState {
    pub(crate) mode: Mode,
    pub(crate) contract: ContractId,
    pub(crate) caller: AccountId,
    pub(crate) block: BlockInfo,
    pub(crate) worker_key: [u8; 32],
    pub(crate) keys: ContractKeys,
    /// Milliseconds since the Unix epoch: the block's time in a command, the worker's clock
    /// otherwise. Cache expiry is measured against it.
    pub(crate) now_ms: u64,
    pub(crate) limits: Arc<Limits>,
    pub(crate) overlay: Overlay,
    pub(crate) cache: Arc<dyn Cache>,
    pub(crate) cache_ops: Vec<CacheOp>,
    pub(crate) events: Vec<Event>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) log_bytes: usize,
    /// The first limit a host function or the resource limiter refused.
    pub(crate) limit_hit: Option<Limit>,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: HttpHooks,
    pub(crate) table: ResourceTable,
    /// The jobs a query spawned.
    pub(crate) jobs: CallJobs,
    /// What host calls cost (see [`crate::gas`]).
    pub(crate) gas: HostGas,
    /// Bytes of storage and cache writes so far (keys and values, overwrites counted again).
    pub(crate) written: usize,
}

impl HostState {
    /// Record a breached limit and make the trap that ends the call.
    pub(crate) fn breach(&mut self, limit: Limit) -> wasmtime::Error {
        self.limit_hit.get_or_insert(limit);
        wasmtime::Error::new(crate::error::LimitTrap(limit))
    }

    /// Charge `fuel` for the work a host function is about to do; out of gas, the call ends.
    pub(crate) fn charge(&mut self, fuel: u64) -> wasmtime::Result<()> {
        if self.gas.charge(fuel) {
            Ok(())
        } else {
            Err(self.breach(Limit::Gas))
        }
    }

    /// Count `bytes` more written by this call against [`Limits::write_bytes`].
    pub(crate) fn count_written(&mut self, bytes: usize) -> wasmtime::Result<()> {
        self.written = self.written.saturating_add(bytes);
        if self.written > self.limits.write_bytes {
            return Err(self.breach(Limit::WriteBytes));
        }
        Ok(())
    }

    /// Count one more cache write or removal of a command against [`Limits::cache_ops`].
    pub(crate) fn count_cache_op(&mut self) -> wasmtime::Result<()> {
        if self.cache_ops.len() >= self.limits.cache_ops {
            return Err(self.breach(Limit::CacheOps));
        }
        Ok(())
    }

    /// Count `bytes` of log output against the call's budget.
    pub(crate) fn charge_log(&mut self, bytes: usize) -> wasmtime::Result<()> {
        self.log_bytes = self.log_bytes.saturating_add(bytes);
        if self.log_bytes > self.limits.log_bytes {
            return Err(self.breach(Limit::LogVolume));
        }
        Ok(())
    }

    /// Lines written to stdout and stderr, as log lines, in that order.
    pub(crate) fn take_stdio_logs(&mut self) {
        for (pipe, level) in [
            (&self.stdout, LogLevel::Info),
            (&self.stderr, LogLevel::Warn),
        ] {
            let bytes = pipe.contents();
            // A full pipe means the contract wrote past its budget and its write failed.
            if bytes.len() >= self.limits.log_bytes {
                self.limit_hit.get_or_insert(Limit::LogVolume);
            }
            for line in String::from_utf8_lossy(&bytes).lines() {
                self.logs.push(LogLine {
                    level,
                    message: line.to_string(),
                });
            }
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            return Err(self.breach(Limit::Memory));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.table_elements {
            return Err(self.breach(Limit::TableElements));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.instances
    }

    fn tables(&self) -> usize {
        self.limits.tables
    }

    fn memories(&self) -> usize {
        self.limits.memories
    }
}
