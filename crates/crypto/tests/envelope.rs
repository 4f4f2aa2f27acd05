//! Envelopes: round trips, and every way an envelope is refused.

use fat_crypto::envelope::{self, Opened, ReplyNonces, SealRandomness, Session};
use fat_crypto::{
    Direction, EcdhSecret, Envelope, EnvelopeError, Keypair, ReplayGuard, dev_keypair,
};
use fat_types::ContractId;

const NOW: u64 = 1_750_000_000_000;
const WINDOW: u64 = 60_000;
const CONTRACT: ContractId = ContractId([5; 32]);
const PLAINTEXT: &[u8] = b"{\"method\":\"balance\",\"secret\":\"hunter2-hunter2\"}";

fn randomness(seed: u8) -> SealRandomness {
    SealRandomness {
        ephemeral: [seed; 32],
        nonce: [seed.wrapping_add(1); 24],
    }
}

fn worker() -> EcdhSecret {
    EcdhSecret::from_bytes([0x42; 32])
}

fn guard() -> ReplayGuard {
    ReplayGuard::new(WINDOW, 1024)
}

fn sealed(direction: Direction, seed: u8) -> (Envelope, Session) {
    envelope::seal(
        &dev_keypair("alice"),
        &worker().public(),
        CONTRACT,
        direction,
        PLAINTEXT,
        NOW,
        randomness(seed),
    )
    .unwrap()
}

/// A request sealed from `seed`, the requester's session and the worker's (opened from it).
fn session_at_both_ends(seed: u8) -> (Envelope, Session, Session) {
    let (first, client) = sealed(Direction::Request, seed);
    let server = open(&first, Direction::Request, &mut guard())
        .unwrap()
        .session;
    (first, client, server)
}

fn open(
    env: &Envelope,
    direction: Direction,
    guard: &mut ReplayGuard,
) -> Result<Opened, EnvelopeError> {
    envelope::open(env, &worker(), &CONTRACT, direction, guard, NOW)
}

/// Re-sign a modified envelope as its sender would: the signature passes, the AEAD decides.
fn resign(mut env: Envelope, sender: &Keypair) -> Envelope {
    env.header.sender = sender.account_id();
    let hash = Envelope::signing_hash(&env.header, &env.ciphertext);
    env.signature = sender.sign(hash.as_bytes());
    env
}

#[test]
fn request_and_response_round_trip() {
    let (request, session) = sealed(Direction::Request, 1);
    let bytes = request.to_bytes();
    let decoded = Envelope::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, request);

    let mut worker_guard = guard();
    let opened = open(&decoded, Direction::Request, &mut worker_guard).unwrap();
    assert_eq!(opened.plaintext, PLAINTEXT);
    assert_eq!(opened.sender, dev_keypair("alice").account_id());
    assert_eq!(opened.timestamp_ms, NOW);

    let worker_identity = Keypair::from_seed([9; 32]);
    let response =
        opened
            .session
            .seal_response_with_nonce(&worker_identity, b"42", NOW + 5, [3; 24]);
    let response = Envelope::from_bytes(&response.to_bytes()).unwrap();
    let mut client_guard = guard();
    let answer = session
        .open_response(
            &response,
            &worker_identity.account_id(),
            &mut client_guard,
            NOW + 10,
        )
        .unwrap();
    assert_eq!(answer, b"42");
}

#[test]
fn every_direction_round_trips_under_its_own_key() {
    for (i, direction) in [Direction::Request, Direction::Command, Direction::InitArgs]
        .into_iter()
        .enumerate()
    {
        let (env, _) = sealed(direction, i as u8);
        assert_eq!(
            open(&env, direction, &mut guard()).unwrap().plaintext,
            PLAINTEXT
        );
    }
    // Same ephemeral and nonce, another direction: another ciphertext (another key).
    let (a, _) = sealed(Direction::Request, 1);
    let (b, _) = sealed(Direction::Command, 1);
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[test]
fn the_plaintext_never_appears_in_the_encoding() {
    let (env, _) = sealed(Direction::Request, 1);
    let bytes = env.to_bytes();
    for window in PLAINTEXT.windows(8) {
        assert!(!bytes.windows(8).any(|w| w == window), "plaintext leaked");
    }
}

#[test]
fn tampered_ciphertext_is_refused() {
    let (mut env, _) = sealed(Direction::Request, 1);
    env.ciphertext.0[3] ^= 1;
    let err = open(&env, Direction::Request, &mut guard()).unwrap_err();
    assert_eq!(
        err,
        EnvelopeError::BadSignature(dev_keypair("alice").account_id())
    );
    // Even re-signed (by the sender itself), the AEAD refuses it.
    let env = resign(env, &dev_keypair("alice"));
    assert_eq!(
        open(&env, Direction::Request, &mut guard()).unwrap_err(),
        EnvelopeError::Decrypt
    );
}

#[test]
fn tampered_associated_data_is_refused() {
    let (env, _) = sealed(Direction::Request, 1);
    let mut later = env.clone();
    later.header.timestamp_ms += 1;
    assert!(matches!(
        open(&later, Direction::Request, &mut guard()).unwrap_err(),
        EnvelopeError::BadSignature(_)
    ));
    // Re-signed: the header is the AEAD's associated data, so it still fails.
    let later = resign(later, &dev_keypair("alice"));
    assert_eq!(
        open(&later, Direction::Request, &mut guard()).unwrap_err(),
        EnvelopeError::Decrypt
    );
    // Claimed by another sender (who signs it): the sender is bound in the AD too.
    let stolen = resign(env, &dev_keypair("bob"));
    assert_eq!(
        open(&stolen, Direction::Request, &mut guard()).unwrap_err(),
        EnvelopeError::Decrypt
    );
}

#[test]
fn tampered_signature_is_refused() {
    let (mut env, _) = sealed(Direction::Request, 1);
    env.signature.0[10] ^= 1;
    assert!(matches!(
        open(&env, Direction::Request, &mut guard()).unwrap_err(),
        EnvelopeError::BadSignature(_)
    ));
}

#[test]
fn wrong_recipient_is_refused() {
    let (env, _) = sealed(Direction::Request, 1);
    let other = EcdhSecret::from_bytes([0x43; 32]);
    let err = envelope::open(
        &env,
        &other,
        &CONTRACT,
        Direction::Request,
        &mut guard(),
        NOW,
    );
    assert_eq!(err.unwrap_err(), EnvelopeError::WrongRecipient);
    // Readdressed to the other key and re-signed: the ECDH differs, the AEAD refuses.
    let mut readdressed = env;
    readdressed.header.recipient = other.public();
    let readdressed = resign(readdressed, &dev_keypair("alice"));
    let err = envelope::open(
        &readdressed,
        &other,
        &CONTRACT,
        Direction::Request,
        &mut guard(),
        NOW,
    );
    assert_eq!(err.unwrap_err(), EnvelopeError::Decrypt);
}

#[test]
fn wrong_contract_is_refused() {
    let (env, _) = sealed(Direction::Command, 1);
    let other = ContractId([6; 32]);
    let err = envelope::open(
        &env,
        &worker(),
        &other,
        Direction::Command,
        &mut guard(),
        NOW,
    );
    assert_eq!(
        err.unwrap_err(),
        EnvelopeError::WrongContract {
            expected: other,
            found: CONTRACT
        }
    );
    let mut moved = env;
    moved.header.contract = other;
    let moved = resign(moved, &dev_keypair("alice"));
    let err = envelope::open(
        &moved,
        &worker(),
        &other,
        Direction::Command,
        &mut guard(),
        NOW,
    );
    assert_eq!(err.unwrap_err(), EnvelopeError::Decrypt);
}

#[test]
fn wrong_direction_is_refused() {
    let (env, _) = sealed(Direction::Command, 1);
    assert_eq!(
        open(&env, Direction::InitArgs, &mut guard()).unwrap_err(),
        EnvelopeError::WrongDirection {
            expected: Direction::InitArgs,
            found: Direction::Command
        }
    );
    let mut turned = env;
    turned.header.direction = Direction::InitArgs;
    let turned = resign(turned, &dev_keypair("alice"));
    assert_eq!(
        open(&turned, Direction::InitArgs, &mut guard()).unwrap_err(),
        EnvelopeError::Decrypt
    );
}

#[test]
fn a_request_cannot_pass_as_its_response() {
    let (request, session) = sealed(Direction::Request, 1);
    let alice = dev_keypair("alice").account_id();
    let err = session
        .open_response(&request, &alice, &mut guard(), NOW)
        .unwrap_err();
    assert_eq!(
        err,
        EnvelopeError::WrongDirection {
            expected: Direction::Response,
            found: Direction::Request
        }
    );
}

#[test]
fn responses_are_bound_to_worker_and_session() {
    let (request, session) = sealed(Direction::Request, 1);
    let opened = open(&request, Direction::Request, &mut guard()).unwrap();
    let worker_identity = Keypair::from_seed([9; 32]);
    let response = opened
        .session
        .seal_response_with_nonce(&worker_identity, b"42", NOW, [3; 24]);
    let impostor = Keypair::from_seed([10; 32]).account_id();
    assert!(matches!(
        session
            .open_response(&response, &impostor, &mut guard(), NOW)
            .unwrap_err(),
        EnvelopeError::WrongSender { .. }
    ));
    let (_, other_session) = sealed(Direction::Request, 2);
    assert_eq!(
        other_session
            .open_response(&response, &worker_identity.account_id(), &mut guard(), NOW)
            .unwrap_err(),
        EnvelopeError::WrongSession
    );
}

#[test]
fn low_order_keys_are_refused() {
    let zero = fat_crypto::EcdhPublic([0; 32]);
    let err = envelope::seal(
        &dev_keypair("alice"),
        &zero,
        CONTRACT,
        Direction::Request,
        PLAINTEXT,
        NOW,
        randomness(1),
    );
    assert_eq!(err.unwrap_err(), EnvelopeError::WeakKey);
}

#[test]
fn garbage_does_not_decode() {
    let (env, _) = sealed(Direction::Request, 1);
    let mut bytes = env.to_bytes();
    bytes.push(0);
    assert!(matches!(
        Envelope::from_bytes(&bytes),
        Err(EnvelopeError::Decode(_))
    ));
    assert!(matches!(
        Envelope::from_bytes(&[1, 2, 3]),
        Err(EnvelopeError::Decode(_))
    ));
}

#[test]
fn os_randomness_round_trips() {
    let worker = EcdhSecret::generate().unwrap();
    let fresh = SealRandomness::generate().unwrap();
    let (env, session) = envelope::seal(
        &dev_keypair("bob"),
        &worker.public(),
        CONTRACT,
        Direction::Request,
        PLAINTEXT,
        NOW,
        fresh,
    )
    .unwrap();
    let opened = envelope::open(
        &env,
        &worker,
        &CONTRACT,
        Direction::Request,
        &mut guard(),
        NOW,
    );
    let session_at_worker = opened.unwrap().session;
    let identity = Keypair::from_seed([9; 32]);
    let a = session_at_worker
        .seal_response(&identity, b"1", NOW)
        .unwrap();
    let b = session_at_worker
        .seal_response(&identity, b"1", NOW)
        .unwrap();
    assert_ne!(a.header.nonce, b.header.nonce);
    let mut client_guard = guard();
    for response in [a, b] {
        let answer =
            session.open_response(&response, &identity.account_id(), &mut client_guard, NOW);
        assert_eq!(answer.unwrap(), b"1");
    }
}

#[test]
fn session_messages_carry_further_requests_and_responses() {
    let alice = dev_keypair("alice").account_id();
    let (first, client) = sealed(Direction::Request, 7);
    let mut worker_guard = guard();
    let opened = open(&first, Direction::Request, &mut worker_guard).unwrap();
    let server = opened.session;
    assert_eq!(server.ephemeral(), client.ephemeral());

    // A further request under the session: opened by the worker's copy of the session.
    let request = client
        .seal_message(alice, Direction::Request, b"second query", NOW)
        .unwrap();
    let bytes = request.to_bytes();
    assert!(!bytes.windows(12).any(|w| w == b"second query"));
    let request = fat_crypto::SessionMessage::from_bytes(&bytes).unwrap();
    assert_eq!(
        server
            .open_message(&request, &alice, Direction::Request, &mut worker_guard, NOW)
            .unwrap(),
        b"second query"
    );
    // Replayed, it is refused.
    assert!(matches!(
        server.open_message(&request, &alice, Direction::Request, &mut worker_guard, NOW),
        Err(EnvelopeError::Replayed)
    ));
    // The response goes back under the response key; a request key cannot open it.
    let response = server
        .seal_message(alice, Direction::Response, b"answer", NOW)
        .unwrap();
    let mut client_guard = guard();
    assert_eq!(
        client
            .open_message(
                &response,
                &alice,
                Direction::Response,
                &mut client_guard,
                NOW
            )
            .unwrap(),
        b"answer"
    );
    assert!(matches!(
        server.open_message(&response, &alice, Direction::Request, &mut guard(), NOW),
        Err(EnvelopeError::WrongDirection { .. })
    ));

    // Changed bytes, another requester named, a stale time, another session: all refused.
    let mut tampered = client
        .seal_message(alice, Direction::Request, b"third", NOW)
        .unwrap();
    tampered.ciphertext.0[0] ^= 1;
    assert!(matches!(
        server.open_message(&tampered, &alice, Direction::Request, &mut guard(), NOW),
        Err(EnvelopeError::Decrypt)
    ));
    let bob = dev_keypair("bob").account_id();
    let mut renamed = client
        .seal_message(alice, Direction::Request, b"fourth", NOW)
        .unwrap();
    renamed.header.sender = bob;
    assert!(matches!(
        server.open_message(&renamed, &bob, Direction::Request, &mut guard(), NOW),
        Err(EnvelopeError::Decrypt)
    ));
    assert!(matches!(
        server.open_message(&renamed, &alice, Direction::Request, &mut guard(), NOW),
        Err(EnvelopeError::WrongSender { .. })
    ));
    let stale = client
        .seal_message(alice, Direction::Request, b"fifth", NOW - 2 * WINDOW)
        .unwrap();
    assert!(matches!(
        server.open_message(&stale, &alice, Direction::Request, &mut guard(), NOW),
        Err(EnvelopeError::Expired { .. })
    ));
    let (_, other) = sealed(Direction::Request, 9);
    let foreign = other
        .seal_message(alice, Direction::Request, b"sixth", NOW)
        .unwrap();
    assert!(matches!(
        server.open_message(&foreign, &alice, Direction::Request, &mut guard(), NOW),
        Err(EnvelopeError::WrongSession)
    ));
}

#[test]
fn carried_envelopes_skip_only_the_signature() {
    let (mut env, _) = sealed(Direction::Command, 11);
    env.signature = fat_types::Signature([0; 64]);
    assert!(matches!(
        open(&env, Direction::Command, &mut guard()),
        Err(EnvelopeError::BadSignature(_))
    ));
    let opened = envelope::open_carried(
        &env,
        &worker(),
        &CONTRACT,
        Direction::Command,
        &mut guard(),
        NOW,
    )
    .unwrap();
    assert_eq!(opened.plaintext, PLAINTEXT);
    // Everything else is still checked.
    env.ciphertext.0[0] ^= 1;
    assert!(matches!(
        envelope::open_carried(
            &env,
            &worker(),
            &CONTRACT,
            Direction::Command,
            &mut guard(),
            NOW
        ),
        Err(EnvelopeError::Decrypt)
    ));
    assert!(matches!(
        envelope::open_carried(
            &env,
            &worker(),
            &CONTRACT,
            Direction::Request,
            &mut guard(),
            NOW
        ),
        Err(EnvelopeError::WrongDirection { .. })
    ));
}

#[test]
fn a_session_reply_answers_its_request_only() {
    let alice = dev_keypair("alice").account_id();
    let (_, client, server) = session_at_both_ends(13);
    let one = client
        .seal_message(alice, Direction::Request, b"one", NOW)
        .unwrap();
    let two = client
        .seal_message(alice, Direction::Request, b"two", NOW)
        .unwrap();
    let nonces = ReplyNonces::new().unwrap();
    let reply = server.seal_reply(&one, b"answer to one", NOW, &nonces);
    assert_eq!(
        client.open_reply(&reply, &one, &mut guard(), NOW).unwrap(),
        b"answer to one"
    );
    assert!(matches!(
        client.open_reply(&reply, &two, &mut guard(), NOW),
        Err(EnvelopeError::NotTheReply)
    ));
    // The same request answered again (a replay admitted, or one after a restart) gets a
    // nonce of its own: never one an earlier answer took, from this run or another.
    let again = server.seal_reply(&one, b"another answer to one", NOW, &nonces);
    let restarted = server.seal_reply(&one, b"a third", NOW, &ReplyNonces::new().unwrap());
    let seen: std::collections::HashSet<_> = [&reply, &again, &restarted]
        .iter()
        .map(|r| r.header.nonce)
        .collect();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        client
            .open_reply(&restarted, &one, &mut guard(), NOW)
            .unwrap(),
        b"a third"
    );
    // A plain response message of the session is no reply to anything.
    let unbound = server
        .seal_message(alice, Direction::Response, b"unbound", NOW)
        .unwrap();
    assert!(matches!(
        client.open_reply(&unbound, &one, &mut guard(), NOW),
        Err(EnvelopeError::NotTheReply)
    ));
}

/// An envelope with its signature cut off has the shape of a session message, and a session
/// message with any signature added that of an envelope: each is refused as the other, so
/// an observer cannot replay a session's signed opening as one of its messages.
#[test]
fn an_envelope_and_a_session_message_never_open_as_each_other() {
    let alice = dev_keypair("alice").account_id();
    let (first, client, server) = session_at_both_ends(17);
    let stripped = fat_crypto::SessionMessage {
        header: first.header.clone(),
        ciphertext: first.ciphertext.clone(),
    };
    assert_eq!(
        server.open_message(&stripped, &alice, Direction::Request, &mut guard(), NOW),
        Err(EnvelopeError::Decrypt)
    );
    let message = client
        .seal_message(alice, Direction::Request, b"further", NOW)
        .unwrap();
    let signed = Envelope {
        header: message.header.clone(),
        ciphertext: message.ciphertext.clone(),
        signature: dev_keypair("alice")
            .sign(Envelope::signing_hash(&message.header, &message.ciphertext).as_bytes()),
    };
    assert_eq!(
        open(&signed, Direction::Request, &mut guard()).map(|o| o.plaintext),
        Err(EnvelopeError::Decrypt)
    );
    assert_eq!(
        server
            .open_message(&message, &alice, Direction::Request, &mut guard(), NOW)
            .unwrap(),
        b"further"
    );
}

#[test]
fn a_session_seals_many_envelopes_and_the_recipient_agrees_once() {
    let alice = dev_keypair("alice");
    let session = Session::start(&worker().public(), CONTRACT, [7; 32]).unwrap();
    let envelopes: Vec<Envelope> = (0..5u8)
        .map(|i| {
            session
                .seal_envelope(&alice, Direction::Command, &[i; 40], NOW)
                .unwrap()
        })
        .collect();
    // One ephemeral key, a fresh nonce and a signature each.
    assert!(
        envelopes
            .iter()
            .all(|e| e.header.ephemeral == session.ephemeral())
    );
    let nonces: std::collections::HashSet<_> = envelopes.iter().map(|e| e.header.nonce).collect();
    assert_eq!(nonces.len(), 5);

    // A command envelope for CONTRACT opened at NOW, the agreement from (or into) `kept`.
    let open_with = |env: &Envelope,
                     recipient: &EcdhSecret,
                     guard: &mut ReplayGuard,
                     kept: &envelope::Agreements| {
        envelope::open_carried_with(
            env,
            recipient,
            &CONTRACT,
            Direction::Command,
            guard,
            NOW,
            kept,
        )
    };
    let agreements = envelope::Agreements::new(2);
    let mut cached_guard = guard();
    let mut plain_guard = guard();
    for (i, env) in envelopes.iter().enumerate() {
        let cached = open_with(env, &worker(), &mut cached_guard, &agreements).unwrap();
        let plain = open(env, Direction::Command, &mut plain_guard).unwrap();
        assert_eq!(cached.plaintext, vec![i as u8; 40]);
        assert_eq!(cached.plaintext, plain.plaintext);
        // Both sessions seal the same response bytes: the cached agreement is the same key.
        assert_eq!(
            cached
                .session
                .seal_response_with_nonce(&alice, b"out", NOW, [1; 24]),
            plain
                .session
                .seal_response_with_nonce(&alice, b"out", NOW, [1; 24])
        );
    }
    assert_eq!(agreements.len(), 1, "one agreement for the session");
    let holds =
        |env: &Envelope| agreements.holds(&worker().public(), &env.header.ephemeral, &CONTRACT);
    assert!(holds(&envelopes[0]));

    // The cache is bounded: a third session forgets the least recently used.
    for seed in [8u8, 9] {
        let (env, _) = sealed(Direction::Command, seed);
        assert!(!holds(&env));
        open_with(&env, &worker(), &mut guard(), &agreements).unwrap();
        assert!(holds(&env));
    }
    assert_eq!(agreements.len(), 2);
    assert!(!holds(&envelopes[0]), "forgotten");

    // An envelope for another recipient is refused before any agreement, and a weak
    // ephemeral key (a low-order point: an all-zero shared secret) is refused and not kept.
    let mut weak = envelopes[0].clone();
    weak.header.ephemeral = fat_crypto::envelope::EcdhPublic([0; 32]);
    let empty = envelope::Agreements::new(4);
    assert!(matches!(
        open_with(&weak, &worker(), &mut guard(), &empty),
        Err(EnvelopeError::WeakKey)
    ));
    assert!(matches!(
        open_with(
            &envelopes[0],
            &EcdhSecret::from_bytes([0x43; 32]),
            &mut guard(),
            &empty
        ),
        Err(EnvelopeError::WrongRecipient)
    ));
    assert!(empty.is_empty());
}
