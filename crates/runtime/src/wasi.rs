//! The WASI context of a call: captured stdio, no sockets, and clocks and randomness by mode.

use std::sync::Arc;
use std::time::Duration;

use fat_types::clock::Clock;
use fat_types::{ContractId, Hash32};
use sha2::{Digest, Sha256};
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::io::poll;
use wasmtime_wasi::p2::bindings::random;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx};

use crate::call::{Call, Mode};
use crate::host::HostState;

/// A call's WASI context and the pipes that capture its stdout and stderr.
pub(crate) struct CallWasi {
    pub(crate) ctx: WasiCtx,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl CallWasi {
    /// The context of `call` in `mode`: a command sees the block's time and randomness
    /// seeded by its transaction, a query or job the worker's `clock` and the OS's
    /// randomness. Each pipe holds up to `log_bytes`.
    pub(crate) fn new(call: &Call, mode: Mode, clock: &Arc<dyn Clock>, log_bytes: usize) -> Self {
        let stdout = MemoryOutputPipe::new(log_bytes);
        let stderr = MemoryOutputPipe::new(log_bytes);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if mode == Mode::Command {
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
            wasi.wall_clock(WorkerWallClock(clock.clone()));
        }
        Self {
            ctx: wasi.build(),
            stdout,
            stderr,
        }
    }
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

/// `wasi:clocks/monotonic-clock` in a command: the clock stands still and every pollable it
/// makes is ready at once. A command waits for nothing in real time, so it cannot stall its
/// cluster for free, and no worker's scheduling can change what it computes.
pub(crate) struct CommandClock<'a> {
    pub(crate) table: &'a mut ResourceTable,
}

/// The [`HasData`] of [`CommandClock`], to link it.
pub(crate) struct CommandClockData;

impl HasData for CommandClockData {
    type Data<'a> = CommandClock<'a>;
}

/// A pollable that is ready at once.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

impl CommandClock<'_> {
    fn ready(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let ready = self.table.push(Ready)?;
        subscribe(self.table, ready)
    }
}

impl monotonic_clock::Host for CommandClock<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(FixedMonotonicClock.now())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(FixedMonotonicClock.resolution())
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready()
    }
}

/// `wasi:random`, paid by the byte: the WASI implementation's, linked over it (as
/// [`CommandClock`] is) so that a call asking for many bytes pays for them before they are
/// made ([`crate::gas::RANDOM_BYTE`]), rather than the price of one host call for up to
/// 64 MiB.
impl random::random::Host for HostState {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        self.charge(random_cost(len))?;
        random::random::Host::get_random_bytes(self.wasi.random(), len)
    }

    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        random::random::Host::get_random_u64(self.wasi.random())
    }
}

impl random::insecure::Host for HostState {
    fn get_insecure_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        self.charge(random_cost(len))?;
        random::insecure::Host::get_insecure_random_bytes(self.wasi.random(), len)
    }

    fn get_insecure_random_u64(&mut self) -> wasmtime::Result<u64> {
        random::insecure::Host::get_insecure_random_u64(self.wasi.random())
    }
}

/// The charge of `len` bytes of randomness.
fn random_cost(len: u64) -> u64 {
    len.saturating_mul(crate::gas::BYTE + crate::gas::RANDOM_BYTE)
}

/// `wasi:io/poll`, WASI's own over the call's resource table, with `poll` paid by the
/// pollable ([`crate::gas::POLL_ENTRY`]): its list may name one pollable a hundred thousand
/// times, each looked up and checked, for the price of one host call.
impl poll::Host for HostState {
    async fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        self.charge(crate::gas::cost(0, pollables.len(), crate::gas::POLL_ENTRY))?;
        poll::Host::poll(&mut self.table, pollables).await
    }
}

impl poll::HostPollable for HostState {
    async fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll::HostPollable::block(&mut self.table, pollable).await
    }

    async fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        poll::HostPollable::ready(&mut self.table, pollable).await
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(&mut self.table, pollable)
    }
}
