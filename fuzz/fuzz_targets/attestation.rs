//! A worker's registration report under each provider: the chain verifies every one.
#![no_main]

use fat_attestation::{AttestationVerifier, Verifiers};
use fat_types::{Attestation, Bytes};
use libfuzzer_sys::fuzz_target;

const PROVIDERS: [&str; 4] = ["dev", "sgx-dcap", "tdx-dcap", "sev-snp"];

fuzz_target!(|data: &[u8]| {
    let Some((&which, report)) = data.split_first() else {
        return;
    };
    let attestation = Attestation {
        provider: PROVIDERS[usize::from(which) % PROVIDERS.len()].to_string(),
        report: Bytes(report.to_vec()),
    };
    // 2025-07-01: inside the validity of the collateral recorded in the tests' data.
    let _ = Verifiers.verify_report(&attestation, 1_751_328_000);
});
