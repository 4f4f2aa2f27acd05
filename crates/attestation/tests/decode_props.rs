//! Property tests of the attestation verifiers, which decode what a worker registering itself
//! puts in its transaction: a dev report, DCAP evidence (an SGX or TDX quote with its
//! collateral) or SEV-SNP evidence (a report with its VCEK). The chain runs them on every
//! registration, so no bytes may panic them.
//!
//! Arbitrary reports under any provider name are refused without panicking, also when they
//! are well-formed evidence around arbitrary quotes and reports; the recorded real quotes and
//! report (`tests/data/`) with a byte changed or cut short never attest anything else.

use fat_attestation::dcap::DcapEvidence;
use fat_attestation::dev::DevQuoter;
use fat_attestation::sev::{SnpEvidence, vcek_from_cert_table};
use fat_attestation::{AttestationVerifier, Provider, Quoter, VerifiedReport, Verifiers};
use fat_crypto::Keypair;
use fat_types::{Attestation, Bytes};
use proptest::collection::vec;
use proptest::prelude::*;

/// Inside the validity of the shipped DCAP collateral.
const COLLATERAL_NOW: u64 = 1_751_328_000;

const SGX_QUOTE: &[u8] = include_bytes!("data/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("data/sgx_quote_collateral.json");
const TDX_QUOTE: &[u8] = include_bytes!("data/tdx_quote");
const TDX_COLLATERAL: &[u8] = include_bytes!("data/tdx_quote_collateral.json");
const SNP_REPORT_HEX: &str = include_str!("data/report_milan.hex");
const SNP_VCEK: &[u8] = include_bytes!("data/vcek_milan.der");

fn provider() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("dev".to_string()),
        Just("sgx-dcap".to_string()),
        Just("tdx-dcap".to_string()),
        Just("sev-snp".to_string()),
        "[a-z-]{0,10}",
    ]
}

fn verify(attestation: &Attestation) -> Result<VerifiedReport, String> {
    Verifiers
        .verify_report(attestation, COLLATERAL_NOW)
        .map_err(|e| e.to_string())
}

/// The real evidence of each hardware provider, as a worker would register it.
fn real() -> Vec<Attestation> {
    vec![
        DcapEvidence {
            quote: SGX_QUOTE.to_vec(),
            collateral: SGX_COLLATERAL.to_vec(),
        }
        .into_attestation(Provider::SgxDcap),
        DcapEvidence {
            quote: TDX_QUOTE.to_vec(),
            collateral: TDX_COLLATERAL.to_vec(),
        }
        .into_attestation(Provider::TdxDcap),
        SnpEvidence {
            report: hex::decode(SNP_REPORT_HEX.trim()).unwrap(),
            vcek: SNP_VCEK.to_vec(),
        }
        .into_attestation(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes under any provider name are refused.
    #[test]
    fn arbitrary_reports_are_refused(provider in provider(), report in vec(any::<u8>(), 0..256)) {
        let attestation = Attestation { provider, report: Bytes(report) };
        prop_assert!(verify(&attestation).is_err());
    }

    /// Well-formed evidence around arbitrary quotes, reports and certificates reaches the
    /// providers' own parsers, which refuse it.
    #[test]
    fn arbitrary_evidence_is_refused(
        quote in vec(any::<u8>(), 0..1200),
        vcek in vec(any::<u8>(), 0..64),
        sgx in any::<bool>(),
        table in vec(any::<u8>(), 0..96),
    ) {
        let (provider, collateral) = if sgx {
            (Provider::SgxDcap, SGX_COLLATERAL)
        } else {
            (Provider::TdxDcap, TDX_COLLATERAL)
        };
        let dcap = DcapEvidence { quote: quote.clone(), collateral: collateral.to_vec() }
            .into_attestation(provider);
        prop_assert!(verify(&dcap).is_err());
        let snp = SnpEvidence { report: quote.clone(), vcek: SNP_VCEK.to_vec() }.into_attestation();
        prop_assert!(verify(&snp).is_err());
        let snp = SnpEvidence { report: quote, vcek }.into_attestation();
        prop_assert!(verify(&snp).is_err());
        // The VCEK a host hands a guest: found or not, never a panic.
        let _ = vcek_from_cert_table(&table);
    }

    /// A dev report verifies; with a byte of its encoding changed or cut short it is refused,
    /// or (a change that still decodes and verifies) attests exactly what the original did.
    #[test]
    fn changed_dev_reports_attest_nothing_else(
        seed in any::<[u8; 32]>(),
        data in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let mut report_data = [0u8; 64];
        report_data[..32].copy_from_slice(&data);
        let attestation = DevQuoter::new(Keypair::from_seed(seed), b"m".to_vec())
            .quote(&report_data)
            .unwrap();
        let original = verify(&attestation).unwrap();
        let at = at.index(attestation.report.0.len());
        let mut changed = attestation.clone();
        changed.report.0[at] ^= flip;
        if let Ok(report) = verify(&changed) {
            prop_assert_eq!(report, original, "byte {} changed", at);
        }
        let mut cut = attestation;
        cut.report.0.truncate(at);
        prop_assert!(verify(&cut).is_err());
    }
}

proptest! {
    // Each case checks a certificate chain and a signature or two: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The real SGX, TDX and SEV-SNP evidence with one byte of its quote or report changed,
    /// or cut short, never panics the verifier and never attests anything else.
    #[test]
    fn changed_hardware_reports_attest_nothing_else(
        which in 0usize..3,
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let attestation = real().swap_remove(which);
        let original = verify(&attestation).unwrap();
        let at = at.index(attestation.report.0.len());
        let mut changed = attestation.clone();
        changed.report.0[at] ^= flip;
        if let Ok(report) = verify(&changed) {
            prop_assert_eq!(report, original, "byte {} changed", at);
        }
        let mut cut = attestation;
        cut.report.0.truncate(at);
        prop_assert!(verify(&cut).is_err());
    }
}
