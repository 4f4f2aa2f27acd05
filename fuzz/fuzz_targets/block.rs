//! A block from a peer or the chain: decoded, then checked by a follower.
#![no_main]

use fat_consensus::{BlockVerifier, ValidatorSet};
use fat_types::encoding::{decode, encode};
use fat_types::{Block, BlockHeader, Hash32};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = decode::<Block>("block", data) {
        assert_eq!(encode(&block), data);
        let validators = (0..4)
            .map(|i| fat_crypto::dev_keypair(&format!("validator-{i}")).account_id())
            .collect();
        let trusted = BlockHeader {
            height: block.header.height.wrapping_sub(1),
            parent: Hash32::default(),
            timestamp_ms: 0,
            tx_root: Hash32::default(),
            receipts_root: Hash32::default(),
            state_root: Hash32::default(),
        };
        let set = ValidatorSet::new(validators).expect("four distinct validators");
        let mut follower = BlockVerifier::new(Hash32::default(), trusted, set);
        assert!(
            follower.accept(&block).is_err(),
            "an unsigned block was accepted"
        );
    }
});
