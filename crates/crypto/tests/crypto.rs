//! Dev keys are pinned; signatures verify strictly.

use fat_crypto::{CryptoError, dev_keypair, verify_tx};
use fat_types::{Transaction, TxKind};

#[test]
fn dev_keys_and_signatures_are_pinned() {
    let alice = dev_keypair("alice");
    let golden = [
        (
            "alice",
            alice.account_id().to_string(),
            "bde1bcf375e7227257377167d779b3c2e10df4b4e75e1936b9a4de3cad271a49",
        ),
        (
            "bob",
            dev_keypair("bob").account_id().to_string(),
            "ed36044dd8630c70192420cf3f051baa228eadab9e6222fda81bbce06012e2a1",
        ),
        (
            "charlie",
            dev_keypair("charlie").account_id().to_string(),
            "0795ea791db427ae0263af8a5d5eb9448e2dfdc4ae1c9de171a560f881de4f3d",
        ),
        (
            "gatekeeper",
            dev_keypair("gatekeeper").account_id().to_string(),
            "ee4eaaf3bd47d69e9249c4d1d53646eaa71b29cc183bb5de4ee83176bcbbd0fb",
        ),
        (
            "sequencer",
            dev_keypair("sequencer").account_id().to_string(),
            "38cfc91324513643f7d6e0bdbaa83f8d1ba45e05f686f56514e48f6787c10ebd",
        ),
    ];
    let tx = Transaction {
        chain: fat_types::Hash32([0xc1; 32]),
        signer: alice.account_id(),
        nonce: 0,
        fee: 1,
        kind: TxKind::Transfer {
            to: dev_keypair("bob").account_id(),
            amount: 7,
        },
    };
    let signed = alice.sign_tx(tx);
    let signature = hex::encode(signed.signature.0);
    let mut mismatches = Vec::new();
    for (what, actual, expected) in golden.into_iter().chain([("signature", signature, "410b9be971aef2e79348bced260b4715c4683d101471a7fe3c00fb7af7f5d9353e40fdbb917fe1533249117c19ce70929bc138db23845d3eae67eeb4e5dcda07")]) {
        println!("GOLDEN {what} {actual}");
        if actual != expected {
            mismatches.push(what);
        }
    }
    assert!(mismatches.is_empty(), "changed: {mismatches:?}");
    verify_tx(&signed).unwrap();
    let mut forged = signed.clone();
    forged.tx.nonce = 1;
    assert_eq!(
        verify_tx(&forged),
        Err(CryptoError::BadSignature(alice.account_id()))
    );
    let mut forged = signed;
    let bob = dev_keypair("bob").account_id();
    forged.tx.signer = bob;
    assert_eq!(verify_tx(&forged), Err(CryptoError::BadSignature(bob)));
}

/// `verify_txs` answers for a list what `verify_tx` answers for each, for signatures without
/// small-order components (those, only the followers' rule accepts: `fat_crypto::testing`):
/// transactions of several signers, some with a byte of the signature or of the transaction
/// changed, or signed by another key; and the forms `verify_tx` refuses before its equation,
/// which the followers' rule refuses too.
#[test]
fn a_batch_of_transactions_is_accepted_exactly_when_each_is() {
    use fat_crypto::verify_txs;
    let keys: Vec<_> = ["alice", "bob", "charlie"]
        .iter()
        .map(|name| dev_keypair(name))
        .collect();
    let signed = |i: u64| {
        let key = &keys[(i % 3) as usize];
        key.sign_tx(Transaction {
            chain: fat_types::Hash32([0xc1; 32]),
            signer: key.account_id(),
            nonce: i,
            fee: 1,
            kind: TxKind::Transfer {
                to: keys[0].account_id(),
                amount: i,
            },
        })
    };
    assert!(verify_txs(&[]));
    let all: Vec<_> = (0..70).map(signed).collect();
    assert!(verify_txs(&all));

    // With the ids computed by the caller: each signature is checked over the id given for
    // it, so ids swapped, or one short, are refused, one by one (3) and in a batch (70).
    use fat_crypto::verify_txs_with_ids;
    for txs in [&all[..3], &all[..]] {
        let ids: Vec<_> = txs.iter().map(|t| t.id()).collect();
        assert!(verify_txs_with_ids(txs, &ids));
        let mut swapped = ids.clone();
        swapped.swap(0, 1);
        assert!(!verify_txs_with_ids(txs, &swapped));
        assert!(!verify_txs_with_ids(txs, &ids[1..]));
        assert!(!verify_txs_with_ids(&txs[1..], &ids));
    }

    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut refused = 0;
    for _ in 0..300 {
        let len = 1 + next(12) as usize;
        let mut txs: Vec<_> = (0..len as u64).map(|i| signed(i + 100)).collect();
        if next(4) != 0 {
            let victim = next(len as u64) as usize;
            match next(3) {
                0 => {
                    let byte = next(64) as usize;
                    txs[victim].signature.0[byte] ^= 1 << next(8);
                }
                1 => txs[victim].tx.nonce += 1,
                _ => txs[victim].signature = signed(victim as u64 + 1).signature,
            }
        }
        let one_by_one = txs.iter().all(|tx| verify_tx(tx).is_ok());
        assert_eq!(verify_txs(&txs), one_by_one, "{txs:?}");
        refused += usize::from(!one_by_one);
    }
    assert!(
        refused > 150,
        "only {refused} lists had a refused transaction"
    );

    // Forms refused before any equation: a weak (small-order) key, a small-order or
    // non-canonical R, an s not reduced.
    let mut weak = signed(1);
    weak.tx.signer = fat_types::AccountId({
        let mut identity = [0u8; 32];
        identity[0] = 1;
        identity
    });
    let mut small_r = signed(2);
    small_r.signature.0[..32].copy_from_slice(&{
        let mut identity = [0u8; 32];
        identity[0] = 1;
        identity
    });
    let mut non_canonical_r = signed(3);
    // y = p + 1, which reduces to y = 1 (the identity) but is not its canonical encoding.
    non_canonical_r.signature.0[..32].copy_from_slice(&{
        let mut y = [0xffu8; 32];
        y[0] = 0xee;
        y[31] = 0x7f;
        y
    });
    let mut big_s = signed(4);
    big_s.signature.0[32..].copy_from_slice(&[0xff; 32]);
    // s = l + 1: not reduced, though its top bits are clear (a lax check of s looks at those
    // only).
    let mut l_plus_one = signed(6);
    let mut l = [0u8; 32];
    l[..16].copy_from_slice(&[
        0xee, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14,
    ]);
    l[31] = 0x10;
    l_plus_one.signature.0[32..].copy_from_slice(&l);
    // The weak key made to pass the equation: with A the identity, s·B = R + k·A holds for
    // R = s·B whatever the message. Only the check of the key refuses it.
    let mut forged_for_weak_key = weak.clone();
    let s = curve25519_dalek::Scalar::from(5u8);
    let r = curve25519_dalek::constants::ED25519_BASEPOINT_POINT * s;
    forged_for_weak_key.signature.0[..32].copy_from_slice(r.compress().as_bytes());
    forged_for_weak_key.signature.0[32..].copy_from_slice(s.as_bytes());
    // An R that is no point at all: the first y from 2 up that does not decompress.
    let mut not_a_point_r = signed(5);
    let y = (2u8..)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            bytes
        })
        .find(|b| {
            curve25519_dalek::edwards::CompressedEdwardsY(*b)
                .decompress()
                .is_none()
        })
        .unwrap();
    not_a_point_r.signature.0[..32].copy_from_slice(&y);
    for bad in [
        weak,
        small_r,
        non_canonical_r,
        big_s,
        l_plus_one,
        forged_for_weak_key,
        not_a_point_r,
    ] {
        assert!(verify_tx(&bad).is_err());
        assert!(!fat_crypto::check_tx_signature(&bad, &bad.id()));
        let mut list = all.clone();
        list.insert(5, bad);
        assert!(!verify_txs(&list));
    }
}
