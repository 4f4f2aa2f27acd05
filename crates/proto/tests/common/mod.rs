//! What the proto tests share.

use fat_types::{AccountId, Hash32, Signature, SignedTransaction, Transaction, TxKind};

/// A transfer of 5 from account 1 to account 2, nonce 3, fee 10 (the golden files pin its
/// JSON: changing it changes them).
pub fn tx() -> SignedTransaction {
    SignedTransaction {
        tx: Transaction {
            chain: Hash32([0xc1; 32]),
            signer: AccountId([1; 32]),
            nonce: 3,
            fee: 10,
            kind: TxKind::Transfer {
                to: AccountId([2; 32]),
                amount: 5,
            },
        },
        signature: Signature([7; 64]),
    }
}
