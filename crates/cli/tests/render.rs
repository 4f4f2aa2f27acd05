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
