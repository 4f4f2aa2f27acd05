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
