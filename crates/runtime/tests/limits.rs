//! Every limit ends the call that breaches it with a typed error; the host and other calls go on.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Harness, WORKER_CLOCK_MS, ok};
use fat_runtime::{Entry, Limit, Limits, RuntimeConfig};
use fat_test_programs::PROBE;
use fat_types::clock::{Clock, ManualClock};

fn config(limits: Limits) -> RuntimeConfig {
    RuntimeConfig {
        limits,
        ..RuntimeConfig::default()
    }
}

fn short_deadline() -> Limits {
    Limits {
        query_deadline: Duration::from_millis(300),
        ..Limits::default()
    }
}

#[tokio::test]
async fn an_infinite_loop_in_a_command_runs_out_of_gas() {
    let h = Harness::new(PROBE);
    let mut call = h.call(Entry::command("loop", ""));
    call.gas_limit = 50_000_000;
    let outcome = h.run(call).await;
    assert_eq!(outcome.limit(), Some(Limit::Gas));
    assert_eq!(outcome.gas_used, 50_000_000);
    // The same contract, the same runtime: the next call is fine.
    assert_eq!(ok(&h.command("set", "after=loop").await), "ok");
}

#[tokio::test]
async fn an_infinite_loop_in_a_query_hits_the_deadline() {
    let h = Harness::with_config(PROBE, config(short_deadline()));
    // Stopped by its deadline: its fuel would last far longer, and end it as Gas.
    let outcome = h.query("loop", "").await;
    assert_eq!(outcome.limit(), Some(Limit::Deadline));
    assert_eq!(ok(&h.query("get", "x").await), "none");
}

#[tokio::test]
async fn a_query_looping_on_host_calls_hits_the_deadline() {
    let h = Harness::with_config(PROBE, config(short_deadline()));
    // Each turn reads the clock (a host call); the clock never reaches the year 584 million.
    // Its fuel would last far longer, and end it as Gas.
    let outcome = h.query("spin-until", "18446744073709551615").await;
    assert_eq!(outcome.limit(), Some(Limit::Deadline));
}

#[tokio::test]
async fn a_query_waiting_in_the_host_hits_the_deadline_too() {
    let h = Harness::with_config(PROBE, config(short_deadline()));
    let outcome = h.query("sleep", "60000").await;
    assert_eq!(outcome.limit(), Some(Limit::Deadline));
}

#[tokio::test]
async fn a_query_runs_out_of_fuel_before_its_deadline_when_fuel_is_short() {
    let limits = Limits {
        query_fuel: Some(10_000_000),
        ..Limits::default()
    };
    let h = Harness::with_config(PROBE, config(limits));
    let outcome = h.query("loop", "").await;
    assert_eq!(outcome.limit(), Some(Limit::Gas));
    assert!(h.query("floats", "1").await.gas_used > 0);
}

/// A worker clock that stands still until moved and counts how often it is read.
struct WatchedClock {
    now: ManualClock,
    reads: AtomicU64,
}

impl Clock for WatchedClock {
    fn now_ms(&self) -> u64 {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.now.now_ms()
    }
}

impl WatchedClock {
    /// Wait until the clock has been read more than `reads` times.
    async fn read_more_than(&self, reads: u64) {
        while self.reads.load(Ordering::SeqCst) <= reads {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

// One worker thread runs every call: the other queries are answered only if the loop, busy in
// wasm, gives that thread up.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_looping_query_does_not_block_others() {
    let clock = Arc::new(WatchedClock {
        now: ManualClock::new(WORKER_CLOCK_MS),
        reads: AtomicU64::new(0),
    });
    let h = Arc::new(Harness::with_clock(
        PROBE,
        RuntimeConfig::default(),
        clock.clone(),
    ));
    // The loop spins until the clock moves, which only this test does.
    let release = WORKER_CLOCK_MS + 1;
    let looping = tokio::spawn({
        let h = h.clone();
        async move { h.query("spin-until", &release.to_string()).await }
    });
    // The host reads the clock once to start the call; the reads after that are the loop's.
    clock.read_more_than(10).await;
    let others: Vec<_> = (0..5)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.query("get", "k").await })
        })
        .collect();
    for other in others {
        assert_eq!(ok(&other.await.unwrap()), "none");
    }
    assert!(
        !looping.is_finished(),
        "the loop ended before the others were answered: {:?}",
        looping.await.unwrap().result
    );
    // And it is still turning.
    clock
        .read_more_than(clock.reads.load(Ordering::SeqCst))
        .await;
    clock.now.advance(1);
    assert_eq!(ok(&looping.await.unwrap()), release.to_string());
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let h = Harness::with_config(PROBE, config(limits));
    assert_eq!(h.command("alloc", "").await.limit(), Some(Limit::Memory));
    assert_eq!(h.query("alloc", "").await.limit(), Some(Limit::Memory));
    assert_eq!(ok(&h.query("get", "k").await), "none");
}

#[tokio::test]
async fn deep_recursion_overflows_the_stack() {
    let h = Harness::new(PROBE);
    assert!(h.query("recurse", "1000").await.result.is_ok());
    assert_eq!(
        h.query("recurse", "100000000").await.limit(),
        Some(Limit::Stack)
    );
    assert_eq!(
        h.command("recurse", "100000000").await.limit(),
        Some(Limit::Stack)
    );
}

#[tokio::test]
async fn oversized_output_and_input_are_refused() {
    let limits = Limits {
        output_bytes: 1000,
        input_bytes: 100,
        ..Limits::default()
    };
    let h = Harness::with_config(PROBE, config(limits));
    assert_eq!(ok(&h.query("output", "1000").await).len(), 1000);
    assert_eq!(
        h.query("output", "1001").await.limit(),
        Some(Limit::OutputSize)
    );
    let big = "x".repeat(200);
    assert_eq!(h.query("get", &big).await.limit(), Some(Limit::InputSize));
}

#[tokio::test]
async fn log_volume_is_capped_for_the_log_interface_and_stdout() {
    let limits = Limits {
        log_bytes: 4096,
        ..Limits::default()
    };
    let h = Harness::with_config(PROBE, config(limits));
    assert_eq!(h.query("log", "10").await.logs.len(), 10);
    let outcome = h.query("log", "1000").await;
    assert_eq!(outcome.limit(), Some(Limit::LogVolume));
    assert!(!outcome.logs.is_empty(), "lines before the limit are kept");
    assert_eq!(
        h.command("print", "1000").await.limit(),
        Some(Limit::LogVolume)
    );
}

#[tokio::test]
async fn storage_limits_on_keys_values_and_entries() {
    let limits = Limits {
        storage_key_bytes: 16,
        storage_value_bytes: 1024,
        storage_entries: 10,
        ..Limits::default()
    };
    let h = Harness::with_config(PROBE, config(limits));
    let long_key = format!("{}=v", "k".repeat(17));
    assert_eq!(
        h.command("set", &long_key).await.limit(),
        Some(Limit::StorageKeySize)
    );
    assert_eq!(ok(&h.command("big-value", "1024").await), "ok");
    assert_eq!(
        h.command("big-value", "1025").await.limit(),
        Some(Limit::StorageValueSize)
    );
    // 1 entry ("big") is stored; 9 more fit, 10 more do not.
    assert_eq!(
        h.command("fill", "10").await.limit(),
        Some(Limit::StorageEntries)
    );
    assert_eq!(ok(&h.command("fill", "9").await), "ok");
    assert_eq!(
        h.command("set", "one=more").await.limit(),
        Some(Limit::StorageEntries)
    );
    // Overwriting an existing key adds no entry.
    assert_eq!(ok(&h.command("set", "fill/0=y").await), "ok");
}

#[tokio::test]
async fn event_count_is_capped() {
    let limits = Limits {
        events: 3,
        ..Limits::default()
    };
    let h = Harness::with_config(PROBE, config(limits));
    assert_eq!(h.command("emit", "3").await.events.len(), 3);
    assert_eq!(h.command("emit", "4").await.limit(), Some(Limit::Events));
}

#[tokio::test]
async fn a_trap_is_reported_and_changes_nothing() {
    let h = Harness::new(PROBE);
    assert_eq!(ok(&h.command("set", "k=before").await), "ok");
    // The probe writes a key and emits an event, then panics.
    let outcome = h.command("set-then-panic", "k=after").await;
    let message = common::err(&outcome);
    assert!(message.contains("trapped"), "{message}");
    let logs: Vec<&str> = outcome.logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        logs.iter().any(|l| l.contains("wrote, now panicking")),
        "the write came first: {logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("panics on purpose after writing")),
        "{logs:?}"
    );
    assert_eq!(outcome.limit(), None);
    assert!(outcome.changes.is_empty(), "{:?}", outcome.changes);
    assert!(outcome.events.is_empty(), "{:?}", outcome.events);
    assert_eq!(ok(&h.query("get", "k").await), "before");
}

/// A command makes no HTTP request and resolves no name: on the command engine every
/// `wasi:http` and `wasi:sockets` function traps. WASI's own copied a header value (or a
/// name) of any length out of the guest for the price of one host call, then refused it,
/// so a command could loop on it for almost no gas. A query still builds headers (up to
/// `http_field_bytes` a map) and makes requests.
#[tokio::test]
async fn the_network_traps_in_a_command() {
    let h = Harness::new(PROBE);
    for bomb in ["header-bomb", "resolve-bomb"] {
        let outcome = h.command(bomb, "1000").await;
        let message = format!("{:?}", outcome.result);
        assert!(
            message.contains("the network is not available in a command"),
            "{bomb}: {message}"
        );
        assert!(
            outcome.gas_used < 10_000_000,
            "{bomb} stopped at once: {}",
            outcome.gas_used
        );
    }
    assert_eq!(ok(&h.query("header-bomb", "3").await), "refused");
}

/// Host resources (WASI streams, pollables, header maps) take host memory that the call's
/// memory limit does not count: a call holds at most `host_resources` at once (and header
/// maps hold at most `http_field_bytes` each). Without the cap, a call could keep a million
/// (each header map up to 128 KiB: over 100 GiB) for well under its gas.
#[tokio::test]
async fn a_call_holds_a_bounded_number_of_host_resources() {
    let h = Harness::new(PROBE);
    let outcome = h.command("resource-bomb", "100000").await;
    assert_eq!(
        outcome.limit(),
        Some(Limit::HostResources),
        "{:?}",
        outcome.result
    );
    assert!(
        outcome.gas_used < 100_000_000,
        "stopped early: {}",
        outcome.gas_used
    );
    // Fewer than the cap (with the WASI resources every call holds) is fine, and the next
    // call starts with an empty table.
    assert_eq!(ok(&h.command("resource-bomb", "400").await), "held");
    assert_eq!(ok(&h.query("resource-bomb", "400").await), "held");
    let outcome = h.query("resource-bomb", "100000").await;
    assert_eq!(
        outcome.limit(),
        Some(Limit::HostResources),
        "{:?}",
        outcome.result
    );
}

#[tokio::test]
async fn code_that_is_not_a_contract_is_refused_at_load() {
    let h = Harness::new(PROBE);
    let error = h.runtime.load(b"not wasm at all").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not a valid WebAssembly component"),
        "{error}"
    );
    // A core module is not a component.
    let error = h.runtime.load(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(error.to_string().contains("not a valid"), "{error}");
    // A component that does not export the contract world.
    let empty_component = b"\0asm\x0d\0\x01\0";
    let error = h.runtime.load(empty_component).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("does not fit the contract world"),
        "{error}"
    );
    // A component calling itself through the engine's copying adapters: copies without gas.
    let error = h.runtime.load(&fat_test_programs::copy_bomb()).unwrap_err();
    assert!(
        matches!(error, fat_runtime::Error::RefusedCode { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("without gas"), "{error}");
    let limits = Limits {
        code_bytes: 10,
        ..Limits::default()
    };
    let small = fat_runtime::Runtime::new(config(limits)).unwrap();
    assert!(
        small
            .load(&[0; 11])
            .unwrap_err()
            .to_string()
            .contains("limit is 10")
    );
}

/// Every contract the project builds is code the platform accepts: one flat component that
/// lowers only what the host provides.
#[test]
fn every_built_contract_has_the_accepted_shape() {
    for path in [
        fat_test_programs::COUNTER,
        fat_test_programs::HTTP_BOT,
        fat_test_programs::RENDER,
        PROBE,
    ] {
        let code = fat_test_programs::read(path);
        assert_eq!(fat_types::component::problem(&code), None, "{path}");
    }
}

/// The compiled-code cache keeps at most its configured count; the least recently used code
/// goes first and is compiled again when it is next loaded.
#[test]
fn the_code_cache_keeps_the_most_recently_used_codes() {
    let runtime = fat_runtime::Runtime::new(RuntimeConfig {
        code_cache_entries: 2,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let wasm: Vec<Vec<u8>> = [
        fat_test_programs::PROBE,
        fat_test_programs::COUNTER,
        fat_test_programs::HTTP_BOT,
    ]
    .iter()
    .map(|path| fat_test_programs::read(path))
    .collect();
    let hashes: Vec<_> = wasm
        .iter()
        .map(|w| fat_runtime::Runtime::code_hash(w))
        .collect();
    runtime.load(&wasm[0]).unwrap();
    runtime.load(&wasm[1]).unwrap();
    assert!(
        runtime.cached(&hashes[0]).is_some(),
        "used again: now the most recent"
    );
    runtime.load(&wasm[2]).unwrap();
    assert_eq!(runtime.cached_codes(), 2);
    assert!(
        runtime.cached(&hashes[1]).is_none(),
        "the least recently used went"
    );
    assert!(runtime.cached(&hashes[0]).is_some());
    assert!(runtime.cached(&hashes[2]).is_some());
    // Loaded again, it compiles again and takes the place of the least recent.
    let again = runtime.load(&wasm[1]).unwrap();
    assert_eq!(again.hash(), hashes[1]);
    assert!(runtime.cached(&hashes[0]).is_none());
}

#[test]
fn callers_of_the_same_uncompiled_code_wait_for_one_compilation() {
    let runtime = fat_runtime::Runtime::new(RuntimeConfig::default()).unwrap();
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let callers = 4;
    let start = std::sync::Barrier::new(callers);
    let hashes: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..callers)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    runtime.load(&wasm).unwrap().hash()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(hashes.iter().all(|h| *h == hashes[0]));
    assert_eq!(
        runtime.compilations(),
        1,
        "compiled once for {callers} callers"
    );
    // Found in memory after: no compilation.
    runtime.load(&wasm).unwrap();
    assert_eq!(runtime.compilations(), 1);
    // Code that fails to compile is not kept: each asks again and gets the same error.
    let broken = b"\0asm\x0d\0\x01\0garbage".to_vec();
    let first = runtime.load(&broken).unwrap_err().to_string();
    assert_eq!(runtime.load(&broken).unwrap_err().to_string(), first);
    assert_eq!(runtime.compilations(), 3);
}
