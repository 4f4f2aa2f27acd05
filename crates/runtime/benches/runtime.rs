//! Measure the runtime: call latency by mode, and the render kernel in wasm against native.
//!
//! `cargo bench -p fat-runtime --bench runtime` prints a table and writes the same figures
//! to `target/bench/runtime.json`. `FAT_BENCH_QUICK=1` runs fewer iterations.
//! `FAT_BENCH_PROFILE=query` (or `command`) measures nothing: it calls the counter in that
//! mode for 15 seconds, one call after another, for a profiler to watch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fat_runtime::{Call, Entry, Limits, MemoryCache, MemoryStore, Runtime, RuntimeConfig};
use fat_types::ContractId;
use render::kernel::{TileParams, render_tile};

/// How long `FAT_BENCH_PROFILE` calls for.
const PROFILE_FOR: Duration = Duration::from_secs(15);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

struct Bench {
    runtime: Runtime,
    store: Arc<MemoryStore>,
    cache: Arc<MemoryCache>,
    contract: ContractId,
}

impl Bench {
    fn new(config: RuntimeConfig) -> Self {
        Self {
            runtime: Runtime::new(config).expect("runtime"),
            store: Arc::new(MemoryStore::new()),
            cache: Arc::new(MemoryCache::default()),
            contract: ContractId([1; 32]),
        }
    }

    fn call(&self, entry: Entry) -> Call {
        let mut call = Call::new(entry, self.store.clone(), self.cache.clone());
        call.contract = self.contract;
        call
    }
}

fn main() {
    let quick = fat_bench::quick();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let calls = if quick { 2_000 } else { 20_000 };
    let renders = if quick { 3 } else { 9 };

    // Call latency: the counter example through the SDK, warm engine, new instance per call.
    let bench = Bench::new(RuntimeConfig::default());
    let counter = bench
        .runtime
        .load(&fat_test_programs::read(fat_test_programs::COUNTER))
        .unwrap();
    let compile_started = Instant::now();
    let fresh = Runtime::new(RuntimeConfig::default()).unwrap();
    fresh
        .load(&fat_test_programs::read(fat_test_programs::COUNTER))
        .unwrap();
    let compile_ms = compile_started.elapsed().as_secs_f64() * 1e3;
    drop(fresh);

    let init = rt.block_on(bench.runtime.call(&counter, bench.call(Entry::init("{}"))));
    bench.store.apply(&bench.contract, &init.changes);

    if let Ok(profile) = std::env::var("FAT_BENCH_PROFILE") {
        let entry = match profile.as_str() {
            "query" => || Entry::query("get", "{}"),
            "command" => || Entry::command("increment", "{}"),
            other => panic!("FAT_BENCH_PROFILE={other}: expected query or command"),
        };
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < PROFILE_FOR {
            let outcome = rt.block_on(bench.runtime.call(&counter, bench.call(entry())));
            assert!(outcome.result.is_ok());
            n += 1;
        }
        println!("{profile}: {n} calls in {PROFILE_FOR:?}, nothing measured");
        return;
    }

    let mut query_samples = Vec::with_capacity(calls);
    let mut command_samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let outcome = rt.block_on(
            bench
                .runtime
                .call(&counter, bench.call(Entry::query("get", "{}"))),
        );
        query_samples.push(started.elapsed());
        assert!(outcome.result.is_ok());

        let started = Instant::now();
        let outcome = rt.block_on(
            bench
                .runtime
                .call(&counter, bench.call(Entry::command("increment", "{}"))),
        );
        command_samples.push(started.elapsed());
        bench.store.apply(&bench.contract, &outcome.changes);
    }
    let final_value = rt.block_on(
        bench
            .runtime
            .call(&counter, bench.call(Entry::query("get", "{}"))),
    );
    assert_eq!(final_value.output_str().unwrap(), calls.to_string());

    // Render: the same kernel natively, as a query (fuel and deadline, the default), as a
    // command (fuel and canonical NaNs), and as a query metered by the deadline alone.
    let params = TileParams::whole(256, 192, 4);
    let args = format!(
        r#"{{"width":{},"height":{},"x0":0,"y0":0,"w":{},"h":{},"samples":{}}}"#,
        params.width, params.height, params.w, params.h, params.samples
    );
    let render_wasm = bench
        .runtime
        .load(&fat_test_programs::read(fat_test_programs::RENDER))
        .unwrap();
    let unmetered = Bench::new(RuntimeConfig {
        limits: Limits {
            query_fuel: None,
            ..Limits::default()
        },
        ..RuntimeConfig::default()
    });
    let render_unmetered = unmetered
        .runtime
        .load(&fat_test_programs::read(fat_test_programs::RENDER))
        .unwrap();

    let mut native = Vec::new();
    let mut wasm = Vec::new();
    let mut wasm_unmetered = Vec::new();
    let mut wasm_command = Vec::new();
    let (mut query_gas, mut command_gas) = (0, 0);
    let expected = render::kernel::hex(&render_tile(&params));
    for _ in 0..renders {
        let started = Instant::now();
        let pixels = std::hint::black_box(render_tile(std::hint::black_box(&params)));
        native.push(started.elapsed());
        assert_eq!(pixels.len(), (params.w * params.h * 3) as usize);

        let started = Instant::now();
        let outcome = rt.block_on(
            bench
                .runtime
                .call(&render_wasm, bench.call(Entry::query("tile", &args))),
        );
        wasm.push(started.elapsed());
        query_gas = outcome.gas_used;
        let json: serde_json::Value = serde_json::from_str(outcome.output_str().unwrap()).unwrap();
        assert_eq!(
            json["rgb"].as_str().unwrap(),
            expected,
            "wasm and native pixels differ"
        );

        let started = Instant::now();
        let outcome = rt.block_on(unmetered.runtime.call(
            &render_unmetered,
            unmetered.call(Entry::query("tile", &args)),
        ));
        wasm_unmetered.push(started.elapsed());
        assert!(outcome.result.is_ok());

        let started = Instant::now();
        let outcome = rt.block_on(bench.runtime.call(
            &render_wasm,
            bench.call(Entry::command("tile_agreed", &args)),
        ));
        wasm_command.push(started.elapsed());
        command_gas = outcome.gas_used;
        let json: serde_json::Value = serde_json::from_str(outcome.output_str().unwrap()).unwrap();
        assert_eq!(
            json["rgb"].as_str().unwrap(),
            expected,
            "wasm (command) and native pixels differ"
        );
    }

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let render_native_ms = ms(median(native));
    let render_wasm_ms = ms(median(wasm));
    let render_wasm_unmetered_ms = ms(median(wasm_unmetered));
    let render_command_ms = ms(median(wasm_command));
    let figures: Vec<(&str, f64)> = vec![
        ("query_call_p50_us", us(median(query_samples.clone()))),
        ("query_call_p99_us", us(percentile(query_samples, 0.99))),
        ("command_call_p50_us", us(median(command_samples.clone()))),
        ("command_call_p99_us", us(percentile(command_samples, 0.99))),
        ("compile_counter_ms", compile_ms),
        ("render_native_ms", render_native_ms),
        ("render_wasm_ms", render_wasm_ms),
        ("render_ratio", render_wasm_ms / render_native_ms),
        ("render_command_ms", render_command_ms),
        ("command_render_ratio", render_command_ms / render_native_ms),
        // The same tile's gas as a command (with the NaN checks) over as a query.
        (
            "command_render_gas_ratio",
            command_gas as f64 / query_gas as f64,
        ),
        ("render_wasm_deadline_only_ms", render_wasm_unmetered_ms),
        (
            "render_deadline_only_ratio",
            render_wasm_unmetered_ms / render_native_ms,
        ),
    ];

    println!("{:<30} {:>12}", "figure", "value");
    for (name, value) in &figures {
        println!("{name:<30} {value:>12.2}");
    }
    println!(
        "(calls: {calls}, renders: {renders} of {}x{} with {} samples)",
        params.w, params.h, params.samples
    );

    let json: serde_json::Map<String, serde_json::Value> = figures
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    fat_bench::write_figures("runtime", json);
}
