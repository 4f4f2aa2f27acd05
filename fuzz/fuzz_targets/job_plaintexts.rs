//! The plaintexts of the job envelopes workers of a cluster send each other.
#![no_main]

use fat_proto::worker::{JobAnswer, JobCall};
use fat_types::encoding::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = decode::<JobCall>("job call", data) {
        assert_eq!(encode(&call), data);
    }
    if let Ok(answer) = decode::<JobAnswer>("job answer", data) {
        assert_eq!(encode(&answer), data);
        let _ = answer.proof.check_signature();
    }
});
