//! What host calls cost in gas, beside the wasm instructions that fuel counts.
//!
//! Fuel counts wasm instructions only; the work a host function does on the contract's behalf
//! (hashing 64 MiB, signing, writing storage that every replica keeps) would otherwise be
//! free. Every host call therefore costs [`HOST_CALL`], and the functions below cost more
//! per byte they move or process. One unit is about a nanosecond of one core, like a wasm
//! instruction. These figures are part of the protocol: every worker of a cluster must charge
//! the same for the same command, so changing one changes the gas in receipts.
//!
//! A host function checks its charge against the fuel the call had when it entered the host
//! and refuses before doing the work ([`crate::Limit::Gas`]); on return to wasm the charge is
//! taken from the store's fuel, so it shows in the call's `gas_used`. Calls metered by their
//! deadline alone (queries with `query_fuel: None`) are not charged.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::{CallHook, CallHookHandler, StoreContextMut};

use crate::error::Limit;
use crate::host::HostState;
use crate::jobs::Deadline;

/// Every call into the host, WASI included.
pub(crate) const HOST_CALL: u64 = 200;
/// Per byte passed into or out of the host (keys, values, topics, messages, inputs).
pub(crate) const BYTE: u64 = 1;
/// Reading one storage entry (a store lookup, a decryption).
pub(crate) const STORAGE_READ: u64 = 2_000;
/// Writing or removing one storage entry.
pub(crate) const STORAGE_WRITE: u64 = 5_000;
/// Per byte written to storage, on top of [`BYTE`]: every replica encrypts, hashes and keeps
/// it for as long as the contract lives.
pub(crate) const STORAGE_WRITE_BYTE: u64 = 20;
/// Per byte written to the worker's cache, on top of [`BYTE`].
pub(crate) const CACHE_WRITE_BYTE: u64 = 4;
/// Per byte hashed (SHA-256, Keccak-256).
pub(crate) const HASH_BYTE: u64 = 6;
/// Deriving a key or a contract public key (HKDF).
pub(crate) const DERIVE: u64 = 5_000;
/// Signing a message, on top of its bytes.
pub(crate) const SIGN: u64 = 60_000;
/// Per byte signed, on top of [`BYTE`]: Ed25519 hashes the message twice with SHA-512, and a
/// mebibyte signed took as long as about seven hashed with SHA-256 (the `hostile` bench: at
/// five units a byte, a sign bomb ran eight times longer than a loop of the same gas).
pub(crate) const SIGN_BYTE: u64 = 40;
/// Per pollable handed to `wasi:io/poll.poll`: each is looked up and its readiness checked,
/// and one call may list the same pollable a hundred thousand times.
pub(crate) const POLL_ENTRY: u64 = 100;
/// Per byte of randomness (`wasi:random`), on top of [`BYTE`]: the WASI implementation draws
/// it a byte at a time from a ChaCha generator.
pub(crate) const RANDOM_BYTE: u64 = 8;
/// Checking a signature, on top of its bytes.
pub(crate) const VERIFY: u64 = 120_000;
/// Per byte of a checked signature's message, key and signature, on top of [`BYTE`]: one
/// SHA-512 pass.
pub(crate) const VERIFY_BYTE: u64 = 20;

/// The charge of an operation with a fixed part and `bytes` bytes at `per_byte` each.
pub(crate) fn cost(fixed: u64, bytes: usize, per_byte: u64) -> u64 {
    fixed.saturating_add((bytes as u64).saturating_mul(per_byte))
}

/// How much fuel a call burns between two yields to the async runtime (about a millisecond).
pub(crate) const YIELD_FUEL: u64 = 1_000_000;
/// The longest a call runs between two host calls' yields, whatever its fuel says.
pub(crate) const YIELD_TIME: Duration = Duration::from_millis(1);

/// The host's side of a call's gas: what it may still charge during the current host call,
/// and what it charged; and when the call last yielded.
#[derive(Debug)]
pub(crate) struct HostGas {
    /// The store's fuel when the current host call began; `None` when the call is not metered.
    available: Option<u64>,
    /// Charged during the current host call, [`HOST_CALL`] included.
    charged: u64,
    /// The fuel left when the call last yielded through [`GasHook`] (or first returned from
    /// the host).
    yielded_fuel: Option<u64>,
    /// When the call last yielded through [`GasHook`] (or began).
    yielded_time: Instant,
    /// The wall-clock deadline of a query or job; `None` in a command.
    deadline: Option<Arc<Deadline>>,
}

impl HostGas {
    /// The gas of a call that begins now, with `deadline` if it is a query or a job.
    pub(crate) fn new(deadline: Option<Arc<Deadline>>) -> Self {
        Self {
            available: None,
            charged: 0,
            yielded_fuel: None,
            yielded_time: Instant::now(),
            deadline,
        }
    }

    /// A host call begins with `fuel` left (`None`: not metered).
    pub(crate) fn enter(&mut self, fuel: Option<u64>) {
        self.available = fuel;
        // Whatever is pending stays: an entry nested in a host call (the engine entering the
        // host to grow memory while the guest's allocator runs) adds to it.
        self.charged = self.charged.saturating_add(HOST_CALL);
    }

    /// The host calls into wasm in the middle of a host call (the guest's allocator, to hand
    /// over a result): what the host call charged so far, to be taken from the store's fuel
    /// now, so that the wasm runs on what is left and the engine entering the host from it
    /// (to grow its memory) begins afresh.
    pub(crate) fn settle(&mut self) -> u64 {
        self.available = None;
        std::mem::take(&mut self.charged)
    }

    /// Back in the host from such wasm, with `fuel` left: later charges are checked against it.
    pub(crate) fn resume(&mut self, fuel: Option<u64>) {
        self.available = fuel;
    }

    /// Charge `fuel`; `false` when the call cannot pay for it (it then runs out of gas).
    #[must_use]
    pub(crate) fn charge(&mut self, fuel: u64) -> bool {
        self.charged = self.charged.saturating_add(fuel);
        self.available
            .is_none_or(|available| self.charged <= available)
    }

    /// The host call ends: what it charged, to be taken from the store's fuel.
    pub(crate) fn leave(&mut self) -> u64 {
        self.available = None;
        std::mem::take(&mut self.charged)
    }

    /// Whether the call, now at `fuel` (`None`: not metered), has burnt [`YIELD_FUEL`] or run
    /// [`YIELD_TIME`] since it last yielded here; if so, it yields now.
    fn yield_due(&mut self, fuel: Option<u64>, now: Instant) -> bool {
        let burnt = fuel.is_some_and(|fuel| {
            let since = *self.yielded_fuel.get_or_insert(fuel);
            since.saturating_sub(fuel) >= YIELD_FUEL
        });
        if burnt || now.duration_since(self.yielded_time) >= YIELD_TIME {
            self.yielded_fuel = fuel;
            self.yielded_time = now;
            true
        } else {
            false
        }
    }

    /// Whether the call's deadline has passed (never, in a command).
    fn past_deadline(&self) -> bool {
        self.deadline.as_ref().is_some_and(|d| d.passed())
    }
}

/// The store's call hook: charges each host call (see [`HostGas`]) and keeps a call yielding
/// to the async runtime, and a query within its deadline.
///
/// Wasmtime yields a call every [`YIELD_FUEL`] units of fuel only while the fuel is not set
/// again: taking a host call's charge with `set_fuel` starts a new interval, so a loop that
/// calls the host more often than that would never yield and would hold its thread of the
/// async runtime until its gas ran out. And fuel does not always follow time: a WASI call's
/// arguments are copied for the price of the call, however long they are (up to the call's
/// memory). So on its way back from the host a call yields
/// once it has burnt [`YIELD_FUEL`], host charges included, or run [`YIELD_TIME`] since it
/// last yielded here; and a query or job past its deadline ends there with
/// [`crate::Limit::Deadline`].
pub(crate) struct GasHook;

impl CallHookHandler<HostState> for GasHook {
    // The trait is `async_trait`'s: its future is boxed. The work is done before the future
    // is made, and the future is a zero-sized `Done` (no allocation) unless the call yields.
    fn handle_call_event<'hook, 'store, 'future>(
        &'hook self,
        mut store: StoreContextMut<'store, HostState>,
        hook: CallHook,
    ) -> Pin<Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'future>>
    where
        'hook: 'future,
        'store: 'future,
        Self: 'future,
    {
        match hook {
            CallHook::CallingHost => {
                let fuel = store.get_fuel().ok();
                store.data_mut().gas.enter(fuel);
            }
            CallHook::ReturningFromHost => {
                let charged = store.data_mut().gas.leave();
                let mut left = None;
                if let Ok(fuel) = store.get_fuel() {
                    if let Err(e) = take_fuel(&mut store, fuel, charged) {
                        return Box::pin(std::future::ready(Err(e)));
                    }
                    left = Some(fuel - charged);
                }
                let state = store.data_mut();
                if state.gas.past_deadline() {
                    return Box::pin(std::future::ready(Err(state.breach(Limit::Deadline))));
                }
                if state.gas.yield_due(left, Instant::now()) {
                    return Box::pin(async {
                        tokio::task::yield_now().await;
                        Ok(())
                    });
                }
            }
            // The host calling wasm: at a call's start (nothing charged yet), or within a
            // host call, to allocate a result in the guest. The engine entering the host from
            // that wasm (to grow its memory) must not lose what the outer call charged.
            CallHook::CallingWasm => {
                let charged = store.data_mut().gas.settle();
                if charged > 0
                    && let Ok(fuel) = store.get_fuel()
                    && let Err(e) = take_fuel(&mut store, fuel, charged)
                {
                    return Box::pin(std::future::ready(Err(e)));
                }
            }
            CallHook::ReturningFromWasm => {
                let fuel = store.get_fuel().ok();
                store.data_mut().gas.resume(fuel);
            }
        }
        Box::pin(Done)
    }
}

/// Take `charged` from the call's `fuel`; with less left (a host call's fixed price, taken
/// without a check), the call ends out of gas with none left, as a wasm instruction would.
fn take_fuel(
    store: &mut StoreContextMut<'_, HostState>,
    fuel: u64,
    charged: u64,
) -> wasmtime::Result<()> {
    match fuel.checked_sub(charged) {
        Some(left) => store.set_fuel(left),
        None => {
            store.set_fuel(0)?;
            Err(store.data_mut().breach(Limit::Gas))
        }
    }
}

/// A future that is ready at once, and small enough that boxing it allocates nothing.
struct Done;

impl Future for Done {
    type Output = wasmtime::Result<()>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_yields_after_a_million_fuel_or_a_millisecond() {
        let start = Instant::now();
        let mut gas = HostGas::new(None);
        gas.yielded_time = start;
        // Fuel first seen: nothing burnt, no time gone.
        assert!(!gas.yield_due(Some(10_000_000), start));
        assert!(!gas.yield_due(Some(10_000_000 - YIELD_FUEL + 1), start));
        assert!(gas.yield_due(Some(10_000_000 - YIELD_FUEL), start));
        // Counted again from the yield.
        assert!(!gas.yield_due(Some(10_000_000 - YIELD_FUEL - 1), start));
        // Little fuel, but a millisecond gone: a host call that took long for its price.
        let later = start + YIELD_TIME;
        assert!(gas.yield_due(Some(10_000_000 - YIELD_FUEL - 2), later));
        assert!(!gas.yield_due(Some(10_000_000 - YIELD_FUEL - 3), later));
        // Without fuel, time alone.
        let mut unmetered = HostGas::new(None);
        unmetered.yielded_time = start;
        assert!(!unmetered.yield_due(None, start + YIELD_TIME / 2));
        assert!(unmetered.yield_due(None, start + YIELD_TIME));
    }

    #[test]
    fn only_a_query_or_job_has_a_deadline_to_pass() {
        assert!(!HostGas::new(None).past_deadline());
        let passed = Deadline::new(Duration::ZERO);
        assert!(HostGas::new(Some(passed)).past_deadline());
        let far = Deadline::new(Duration::from_secs(3600));
        assert!(!HostGas::new(Some(far)).past_deadline());
    }
}
