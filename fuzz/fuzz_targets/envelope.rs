//! A sealed envelope (a query's, a job's or a command's body): decoded, then opened.
#![no_main]

use fat_crypto::envelope;
use fat_crypto::{Direction, EcdhSecret, Envelope, ReplayGuard};
use fat_types::ContractId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sealed) = Envelope::from_bytes(data) {
        assert_eq!(sealed.to_bytes(), data);
        let worker = EcdhSecret::from_bytes([0x42; 32]);
        let mut guard = ReplayGuard::new(60_000, 16);
        let contract = ContractId(sealed.header.contract.0);
        let opened = envelope::open(
            &sealed,
            &worker,
            &contract,
            sealed.header.direction,
            &mut guard,
            sealed.header.timestamp_ms,
        );
        assert!(opened.is_err(), "an envelope nobody sealed opened");
        let _ = envelope::open_carried(
            &sealed,
            &worker,
            &contract,
            Direction::Command,
            &mut guard,
            sealed.header.timestamp_ms,
        );
    }
});
