//! Build every guest contract for wasm32-wasip2 and write a constant per artefact.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages built for the guest target, as (package, artefact constant).
const GUESTS: &[(&str, &str)] = &[
    ("counter", "COUNTER"),
    ("http-bot", "HTTP_BOT"),
    ("render", "RENDER"),
    ("probe", "PROBE"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("workspace root");
    let target_dir = env::var_os("FAT_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/guest"));

    for watched in [
        "wit",
        "crates/sdk",
        "crates/sdk-macros",
        "examples",
        "crates/test-programs/contracts",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=FAT_GUEST_TARGET_DIR");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args([
            "build",
            "--profile",
            "guest",
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"));
    for (package, _) in GUESTS {
        command.args(["-p", package]);
    }
    // What the outer build sets for itself must not leak into the guest build: a clippy
    // wrapper, host rustflags or a forced target would break or slow the nested build.
    for var in [
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .expect("run cargo to build the guest contracts");
    assert!(
        status.success(),
        "building the guest contracts failed ({status}); see the output above"
    );

    let artefacts = target_dir.join(TARGET).join("guest");
    let mut out = String::new();
    for (package, constant) in GUESTS {
        let file = artefacts.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(
            file.exists(),
            "guest build did not produce {}",
            file.display()
        );
        writeln!(
            out,
            "/// Path of the built `{package}` contract (`{TARGET}`, profile `guest`)."
        )
        .unwrap();
        writeln!(out, "pub const {constant}: &str = {:?};", path_str(&file)).unwrap();
    }
    let out_file = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("programs.rs");
    std::fs::write(out_file, out).expect("write programs.rs");
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .expect("the target directory path must be UTF-8")
}
