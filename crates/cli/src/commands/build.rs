//! `fat build`: build a contract for wasm32-wasip2 and check it is a contract.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use clap::Args;
use fat_runtime::{Runtime, RuntimeConfig};
use serde_json::{Value, json};

use super::print_json;

/// The target contracts are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Build a contract for wasm32-wasip2 and check it exports the contract world.
///
/// Builds the contract project at PATH with `cargo build --lib --target wasm32-wasip2 --release`,
/// check the component exports the contract world, and print its path (its size and code
/// hash on stderr).
/// `--json` prints `{"wasm","size","code_hash"}`.
#[derive(Debug, Args)]
pub struct BuildCommand {
    /// The project's directory or its Cargo.toml.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Machine output.
    #[arg(long)]
    pub(super) json: bool,
}

fn manifest_of(path: &Path) -> anyhow::Result<PathBuf> {
    let manifest = if path.is_dir() {
        path.join("Cargo.toml")
    } else {
        path.to_path_buf()
    };
    if !manifest.is_file() {
        bail!(
            "no Cargo.toml at {}: run `fat build` in a contract project, or create one with \
             `fat new NAME`",
            path.display()
        );
    }
    Ok(manifest)
}

/// Run cargo and return the `.wasm` artefacts it reports.
fn cargo_build(manifest: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .args(["build", "--lib", "--release", "--target", TARGET])
        .args(["--message-format", "json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "cannot run {}: install Rust (https://rustup.rs)",
                cargo.to_string_lossy()
            )
        })?;
    let mut wasm = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines() {
        let Ok(message) = serde_json::from_str::<Value>(&line?) else {
            continue;
        };
        if message["reason"] == "compiler-artifact" {
            for file in message["filenames"].as_array().into_iter().flatten() {
                if let Some(file) = file.as_str().filter(|f| f.ends_with(".wasm")) {
                    wasm.push(PathBuf::from(file));
                }
            }
        }
    }
    let status = child.wait().context("cargo did not finish")?;
    if !status.success() {
        bail!(
            "cargo build failed ({status}): see cargo's errors above (is the target installed? \
             `rustup target add {TARGET}`)"
        );
    }
    Ok(wasm)
}

impl BuildCommand {
    /// Build, check and print.
    pub fn run(self, global_json: bool) -> anyhow::Result<()> {
        let json_out = global_json || self.json;
        let manifest = manifest_of(&self.path)?;
        if !json_out {
            eprintln!("building {} for {TARGET} (release)", manifest.display());
        }
        let wasm = cargo_build(&manifest)?;
        let Some(path) = wasm.last() else {
            bail!(
                "the build made no .wasm: a contract's Cargo.toml needs `[lib] crate-type = \
                 [\"cdylib\"]`"
            );
        };
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let runtime = Runtime::new(RuntimeConfig::default())
            .context("cannot start the runtime to check the component")?;
        runtime.load(&bytes).with_context(|| {
            format!(
                "{} does not export the contract world: does the crate use #[contract] from \
                 fat-sdk?",
                path.display()
            )
        })?;
        let hash = Runtime::code_hash(&bytes);
        if json_out {
            return print_json(&json!({"wasm": path, "size": bytes.len(), "code_hash": hash}));
        }
        // The path alone on stdout, relative when it is under the current directory.
        let shown = std::env::current_dir()
            .ok()
            .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| path.clone());
        println!("{}", shown.display());
        eprintln!(
            "a contract: {} bytes ({:.1} KiB), code hash {hash}",
            bytes.len(),
            bytes.len() as f64 / 1024.0
        );
        Ok(())
    }
}
