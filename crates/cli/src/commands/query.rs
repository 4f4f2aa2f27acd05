//! `fat query`: run a query on a worker.

use clap::Args;

use super::{ClientArgs, Global, human, parse_args, parse_contract, print_json};

/// Run a query on a worker: read-only, answers in milliseconds.
///
/// Runs query METHOD with JSON arguments on CONTRACT at a worker of its cluster, as the
/// `--as` account. Prints the output; `--json` prints `{"output","worker","elapsed_ms"}`.
#[derive(Debug, Args)]
pub struct QueryCommand {
    /// The contract's id.
    contract: String,
    /// The query method.
    method: String,
    /// The method's JSON arguments.
    #[arg(value_name = "JSON")]
    args: Option<String>,
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
            Ok(ctx
                .client
                .query(&key, &contract, &self.method, args)
                .await?)
        })?;
        if ctx.json {
            return print_json(&result);
        }
        println!("{}", human(&result.output));
        Ok(())
    }
}
