//! Checks of the receipts a worker signs.

use fat_proto::worker::ReceiptView;
use fat_types::{AccountId, ExecStatus, TxId, WorkerId};

use crate::error::{Error, Result};

/// Check a receipt is `worker`'s signature over the receipt of transaction `tx` in the block
/// at `height`.
pub(crate) fn check_signed(
    worker: &WorkerId,
    tx: &TxId,
    height: u64,
    view: &ReceiptView,
) -> Result<()> {
    let refuse = |reason: String| Error::UntrustedWorker {
        worker: worker.to_string(),
        reason,
    };
    let signed = &view.signed;
    if signed.worker != *worker {
        return Err(refuse(format!(
            "the receipt of {tx} is signed by another worker, {}",
            signed.worker
        )));
    }
    if signed.receipt.tx != *tx {
        return Err(refuse(format!(
            "asked for the receipt of {tx}, got that of {}",
            signed.receipt.tx
        )));
    }
    if signed.receipt.height != height {
        return Err(refuse(format!(
            "asked for the receipt of {tx} in block {height}, got one of block {}",
            signed.receipt.height
        )));
    }
    fat_crypto::verify(
        &AccountId(worker.0),
        signed.receipt.hash().as_bytes(),
        &signed.signature,
    )
    .map_err(|_| {
        refuse(format!(
            "its signature of the receipt of {tx} does not verify"
        ))
    })
}

/// Fail when a signed execution receipt says the call failed.
pub(crate) fn check_ok(what: &str, contract: &str, view: &ReceiptView) -> Result<()> {
    match &view.signed.receipt.status {
        ExecStatus::Ok => Ok(()),
        ExecStatus::Failed { error } => Err(Error::ExecFailed {
            what: what.into(),
            contract: contract.into(),
            error: error.clone(),
            receipt: Box::new(serde_json::to_value(view).unwrap_or_default()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fat_crypto::Keypair;
    use fat_types::{ContractId, ExecutionReceipt, Hash32, SignedExecutionReceipt};

    fn signed(key: &Keypair, tx: TxId) -> ReceiptView {
        let receipt = ExecutionReceipt {
            tx,
            contract: ContractId([2; 32]),
            height: 3,
            index: 0,
            status: ExecStatus::Ok,
            output: String::new(),
            sealed_output: None,
            events: Vec::new(),
            gas_used: 7,
            state_root: Hash32([4; 32]),
        };
        let signature = key.sign(receipt.hash().as_bytes());
        let hash = receipt.hash();
        ReceiptView {
            signed: SignedExecutionReceipt {
                receipt,
                worker: WorkerId(key.account_id().0),
                signature,
            },
            hash,
        }
    }

    #[test]
    fn receipts_must_be_the_trusted_workers_signature_for_the_asked_tx() {
        let key = fat_crypto::dev_keypair("worker-0");
        let worker = WorkerId(key.account_id().0);
        let tx = TxId([1; 32]);
        let body = signed(&key, tx);
        check_signed(&worker, &tx, 3, &body).unwrap();

        let other = fat_crypto::dev_keypair("worker-1");
        let err = check_signed(&worker, &tx, 3, &signed(&other, tx)).unwrap_err();
        assert!(err.to_string().contains("another worker"), "{err}");

        let err = check_signed(&worker, &TxId([9; 32]), 3, &body).unwrap_err();
        assert!(err.to_string().contains("got that of"), "{err}");

        // Signed, but of another block than the one the chain put the transaction in.
        let err = check_signed(&worker, &tx, 4, &body).unwrap_err();
        assert!(err.to_string().contains("got one of block 3"), "{err}");

        let mut forged = body.clone();
        forged.signed.receipt.gas_used = 8;
        let err = check_signed(&worker, &tx, 3, &forged).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }
}
