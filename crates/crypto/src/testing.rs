//! Signatures that only their signer can make, for tests of the followers' signature rule
//! ([`crate::check_tx_signature`]): points with a small-order component.

use curve25519_dalek::Scalar;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use fat_types::{AccountId, Signature, SignedTransaction, Transaction};
use sha2::{Digest, Sha512};

/// Where a signature made by [`sign_with_torsion`] carries a point of order 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Torsion {
    /// Nowhere: an ordinary signature.
    None,
    /// In the commitment: `R = r·B + T`.
    Commitment,
    /// In the signer's key: `A = a·B + T` (the signature shows it as `k·T`, nothing when 8
    /// divides the challenge `k`).
    Key,
}

fn scalar(seed: &[u8]) -> Scalar {
    Scalar::from_bytes_mod_order(*blake3::hash(seed).as_bytes())
}

/// `tx` signed by the key of secret seed `seed` (its signer set to that key), with a point
/// of order 8 where `torsion` says. The strict check ([`crate::verify_tx`]) refuses what
/// carries one (but for [`Torsion::Key`] with a challenge divisible by 8); the followers'
/// cofactored rule accepts them all.
pub fn sign_with_torsion(mut tx: Transaction, seed: &str, torsion: Torsion) -> SignedTransaction {
    let a = scalar(seed.as_bytes());
    let t = EIGHT_TORSION[1];
    let key = ED25519_BASEPOINT_POINT * a;
    let key = if torsion == Torsion::Key {
        key + t
    } else {
        key
    };
    tx.signer = AccountId(key.compress().to_bytes());
    let id = tx.id();
    let r = scalar(&[seed.as_bytes(), id.as_bytes()].concat());
    let commitment = ED25519_BASEPOINT_POINT * r;
    let commitment = if torsion == Torsion::Commitment {
        commitment + t
    } else {
        commitment
    };
    let r_bytes = commitment.compress().to_bytes();
    let mut challenge = Sha512::new();
    challenge.update(r_bytes);
    challenge.update(tx.signer.as_bytes());
    challenge.update(id.as_bytes());
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&challenge.finalize());
    let s = r + Scalar::from_bytes_mod_order_wide(&wide) * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r_bytes);
    signature[32..].copy_from_slice(s.as_bytes());
    SignedTransaction {
        tx,
        signature: Signature(signature),
    }
}

#[cfg(test)]
mod tests {
    use fat_types::{Hash32, TxKind};

    use super::*;
    use crate::{check_tx_signature, dev_keypair, verify_tx, verify_tx_batch};

    fn tx(nonce: u64) -> Transaction {
        Transaction {
            chain: Hash32([0xc2; 32]),
            signer: AccountId([0; 32]),
            nonce,
            fee: 1,
            kind: TxKind::Transfer {
                to: AccountId([7; 32]),
                amount: nonce,
            },
        }
    }

    /// The strict one-by-one check (`verify_tx`, the validators') refuses signatures with a
    /// small-order component; the followers' rule (`check_tx_signature`, ed25519's cofactored
    /// equation) accepts them, and gives every signature the same answer in every batch it
    /// is checked in, whatever its batch-mates: followers that group a block's signatures
    /// differently cannot disagree about one. (The batch equation without the cofactor, the
    /// rule before, passes a batch holding one such signature when its coefficient happens to
    /// be divisible by 8: this test fails with it.)
    #[test]
    fn every_signature_gets_the_same_answer_in_any_batch() {
        let honest: Vec<_> = (0..40)
            .map(|n| sign_with_torsion(tx(n), "signer", Torsion::None))
            .collect();
        let mut torsion: Vec<_> = (0..40)
            .map(|n| sign_with_torsion(tx(n), "signer", Torsion::Commitment))
            .collect();
        torsion.extend(
            (0..40)
                .map(|n| sign_with_torsion(tx(n), "signer", Torsion::Key))
                .filter(|signed| verify_tx(signed).is_err()),
        );
        let bad: Vec<_> = honest
            .iter()
            .map(|signed| {
                let mut wrong = signed.clone();
                wrong.tx.nonce += 1_000;
                wrong
            })
            .collect();
        assert!(
            torsion.len() > 60,
            "{} signatures with torsion",
            torsion.len()
        );
        for signed in &honest {
            assert!(verify_tx(signed).is_ok());
            assert!(check_tx_signature(signed, &signed.id()));
        }
        for signed in &torsion {
            assert!(
                verify_tx(signed).is_err(),
                "the strict check refuses torsion"
            );
            assert!(check_tx_signature(signed, &signed.id()));
        }
        for signed in &bad {
            assert!(verify_tx(signed).is_err());
            assert!(!check_tx_signature(signed, &signed.id()));
        }

        // Random batches of 1 to 70 of the three kinds and of other signers: a batch passes
        // exactly when each of its signatures passes on its own.
        let others: Vec<_> = (0..40u64)
            .map(|n| {
                let key = dev_keypair(["alice", "bob", "charlie"][(n % 3) as usize]);
                key.sign_tx(Transaction {
                    signer: key.account_id(),
                    ..tx(n)
                })
            })
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut passed, mut refused, mut with_torsion) = (0, 0, 0);
        for _ in 0..400 {
            let len = 1 + next(70);
            let kinds = if next(3) == 0 { 4 } else { 3 };
            let list: Vec<&SignedTransaction> = (0..len)
                .map(|_| match next(kinds) {
                    0 => &honest[next(honest.len())],
                    1 => &torsion[next(torsion.len())],
                    2 => &others[next(others.len())],
                    _ => &bad[next(bad.len())],
                })
                .collect();
            let ids: Vec<_> = list.iter().map(|t| t.id()).collect();
            let batch: Vec<_> = list.iter().copied().zip(&ids).collect();
            let each = batch.iter().all(|(t, id)| check_tx_signature(t, id));
            assert_eq!(verify_tx_batch(&batch), each, "{len} signatures");
            if each {
                passed += 1;
                with_torsion += usize::from(list.iter().any(|t| verify_tx(t).is_err()));
            } else {
                refused += 1;
            }
        }
        assert!(
            passed > 100 && refused > 50 && with_torsion > 100,
            "{passed} passed, {refused} refused, {with_torsion} with torsion"
        );
    }
}
