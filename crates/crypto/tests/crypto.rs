//! Dev keys are pinned; signatures verify strictly; a follower refuses forged or re-linked blocks.

use fat_crypto::{BlockVerifier, FollowError, dev_keypair, verify_tx};
use fat_types::block::{receipts_root, tx_root};
use fat_types::{AccountId, Block, BlockHeader, Hash32, Transaction, TxKind};

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
    for (what, actual, expected) in golden.into_iter().chain([("signature", signature, "3d4a756489557926a7bec35307dfb7b63a7029166e4eb75962f1a2774fd603363ff493f7734073db9bc608bcbcc4122e2a630f2a57267b225b9ad4b613179208")]) {
        println!("GOLDEN {what} {actual}");
        if actual != expected {
            mismatches.push(what);
        }
    }
    assert!(mismatches.is_empty(), "changed: {mismatches:?}");
    verify_tx(&signed).unwrap();
    let mut forged = signed.clone();
    forged.tx.nonce = 1;
    assert!(verify_tx(&forged).is_err());
    let mut forged = signed;
    forged.tx.signer = dev_keypair("bob").account_id();
    assert!(verify_tx(&forged).is_err());
}

fn genesis() -> BlockHeader {
    BlockHeader {
        height: 0,
        parent: Hash32([1; 32]),
        timestamp_ms: 1000,
        tx_root: tx_root(&[]),
        receipts_root: receipts_root(&[]),
        state_root: Hash32([2; 32]),
        producer: dev_keypair("sequencer").account_id(),
    }
}

fn child(parent: &BlockHeader, name: &str, nonce: u64) -> Block {
    let producer = dev_keypair("sequencer");
    let alice = dev_keypair(name);
    let tx = alice.sign_tx(Transaction {
        signer: alice.account_id(),
        nonce,
        fee: 1,
        kind: TxKind::Transfer {
            to: AccountId([9; 32]),
            amount: 1,
        },
    });
    let txs = vec![tx];
    let header = BlockHeader {
        height: parent.height + 1,
        parent: parent.hash(),
        timestamp_ms: parent.timestamp_ms + 10,
        tx_root: tx_root(&txs),
        receipts_root: receipts_root(&[]),
        state_root: Hash32([3; 32]),
        producer: producer.account_id(),
    };
    let signature = producer.sign(header.hash().as_bytes());
    Block {
        header,
        signature,
        txs,
    }
}

#[test]
fn follower_accepts_a_chain_and_refuses_forgeries() {
    let genesis = genesis();
    let producer = genesis.producer;
    let b1 = child(&genesis, "alice", 0);
    let b2 = child(&b1.header, "alice", 1);

    let mut follower = BlockVerifier::new(genesis.clone(), producer);
    assert_eq!(follower.accept(&b1).unwrap(), b1.hash());
    assert_eq!(follower.accept(&b2).unwrap(), b2.hash());
    assert_eq!(follower.last().height, 2);

    // A block whose transactions were swapped after signing.
    let mut forged = b1.clone();
    forged.txs = child(&genesis, "bob", 0).txs;
    let mut f = BlockVerifier::new(genesis.clone(), producer);
    assert_eq!(
        f.accept(&forged),
        Err(FollowError::TxRootMismatch { height: 1 })
    );

    // A header changed after signing.
    let mut forged = b1.clone();
    forged.header.state_root = Hash32([4; 32]);
    assert_eq!(
        f.accept(&forged),
        Err(FollowError::BadSignature { height: 1 })
    );

    // A block signed by someone else, claiming to be the producer.
    let mut forged = b1.clone();
    forged.signature = dev_keypair("mallory").sign(forged.hash().as_bytes());
    assert_eq!(
        f.accept(&forged),
        Err(FollowError::BadSignature { height: 1 })
    );

    // A block by another producer.
    let mut forged = b1.clone();
    let mallory = dev_keypair("mallory");
    forged.header.producer = mallory.account_id();
    forged.signature = mallory.sign(forged.hash().as_bytes());
    assert!(matches!(
        f.accept(&forged),
        Err(FollowError::WrongProducer { height: 1, .. })
    ));

    // A validly signed block re-linked to another parent.
    let other_genesis = BlockHeader {
        state_root: Hash32([7; 32]),
        ..genesis.clone()
    };
    let relinked = child(&other_genesis, "alice", 0);
    assert!(matches!(
        f.accept(&relinked),
        Err(FollowError::BrokenLink { height: 1, .. })
    ));

    // Skipping a block, or replaying an old one.
    assert_eq!(
        f.accept(&b2),
        Err(FollowError::WrongHeight {
            expected: 1,
            got: 2
        })
    );
    f.accept(&b1).unwrap();
    assert_eq!(
        f.accept(&b1),
        Err(FollowError::WrongHeight {
            expected: 2,
            got: 1
        })
    );

    // Time must not go back.
    let producer_key = dev_keypair("sequencer");
    let mut early = child(&b1.header, "alice", 1);
    early.header.timestamp_ms = 5;
    early.signature = producer_key.sign(early.hash().as_bytes());
    assert!(matches!(
        f.accept(&early),
        Err(FollowError::TimeWentBack { .. })
    ));
    f.accept(&b2).unwrap();
}
