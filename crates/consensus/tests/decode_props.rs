//! Property tests of what validators and followers take from peers: certificates (decoded
//! with a block, checked against the validator set), blocks a follower accepts, and (with
//! the `simplex` feature) the messages of the validators' own channel ([`Wire::decode`]).
//!
//! Arbitrary certificates and blocks never panic the checks and are never accepted; a valid
//! certificate with any one byte of its encoding changed is refused.

use fat_consensus::{BlockVerifier, ValidatorSet, sign_finalize, simplex_finalize_message};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::block::tx_root;
use fat_types::encoding::{decode, encode};
use fat_types::strategies;
use fat_types::{Block, BlockHeader, Certificate, Hash32, Signature};
use proptest::collection::vec;
use proptest::prelude::*;

fn keys() -> Vec<Keypair> {
    (0..4)
        .map(|i| dev_keypair(&format!("validator-{i}")))
        .collect()
}

fn set(keys: &[Keypair]) -> ValidatorSet {
    ValidatorSet::new(keys.iter().map(Keypair::account_id).collect()).unwrap()
}

/// A valid certificate of `hash` by the validators at `signers` (three of four: a quorum),
/// of either scheme.
fn certified(
    keys: &[Keypair],
    signers: &[u32],
    round: u64,
    simplex: bool,
    hash: &Hash32,
) -> Certificate {
    if simplex {
        let message = simplex_finalize_message(round, round / 2, hash);
        Certificate::Simplex {
            view: round,
            parent_view: round / 2,
            signatures: signers
                .iter()
                .map(|i| (*i, keys[*i as usize].sign(&message)))
                .collect(),
            descendants: Vec::new(),
        }
    } else {
        Certificate::Ed25519 {
            round,
            signatures: signers
                .iter()
                .map(|i| (*i, sign_finalize(&keys[*i as usize], round, hash)))
                .collect(),
        }
    }
}

/// Signer indices in 0..5 (the set has four validators), padded to a quorum's length.
fn near_range(mut signatures: Vec<(u32, Signature)>) -> Vec<(u32, Signature)> {
    for (i, (index, _)) in signatures.iter_mut().enumerate() {
        *index = (*index).wrapping_add(i as u32) % 5;
    }
    while signatures.len() < 3 {
        let next = signatures.len() as u32;
        signatures.push((next, Signature([next as u8; 64])));
    }
    signatures
}

/// Three distinct signers of four, in any order.
fn quorum() -> impl Strategy<Value = Vec<u32>> {
    Just(vec![0u32, 1, 2, 3]).prop_shuffle().prop_map(|mut v| {
        v.truncate(3);
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No certificate made without the validators' keys certifies anything, and checking one
    /// never panics (signer indices out of range, repeated, too few signatures, any
    /// descendants).
    #[test]
    fn arbitrary_certificates_certify_nothing(
        certificate in strategies::certificate(),
        hash in strategies::hash(),
    ) {
        let set = set(&keys());
        prop_assert!(set.verify(&hash, &certificate).is_err());
        // The same with signer indices mostly in range, so that the signatures are reached.
        let near = match certificate {
            Certificate::Ed25519 { round, signatures } => Certificate::Ed25519 {
                round,
                signatures: near_range(signatures),
            },
            Certificate::Simplex { view, parent_view, signatures, descendants } => {
                Certificate::Simplex {
                    view,
                    parent_view,
                    signatures: near_range(signatures),
                    descendants,
                }
            }
            Certificate::Genesis => Certificate::Genesis,
        };
        prop_assert!(set.verify(&hash, &near).is_err());
    }

    /// A valid certificate with one byte of its encoding changed no longer decodes, or no
    /// longer certifies the block.
    #[test]
    fn changed_certificates_are_refused(
        signers in quorum(),
        round in 1u64..1_000_000,
        simplex in any::<bool>(),
        hash in strategies::hash(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let keys = keys();
        let set = set(&keys);
        let certificate = certified(&keys, &signers, round, simplex, &hash);
        prop_assert!(set.verify(&hash, &certificate).is_ok());
        let mut bytes = encode(&certificate);
        let at = at.index(bytes.len());
        bytes[at] ^= flip;
        if let Ok(changed) = decode::<Certificate>("certificate", &bytes) {
            prop_assert!(
                set.verify(&hash, &changed).is_err(),
                "byte {} changed, and {:?} still certifies", at, changed
            );
        }
    }

    /// A follower refuses a block that links to its last header but carries an arbitrary
    /// certificate or arbitrary transactions, and never panics checking it.
    #[test]
    fn followers_refuse_uncertified_blocks(
        trusted in strategies::header(),
        certificate in strategies::certificate(),
        txs in vec(strategies::signed_transaction(), 0..3),
        rest in strategies::header(),
        chain in strategies::hash(),
    ) {
        let mut verifier = BlockVerifier::new(chain, trusted.clone(), set(&keys()));
        let block = Block {
            header: BlockHeader {
                height: trusted.height.wrapping_add(1),
                parent: trusted.hash(),
                timestamp_ms: trusted.timestamp_ms.max(rest.timestamp_ms),
                tx_root: tx_root(&txs),
                ..rest
            },
            certificate,
            txs,
        };
        prop_assert!(verifier.accept(&block).is_err());
        prop_assert_eq!(verifier.last(), &trusted);
    }
}

#[cfg(feature = "simplex")]
mod wire {
    use fat_consensus::Proposal;
    use fat_consensus::simplex::Wire;
    use fat_types::DecodeError;
    use fat_types::strategies::{self, Codec};
    use proptest::collection::vec;
    use proptest::prelude::*;

    const WIRE: Codec<Wire, DecodeError> = Codec {
        what: "consensus message",
        decode: Wire::decode,
        encode: Wire::encode,
    };

    fn message() -> impl Strategy<Value = Wire> {
        prop_oneof![
            (
                strategies::header(),
                vec(strategies::signed_transaction(), 0..3)
            )
                .prop_map(|(header, txs)| Wire::Proposal(Proposal { header, txs })),
            strategies::hash().prop_map(Wire::Want),
            any::<u64>().prop_map(Wire::Tip),
            any::<u64>().prop_map(Wire::WantFinal),
            strategies::block().prop_map(Wire::Final),
            vec(vec(any::<u8>(), 0..32), 0..4).prop_map(Wire::Txs),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn wire_messages(
            bytes in vec(any::<u8>(), 0..512),
            message in message(),
            at in any::<prop::sample::Index>(),
            flip in any::<u8>(),
            extra in any::<u8>(),
        ) {
            WIRE.arbitrary(&bytes)?;
            // Past the version byte, so that arbitrary bytes reach the messages themselves.
            let mut versioned = vec![1];
            versioned.extend_from_slice(&bytes);
            WIRE.arbitrary(&versioned)?;
            WIRE.round_trip(&message)?;
            WIRE.tampered(&message, at, flip, extra)?;
        }
    }
}
