//! Property tests of the envelope decoders: [`Envelope::from_bytes`] (a query's body, a job's,
//! a command's payload) and [`SessionMessage::from_bytes`] (a session's further queries).
//!
//! The decoders keep the properties of every canonical decoder ([`Codec`]); beyond decoding,
//! whatever decodes never panics the opener, and a sealed envelope or session message with
//! any one byte changed is refused, by the decoder or by the opener.

use fat_crypto::envelope::{self, EnvelopeHeader, SealRandomness};
use fat_crypto::{
    Direction, EcdhPublic, EcdhSecret, Envelope, EnvelopeError, ReplayGuard, SessionMessage,
    dev_keypair,
};
use fat_types::strategies::{self, Codec};
use fat_types::{AccountId, ContractId};
use proptest::collection::vec;
use proptest::prelude::*;

const NOW: u64 = 1_750_000_000_000;
const CONTRACT: ContractId = ContractId([5; 32]);

const ENVELOPE: Codec<Envelope, EnvelopeError> = Codec {
    what: "envelope",
    decode: Envelope::from_bytes,
    encode: Envelope::to_bytes,
};

const SESSION_MESSAGE: Codec<SessionMessage, EnvelopeError> = Codec {
    what: "session message",
    decode: SessionMessage::from_bytes,
    encode: SessionMessage::to_bytes,
};

fn worker() -> EcdhSecret {
    EcdhSecret::from_bytes([0x42; 32])
}

fn guard() -> ReplayGuard {
    ReplayGuard::new(60_000, 1024)
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::Request),
        Just(Direction::Response),
        Just(Direction::Command),
        Just(Direction::InitArgs),
        Just(Direction::ClusterKey),
        Just(Direction::Job),
        Just(Direction::Snapshot),
    ]
}

fn header() -> impl Strategy<Value = EnvelopeHeader> {
    (
        strategies::bytes32(),
        direction(),
        strategies::bytes32(),
        strategies::bytes32(),
        strategies::bytes32(),
        any::<[u8; 24]>(),
        any::<u64>(),
    )
        .prop_map(
            |(contract, direction, sender, recipient, ephemeral, nonce, timestamp_ms)| {
                EnvelopeHeader {
                    contract: ContractId(contract),
                    direction,
                    sender: AccountId(sender),
                    recipient: EcdhPublic(recipient),
                    ephemeral: EcdhPublic(ephemeral),
                    nonce,
                    timestamp_ms,
                }
            },
        )
}

fn any_envelope() -> impl Strategy<Value = Envelope> {
    (header(), strategies::bytes(), strategies::signature()).prop_map(
        |(header, ciphertext, signature)| Envelope {
            header,
            ciphertext,
            signature,
        },
    )
}

fn any_session_message() -> impl Strategy<Value = SessionMessage> {
    (header(), strategies::bytes())
        .prop_map(|(header, ciphertext)| SessionMessage { header, ciphertext })
}

/// A request alice seals to the worker, and its session.
fn sealed(plaintext: &[u8], seed: [u8; 32]) -> (Envelope, envelope::Session) {
    envelope::seal(
        &dev_keypair("alice"),
        &worker().public(),
        CONTRACT,
        Direction::Request,
        plaintext,
        NOW,
        SealRandomness {
            ephemeral: seed,
            nonce: [seed[0]; 24],
        },
    )
    .unwrap()
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn envelopes(
        bytes in any_bytes(),
        envelope in any_envelope(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        ENVELOPE.arbitrary(&bytes)?;
        ENVELOPE.round_trip(&envelope)?;
        ENVELOPE.tampered(&envelope, at, flip, extra)?;
    }

    #[test]
    fn session_messages(
        bytes in any_bytes(),
        message in any_session_message(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        SESSION_MESSAGE.arbitrary(&bytes)?;
        SESSION_MESSAGE.round_trip(&message)?;
        SESSION_MESSAGE.tampered(&message, at, flip, extra)?;
    }

    /// Whatever decodes, the opener refuses without panicking: nobody but alice can make an
    /// envelope that opens, and these are not hers.
    #[test]
    fn arbitrary_envelopes_are_refused_by_the_opener(
        envelope in any_envelope(),
        message in any_session_message(),
        seed in any::<[u8; 32]>(),
    ) {
        let direction = envelope.header.direction;
        prop_assert!(
            envelope::open(&envelope, &worker(), &CONTRACT, direction, &mut guard(), NOW).is_err()
        );
        prop_assert!(envelope::open_carried(
            &envelope, &worker(), &CONTRACT, direction, &mut guard(), NOW
        ).is_err());
        let (_, session) = sealed(b"{}", seed);
        let alice = dev_keypair("alice").account_id();
        prop_assert!(session
            .open_message(&message, &alice, message.header.direction, &mut guard(), NOW)
            .is_err());
    }

    /// A sealed envelope opens to its plaintext; with any one byte changed it never does.
    #[test]
    fn changed_envelopes_are_refused(
        plaintext in vec(any::<u8>(), 0..64),
        seed in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let (envelope, _) = sealed(&plaintext, seed);
        let mut bytes = envelope.to_bytes();
        let opened = envelope::open(
            &Envelope::from_bytes(&bytes).unwrap(),
            &worker(),
            &CONTRACT,
            Direction::Request,
            &mut guard(),
            NOW,
        );
        prop_assert_eq!(opened.unwrap().plaintext, plaintext);
        let at = at.index(bytes.len());
        bytes[at] ^= flip;
        if let Ok(changed) = Envelope::from_bytes(&bytes) {
            let opened =
                envelope::open(&changed, &worker(), &CONTRACT, Direction::Request, &mut guard(), NOW);
            prop_assert!(opened.is_err(), "byte {} changed, and the envelope opened", at);
        }
    }

    /// A session message opens to its plaintext; with any one byte changed it never does.
    #[test]
    fn changed_session_messages_are_refused(
        plaintext in vec(any::<u8>(), 0..64),
        seed in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let (_, session) = sealed(b"{}", seed);
        let alice = dev_keypair("alice").account_id();
        let message =
            session.seal_message_with_nonce(alice, Direction::Request, &plaintext, NOW, nonce);
        let mut bytes = message.to_bytes();
        let open = |message: &SessionMessage| {
            session.open_message(message, &alice, Direction::Request, &mut guard(), NOW)
        };
        prop_assert_eq!(open(&SessionMessage::from_bytes(&bytes).unwrap()).unwrap(), plaintext);
        let at = at.index(bytes.len());
        bytes[at] ^= flip;
        if let Ok(changed) = SessionMessage::from_bytes(&bytes) {
            prop_assert!(open(&changed).is_err(), "byte {} changed, and the message opened", at);
        }
    }
}
