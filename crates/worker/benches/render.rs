//! Benchmark one frame rendered by a cluster: the render example's `image` query fans the
//! frame's bands out as jobs over the cluster's workers and returns a PNG.
//!
//! Each round starts an in-process dev chain and two workers on loopback, each running one
//! job at a time (`job_slots = 1`: on this 2-core machine one worker stands for one core), a
//! cluster of worker 0 alone and a cluster of both, with `render` deployed to each and
//! `probe` to the pair. Queries go sealed to worker 0, which coordinates. Metering is the
//! production one (queries and jobs: deadline and fuel, as `Limits::default()`).
//!
//! - `render_native_ms`: the same kernel, bands and PNG encoder, native, one thread, this run.
//! - `render_1_worker_ms` / `render_2_workers_ms`: the `image` query on each cluster.
//! - `render_speedup_2`: 1 worker over 2 workers, per round (target >= 1.8).
//! - `render_wasm_ratio`: 1 worker over native, per round (target <= 1.3): the whole query
//!   (wasm kernel in job mode, jobs, PNG encoding and base64 in wasm, sealing) against the
//!   bare kernel.
//! - `job_overhead_us`: a trivial job sent to the other worker and back: the probe's query
//!   spawning two 16-byte jobs (one runs here, one on the other worker, which ends last)
//!   minus the same query spawning none.
//!
//! Figures are medians over rounds; `FAT_BENCH_QUICK=1` renders 480 x 270 and runs less.

#[allow(unused_imports)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::Instant;

use common::{Chain, RunningWorker, median, target_dir};
use fat_devnet::bootstrap::set_dev_endpoints;
use render::kernel::{encode_png, frame_tiles, render_tile};
use serde_json::{Value, json};

const FIGURES: [&str; 6] = [
    "render_native_ms",
    "render_1_worker_ms",
    "render_2_workers_ms",
    "render_speedup_2",
    "render_wasm_ratio",
    "job_overhead_us",
];

struct Sizes {
    rounds: usize,
    width: u32,
    height: u32,
    samples: u32,
    renders: usize,
    trivial: usize,
}

/// The native render: bands, kernel and PNG, on this thread; (ms, PNG).
fn native(sizes: &Sizes) -> (f64, Vec<u8>) {
    let start = Instant::now();
    let rgb: Vec<u8> = frame_tiles(sizes.width, sizes.height, sizes.samples)
        .unwrap()
        .iter()
        .flat_map(render_tile)
        .collect();
    let png = encode_png(sizes.width, sizes.height, &rgb).unwrap();
    (start.elapsed().as_secs_f64() * 1e3, png)
}

/// The `image` query on `contract` through worker `w`: its time in ms, checked against the
/// native PNG.
async fn render(
    w: &RunningWorker,
    contract: fat_types::ContractId,
    sizes: &Sizes,
    png: &[u8],
) -> f64 {
    let args = json!({"width": sizes.width, "height": sizes.height, "samples": sizes.samples});
    let start = Instant::now();
    let answer = w.query(contract, "image", args).await;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    use base64::Engine as _;
    let got = answer["output"]["base64"]
        .as_str()
        .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap())
        .unwrap_or_else(|| panic!("no frame: {answer}"));
    assert!(got == png, "the frame differs from the native one");
    ms
}

async fn round(dir: &Path, sizes: &Sizes) -> [f64; FIGURES.len()] {
    let chain = Chain::start(dir).await;
    // Both clusters before the workers run: creating one opens the workers' stores.
    let alone = chain.dev_cluster(1).await;
    let pair = chain.dev_cluster(2).await;
    let one_slot = |config: &mut fat_worker::WorkerConfig| config.job_slots = 1;
    let w0 = RunningWorker::start_with(&chain.url, dir, 0, one_slot).await;
    let w1 = RunningWorker::start_with(&chain.url, dir, 1, one_slot).await;
    set_dev_endpoints(
        &chain.client,
        &[
            (w0.worker.id(), w0.url.clone()),
            (w1.worker.id(), w1.url.clone()),
        ],
    )
    .await
    .unwrap();
    let wasm = fat_test_programs::read(fat_test_programs::RENDER);
    let single = chain.deploy(&wasm, alone, Value::Null).await;
    let double = chain.deploy(&wasm, pair, Value::Null).await;
    let probe_wasm = fat_test_programs::read(fat_test_programs::PROBE);
    let probe = chain.deploy(&probe_wasm, pair, json!("bench")).await;
    w1.wait_for(chain.height()).await;
    w0.wait_for(chain.height()).await;

    let (mut native_ms, mut one_ms, mut two_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.renders {
        let (ms, png) = native(sizes);
        native_ms.push(ms);
        one_ms.push(render(&w0, single, sizes, &png).await);
        two_ms.push(render(&w0, double, sizes, &png).await);
    }
    let (mut none, mut two_jobs) = (Vec::new(), Vec::new());
    for _ in 0..sizes.trivial {
        for (args, times) in [("0 0", &mut none), ("2 16", &mut two_jobs)] {
            let start = Instant::now();
            let answer = w0.query(probe, "spawn", json!(args)).await;
            times.push(start.elapsed().as_secs_f64() * 1e6);
            assert!(answer["output"].is_string(), "{answer}");
        }
    }
    w0.stop().await;
    w1.stop().await;
    chain.stop().await;
    let (native_ms, one_ms, two_ms) = (
        median(&mut native_ms),
        median(&mut one_ms),
        median(&mut two_ms),
    );
    [
        native_ms,
        one_ms,
        two_ms,
        one_ms / two_ms,
        one_ms / native_ms,
        median(&mut two_jobs) - median(&mut none),
    ]
}

fn main() {
    let quick = fat_bench::quick();
    let sizes = if quick {
        Sizes {
            rounds: 2,
            width: 480,
            height: 270,
            samples: 4,
            renders: 1,
            trivial: 20,
        }
    } else {
        Sizes {
            rounds: 3,
            width: 1920,
            height: 1080,
            samples: 8,
            renders: 2,
            trivial: 100,
        }
    };
    let bench_dir = target_dir().join("bench");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut figures: [Vec<f64>; FIGURES.len()] = Default::default();
    for r in 0..sizes.rounds {
        let dir = bench_dir.join(format!("render-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let result = runtime.block_on(round(&dir, &sizes));
        for (all, value) in figures.iter_mut().zip(result) {
            all.push(value);
        }
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("round {} of {}: {result:?}", r + 1, sizes.rounds);
    }
    println!(
        "render: {}x{} frame, {} samples, {} rounds of {} renders each way, {} trivial-job queries",
        sizes.width, sizes.height, sizes.samples, sizes.rounds, sizes.renders, sizes.trivial
    );
    println!("{:<24} {:>12}", "figure", "median");
    let mut json = serde_json::Map::new();
    for (name, values) in FIGURES.iter().zip(figures.iter_mut()) {
        let value = median(values);
        if name.contains("_ratio") || name.contains("speedup") {
            println!("{name:<24} {value:>12.2}");
            json.insert(name.to_string(), json!(fat_bench::round(value, 2)));
        } else {
            println!("{name:<24} {value:>12.1}");
            json.insert(name.to_string(), json!(fat_bench::round(value, 1)));
        }
    }
    fat_bench::write_figures("render", json);
}
