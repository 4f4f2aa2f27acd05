//! Render the scene natively to a PPM file: `render-native OUT.ppm [WIDTH HEIGHT SAMPLES]`.

use std::process::ExitCode;

use render::kernel::{TileParams, render_tile};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u32| args.get(i).map_or(Ok(default), |a| a.parse::<u32>());
    let (Some(out), Ok(width), Ok(height), Ok(samples)) =
        (args.first(), number(1, 640), number(2, 360), number(3, 4))
    else {
        eprintln!("usage: render-native OUT.ppm [WIDTH HEIGHT SAMPLES]");
        return ExitCode::from(2);
    };
    let params = TileParams::whole(width, height, samples);
    if let Err(e) = params.validate() {
        eprintln!("render-native: {e}");
        return ExitCode::from(2);
    }
    let mut ppm = format!("P6\n{width} {height}\n255\n").into_bytes();
    ppm.extend(render_tile(&params));
    if let Err(e) = std::fs::write(out, ppm) {
        eprintln!("render-native: cannot write {out}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
