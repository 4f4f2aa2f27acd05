//! A frame rendered by a whole cluster: the render example's `image` query cuts the frame into
//! bands, fans them out as jobs over the cluster's workers and returns a PNG. The pixels must
//! be exactly the native kernel's; the signed job proofs must show more than one worker; a
//! worker killed mid-render must not stop the frame; a worker that lies is caught by
//! replication and named; a contract that spawns too many jobs is stopped with the limit
//! named while its neighbour keeps answering.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Dev, WorkerProcess, fat, free_ports, http, start_worker};
use render::kernel::{encode_png, frame_tiles, render_tile};
use serde_json::Value;

/// The native render of the frame, as RGB bytes.
fn native_rgb(width: u32, height: u32, samples: u32) -> Vec<u8> {
    frame_tiles(width, height, samples)
        .unwrap()
        .iter()
        .flat_map(render_tile)
        .collect()
}

/// Decode a PNG file: (width, height, RGB bytes).
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    rgb.truncate(info.buffer_size());
    (info.width, info.height, rgb)
}

/// `fat query RENDER image {...} --out FILE --json` against `dev`; the JSON answer.
fn render(dev: &Dev, contract: &str, args: &str, out: &Path) -> Value {
    dev.fat(&[
        "query",
        contract,
        "image",
        args,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ])
    .json()
}

/// The workers whose proofs the answer carries.
fn workers_of(answer: &Value) -> BTreeSet<String> {
    answer["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["worker"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_cluster_of_four_renders_a_frame_equal_to_the_native_one() {
    let dev = Dev::start_workers("render-four", 4, &[]);
    let deployed = dev
        .fat(&["deploy", fat_test_programs::RENDER, "--json"])
        .json();
    let contract = deployed["contract"].as_str().unwrap();
    let out = dev.dir.path().join("frame.png");
    let (width, height, samples) = (96, 64, 2);
    let answer = render(
        &dev,
        contract,
        &format!(r#"{{"width":{width},"height":{height},"samples":{samples}}}"#),
        &out,
    );

    let expected = native_rgb(width, height, samples);
    let (w, h, rgb) = decode_png(&out);
    assert_eq!((w, h), (width, height));
    assert!(rgb == expected, "the pixels differ from the native render");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        encode_png(width, height, &expected).unwrap(),
        "the PNG is not byte for byte the native one"
    );

    // One proof per band, each signed (the client checked the signatures), by more than one
    // worker; every signer is a member of the contract's cluster.
    let bands = frame_tiles(width, height, samples).unwrap().len();
    assert_eq!(answer["jobs"].as_array().unwrap().len(), bands, "{answer}");
    let signers = workers_of(&answer);
    assert!(signers.len() > 1, "every band ran on one worker: {answer}");
    let by_worker: usize = answer["jobs_by_worker"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap() as usize)
        .sum();
    assert_eq!(by_worker, bands, "{answer}");
    let cluster = deployed["cluster"].as_str().unwrap();
    let chain = dev.url.strip_prefix("http://").unwrap();
    let (_, info) = http(chain, "GET", &format!("/v1/clusters/{cluster}"), b"").unwrap();
    let members: BTreeSet<String> = info["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    assert!(signers.is_subset(&members), "{signers:?} vs {members:?}");
}

/// A `fat dev` node (its one in-process worker outside the cluster) and `n` worker processes
/// (`fat worker --operator alice --job-slots 1`, `extra[i]` flags for the i-th) in one cluster
/// with the render example deployed to it: (dev, workers, their ids, their API addresses,
/// the contract).
fn cluster_of_processes(
    name: &str,
    extra: &[&[&str]],
) -> (Dev, Vec<WorkerProcess>, Vec<String>, Vec<String>, String) {
    let dev = Dev::start(name, &[]);
    let home = dev.dir.path().to_path_buf();
    let apis: Vec<String> = free_ports(extra.len())
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let mut workers = Vec::new();
    let mut ids = Vec::new();
    for (i, api) in apis.iter().enumerate() {
        let data = home.join(format!("worker-{i}"));
        let mut flags = vec!["--job-slots", "1"];
        flags.extend_from_slice(extra[i]);
        workers.push(start_worker(&home, &dev.url, &data, api, &flags));
        let (code, status) = http(api, "GET", "/v1/status", b"").unwrap();
        assert_eq!(code, 200, "{status}");
        ids.push(status["worker"].as_str().unwrap().to_string());
    }
    let cluster = dev.create_cluster(&ids);
    let contract = dev.deploy_to(fat_test_programs::RENDER, &cluster, &[]);
    (dev, workers, ids, apis, contract)
}

#[test]
fn a_worker_killed_mid_render_leaves_the_frame_to_the_others() {
    let (dev, mut workers, ids, apis, contract) =
        cluster_of_processes("render-kill", &[&[], &[], &[]]);
    // About 5 million samples: seconds of work for three workers of one job slot each.
    let (width, height, samples) = (640, 480, 16);
    let out = dev.dir.path().join("frame.png");
    // The query goes to the first member, which coordinates; the third dies mid-render.
    let mut query = fat(dev.dir.path())
        .args([
            "query",
            &contract,
            "image",
            &format!(r#"{{"width":{width},"height":{height},"samples":{samples}}}"#),
            "--out",
            out.to_str().unwrap(),
            "--json",
            "--progress",
            "--rpc",
            &dev.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let victim = &apis[2];
    let started = Instant::now();
    loop {
        let (_, status) = http(victim, "GET", "/v1/status", b"").unwrap();
        if status["jobs_admitted"].as_u64() > Some(0) {
            break;
        }
        if query.try_wait().unwrap().is_some() {
            let output = query.wait_with_output().unwrap();
            panic!(
                "the render ended before the third worker got a job: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the third worker never got a job"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut killed = workers.pop().unwrap();
    killed.0.kill().unwrap(); // SIGKILL
    killed.0.wait().unwrap();

    let finished = query.wait_with_output().unwrap();
    assert!(
        finished.status.success(),
        "the render failed: {}",
        String::from_utf8_lossy(&finished.stderr)
    );
    let answer: Value = serde_json::from_slice(&finished.stdout).unwrap();
    // `--progress` drew the bar from the coordinator's progress stream while the frame
    // rendered (the render outlasts a SIGKILL and a retry), then the summary.
    let bands = frame_tiles(width, height, samples).unwrap().len();
    let stderr = String::from_utf8_lossy(&finished.stderr);
    assert!(stderr.contains(&format!("/{bands} jobs")), "{stderr}");
    assert!(stderr.contains(&format!("{bands} jobs on ")), "{stderr}");
    let (w, h, rgb) = decode_png(&out);
    assert_eq!((w, h), (width, height));
    assert!(
        rgb == native_rgb(width, height, samples),
        "the pixels differ from the native render"
    );
    // Every band has exactly one proof, from the members still alive or from the victim
    // before it died.
    assert_eq!(answer["jobs"].as_array().unwrap().len(), bands, "{answer}");
    let signers = workers_of(&answer);
    let members: BTreeSet<String> = ids.iter().cloned().collect();
    assert!(signers.is_subset(&members), "{answer}");
}

#[test]
fn replication_names_the_worker_that_returns_a_wrong_tile() {
    let (dev, _workers, ids, _apis, contract) =
        cluster_of_processes("render-liar", &[&[], &["--test-corrupt-jobs"]]);
    let out = dev.dir.path().join("frame.png");
    let args = r#"{"width":32,"height":16,"samples":1,"replicas":2}"#;
    let refused = dev.fat(&[
        "query",
        &contract,
        "image",
        args,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    let message = &refused.stderr;
    assert!(message.contains("replicas disagree"), "{message}");
    assert!(
        message.contains(&ids[0]) && message.contains(&ids[1]),
        "both workers must be named: {message}"
    );
    assert!(!out.exists(), "no frame may be written");

    // Without the liar's help, an honest render still works (one replica on each worker is
    // not compared, so only the replicated query catches the lie).
    let honest = r#"{"width":32,"height":16,"samples":1}"#;
    let answer = dev
        .fat(&["query", &contract, "image", honest, "--json"])
        .json();
    assert_eq!(answer["output"]["format"], "png", "{answer}");
}

#[test]
fn too_many_jobs_or_bytes_stop_the_query_with_the_limit_named_and_the_neighbour_answers() {
    let dev = Dev::start_workers("render-limits", 2, &[]);
    let deploy = |wasm: &str, args: &[&str]| {
        let mut command = vec!["deploy", wasm, "--json"];
        command.extend_from_slice(args);
        dev.fat(&command).json()["contract"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let probe = deploy(fat_test_programs::PROBE, &["--args", r#""hello""#]);
    let counter = deploy(fat_test_programs::COUNTER, &[]);

    // A few small jobs run.
    let ok = dev
        .fat(&["query", &probe, "spawn", r#""4 16""#, "--json"])
        .json();
    assert_eq!(ok["output"], "4 ok; ", "{ok}");

    // More jobs in flight than allowed (32), then more input bytes than allowed (64 MiB).
    for (args, limit) in [
        (r#""40 1""#, "jobs-in-flight"),
        (r#""20 4194304""#, "job-input-bytes"),
    ] {
        let refused = dev.fat(&["query", &probe, "spawn", args]);
        assert_ne!(refused.code, 0, "{}", refused.stdout);
        assert!(
            refused.stderr.contains(limit),
            "{args}: the error must name {limit}: {}",
            refused.stderr
        );
        let neighbour = dev.fat(&["query", &counter, "get", "--json"]).json();
        assert_eq!(neighbour["output"], 0, "{neighbour}");
    }
}
