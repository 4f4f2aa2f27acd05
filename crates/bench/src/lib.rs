//! What the workspace's benches share.
//!
//! Every bench prints a table and writes the same figures as one flat JSON object to
//! `bench/NAME.json` under the target directory ([`write_figures`]): `target/` of the
//! workspace, or `CARGO_TARGET_DIR` when that is set, as for `cargo` itself. Benches that keep
//! data on disk keep it under the same directory ([`target_dir`]). `FAT_BENCH_QUICK=1` asks
//! for a short run ([`quick`]).

use std::path::PathBuf;

use serde_json::{Map, Value};

/// The workspace's target directory: `CARGO_TARGET_DIR` when set (a relative one taken from
/// the workspace's root, where `cargo` is run: a bench runs in its package's directory), else
/// `target/` at the workspace's root.
pub fn target_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Whether a short run was asked for: `FAT_BENCH_QUICK` set to anything but empty or `0`.
pub fn quick() -> bool {
    std::env::var_os("FAT_BENCH_QUICK").is_some_and(|quick| !quick.is_empty() && quick != "0")
}

/// The median of `values` (the upper one of an even count); sorts them.
///
/// # Panics
/// If `values` is empty.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `value` rounded to `decimals` decimal places, as a figure is written.
pub fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Write `figures` as one flat JSON object to `bench/NAME.json` under the target directory,
/// creating the directory, and say where (`wrote PATH`).
///
/// # Panics
/// If the directory or the file cannot be written: a bench that cannot report is a failed run.
pub fn write_figures(name: &str, figures: Map<String, Value>) {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&Value::Object(figures)).expect("JSON of numbers");
    std::fs::write(&path, text + "\n")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    println!("wrote {}", path.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_value_and_the_upper_of_two() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
    }

    #[test]
    fn figures_are_rounded_to_their_decimals() {
        assert_eq!(round(1.23456, 2), 1.23);
        assert_eq!(round(1234.56, 1), 1234.6);
        assert_eq!(round(0.005, 0), 0.0);
    }
}
