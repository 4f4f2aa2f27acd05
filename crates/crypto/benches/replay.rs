//! Measure the replay guard of a worker's queries: what admitting one envelope costs, and the
//! longest one admission takes (the guard sits behind one lock, so every query waits that long).
//!
//! `cargo bench -p fat-crypto --bench replay` prints a table and writes the same figures to
//! `target/bench/replay.json`. `FAT_BENCH_QUICK=1` runs one round instead of three.
//!
//! Envelopes come on a simulated clock, [`RATE`] a millisecond (30,000 queries a second), from
//! [`SENDERS`] senders, each opening a new session every [`SESSION_NONCES`] queries. Phases:
//! - `fill`: a worker's defaults (a five-minute window, 2^20 nonces, its quotas) for 30
//!   simulated seconds: nothing expires, the guard only grows;
//! - `steady`: a ten-second window for 40 simulated seconds: past the first ten, as many
//!   nonces are forgotten as remembered.
//!
//! The anchor: the same keys inserted into one `HashSet` sized for all of them beforehand,
//! remembering a nonce at its cheapest (no expiry, no quota). Every admission and insertion is
//! timed on its own, so both carry the clock's cost alike.

/// The allocator of the `fat` binary, so that the guard's tables come and go as in a worker.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fat_crypto::envelope::{EcdhPublic, EnvelopeHeader};
use fat_crypto::{Direction, ReplayGuard};
use fat_types::{AccountId, ContractId};

/// Envelopes a simulated millisecond.
const RATE: u64 = 30;
/// Distinct senders.
const SENDERS: u64 = 256;
/// Queries a sender sends in one session before opening another.
const SESSION_NONCES: u64 = 64;
/// A worker's defaults (`fat_worker::REPLAY_CAPACITY` and its quotas).
const CAPACITY: usize = 1 << 20;
const SENDER_QUOTA: usize = CAPACITY / 16;
const SESSION_QUOTA: usize = SENDER_QUOTA / 4;

/// The `i`th envelope's header, stamped at the simulated `now_ms`.
fn header(i: u64, now_ms: u64) -> EnvelopeHeader {
    let sender = i % SENDERS;
    let session = i / (SENDERS * SESSION_NONCES);
    let mut account = [0u8; 32];
    account[..8].copy_from_slice(&sender.to_le_bytes());
    let mut ephemeral = [0u8; 32];
    ephemeral[..8].copy_from_slice(&sender.to_le_bytes());
    ephemeral[8..16].copy_from_slice(&session.to_le_bytes());
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    EnvelopeHeader {
        contract: ContractId([5; 32]),
        direction: Direction::Request,
        sender: AccountId(account),
        recipient: EcdhPublic([7; 32]),
        ephemeral: EcdhPublic(ephemeral),
        nonce,
        timestamp_ms: now_ms,
    }
}

/// What one phase measured.
struct Phase {
    /// Mean time of one admission (or insertion).
    mean_ns: f64,
    /// The longest single admission.
    max: Duration,
}

impl Phase {
    /// Run `step(i)` for each of `seconds` of envelopes; each step returns how long the one
    /// operation it times took (making its input is not timed).
    fn run(seconds: u64, mut step: impl FnMut(u64) -> Duration) -> Self {
        let n = seconds * 1000 * RATE;
        let (mut total, mut max) = (Duration::ZERO, Duration::ZERO);
        for i in 0..n {
            let took = step(i);
            total += took;
            max = max.max(took);
        }
        Self {
            mean_ns: total.as_nanos() as f64 / n as f64,
            max,
        }
    }
}

/// Admit `seconds` of envelopes into `guard`; every one must be admitted.
fn run_guard(mut guard: ReplayGuard, seconds: u64) -> Phase {
    let start_ms = 1_750_000_000_000;
    Phase::run(seconds, |i| {
        let now_ms = start_ms + i / RATE;
        let header = header(i, now_ms);
        let started = Instant::now();
        let admitted = guard.admit(&header, now_ms);
        let took = started.elapsed();
        admitted.unwrap_or_else(|e| panic!("envelope {i} refused: {e}"));
        took
    })
}

/// Insert the keys of `seconds` of envelopes into one `HashSet` sized for them.
fn run_anchor(seconds: u64) -> Phase {
    let mut set = HashSet::with_capacity((seconds * 1000 * RATE) as usize);
    Phase::run(seconds, |i| {
        let header = header(i, 0);
        let key = (*header.sender.as_bytes(), header.nonce);
        let started = Instant::now();
        let fresh = set.insert(key);
        let took = started.elapsed();
        assert!(fresh);
        took
    })
}

fn main() {
    // What a worker's process does first (`fat_worker::process::no_transparent_huge_pages`):
    // with huge pages, filling the guard stalled for 22 to 28 ms in three runs of five.
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none()
        && let Err(e) = rustix::thread::disable_transparent_huge_pages(true)
    {
        println!("(transparent huge pages left on: {e})");
    }
    let quick = fat_bench::quick();
    let rounds = if quick { 1 } else { 3 };
    let (fill_seconds, steady_seconds) = (30, 40);

    let mut columns: [Vec<f64>; 6] = Default::default();
    for _ in 0..rounds {
        let fill = run_guard(
            ReplayGuard::new(5 * 60 * 1000, CAPACITY).with_quotas(SENDER_QUOTA, SESSION_QUOTA),
            fill_seconds,
        );
        let steady = run_guard(
            ReplayGuard::new(10 * 1000, CAPACITY).with_quotas(SENDER_QUOTA, SESSION_QUOTA),
            steady_seconds,
        );
        let anchor = run_anchor(fill_seconds);
        for (column, value) in columns.iter_mut().zip([
            fill.mean_ns,
            fill.max.as_secs_f64() * 1e6,
            steady.mean_ns,
            steady.max.as_secs_f64() * 1e6,
            anchor.mean_ns,
            anchor.max.as_secs_f64() * 1e6,
        ]) {
            column.push(value);
        }
    }
    let [
        fill_ns,
        fill_max_us,
        steady_ns,
        steady_max_us,
        anchor_ns,
        anchor_max_us,
    ] = columns.map(|mut column| fat_bench::median(&mut column));
    let figures: Vec<(&str, f64)> = vec![
        ("fill_admit_ns", fill_ns),
        ("fill_max_admit_us", fill_max_us),
        ("steady_admit_ns", steady_ns),
        ("steady_max_admit_us", steady_max_us),
        ("anchor_insert_ns", anchor_ns),
        ("anchor_max_insert_us", anchor_max_us),
        ("fill_vs_anchor_ratio", fill_ns / anchor_ns),
        ("steady_vs_anchor_ratio", steady_ns / anchor_ns),
    ];

    println!("{:<24} {:>12}", "figure", "value");
    for (name, value) in &figures {
        println!("{name:<24} {value:>12.2}");
    }
    println!(
        "(medians of {rounds} rounds; {RATE} envelopes a simulated ms from {SENDERS} senders: \
         fill {fill_seconds} s, steady {steady_seconds} s)"
    );

    let json: serde_json::Map<String, serde_json::Value> = figures
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    fat_bench::write_figures("replay", json);
}
