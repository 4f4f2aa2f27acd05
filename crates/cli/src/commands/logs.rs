//! `fat logs`: a contract's log lines.

use clap::Args;
use fat_proto::worker::LogLine;

use super::{ClientArgs, Global, parse_contract, print_json};

/// Print the lines a contract logged; `--follow` keeps printing new ones.
///
/// Prints the lines CONTRACT logged while executing commands, oldest first: `[block.index]
/// LEVEL message`. `--json` prints `{"contract","logs":[{"seq","height","index","tx","level",
/// "message"}]}`, or with `--follow` one line object per line.
#[derive(Debug, Args)]
pub struct LogsCommand {
    /// The contract's id.
    contract: String,
    /// Keep printing lines as new blocks apply (until Ctrl-C).
    #[arg(long, short)]
    follow: bool,
    /// The first line's sequence number.
    #[arg(long, default_value_t = 0)]
    from: u64,
    #[command(flatten)]
    pub(super) client: ClientArgs,
}

fn human_line(line: &LogLine) -> String {
    format!(
        "[{}.{}] {} {}",
        line.height,
        line.index,
        line.level.to_uppercase(),
        line.message
    )
}

impl LogsCommand {
    /// Print the lines.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let ctx = self.client.ctx(global)?;
        let contract = parse_contract(&self.contract)?;
        if !self.follow {
            let logs = ctx.block_on(async {
                ctx.warn_if_insecure().await?;
                Ok(ctx.client.logs(&contract, self.from, 10_000).await?)
            })?;
            if ctx.json {
                return print_json(&serde_json::json!({"contract": contract, "logs": logs}));
            }
            for line in &logs {
                println!("{}", human_line(line));
            }
            return Ok(());
        }
        ctx.block_on(async {
            ctx.warn_if_insecure().await?;
            let mut stream = ctx.client.follow_logs(&contract, self.from).await?;
            loop {
                let event = tokio::select! {
                    event = stream.next() => event?,
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                };
                let Some(event) = event else { return Ok(()) };
                if event.event != "log" {
                    continue;
                }
                let line: LogLine = serde_json::from_str(&event.data)?;
                if ctx.json {
                    print_json(&line)?;
                } else {
                    println!("{}", human_line(&line));
                }
            }
        })
    }
}
