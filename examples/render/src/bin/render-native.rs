//! Render the scene natively: `render-native OUT [WIDTH HEIGHT SAMPLES]`.
//!
//! `OUT` ending in `.png` gets the PNG the contract's `image` query returns, byte for byte
//! (same kernel, same bands, same encoder); any other name gets a binary PPM.

use std::process::ExitCode;

use render::kernel::{TileParams, encode_png, frame_tiles, render_tile};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u32| args.get(i).map_or(Ok(default), |a| a.parse::<u32>());
    let (Some(out), Ok(width), Ok(height), Ok(samples)) =
        (args.first(), number(1, 640), number(2, 360), number(3, 4))
    else {
        eprintln!("usage: render-native OUT.png|OUT.ppm [WIDTH HEIGHT SAMPLES]");
        return ExitCode::from(2);
    };
    let params = TileParams::whole(width, height, samples);
    let rendered = if out.ends_with(".png") {
        frame_tiles(width, height, samples).and_then(|tiles| {
            let rgb: Vec<u8> = tiles.iter().flat_map(render_tile).collect();
            encode_png(width, height, &rgb)
        })
    } else {
        params.validate().map(|()| {
            let mut ppm = format!("P6\n{width} {height}\n255\n").into_bytes();
            ppm.extend(render_tile(&params));
            ppm
        })
    };
    let bytes = match rendered {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("render-native: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::write(out, bytes) {
        eprintln!("render-native: {e}: cannot write {out}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
