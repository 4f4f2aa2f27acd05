//! `fat query`: run a query on a worker.

use std::path::PathBuf;

use clap::Args;

use super::{ClientArgs, Global, human, parse_args, parse_contract, print_json};

/// Run a query on a worker: read-only, answers in milliseconds.
///
/// Runs query METHOD with JSON arguments on CONTRACT at a worker of its cluster, as the
/// `--as` account. Prints the output; `--json` prints `{"output","worker","elapsed_ms"}`, and
/// for a query that fanned out jobs, how many ran on each worker (`jobs_by_worker`) with each
/// job's signed proof (`jobs`). `--out FILE` writes the output to FILE: a binary output
/// (`{"base64": ...}`, such as the render example's PNG) decoded, a JSON string as its text,
/// anything else as JSON.
#[derive(Debug, Args)]
pub struct QueryCommand {
    /// The contract's id.
    contract: String,
    /// The query method.
    method: String,
    /// The method's JSON arguments.
    #[arg(value_name = "JSON")]
    args: Option<String>,
    /// Write the output to FILE (binary outputs decoded) instead of printing it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Draw the progress of the query's jobs on stderr (jobs done of total).
    #[arg(long)]
    progress: bool,
    #[command(flatten)]
    pub(super) client: ClientArgs,
}

impl QueryCommand {
    /// Run the query and print its output.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let ctx = self.client.ctx(global)?;
        let key = ctx.key()?;
        let contract = parse_contract(&self.contract)?;
        let args = parse_args(self.args.as_deref())?;
        let result = ctx.block_on(async {
            ctx.warn_if_insecure().await?;
            let watch = self
                .progress
                .then(|| std::sync::Arc::new(draw_progress) as fat_client::ProgressWatch);
            Ok(ctx
                .client
                .query_watched(&key, &contract, &self.method, args, watch)
                .await?)
        })?;
        if self.progress && !result.jobs.is_empty() {
            let workers = result.jobs_by_worker.len();
            eprintln!("\r{} jobs on {workers} workers{:30}", result.jobs.len(), "");
        }
        if let Some(path) = &self.out {
            let bytes = output_bytes(&result.output)?;
            std::fs::write(path, &bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            if !ctx.json {
                eprintln!("wrote {} bytes to {}", bytes.len(), path.display());
            }
        }
        if ctx.json {
            let mut shown = serde_json::to_value(&result)?;
            if self.out.is_some() {
                shown["output"] = serde_json::Value::Null;
            }
            return print_json(&shown);
        }
        if self.out.is_none() {
            println!("{}", human(&result.output));
        }
        Ok(())
    }
}

/// Redraw the progress bar on stderr: `[#####-----] 12/32 jobs`.
fn draw_progress(now: fat_proto::worker::JobProgress) {
    const WIDTH: u64 = 30;
    if now.total == 0 {
        return;
    }
    let filled = (now.done * WIDTH)
        .checked_div(now.total)
        .unwrap_or(0)
        .min(WIDTH) as usize;
    eprint!(
        "\r[{}{}] {}/{} jobs",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        now.done,
        now.total
    );
}

/// What `--out` writes: `{"base64": ...}` decoded, a string's text, other JSON as text.
fn output_bytes(output: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    match output {
        serde_json::Value::Object(map) if map.get("base64").is_some_and(|v| v.is_string()) => {
            let text = map["base64"].as_str().unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| anyhow::anyhow!("the output's \"base64\" field is not base64: {e}"))
        }
        serde_json::Value::String(text) => Ok(text.clone().into_bytes()),
        other => Ok(serde_json::to_vec_pretty(other)?),
    }
}
