//! What validators send each other on the platform's own consensus channel.
#![no_main]

use fat_consensus::simplex::Wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Wire::decode(data) {
        assert_eq!(message.encode(), data);
    }
});
