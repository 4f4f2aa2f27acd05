//! The node as the application a consensus engine drives: it verifies a peer's proposal by
//! every rule it applies to its own, and finalizes only what a quorum certified.

mod common;

use std::sync::Arc;

use common::{TempDir, alice, open};
use fat_chain::{ChainError, InvalidProposal, ManualClock, Node, NodeConfig};
use fat_consensus::{Application, CertificateError, ConsensusError, Proposal, sign_finalize};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::block::tx_root;
use fat_types::{AccountId, Certificate, Hash32, Signature, TxKind, TxRejection};

fn transfer(nonce: u64) -> fat_types::SignedTransaction {
    transfer_on(common::dev_chain(), nonce)
}

fn transfer_on(chain: Hash32, nonce: u64) -> fat_types::SignedTransaction {
    common::sign_for(
        chain,
        &alice(),
        nonce,
        TxKind::Transfer {
            to: AccountId([9; 32]),
            amount: 5,
        },
    )
}

/// A proposal of `node` with one transfer by alice.
fn proposal(node: &Node) -> Proposal {
    node.submit_tx(&transfer_on(node.genesis_hash(), 0))
        .unwrap();
    node.propose(&node.tip()).unwrap().unwrap()
}

/// The rule a refused proposal breaks.
fn reason(result: Result<(), ChainError>) -> InvalidProposal {
    match result {
        Err(ChainError::Proposal { reason, .. }) => reason,
        other => panic!("expected an invalid proposal, got {other:?}"),
    }
}

#[test]
fn a_peer_verifies_and_finalizes_the_proposal_it_would_have_built() {
    let (dir_a, dir_b) = (TempDir::new("proposer"), TempDir::new("peer"));
    let (a, b) = (open(&dir_a), open(&dir_b));
    let proposal = proposal(&a);
    a.verify(&proposal).unwrap();
    // A peer that never saw the transactions executes them and reaches the same roots.
    b.verify(&proposal).unwrap();
    let hash = proposal.hash();
    let key = dev_keypair(fat_chain::genesis::DEV_SEQUENCER);
    let certificate = Certificate::Ed25519 {
        round: 1,
        signatures: vec![(0, sign_finalize(&key, 1, &hash))],
    };
    let header_a = a.finalize(proposal.clone(), certificate.clone()).unwrap();
    let header_b = b.finalize(proposal, certificate).unwrap();
    assert_eq!(header_a, header_b);
    assert_eq!(a.tip(), b.tip());
    assert_eq!(
        a.store().block(1).unwrap().unwrap(),
        b.store().block(1).unwrap().unwrap()
    );
}

#[test]
fn verify_refuses_a_tampered_proposal_with_its_reason() {
    let (dir_a, dir_b) = (TempDir::new("honest"), TempDir::new("checker"));
    let (a, b) = (open(&dir_a), open(&dir_b));
    let honest = proposal(&a);

    let mut forged = honest.clone();
    forged.header.state_root = Hash32([1; 32]);
    assert!(matches!(
        reason(b.verify(&forged)),
        InvalidProposal::StateRootMismatch { expected, got }
            if expected == honest.header.state_root && got == Hash32([1; 32])
    ));

    let mut forged = honest.clone();
    forged.header.receipts_root = Hash32([2; 32]);
    assert!(matches!(
        reason(b.verify(&forged)),
        InvalidProposal::ReceiptsRootMismatch { .. }
    ));

    let mut forged = honest.clone();
    forged.header.tx_root = Hash32([3; 32]);
    assert_eq!(reason(b.verify(&forged)), InvalidProposal::TxRootMismatch);
    // The same header with other transactions, even where the header was executed before.
    let mut swapped = honest.clone();
    swapped.txs = vec![transfer(1)];
    assert_eq!(reason(a.verify(&swapped)), InvalidProposal::TxRootMismatch);

    let mut forged = honest.clone();
    forged.txs[0].signature = Signature([7; 64]);
    forged.header.tx_root = tx_root(&forged.txs);
    assert!(matches!(
        reason(b.verify(&forged)),
        InvalidProposal::Tx {
            index: 0,
            rejection: TxRejection::BadSignature,
            ..
        }
    ));

    // Properly signed, for another chain.
    let mut forged = honest.clone();
    let elsewhere = Hash32([8; 32]);
    forged.txs[0] = common::sign_for(elsewhere, &alice(), 0, forged.txs[0].tx.kind.clone());
    forged.header.tx_root = tx_root(&forged.txs);
    assert!(matches!(
        reason(b.verify(&forged)),
        InvalidProposal::Tx {
            index: 0,
            rejection: TxRejection::WrongChain { got, .. },
            ..
        } if got == elsewhere
    ));

    let parent = b.tip();
    let mut forged = honest.clone();
    forged.header.timestamp_ms = parent.timestamp_ms - 1;
    assert_eq!(
        reason(b.verify(&forged)),
        InvalidProposal::TimeWentBack {
            parent: parent.timestamp_ms,
            got: parent.timestamp_ms - 1
        }
    );

    let mut forged = honest.clone();
    forged.header.height = 2;
    assert!(matches!(
        reason(b.verify(&forged)),
        InvalidProposal::WrongHeight {
            expected: 1,
            got: 2
        }
    ));

    let mut forged = honest.clone();
    forged.header.parent = Hash32([4; 32]);
    assert!(matches!(
        reason(b.verify(&forged)),
        InvalidProposal::BadParent { .. }
    ));

    let mut forged = honest.clone();
    forged.txs = vec![honest.txs[0].clone(), honest.txs[0].clone()];
    forged.header.tx_root = tx_root(&forged.txs);
    assert!(matches!(
        reason(b.verify(&forged)),
        InvalidProposal::Replayed { index: 1, .. }
    ));

    // Nine uploads of nearly 4 MiB each: every one fine, together past a block's bytes.
    let mut forged = honest.clone();
    forged.txs = (0..9)
        .map(|nonce| {
            let code = common::component((4 << 20) - 1024);
            common::sign(&alice(), nonce, TxKind::UploadCode { code })
        })
        .collect();
    forged.header.tx_root = tx_root(&forged.txs);
    assert!(matches!(
        reason(b.verify(&forged)),
        InvalidProposal::TooManyBytes { bytes, max }
            if max == fat_types::genesis::MAX_BLOCK_BYTES && bytes > max
    ));

    // Nothing refused was kept: the honest proposal still verifies and the chain is unchanged.
    assert_eq!(b.tip().height, 0);
    b.verify(&honest).unwrap();
    a.verify(&honest).unwrap();
}

fn validators(n: usize) -> Vec<Keypair> {
    (0..n)
        .map(|i| dev_keypair(&format!("validator-{i}")))
        .collect()
}

fn open_validators(
    dir: &TempDir,
    keys: &[Keypair],
    key: Option<Keypair>,
) -> Result<Node, ChainError> {
    let mut genesis = fat_chain::genesis::dev();
    genesis.validators = keys.iter().map(Keypair::account_id).collect();
    let config = NodeConfig {
        data_dir: dir.0.clone(),
        genesis,
        mempool_limit: 100,
    };
    Node::open(config, key, Arc::new(ManualClock::new(1_767_225_700_000)))
}

#[test]
fn three_of_four_validators_finalize_and_two_do_not() {
    let keys = validators(4);
    let dir = TempDir::new("four");
    let node = open_validators(&dir, &keys, Some(keys[1].clone())).unwrap();
    assert_eq!(node.validators().quorum(), 3);
    let proposal = proposal(&node);
    node.verify(&proposal).unwrap();
    let hash = proposal.hash();
    let certificate = |signers: &[u32]| Certificate::Ed25519 {
        round: 4,
        signatures: signers
            .iter()
            .map(|i| (*i, sign_finalize(&keys[*i as usize], 4, &hash)))
            .collect(),
    };
    let refused = node
        .finalize(proposal.clone(), certificate(&[0, 3]))
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ChainError::Certificate {
                height: 1,
                source: CertificateError::NoQuorum {
                    signed: 2,
                    needed: 3
                }
            }
        ),
        "{refused:?}"
    );
    assert_eq!(node.tip().height, 0);
    let header = node.finalize(proposal, certificate(&[0, 2, 3])).unwrap();
    assert_eq!(node.tip(), header);
    assert_eq!(
        node.store().block(1).unwrap().unwrap().certificate,
        certificate(&[0, 2, 3])
    );
    // One validator of four cannot finalize alone.
    node.submit_tx(&transfer_on(node.genesis_hash(), 1))
        .unwrap();
    assert!(matches!(
        node.produce_block(),
        Err(ChainError::Consensus(ConsensusError::NotSoleValidator {
            validators: 4,
            quorum: 3
        }))
    ));
}

#[test]
fn a_key_outside_the_validator_set_is_refused() {
    let keys = validators(4);
    let dir = TempDir::new("outsider");
    let mallory = dev_keypair("mallory");
    let err = open_validators(&dir, &keys, Some(mallory.clone())).unwrap_err();
    assert!(
        matches!(&err, ChainError::NotValidator { account } if *account == mallory.account_id()),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a validator"), "{err}");
    let err = open_validators(&dir, &[], None).unwrap_err();
    assert!(
        matches!(err, ChainError::Consensus(ConsensusError::NoValidators)),
        "{err:?}"
    );
}
