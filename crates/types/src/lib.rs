//! Name what the platform talks about: ids, transactions, blocks, receipts and their encoding.
//!
//! Every id is 32 bytes. In text (JSON, the command line, logs) an id is lower-case hex,
//! 64 characters, with an optional `0x` prefix on input.

mod id;

pub use id::{AccountId, CodeHash, ContractId, Hash32, ParseIdError};

pub mod block;
pub mod certificate;
pub mod clock;
#[cfg(feature = "component")]
pub mod component;
pub mod encoding;
pub mod execution;
pub mod genesis;
pub mod private_fs;
pub mod registry;
pub mod reject;
pub mod tx;

pub use block::{Block, BlockHeader, ChainReceipt, Outcome, TxLocation};
pub use certificate::{Certificate, finalize_message};
pub use clock::{Clock, ManualClock, SystemClock};
pub use encoding::{Bytes, DecodeError, Signature};
pub use execution::{
    CommandPayload, ExecEvent, ExecStatus, ExecutionReceipt, SignedExecutionReceipt,
};
pub use genesis::{ChainParams, Genesis};
pub use id::{ClusterId, TxId, WorkerId};
pub use registry::{
    AccountState, AttestationPolicy, ClusterInfo, CodeInfo, ContractInfo, Deployers, KeyProvision,
    MAX_KEY_EPOCHS, SnpTcb, WorkerInfo, key_escrow,
};
pub use reject::TxRejection;
pub use tx::{Attestation, SignedTransaction, Transaction, TxKind};

/// An error and each of its causes on one line, outermost first: what a log line needs to
/// say why (`following the chain: receipts of block 7 do not match its receipts root`).
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        line.push_str(": ");
        line.push_str(&e.to_string());
        cause = e.source();
    }
    line
}

#[cfg(test)]
mod golden;
#[cfg(feature = "test-utils")]
pub mod strategies;
