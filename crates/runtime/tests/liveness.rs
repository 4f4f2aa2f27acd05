//! No cheap call stops a worker: a long command yields to the calls beside it, a command
//! cannot sleep, and host calls cost gas by the byte within caps of their own.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Harness, ok};
use fat_runtime::Entry;
use fat_test_programs::PROBE;

/// Run `method` as a command of 300 M gas beside a query on the same (only) thread: the
/// query must be answered before the command ends.
async fn a_long_command_yields(method: &'static str, args: &'static str) {
    let h = Arc::new(Harness::new(PROBE));
    let long = tokio::spawn({
        let h = h.clone();
        async move {
            let mut call = h.call(Entry::command(method, args));
            call.gas_limit = 300_000_000;
            let outcome = h.run(call).await;
            assert_eq!(outcome.limit(), Some(fat_runtime::Limit::Gas));
            assert_eq!(outcome.gas_used, 300_000_000);
            Instant::now()
        }
    });
    // Let the command start, then ask on the same (only) thread.
    tokio::task::yield_now().await;
    assert_eq!(ok(&h.query("get", "x").await), "none");
    let answered = Instant::now();
    let finished = long.await.unwrap();
    assert!(
        answered < finished,
        "the query waited {:?} for the command to end",
        answered - finished
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_command_yields_to_a_query_on_its_thread() {
    a_long_command_yields("loop", "").await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_command_calling_the_host_yields_too() {
    // Each turn reads the clock, which stands still in a command: the loop calls the host
    // about every thousand units of fuel until its gas runs out. Taking each call's charge
    // from the fuel must not keep it from yielding.
    a_long_command_yields("spin-until", "18446744073709551615").await;
}

#[tokio::test]
async fn a_query_that_yields_still_hits_its_deadline() {
    let mut config = fat_runtime::RuntimeConfig::default();
    config.limits.query_deadline = Duration::from_millis(200);
    config.limits.query_fuel = None;
    let h = Harness::with_config(PROBE, config);
    // Unmetered: only the deadline can end it.
    let outcome = h.query("loop", "").await;
    assert_eq!(outcome.limit(), Some(fat_runtime::Limit::Deadline));
}

#[tokio::test]
async fn a_command_cannot_sleep() {
    let h = Harness::new(PROBE);
    // A day's sleep through wasi:clocks and wasi:io: ready at once in a command (a
    // command's clock stands still: see clocks_follow_the_mode).
    let slept = tokio::time::timeout(Duration::from_secs(60), h.command("sleep", "86400000"))
        .await
        .expect("a command waits for nothing in real time");
    assert_eq!(ok(&slept), "slept");
    // Queries still wait in real time, up to their deadline.
    let started = Instant::now();
    assert_eq!(ok(&h.query("sleep", "50").await), "slept");
    assert!(started.elapsed() >= Duration::from_millis(50));
}
