//! Run the `fat` command line: the platform's one binary.

mod commands;

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

/// mimalloc rather than the system's allocator: a query or a command allocates a good deal
/// (requests, JSON, envelopes, a contract instance's host state), and in the worker bench
/// (`crates/worker/benches/worker.rs`, which uses it too) it served some 10 to 15 % more
/// queries a second than glibc's allocator, measured side by side.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
        eprintln!("this is a bug in fat; please report it with the command that caused it");
    }));
    let cli = commands::Cli::parse();
    install_logging();
    // Before a node or worker starts (`no_transparent_huge_pages` says why, and that the
    // processes `fat` starts inherit it). Where it does not apply (the allocator's switch is
    // set, another OS), the process runs as before.
    fat_worker::process::no_transparent_huge_pages();
    let json = cli.json();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let (code, message) = describe(&error);
            if json {
                eprintln!("{}", json!({"error": {"code": code, "message": message}}));
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

/// What the node, worker and gatekeeper log when `RUST_LOG` does not say: warnings from
/// everything, and what the platform's own parts do (a key provisioned, a worker refused).
const DEFAULT_LOG: &str =
    "warn,fat_gatekeeper=info,fat_executor=info,fat_worker=info,fat_chain=info";

/// Log to standard error, filtered by `RUST_LOG` (tracing's `EnvFilter` syntax, e.g.
/// `RUST_LOG=debug` or `RUST_LOG=fat_worker=debug`), or by [`DEFAULT_LOG`]. Standard output
/// stays the command's own answer.
fn install_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => EnvFilter::try_new(&directives).unwrap_or_else(|e| {
            eprintln!(
                "warning: RUST_LOG={directives:?} is not a log filter ({e}); using {DEFAULT_LOG:?}"
            );
            EnvFilter::new(DEFAULT_LOG)
        }),
        Err(_) => EnvFilter::new(DEFAULT_LOG),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// A short code and the whole message of an error, with what to do where we know it.
fn describe(error: &anyhow::Error) -> (String, String) {
    use fat_client::Error;
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<fat_proto::Error>() {
            return describe_wire(e, error);
        }
        if let Some(e) = cause.downcast_ref::<Error>() {
            return match e {
                Error::Proto(wire) => describe_wire(wire, error),
                Error::NoWorkers { .. } => (
                    "no_workers".into(),
                    format!("{e}: start one with 'fat dev', or pass --worker URL"),
                ),
                Error::ExecFailed { .. } => ("failed".into(), format!("{error:#}")),
                Error::ChainChanged { .. } => ("chain_changed".into(), format!("{error:#}")),
                Error::KnownChains { .. } => ("known_chains".into(), format!("{error:#}")),
                Error::UntrustedWorker { .. } => ("untrusted_worker".into(), format!("{error:#}")),
                Error::NotProvisioned { .. } => ("not_provisioned".into(), format!("{error:#}")),
                Error::Envelope { .. } => ("envelope".into(), format!("{error:#}")),
                _ => ("error".into(), format!("{error:#}")),
            };
        }
    }
    ("error".into(), format!("{error:#}"))
}

/// [`describe`] for an error reaching a node or a worker, or one of their answers.
fn describe_wire(e: &fat_proto::Error, error: &anyhow::Error) -> (String, String) {
    use fat_proto::Error as Wire;
    match e {
        Wire::NoNode { url, .. } => (
            "no_node".into(),
            format!("no node at {url}: start one with 'fat dev'"),
        ),
        Wire::Api { code, message, .. } => (
            code.clone().unwrap_or_else(|| "api".into()),
            hint(code.as_deref(), message),
        ),
        Wire::BadUrl { .. } => ("bad_url".into(), format!("{error:#}")),
        Wire::Rejected { .. } => ("rejected".into(), format!("{error:#}")),
        Wire::Timeout { .. } => ("timeout".into(), format!("{error:#}")),
        _ => ("error".into(), format!("{error:#}")),
    }
}

fn hint(code: Option<&str>, message: &str) -> String {
    match code {
        Some("not_found") => format!("{message}: check the id (`fat deploy` prints it)"),
        Some("call_failed") => format!("the call failed: {message}"),
        Some("contract_exists") => {
            format!("{message}: deploy another instance with a new --salt")
        }
        Some(code) => format!("the node refused: {message} ({code})"),
        None => message.to_string(),
    }
}
