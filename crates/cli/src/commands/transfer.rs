//! `fat transfer`: move tokens to another account.

use clap::Args;
use fat_types::TxKind;
use serde_json::json;

use super::account::resolve;
use super::{ClientArgs, Global, print_json};

/// Move tokens from the `--as` account to another account.
///
/// ACCOUNT is an account name (a dev account, or one made with `fat account new`) or an
/// account id (64 hex digits). Waits until the transfer is in a block. Prints the transaction
/// and the block; `--json` prints `{"tx","block","from","to","amount","fee"}`. The fee is
/// paid on top of the amount.
#[derive(Debug, Args)]
pub struct TransferCommand {
    /// Who receives: an account name or id.
    #[arg(value_name = "ACCOUNT")]
    to: String,
    /// How much.
    amount: u64,
    #[command(flatten)]
    pub(super) client: ClientArgs,
}

impl TransferCommand {
    /// Transfer and print where it landed.
    pub fn run(self, global: &Global) -> anyhow::Result<()> {
        let ctx = self.client.ctx(global)?;
        let key = ctx.key()?;
        let to = resolve(&self.to)?;
        let answer = ctx.block_on(async {
            Ok(ctx
                .client
                .submit(
                    &key,
                    TxKind::Transfer {
                        to,
                        amount: self.amount,
                    },
                    true,
                )
                .await?)
        })?;
        let fee = answer.receipt.as_ref().map(|r| r.fee);
        if ctx.json {
            return print_json(&json!({
                "tx": answer.id,
                "block": answer.height,
                "from": key.account_id(),
                "to": to,
                "amount": self.amount,
                "fee": fee,
            }));
        }
        println!(
            "sent {} to {to} in block {} (tx {}, fee {})",
            self.amount,
            answer.height.map_or("-".into(), |h| h.to_string()),
            answer.id,
            fee.map_or("-".into(), |f| f.to_string()),
        );
        Ok(())
    }
}
