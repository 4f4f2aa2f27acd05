//! A session's further message (`application/x-fat-session`): decoded, then opened.
#![no_main]

use fat_crypto::envelope::{self, SealRandomness};
use fat_crypto::{Direction, EcdhSecret, ReplayGuard, SessionMessage, dev_keypair};
use fat_types::ContractId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = SessionMessage::from_bytes(data) {
        assert_eq!(message.to_bytes(), data);
        let alice = dev_keypair("alice");
        let worker = EcdhSecret::from_bytes([0x42; 32]);
        let (_, session) = envelope::seal(
            &alice,
            &worker.public(),
            ContractId(message.header.contract.0),
            Direction::Request,
            b"{}",
            message.header.timestamp_ms,
            SealRandomness {
                ephemeral: [1; 32],
                nonce: [2; 24],
            },
        )
        .expect("a seal to a valid key");
        let mut guard = ReplayGuard::new(60_000, 16);
        let opened = session.open_message(
            &message,
            &alice.account_id(),
            message.header.direction,
            &mut guard,
            message.header.timestamp_ms,
        );
        assert!(opened.is_err(), "a message nobody sealed opened");
    }
});
