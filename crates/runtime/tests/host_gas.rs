//! Host calls cost gas by the work they do, and one call cannot pile up writes in the host:
//! hashing, signing, storage and cache bombs end with the limit that stopped them, and the
//! attacker's gas is spent.

mod common;

use common::{Harness, ok};
use fat_runtime::{Entry, Limit, Limits, RuntimeConfig};
use fat_test_programs::PROBE;

/// The gas a command uses.
async fn gas_of(h: &Harness, method: &str, args: &str) -> u64 {
    let outcome = h.command(method, args).await;
    assert!(
        outcome.result.is_ok(),
        "{method} {args}: {:?}",
        outcome.result
    );
    outcome.gas_used
}

/// The gas `rounds` rounds of a bomb cost beyond the same command with none.
async fn bomb_gas(h: &Harness, method: &str, rounds: &str) -> u64 {
    gas_of(h, method, rounds).await - gas_of(h, method, "0").await
}

/// A bomb of 100,000 rounds given 50 million gas ends out of gas, having used it all: the
/// attacker pays for everything it asked.
async fn stopped_by_gas(h: &Harness, method: &str) {
    let mut call = h.call(Entry::command(method, "100000"));
    call.gas_limit = 50_000_000;
    let outcome = h.run(call).await;
    assert_eq!(outcome.limit(), Some(Limit::Gas), "{:?}", outcome.result);
    assert_eq!(outcome.gas_used, 50_000_000, "the attacker pays for it all");
}

#[tokio::test]
async fn hashing_costs_gas_by_the_byte() {
    let h = Harness::new(PROBE);
    let four = bomb_gas(&h, "hash-bomb", "4").await;
    // Four hashes of a mebibyte: at least seven units a byte, whatever wasm spends around them.
    assert!(
        four >= 4 * 7 * (1 << 20),
        "four mebibytes hashed cost {four} gas"
    );
}

#[tokio::test]
async fn a_hash_bomb_runs_out_of_gas_before_the_work_is_done() {
    let h = Harness::new(PROBE);
    stopped_by_gas(&h, "hash-bomb").await;
    assert_eq!(ok(&h.command("set", "after=bomb").await), "ok");
}

/// `wasi:random` is paid by the byte, before the bytes are made: without it, a mebibyte of
/// randomness cost one host call, and up to 64 MiB could be asked for at that price.
#[tokio::test]
async fn randomness_costs_gas_by_the_byte() {
    let h = Harness::new(PROBE);
    // The first draw of a call too: handing its result over runs the guest's allocator,
    // which grows the guest's memory, and the engine entering the host for that used to
    // erase the outer charge.
    let one = bomb_gas(&h, "random-bomb", "1").await;
    assert!(one >= 9 * (1 << 20), "a mebibyte cost {one} gas");
    let four = bomb_gas(&h, "random-bomb", "4").await;
    assert!(
        four >= 4 * 9 * (1 << 20),
        "four mebibytes of randomness cost {four} gas"
    );
    stopped_by_gas(&h, "random-bomb").await;
}

/// A host call's arguments are paid for before anything else, even when it then refuses
/// or ignores them: a command's cache lookup (always a miss) cost nothing for its key.
#[tokio::test]
async fn arguments_are_paid_even_when_the_call_does_nothing_with_them() {
    let h = Harness::new(PROBE);
    let four = bomb_gas(&h, "cache-get-bomb", "4").await;
    assert!(four >= 4 * (1 << 20), "four mebibyte keys cost {four} gas");
}

/// A poll is paid by the pollable it lists: one pollable listed ten thousand times cost one
/// host call before.
#[tokio::test]
async fn a_poll_is_paid_by_the_pollable() {
    let h = Harness::new(PROBE);
    let four = bomb_gas(&h, "poll-bomb", "4").await;
    assert!(
        four >= 4 * 10_000 * 100,
        "four polls of 10,000 cost {four} gas"
    );
}

#[tokio::test]
async fn signing_costs_gas_by_the_byte_at_its_measured_rate() {
    let h = Harness::new(PROBE);
    let two = bomb_gas(&h, "sign-bomb", "2").await;
    // Two signatures of a mebibyte: at least 41 units a byte (a signature takes about seven
    // times as long as a hash of the same bytes), and more than hashing the same would cost.
    let hashed = bomb_gas(&h, "hash-bomb", "2").await;
    assert!(
        two >= 2 * 41 * (1 << 20),
        "two mebibytes signed cost {two} gas"
    );
    assert!(two > 5 * hashed, "{two} vs {hashed}");
}

#[tokio::test]
async fn a_sign_bomb_runs_out_of_gas() {
    let h = Harness::new(PROBE);
    stopped_by_gas(&h, "sign-bomb").await;
}

#[tokio::test]
async fn storage_writes_cost_gas_by_the_byte() {
    let h = Harness::new(PROBE);
    let small = gas_of(&h, "big-value", "1").await;
    let large = gas_of(&h, "big-value", "100000").await;
    assert!(
        large - small >= 100_000 * 20,
        "100 kB written cost {} gas more than one byte",
        large - small
    );
}

#[tokio::test]
async fn a_write_bomb_stops_at_the_bytes_one_call_may_write() {
    let h = Harness::new(PROBE);
    // 400 values of 256 KiB would be 100 MiB held by the host until the call ends.
    let outcome = h.command("write-bomb", "400").await;
    assert_eq!(
        outcome.limit(),
        Some(Limit::WriteBytes),
        "{:?}",
        outcome.result
    );
    assert!(outcome.gas_used > 0);
    assert_eq!(
        ok(&h.query("get", "bomb/0").await),
        "none",
        "nothing was kept"
    );
    // Under the cap the same writes go through.
    assert_eq!(ok(&h.command("write-bomb", "10").await), "written");
}

#[tokio::test]
async fn a_write_bomb_with_little_gas_runs_out_of_gas_first() {
    let h = Harness::new(PROBE);
    let mut call = h.call(Entry::command("write-bomb", "400"));
    call.gas_limit = 20_000_000;
    let outcome = h.run(call).await;
    assert_eq!(outcome.limit(), Some(Limit::Gas), "{:?}", outcome.result);
}

#[tokio::test]
async fn a_command_makes_a_bounded_number_of_cache_writes() {
    let h = Harness::new(PROBE);
    let outcome = h.command("cache-bomb", "100000").await;
    assert_eq!(
        outcome.limit(),
        Some(Limit::CacheOps),
        "{:?}",
        outcome.result
    );
    let limits = Limits::default();
    let within = limits.cache_ops.to_string();
    assert_eq!(ok(&h.command("cache-bomb", &within).await), "cached");
}

#[tokio::test]
async fn a_scan_page_is_bounded_in_bytes() {
    let h = Harness::new(PROBE);
    // 40 values of 256 KiB: 10 MiB under one prefix.
    assert_eq!(ok(&h.command("write-bomb", "40").await), "written");
    let keys = ok(&h.query("scan", "bomb/").await);
    let count = keys.split(',').count();
    assert!(
        (16..=17).contains(&count),
        "a page stops near 4 MiB, got {count} entries"
    );
}

#[tokio::test]
async fn queries_metered_by_their_deadline_alone_are_not_charged() {
    let limits = Limits {
        query_fuel: None,
        ..Limits::default()
    };
    let h = Harness::with_config(
        PROBE,
        RuntimeConfig {
            limits,
            ..RuntimeConfig::default()
        },
    );
    let outcome = h.query("hash-bomb", "2").await;
    assert_eq!(ok(&outcome), "hashed");
    assert_eq!(outcome.gas_used, 0);
}
