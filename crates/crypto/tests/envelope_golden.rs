//! Golden tests: the canonical encoding of envelopes, from fixed keys, nonces and times.
//! A change here is a change of the wire format: bump the labels' versions.

use fat_crypto::envelope::{self, ENVELOPE_KDF_LABEL, ENVELOPE_TAG, SealRandomness};
use fat_crypto::{Direction, EcdhSecret, Envelope, Keypair, ReplayGuard, dev_keypair};
use fat_types::ContractId;

const NOW: u64 = 1_750_000_000_000;

/// The golden request and the requester's session.
fn golden_request() -> (Envelope, envelope::Session) {
    envelope::seal(
        &dev_keypair("alice"),
        &EcdhSecret::from_bytes([0x42; 32]).public(),
        ContractId([5; 32]),
        Direction::Request,
        b"hello",
        NOW,
        SealRandomness {
            ephemeral: [1; 32],
            nonce: [2; 24],
        },
    )
    .unwrap()
}

fn golden() -> (Envelope, Envelope) {
    let worker = EcdhSecret::from_bytes([0x42; 32]);
    let (request, _) = golden_request();
    let mut guard = ReplayGuard::new(60_000, 16);
    let opened = envelope::open(
        &request,
        &worker,
        &ContractId([5; 32]),
        Direction::Request,
        &mut guard,
        NOW,
    )
    .unwrap();
    let response = opened.session.seal_response_with_nonce(
        &Keypair::from_seed([9; 32]),
        b"world",
        NOW + 1,
        [3; 24],
    );
    (request, response)
}

#[test]
fn labels_are_pinned() {
    assert_eq!(ENVELOPE_KDF_LABEL, b"fat/envelope/kdf/v1");
    assert_eq!(ENVELOPE_TAG, "fat/envelope/v1");
    assert_eq!(
        envelope::SESSION_MESSAGE_TAG,
        b"fat/envelope/session-message/v1"
    );
    assert_eq!(
        envelope::SESSION_REPLY_TAG,
        b"fat/envelope/session-reply/v2"
    );
}

#[test]
fn public_keys_are_pinned() {
    // x25519 of the fixed secrets: recipient 0x42.., ephemeral 0x01...
    assert_eq!(
        hex::encode(EcdhSecret::from_bytes([0x42; 32]).public().0),
        RECIPIENT
    );
    assert_eq!(
        hex::encode(EcdhSecret::from_bytes([1; 32]).public().0),
        EPHEMERAL
    );
}

const RECIPIENT: &str = "132c442be010fbd57e72603328aa76e71fccc1503aae219327d14d9c9993f472";
const EPHEMERAL: &str = "a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c9df9dc2b4409f8a209";
/// Checked independently: `python3 scripts/envelope_golden.py` (Python `cryptography`: X25519,
/// HKDF-SHA256, ChaCha20-Poly1305 after a hand-written HChaCha20) decrypts this to `hello`,
/// [`RESPONSE`] to `world` and [`SESSION_MESSAGE`] to `again`, from the derivation documented
/// in `fat_crypto::envelope`.
const REQUEST: &str = concat!(
    "050505050505050505050505050505050505050505050505050505050505050500bde1bcf375e722",
    "7257377167d779b3c2e10df4b4e75e1936b9a4de3cad271a49132c442be010fbd57e72603328aa76",
    "e71fccc1503aae219327d14d9c9993f472a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c",
    "9df9dc2b4409f8a20902020202020202020202020202020202020202020202020200dc2074970100",
    "001500000044ee0cef6f0ed3f35ec996a8b0d13681cba03e393801bb6b4c715adad7aeec7465bf0e",
    "72813a299377eec0705b84f2d488e2c1818780ac0b11d7f7cf10478ae84e82180696283ac0fbc896",
    "f5c81cf1857223924c07"
);
const RESPONSE: &str = concat!(
    "050505050505050505050505050505050505050505050505050505050505050501fd1724385aa0c7",
    "5b64fb78cd602fa1d991fdebf76b13c58ed702eac835e9f618132c442be010fbd57e72603328aa76",
    "e71fccc1503aae219327d14d9c9993f472a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c",
    "9df9dc2b4409f8a20903030303030303030303030303030303030303030303030301dc2074970100",
    "001500000036cf02b1d394350c7289dcd8c22770472ab68d6651e1426160088dff62cd3bb3628310",
    "d1dcc5fff4ac2cd79fee939e1303ea2ff96977de106cdd6f0464d1fb465ef4cc7497b70e6765d4a5",
    "14f4138553270efaaf05"
);

#[test]
fn request_encoding_is_pinned() {
    let (request, _) = golden();
    let bytes = request.to_bytes();
    // header: contract 32, direction 1, sender 32, recipient 32, ephemeral 32, nonce 24,
    // timestamp 8; ciphertext: u32 length + 5 + 16-byte tag; signature 64.
    assert_eq!(
        bytes.len(),
        32 + 1 + 32 + 32 + 32 + 24 + 8 + 4 + 5 + 16 + 64
    );
    assert_eq!(bytes[32], 0, "Request is variant 0");
    assert_eq!(hex::encode(&bytes), REQUEST);
}

#[test]
fn response_encoding_is_pinned() {
    let (_, response) = golden();
    let bytes = response.to_bytes();
    assert_eq!(bytes[32], 1, "Response is variant 1");
    assert_eq!(hex::encode(&bytes), RESPONSE);
}

/// A further request of the golden session: header then ciphertext, no signature.
const SESSION_MESSAGE: &str = concat!(
    "050505050505050505050505050505050505050505050505050505050505050500bde1bcf375e722",
    "7257377167d779b3c2e10df4b4e75e1936b9a4de3cad271a49132c442be010fbd57e72603328aa76",
    "e71fccc1503aae219327d14d9c9993f472a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c",
    "9df9dc2b4409f8a20904040404040404040404040404040404040404040404040402dc2074970100",
    "001500000041625b05ecd854d1b10331ddf834174cabb5c33004",
);

#[test]
fn session_message_encoding_is_pinned() {
    let (_, session) = golden_request();
    let message = session.seal_message_with_nonce(
        dev_keypair("alice").account_id(),
        Direction::Request,
        b"again",
        NOW + 2,
        [4; 24],
    );
    let bytes = hex::encode(message.to_bytes());
    assert_eq!(bytes, SESSION_MESSAGE, "session message encoding changed");
    assert_eq!(
        fat_crypto::SessionMessage::from_bytes(&message.to_bytes()).unwrap(),
        message
    );
}

/// The golden session's message number 3, as `Session::seal_message` numbers them: the
/// nonce is the counter (big-endian) then 16 random bytes (here fixed).
const NUMBERED_MESSAGE: &str = concat!(
    "050505050505050505050505050505050505050505050505050505050505050500bde1bcf375e722",
    "7257377167d779b3c2e10df4b4e75e1936b9a4de3cad271a49132c442be010fbd57e72603328aa76",
    "e71fccc1503aae219327d14d9c9993f472a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c",
    "9df9dc2b4409f8a20900000000000000030404040404040404040404040404040402dc2074970100",
    "001500000044d1092ddd98fc07070170ba79845239b603e69a0c",
);

#[test]
fn a_numbered_session_message_is_pinned() {
    let (_, session) = golden_request();
    let nonce = envelope::message_nonce(3, [4; 16]);
    assert_eq!(hex::encode(nonce), format!("{:016x}{}", 3, "04".repeat(16)));
    let message = session.seal_message_with_nonce(
        dev_keypair("alice").account_id(),
        Direction::Request,
        b"again",
        NOW + 2,
        nonce,
    );
    let bytes = hex::encode(message.to_bytes());
    assert_eq!(bytes, NUMBERED_MESSAGE, "numbered session message changed");
    let decoded = fat_crypto::SessionMessage::from_bytes(&message.to_bytes()).unwrap();
    assert_eq!(envelope::message_counter(&decoded.header.nonce), 3);
}

/// The worker's reply to the golden numbered message, its nonce the first of a fixed key's.
const REPLY: &str = concat!(
    "050505050505050505050505050505050505050505050505050505050505050501bde1bcf375e722",
    "7257377167d779b3c2e10df4b4e75e1936b9a4de3cad271a49132c442be010fbd57e72603328aa76",
    "e71fccc1503aae219327d14d9c9993f472a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c",
    "9df9dc2b4409f8a2096e0b5780147320b282e2a298fc9566337e01142666fc3d8503dc2074970100",
    "0016000000672aa30769775241d85f62bffbf1ab13db6fb1662b83",
);

#[test]
fn a_session_reply_is_pinned() {
    let (request, client) = golden_request();
    let worker = EcdhSecret::from_bytes([0x42; 32]);
    let server = envelope::open(
        &request,
        &worker,
        &ContractId([5; 32]),
        Direction::Request,
        &mut ReplayGuard::new(60_000, 16),
        NOW,
    )
    .unwrap()
    .session;
    let message = client.seal_message_with_nonce(
        dev_keypair("alice").account_id(),
        Direction::Request,
        b"again",
        NOW + 2,
        envelope::message_nonce(3, [4; 16]),
    );
    let reply = server.seal_reply(
        &message,
        b"answer",
        NOW + 3,
        &envelope::ReplyNonces::from_key([8; 32]),
    );
    assert_eq!(
        hex::encode(reply.to_bytes()),
        REPLY,
        "session reply changed"
    );
    assert_eq!(
        client
            .open_reply(&reply, &message, &mut ReplayGuard::new(60_000, 16), NOW + 3)
            .unwrap(),
        b"answer"
    );
}
