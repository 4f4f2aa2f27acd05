//! Quorums, certificates and the follower: what a valid certificate is, and every way one is
//! refused.

use std::collections::BTreeSet;

use fat_consensus::{
    BlockVerifier, CertificateError, CheckedCommands, ConsensusError, FollowError, TxIds,
    ValidatorSet, check_commands, command_indexes, sign_finalize,
};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::block::{receipts_root, tx_root};
use fat_types::{
    AccountId, Block, BlockHeader, Bytes, Certificate, ContractId, Hash32, SignedTransaction,
    Transaction, TxKind, TxRejection,
};

fn keys(n: usize) -> Vec<Keypair> {
    (0..n)
        .map(|i| dev_keypair(&format!("validator-{i}")))
        .collect()
}

fn set(keys: &[Keypair]) -> ValidatorSet {
    ValidatorSet::new(keys.iter().map(Keypair::account_id).collect()).unwrap()
}

/// A certificate of `round` over `hash` signed by the validators at `signers`.
fn certificate(keys: &[Keypair], signers: &[u32], round: u64, hash: &Hash32) -> Certificate {
    Certificate::Ed25519 {
        round,
        signatures: signers
            .iter()
            .map(|i| (*i, sign_finalize(&keys[*i as usize], round, hash)))
            .collect(),
    }
}

#[test]
fn quorum_is_two_thirds_plus_one() {
    for (n, quorum) in [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (7, 5), (10, 7)] {
        assert_eq!(set(&keys(n)).quorum(), quorum, "n = {n}");
    }
}

#[test]
fn a_set_names_someone_and_no_one_twice() {
    assert_eq!(
        ValidatorSet::new(Vec::new()),
        Err(ConsensusError::NoValidators)
    );
    let k = keys(2);
    let twice = vec![k[0].account_id(), k[1].account_id(), k[0].account_id()];
    assert_eq!(
        ValidatorSet::new(twice),
        Err(ConsensusError::DuplicateValidator {
            validator: k[0].account_id()
        })
    );
}

#[test]
fn a_quorum_certifies_and_anything_less_is_refused() {
    let k = keys(4);
    let validators = set(&k);
    let hash = Hash32([7; 32]);
    validators
        .verify(&hash, &certificate(&k, &[0, 1, 2], 5, &hash))
        .unwrap();
    validators
        .verify(&hash, &certificate(&k, &[3, 1, 0, 2], 5, &hash))
        .unwrap();
    assert_eq!(
        validators.verify(&hash, &certificate(&k, &[0, 2], 5, &hash)),
        Err(CertificateError::NoQuorum {
            signed: 2,
            needed: 3
        })
    );
    // An index past the set.
    let mut unknown = certificate(&k, &[0, 1, 2], 5, &hash);
    if let Certificate::Ed25519 { signatures, .. } = &mut unknown {
        signatures[2].0 = 4;
    }
    assert_eq!(
        validators.verify(&hash, &unknown),
        Err(CertificateError::UnknownValidator { index: 4 })
    );
    // One validator counted twice.
    assert_eq!(
        validators.verify(&hash, &certificate(&k, &[0, 1, 1], 5, &hash)),
        Err(CertificateError::DuplicateSigner { index: 1 })
    );
    // A key outside the set signing in a validator's place.
    let mallory = dev_keypair("mallory");
    let mut outsider = certificate(&k, &[0, 1, 2], 5, &hash);
    if let Certificate::Ed25519 { signatures, .. } = &mut outsider {
        signatures[1].1 = sign_finalize(&mallory, 5, &hash);
    }
    assert_eq!(
        validators.verify(&hash, &outsider),
        Err(CertificateError::BadSignature { validator: 1 })
    );
    // Signatures over another block, or the same block in another round.
    let other = Hash32([8; 32]);
    assert_eq!(
        validators.verify(&hash, &certificate(&k, &[0, 1, 2], 5, &other)),
        Err(CertificateError::BadSignature { validator: 0 })
    );
    let mut replayed = certificate(&k, &[0, 1, 2], 5, &hash);
    if let Certificate::Ed25519 { round, .. } = &mut replayed {
        *round = 6;
    }
    assert_eq!(
        validators.verify(&hash, &replayed),
        Err(CertificateError::BadSignature { validator: 0 })
    );
    assert_eq!(
        validators.verify(&hash, &Certificate::Genesis),
        Err(CertificateError::GenesisCertificate)
    );
}

fn genesis() -> BlockHeader {
    BlockHeader {
        height: 0,
        parent: Hash32([1; 32]),
        timestamp_ms: 1000,
        tx_root: tx_root(&[]),
        receipts_root: receipts_root(&[]),
        state_root: Hash32([2; 32]),
    }
}

/// The id of the chain the tests follow.
const CHAIN: Hash32 = Hash32([0xc1; 32]);

/// A block on `parent` with one transfer by `name`, certified by validators 0..3 of `k`.
fn child(k: &[Keypair], parent: &BlockHeader, name: &str, nonce: u64) -> Block {
    let signer = dev_keypair(name);
    let txs = vec![signer.sign_tx(Transaction {
        chain: CHAIN,
        signer: signer.account_id(),
        nonce,
        fee: 1,
        kind: TxKind::Transfer {
            to: AccountId([9; 32]),
            amount: 1,
        },
    })];
    certified(k, parent, txs)
}

/// A block on `parent` holding `txs`, certified by validators 0..3 of `k`.
fn certified(k: &[Keypair], parent: &BlockHeader, txs: Vec<SignedTransaction>) -> Block {
    let header = BlockHeader {
        height: parent.height + 1,
        parent: parent.hash(),
        timestamp_ms: parent.timestamp_ms + 10,
        tx_root: tx_root(&txs),
        receipts_root: receipts_root(&[]),
        state_root: Hash32([3; 32]),
    };
    let certificate = certificate(k, &[0, 1, 2], header.height, &header.hash());
    Block {
        header,
        certificate,
        txs,
    }
}

#[test]
fn follower_accepts_a_chain_and_refuses_forgeries() {
    let k = keys(4);
    let genesis = genesis();
    let b1 = child(&k, &genesis, "alice", 0);
    let b2 = child(&k, &b1.header, "alice", 1);

    let mut follower = BlockVerifier::new(CHAIN, genesis.clone(), set(&k));
    assert_eq!(follower.accept(&b1).unwrap(), b1.hash());
    assert_eq!(follower.accept(&b2).unwrap(), b2.hash());
    assert_eq!(follower.last().height, 2);

    let mut f = BlockVerifier::new(CHAIN, genesis.clone(), set(&k));
    // Transactions swapped after finalizing.
    let mut forged = b1.clone();
    forged.txs = child(&k, &genesis, "bob", 0).txs;
    assert_eq!(
        f.accept(&forged),
        Err(FollowError::TxRootMismatch { height: 1 })
    );

    // A header changed after finalizing: the certificate is for another block.
    let mut forged = b1.clone();
    forged.header.state_root = Hash32([4; 32]);
    assert_eq!(
        f.accept(&forged),
        Err(FollowError::Certificate {
            height: 1,
            source: CertificateError::BadSignature { validator: 0 }
        })
    );

    // Too few signatures, and a genesis certificate on block 1.
    let mut forged = b1.clone();
    forged.certificate = certificate(&k, &[0, 1], 1, &b1.hash());
    assert_eq!(
        f.accept(&forged),
        Err(FollowError::Certificate {
            height: 1,
            source: CertificateError::NoQuorum {
                signed: 2,
                needed: 3
            }
        })
    );
    forged.certificate = Certificate::Genesis;
    assert_eq!(
        f.accept(&forged),
        Err(FollowError::Certificate {
            height: 1,
            source: CertificateError::GenesisCertificate
        })
    );

    // A finalized block re-linked to another parent.
    let other_genesis = BlockHeader {
        state_root: Hash32([7; 32]),
        ..genesis.clone()
    };
    let relinked = child(&k, &other_genesis, "alice", 0);
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
        f.accept(&child(&k, &b2.header, "alice", 2)),
        Err(FollowError::WrongHeight {
            expected: 2,
            got: 3
        })
    );

    // A certified block whose transaction was signed for another chain, or whose signature
    // the producer made up: a follower takes no caller's word from the block alone.
    let mut elsewhere = child(&k, &b1.header, "alice", 1);
    let alice = dev_keypair("alice");
    let mut tx = elsewhere.txs[0].tx.clone();
    tx.chain = Hash32([0xd2; 32]);
    let foreign = certified(&k, &b1.header, vec![alice.sign_tx(tx)]);
    assert!(matches!(
        f.accept(&foreign),
        Err(FollowError::Transaction {
            height: 2,
            index: 0,
            rejection: TxRejection::WrongChain { got, expected },
            ..
        }) if got == Hash32([0xd2; 32]) && expected == CHAIN
    ));
    elsewhere.txs[0].tx.signer = dev_keypair("bob").account_id();
    let posing = certified(&k, &b1.header, elsewhere.txs);
    assert!(matches!(
        f.accept(&posing),
        Err(FollowError::Transaction {
            height: 2,
            rejection: TxRejection::BadSignature,
            ..
        })
    ));

    // In a block of 150 (signatures are checked in batches), the first refused in block
    // order is the one named: one at 70 carrying the next transaction's signature, one at 140
    // posing as bob.
    let many = |bad: &[u64]| {
        let sign = |nonce: u64| {
            alice.sign_tx(Transaction {
                chain: CHAIN,
                signer: alice.account_id(),
                nonce,
                fee: 1,
                kind: TxKind::Transfer {
                    to: AccountId([9; 32]),
                    amount: 1,
                },
            })
        };
        let mut txs: Vec<_> = (0..150).map(sign).collect();
        for &i in bad {
            if i == 140 {
                txs[140].tx.signer = dev_keypair("bob").account_id();
            } else {
                txs[i as usize].signature = sign(i + 1).signature;
            }
        }
        certified(&k, &b1.header, txs)
    };
    for (bad, named) in [(vec![70, 140], 70), (vec![140], 140)] {
        assert!(matches!(
            f.accept(&many(&bad)),
            Err(FollowError::Transaction {
                height: 2,
                index,
                rejection: TxRejection::BadSignature,
                ..
            }) if index == named
        ));
    }
    let mut g = BlockVerifier::new(CHAIN, genesis.clone(), set(&k));
    g.accept(&b1).unwrap();
    let whole = many(&[]);
    // The ids come back in block order, across the batches (150 transactions: three).
    let mut h = g.clone();
    let (hash, ids) = h.accept_with_ids(&whole).unwrap();
    assert_eq!(hash, whole.hash());
    assert_eq!(ids, TxIds::of(&whole.txs));
    assert!((0..whole.txs.len()).all(|i| ids.is_hashed(i)));
    assert_eq!(g.accept(&whole).unwrap(), whole.hash());

    // Time must not go back.
    let mut early = child(&k, &b1.header, "alice", 1);
    early.header.timestamp_ms = 5;
    early.certificate = certificate(&k, &[0, 1, 2], 2, &early.hash());
    assert!(matches!(
        f.accept(&early),
        Err(FollowError::TimeWentBack { .. })
    ));
    f.accept(&b2).unwrap();
}

#[test]
fn follower_refuses_a_second_block_at_a_final_height_and_keeps_the_first() {
    let k = keys(4);
    let genesis = genesis();
    let b1 = child(&k, &genesis, "alice", 0);
    let mut f = BlockVerifier::new(CHAIN, genesis.clone(), set(&k));
    f.accept(&b1).unwrap();
    let (last, last_hash) = (f.last().clone(), f.last_hash());

    // The same block again is only late; another certified block at height 1 is a fork.
    assert!(matches!(
        f.accept(&b1),
        Err(FollowError::WrongHeight { .. })
    ));
    let fork = child(&k, &genesis, "bob", 0);
    assert_eq!(
        f.accept(&fork),
        Err(FollowError::Conflict {
            height: 1,
            finalized: b1.hash(),
            got: fork.hash()
        })
    );
    // A second block at height 1 without a valid certificate is just a bad certificate.
    let mut uncertified = fork.clone();
    uncertified.certificate = certificate(&k, &[0], 1, &fork.hash());
    assert!(matches!(
        f.accept(&uncertified),
        Err(FollowError::Certificate { height: 1, .. })
    ));
    assert_eq!(f.last(), &last);
    assert_eq!(f.last_hash(), last_hash);
    f.accept(&child(&k, &b1.header, "alice", 1)).unwrap();
}

/// A simplex certificate of `view` over `hash` signed by the validators at `signers`, through
/// `descendants` when the signed block is a descendant.
fn simplex(
    keys: &[Keypair],
    signers: &[u32],
    view: u64,
    signed: &Hash32,
    descendants: Vec<BlockHeader>,
) -> Certificate {
    let message = fat_consensus::simplex_finalize_message(view, view - 1, signed);
    Certificate::Simplex {
        view,
        parent_view: view - 1,
        signatures: signers
            .iter()
            .map(|i| (*i, keys[*i as usize].sign(&message)))
            .collect(),
        descendants,
    }
}

#[test]
fn simplex_certificates_finalize_a_block_or_its_ancestors_through_linked_headers() {
    let k = keys(4);
    let validators = set(&k);
    let parent = genesis();
    let block = child(&k, &parent, "a", 0);
    let grandchild = child(&k, &block.header, "b", 1);
    let hash = block.hash();
    // Its own finalization, by a quorum.
    validators
        .verify(&hash, &simplex(&k, &[0, 1, 3], 9, &hash, Vec::new()))
        .unwrap();
    // Final through a finalized child that links to it.
    let through_child = simplex(
        &k,
        &[0, 1, 2],
        10,
        &grandchild.hash(),
        vec![grandchild.header.clone()],
    );
    validators.verify(&hash, &through_child).unwrap();
    // A child that links elsewhere proves nothing about this block.
    let unrelated = child(&k, &parent, "c", 2);
    let elsewhere = simplex(
        &k,
        &[0, 1, 2],
        10,
        &unrelated.hash(),
        vec![unrelated.header.clone()],
    );
    assert_eq!(
        validators.verify(&hash, &elsewhere),
        Err(CertificateError::BrokenDescendants { at: 0 })
    );
    // Less than a quorum, a signature over another view, an outsider.
    assert!(matches!(
        validators.verify(&hash, &simplex(&k, &[0, 1], 9, &hash, Vec::new())),
        Err(CertificateError::NoQuorum {
            signed: 2,
            needed: 3
        })
    ));
    let mut other_view = simplex(&k, &[0, 1, 2], 9, &hash, Vec::new());
    if let Certificate::Simplex { view, .. } = &mut other_view {
        *view = 8;
    }
    assert!(matches!(
        validators.verify(&hash, &other_view),
        Err(CertificateError::BadSignature { .. })
    ));
    let outsiders = keys(5);
    let forged = simplex(&outsiders[1..], &[0, 1, 2], 9, &hash, Vec::new());
    assert!(matches!(
        validators.verify(&hash, &forged),
        Err(CertificateError::BadSignature { .. })
    ));
}

/// A follower may check the signatures of commands only to the contracts it runs, and always
/// every other transaction's: a made-up command to another contract passes it, and the block
/// says its commands went unchecked; whoever acts on them checks them with `check_commands`,
/// which refuses the same transaction a follower checking everything refuses.
#[test]
fn a_follower_checks_the_commands_it_runs_and_every_other_transaction() {
    let k = keys(4);
    let genesis = genesis();
    let b1 = child(&k, &genesis, "alice", 0);
    let alice = dev_keypair("alice");
    let (ours, theirs) = (ContractId([1; 32]), ContractId([2; 32]));
    let sign = |nonce: u64, kind: TxKind| {
        alice.sign_tx(Transaction {
            chain: CHAIN,
            signer: alice.account_id(),
            nonce,
            fee: 1,
            kind,
        })
    };
    let command = |nonce: u64, contract: ContractId| {
        sign(
            nonce,
            TxKind::Command {
                contract,
                payload: Bytes(vec![nonce as u8; 40]),
                gas_limit: 1_000,
            },
        )
    };
    let transfer = |nonce: u64| {
        sign(
            nonce,
            TxKind::Transfer {
                to: AccountId([9; 32]),
                amount: 1,
            },
        )
    };
    // 200 transactions, the two contracts' commands and transfers interleaved: each
    // contract's commands fill more than one batch.
    let honest: Vec<SignedTransaction> = (0..200u64)
        .map(|n| match n % 3 {
            0 => command(n, ours),
            1 => command(n, theirs),
            _ => transfer(n),
        })
        .collect();
    // Their contract's command at 151 carries the signature of the transaction before it.
    let mut txs = honest.clone();
    txs[151].signature = txs[150].signature;
    let forged = certified(&k, &b1.header, txs);
    let ids: Vec<_> = forged.txs.iter().map(SignedTransaction::id).collect();
    let start = || {
        let mut f = BlockVerifier::new(CHAIN, genesis.clone(), set(&k));
        f.accept(&b1).unwrap();
        f
    };
    let refused = |e: &FollowError| {
        matches!(
            e,
            FollowError::Transaction {
                height: 2,
                index: 151,
                rejection: TxRejection::BadSignature,
                ..
            }
        )
    };

    // Checking everything refuses the block.
    assert!(refused(&start().accept(&forged).unwrap_err()));
    // A follower running their contract accepts it, and says their commands were refused:
    // whoever runs one stops there, not whoever follows the block.
    let accepted = start()
        .accept_for(&forged, |_| BTreeSet::from([theirs]))
        .unwrap();
    let verdict = accepted.checked.verdict(&theirs).unwrap().unwrap_err();
    assert!(refused(&verdict), "{verdict:?}");
    assert!(!accepted.checked.covers(&ours));

    // Running only ours, the follower accepts it, with the ids of what it checked (the
    // others are hashed when asked for), and says theirs went unchecked.
    let mut f = start();
    let accepted = f.accept_for(&forged, |_| BTreeSet::from([ours])).unwrap();
    assert_eq!(f.last().height, 2);
    assert_eq!(accepted.hash, forged.hash());
    for (i, signed) in forged.txs.iter().enumerate() {
        let to_theirs =
            matches!(signed.tx.kind, TxKind::Command { contract, .. } if contract == theirs);
        assert_eq!(accepted.ids.is_hashed(i), !to_theirs, "{i}");
        assert_eq!(accepted.ids.get(&forged.txs, i), ids[i]);
        assert!(accepted.ids.is_hashed(i), "kept once hashed");
    }
    assert!(accepted.checked.covers(&ours));
    assert!(!accepted.checked.covers(&theirs));
    assert_eq!(accepted.checked.verdict(&ours), Some(Ok(())));
    // Whoever runs theirs after all refuses the same transaction.
    let indexes = command_indexes(&forged.txs);
    let err = check_commands(2, &forged.txs, &accepted.ids, &indexes[&theirs]).unwrap_err();
    assert!(refused(&err), "{err:?}");
    check_commands(2, &forged.txs, &accepted.ids, &indexes[&ours]).unwrap();
    let mut checked = accepted.checked;
    checked.record(theirs, Err(err));
    assert!(refused(&checked.verdict(&theirs).unwrap().unwrap_err()));
    assert_eq!(CheckedCommands::every().verdict(&theirs), Some(Ok(())));
    assert!(!CheckedCommands::default().covers(&ours));

    // A contract's commands are where its commands lie in the block.
    let theirs_at: Vec<u32> = (0..200).filter(|n| n % 3 == 1).collect();
    assert_eq!(command_indexes(&honest)[&theirs], theirs_at);

    // A made-up transfer is refused whichever commands the follower runs.
    let mut txs = honest.clone();
    txs[53].signature = txs[52].signature;
    let transfer_forged = certified(&k, &b1.header, txs);
    let err = start()
        .accept_for(&transfer_forged, |_| BTreeSet::new())
        .unwrap_err();
    assert!(
        matches!(err, FollowError::Transaction { index: 53, .. }),
        "{err:?}"
    );

    // Checking everything, the first refused in block order is named, whatever its group.
    let mut txs = forged.txs.clone();
    txs[53].signature = txs[52].signature;
    let both = certified(&k, &b1.header, txs);
    let err = start().accept(&both).unwrap_err();
    assert!(
        matches!(err, FollowError::Transaction { index: 53, .. }),
        "{err:?}"
    );

    // The honest block passes either way.
    let honest = certified(&k, &b1.header, honest);
    assert!(start().accept_for(&honest, |_| BTreeSet::new()).is_ok());
    assert_eq!(start().accept(&honest).unwrap(), honest.hash());
}

/// A signature with a small-order component (only its signer can make one; validators, who
/// check strictly, never admit one) gets the followers' one answer wherever it lies: a block
/// holding such commands is accepted by every follower, checking everything or one contract,
/// and when a made-up command later in the same batch gets the batch refused, the made-up one
/// is named, by every follower and by whoever checks the contract's commands later. (With the
/// strict check as the fallback, as before, the first of them was named instead.)
#[test]
fn a_signature_with_torsion_gets_one_answer_from_every_follower() {
    use fat_crypto::testing::{Torsion, sign_with_torsion};
    let k = keys(4);
    let genesis = genesis();
    let b1 = child(&k, &genesis, "alice", 0);
    let ours = ContractId([1; 32]);
    let command = |nonce: u64, torsion| {
        let tx = Transaction {
            chain: CHAIN,
            signer: AccountId([0; 32]),
            nonce,
            fee: 1,
            kind: TxKind::Command {
                contract: ours,
                payload: Bytes(vec![nonce as u8; 40]),
                gas_limit: 1_000,
            },
        };
        sign_with_torsion(tx, "mallory", torsion)
    };
    let mut txs: Vec<_> = (0..20).map(|n| command(n, Torsion::None)).collect();
    txs[5] = command(5, Torsion::Commitment);
    txs[9] = command(9, Torsion::Commitment);
    assert!(fat_crypto::verify_tx(&txs[5]).is_err());
    let start = || {
        let mut f = BlockVerifier::new(CHAIN, genesis.clone(), set(&k));
        f.accept(&b1).unwrap();
        f
    };
    let block = certified(&k, &b1.header, txs.clone());
    let ids = TxIds::of(&block.txs);
    assert_eq!(start().accept(&block).unwrap(), block.hash());
    let accepted = start()
        .accept_for(&block, |_| BTreeSet::from([ours]))
        .unwrap();
    assert_eq!(accepted.checked.verdict(&ours), Some(Ok(())));
    check_commands(2, &block.txs, &ids, &command_indexes(&block.txs)[&ours]).unwrap();

    // Command 12 carries the signature of command 11.
    txs[12].signature = txs[11].signature;
    let block = certified(&k, &b1.header, txs);
    let ids = TxIds::of(&block.txs);
    let named = |e: &FollowError| {
        matches!(
            e,
            FollowError::Transaction {
                height: 2,
                index: 12,
                rejection: TxRejection::BadSignature,
                ..
            }
        )
    };
    let err = start().accept(&block).unwrap_err();
    assert!(named(&err), "{err:?}");
    let accepted = start()
        .accept_for(&block, |_| BTreeSet::from([ours]))
        .unwrap();
    let verdict = accepted.checked.verdict(&ours).unwrap().unwrap_err();
    assert!(named(&verdict), "{verdict:?}");
    let err = check_commands(2, &block.txs, &ids, &command_indexes(&block.txs)[&ours]).unwrap_err();
    assert!(named(&err), "{err:?}");
}

/// A follower batches the signatures it checks whatever their contracts (each signature's
/// answer is its own), so a batch it refuses may hold the commands of several contracts:
/// the refusal still stops only the contract of the made-up command. Here 120 commands to 60
/// contracts, two each, all wanted; the made-up command, to contract 7, shares its batch with
/// dozens of other contracts' commands.
#[test]
fn a_made_up_command_stops_only_its_contract_whatever_shares_its_batch() {
    let k = keys(4);
    let genesis = genesis();
    let b1 = child(&k, &genesis, "alice", 0);
    let alice = dev_keypair("alice");
    let contract = |n: u64| ContractId([(n % 60) as u8; 32]);
    let mut txs: Vec<_> = (0..120u64)
        .map(|nonce| {
            alice.sign_tx(Transaction {
                chain: CHAIN,
                signer: alice.account_id(),
                nonce,
                fee: 1,
                kind: TxKind::Command {
                    contract: contract(nonce),
                    payload: Bytes(vec![nonce as u8; 40]),
                    gas_limit: 1_000,
                },
            })
        })
        .collect();
    // Contract 7's second command (at 67) carries the signature of the one before it.
    txs[67].signature = txs[66].signature;
    let block = certified(&k, &b1.header, txs);
    let mut f = BlockVerifier::new(CHAIN, genesis, set(&k));
    f.accept(&b1).unwrap();
    let accepted = f.accept_for(&block, BTreeSet::clone).unwrap();
    for n in 0..60 {
        let verdict = accepted.checked.verdict(&contract(n)).unwrap();
        if n == 7 {
            assert!(
                matches!(verdict, Err(FollowError::Transaction { index: 67, .. })),
                "{verdict:?}"
            );
        } else {
            assert_eq!(verdict, Ok(()), "contract {n}");
        }
    }
}
