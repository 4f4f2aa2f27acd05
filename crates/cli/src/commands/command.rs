//! `fat command`: send a command to a contract.

use clap::Args;

use super::{ClientArgs, Global, human, parse_args, parse_contract, print_json};

/// Send a command (a signed transaction) to a contract and wait for its result.
///
/// Sends command METHOD with JSON arguments to CONTRACT, signed by `--as`, and waits for its
/// block and a worker's receipt (with `--confirmations N`, N members' agreeing receipts).
/// Prints the output; `--json` prints `{"tx","block","status","output","events","confirmed_by"}`.
#[derive(Debug, Args)]
pub struct CommandCommand {
    /// The contract's id.
    contract: String,
    /// The command method.
    method: String,
    /// The method's JSON arguments, e.g. '{"by": 2}'.
    #[arg(value_name = "JSON")]
    args: Option<String>,
    /// Return once the node admitted the transaction, without waiting for its block.
    #[arg(long, conflicts_with = "confirmations")]
    no_wait: bool,
    /// Wait for the receipts of N members of the contract's cluster and refuse the result
    /// unless all agree (status, output, events, gas, state root), naming two workers that
    /// differ.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    confirmations: u64,
    /// The most gas (fuel) the command may spend [default: 100000000]; the fee grows with it and the
    /// chain refuses more than its `max_tx_gas`.
    #[arg(long, value_name = "N")]
    gas_limit: Option<u64>,
    #[command(flatten)]
    pub(super) client: ClientArgs,
}

impl CommandCommand {
    /// Send the command and print its result.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let mut ctx = self.client.ctx(global)?;
        if let Some(gas) = self.gas_limit {
            ctx.client = ctx.client.with_gas_limit(gas);
        }
        let key = ctx.key()?;
        let contract = parse_contract(&self.contract)?;
        let args = parse_args(self.args.as_deref())?
            .map(|v| v.to_string())
            .unwrap_or_default();
        let result = ctx.block_on(async {
            ctx.warn_if_insecure().await?;
            Ok(ctx
                .client
                .command_confirmed(
                    &key,
                    &contract,
                    &self.method,
                    &args,
                    if self.no_wait {
                        0
                    } else {
                        self.confirmations as usize
                    },
                )
                .await?)
        })?;
        if ctx.json {
            return print_json(&result);
        }
        match result.block {
            None => println!("sent {} (pending)", result.tx),
            Some(block) => {
                println!("{}", human(&result.output));
                ctx.progress(&format!("ok in block {block} (tx {})", result.tx));
                for event in &result.events {
                    ctx.progress(&format!("event {}", serde_json::to_string(event)?));
                }
            }
        }
        Ok(())
    }
}
