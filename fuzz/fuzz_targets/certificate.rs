//! A certificate as it comes with a block: decoded, then checked against a validator set.
#![no_main]

use fat_consensus::ValidatorSet;
use fat_types::encoding::{decode, encode};
use fat_types::{Certificate, Hash32};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(certificate) = decode::<Certificate>("certificate", data) {
        assert_eq!(encode(&certificate), data);
        let validators = (0..4)
            .map(|i| fat_crypto::dev_keypair(&format!("validator-{i}")).account_id())
            .collect();
        let set = ValidatorSet::new(validators).expect("four distinct validators");
        assert!(
            set.verify(&Hash32([7; 32]), &certificate).is_err(),
            "a certificate nobody signed certified a block"
        );
    }
});
