//! Attestation providers against real recorded reports (`tests/data/`).

use fat_attestation::dcap::{DcapEvidence, DcapVerifier, SgxQuoter, TdxQuoter};
use fat_attestation::dev::{DevQuoter, DevVerifier};
use fat_attestation::sev::{SnpEvidence, SnpQuoter, SnpVerifier};
use fat_attestation::tsm::ConfigfsTsm;
use fat_attestation::{
    AttestationError, AttestationVerifier, Policy, Provider, Quoter, VerifiedReport, Verifiers,
    WorkerKeys, report_data,
};
use fat_crypto::Keypair;
use fat_types::{Attestation, Bytes};

/// 2025-07-01T00:00:00Z: inside the validity of the shipped DCAP collateral.
const COLLATERAL_NOW: u64 = 1_751_328_000;
/// 2025-08-01T00:00:00Z: after the collateral's next update.
const AFTER_COLLATERAL: u64 = 1_754_006_400;

const SGX_QUOTE: &[u8] = include_bytes!("data/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("data/sgx_quote_collateral.json");
const TDX_QUOTE: &[u8] = include_bytes!("data/tdx_quote");
const TDX_COLLATERAL: &[u8] = include_bytes!("data/tdx_quote_collateral.json");
const SNP_REPORT_HEX: &str = include_str!("data/report_milan.hex");
const SNP_VCEK: &[u8] = include_bytes!("data/vcek_milan.der");

// Offsets in the raw reports: quote header 48 bytes, then the SGX enclave report (384 bytes,
// report data at 320) or the TD report (584 bytes, report data at 520), then a u32 length and
// the ECDSA signature. SNP: report data at 0x50, signature at 0x2a0.
const SGX_REPORT_DATA: usize = 48 + 320;
const SGX_SIGNATURE: usize = 48 + 384 + 4;
const TDX_REPORT_DATA: usize = 48 + 520;
const TDX_SIGNATURE: usize = 48 + 584 + 4;
const SNP_REPORT_DATA: usize = 0x50;
const SNP_SIGNATURE: usize = 0x2a0;

fn keys() -> WorkerKeys {
    WorkerKeys {
        identity: [1; 32],
        ecdh: [2; 32],
    }
}

fn dcap(provider: Provider, quote: &[u8], collateral: &[u8]) -> Attestation {
    DcapEvidence {
        quote: quote.to_vec(),
        collateral: collateral.to_vec(),
    }
    .into_attestation(provider)
}

fn sgx() -> Attestation {
    dcap(Provider::SgxDcap, SGX_QUOTE, SGX_COLLATERAL)
}

fn tdx() -> Attestation {
    dcap(Provider::TdxDcap, TDX_QUOTE, TDX_COLLATERAL)
}

fn snp_with(report: Vec<u8>) -> Attestation {
    SnpEvidence {
        report,
        vcek: SNP_VCEK.to_vec(),
    }
    .into_attestation()
}

fn snp_report() -> Vec<u8> {
    hex::decode(SNP_REPORT_HEX.trim()).unwrap()
}

fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[at] ^= 0x01;
    bytes
}

/// A policy accepting exactly this verified report's provider, measurement and status.
fn policy_for(report: &VerifiedReport) -> Policy {
    Policy {
        providers: vec![report.provider],
        measurements: vec![(report.provider, report.measurement.clone())],
        tcb_statuses: vec![report.tcb_status.clone()],
        snp_min_tcb: None,
    }
}

/// The keys would have to match the report data, which real quotes from elsewhere cannot;
/// so every other check passing leaves exactly `ReportDataMismatch`.
fn assert_verifies_up_to_report_data(attestation: &Attestation, report: &VerifiedReport) {
    let err = Verifiers
        .verify(attestation, &policy_for(report), &keys(), COLLATERAL_NOW)
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::ReportDataMismatch { .. }),
        "{err}"
    );
}

#[test]
fn real_sgx_quote_verifies() {
    let report = DcapVerifier.verify_report(&sgx(), COLLATERAL_NOW).unwrap();
    assert_eq!(report.provider, Provider::SgxDcap);
    assert_eq!(report.measurement.len(), 32);
    assert_eq!(report.tcb_status, "ConfigurationAndSWHardeningNeeded");
    assert_eq!(
        &report.report_data[..],
        &SGX_QUOTE[SGX_REPORT_DATA..SGX_REPORT_DATA + 64]
    );
    assert!(!report.is_insecure());
    assert_verifies_up_to_report_data(&sgx(), &report);
}

#[test]
fn real_tdx_quote_verifies() {
    let report = DcapVerifier.verify_report(&tdx(), COLLATERAL_NOW).unwrap();
    assert_eq!(report.provider, Provider::TdxDcap);
    assert_eq!(report.measurement.len(), 48 * 5);
    assert_eq!(report.tcb_status, "UpToDate");
    assert_eq!(
        &report.report_data[..],
        &TDX_QUOTE[TDX_REPORT_DATA..TDX_REPORT_DATA + 64]
    );
    assert_verifies_up_to_report_data(&tdx(), &report);
}

#[test]
fn tampered_dcap_quotes_fail() {
    let cases = [
        (
            Provider::SgxDcap,
            SGX_QUOTE,
            SGX_COLLATERAL,
            48 + 100,
            "body",
        ),
        (
            Provider::SgxDcap,
            SGX_QUOTE,
            SGX_COLLATERAL,
            SGX_SIGNATURE + 5,
            "signature",
        ),
        (
            Provider::SgxDcap,
            SGX_QUOTE,
            SGX_COLLATERAL,
            SGX_REPORT_DATA + 3,
            "report data",
        ),
        (
            Provider::TdxDcap,
            TDX_QUOTE,
            TDX_COLLATERAL,
            48 + 200,
            "body",
        ),
        (
            Provider::TdxDcap,
            TDX_QUOTE,
            TDX_COLLATERAL,
            TDX_SIGNATURE + 5,
            "signature",
        ),
        (
            Provider::TdxDcap,
            TDX_QUOTE,
            TDX_COLLATERAL,
            TDX_REPORT_DATA + 3,
            "report data",
        ),
    ];
    for (provider, quote, collateral, at, what) in cases {
        let tampered = dcap(provider, &flipped(quote, at), collateral);
        let err = DcapVerifier
            .verify_report(&tampered, COLLATERAL_NOW)
            .unwrap_err();
        assert!(
            matches!(err, AttestationError::BadSignature { .. }),
            "{provider} {what}: {err}"
        );
        println!("{provider} tampered {what}: {err}");
    }
}

#[test]
fn dcap_collateral_expires() {
    let err = DcapVerifier
        .verify_report(&tdx(), AFTER_COLLATERAL)
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::BadSignature { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    let err = DcapVerifier
        .verify_report(&dcap(Provider::TdxDcap, TDX_QUOTE, b""), COLLATERAL_NOW)
        .unwrap_err();
    assert!(matches!(err, AttestationError::Malformed { .. }), "{err}");
}

#[test]
fn dcap_quote_under_the_wrong_provider_is_refused() {
    let err = DcapVerifier
        .verify_report(
            &dcap(Provider::TdxDcap, SGX_QUOTE, SGX_COLLATERAL),
            COLLATERAL_NOW,
        )
        .unwrap_err();
    assert!(matches!(err, AttestationError::Malformed { .. }), "{err}");
}

#[test]
fn measurement_not_on_the_allow_list_is_refused() {
    let report = DcapVerifier.verify_report(&tdx(), COLLATERAL_NOW).unwrap();
    let mut policy = policy_for(&report);
    policy.measurements = vec![(Provider::TdxDcap, vec![0; 48 * 5])];
    let err = Verifiers
        .verify(&tdx(), &policy, &keys(), COLLATERAL_NOW)
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::MeasurementNotAllowed { .. }),
        "{err}"
    );
    // The same measurement allowed for another provider does not count.
    policy.measurements = vec![(Provider::SgxDcap, report.measurement.clone())];
    let err = Verifiers
        .verify(&tdx(), &policy, &keys(), COLLATERAL_NOW)
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::MeasurementNotAllowed { .. }),
        "{err}"
    );
}

#[test]
fn tcb_status_must_be_accepted() {
    let report = DcapVerifier.verify_report(&sgx(), COLLATERAL_NOW).unwrap();
    let mut policy = policy_for(&report);
    policy.tcb_statuses = vec!["UpToDate".to_owned()];
    let err = Verifiers
        .verify(&sgx(), &policy, &keys(), COLLATERAL_NOW)
        .unwrap_err();
    assert!(matches!(err, AttestationError::Refused { .. }), "{err}");
}

#[test]
fn real_snp_report_verifies() {
    let report = SnpVerifier
        .verify_report(&snp_with(snp_report()), 0)
        .unwrap();
    assert_eq!(report.provider, Provider::SevSnp);
    assert_eq!(report.measurement.len(), 48);
    assert_eq!(
        &report.report_data[..],
        &snp_report()[SNP_REPORT_DATA..SNP_REPORT_DATA + 64]
    );
    assert_verifies_up_to_report_data(&snp_with(snp_report()), &report);
}

/// A policy's minimum SEV-SNP TCB: the recorded report passes a minimum at its own TCB and
/// is refused by one a single component above it.
#[test]
fn an_snp_report_below_the_policys_minimum_tcb_is_refused() {
    let attestation = snp_with(snp_report());
    let report = SnpVerifier.verify_report(&attestation, 0).unwrap();
    let tcb = report.snp_tcb.expect("an SNP report names its TCB");
    let mut policy = policy_for(&report);
    policy.snp_min_tcb = Some(tcb);
    let err = Verifiers
        .verify(&attestation, &policy, &keys(), 0)
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::ReportDataMismatch { .. }),
        "at the minimum, every check before the keys passes: {err}"
    );
    let raised = [
        fat_types::SnpTcb {
            bootloader: tcb.bootloader + 1,
            ..tcb
        },
        fat_types::SnpTcb {
            tee: tcb.tee + 1,
            ..tcb
        },
        fat_types::SnpTcb {
            snp: tcb.snp + 1,
            ..tcb
        },
        fat_types::SnpTcb {
            microcode: tcb.microcode + 1,
            ..tcb
        },
    ];
    for min in raised {
        policy.snp_min_tcb = Some(min);
        let err = Verifiers
            .verify(&attestation, &policy, &keys(), 0)
            .unwrap_err();
        assert!(
            matches!(err, AttestationError::Refused { .. }),
            "{min}: {err}"
        );
        assert!(
            err.to_string().contains("below the policy's minimum"),
            "{err}"
        );
    }
}

#[test]
fn tampered_snp_reports_fail() {
    for (at, what) in [
        (0x90, "body (measurement)"),
        (SNP_SIGNATURE + 5, "signature"),
        (SNP_REPORT_DATA + 3, "report data"),
    ] {
        let err = SnpVerifier
            .verify_report(&snp_with(flipped(&snp_report(), at)), 0)
            .unwrap_err();
        assert!(
            matches!(err, AttestationError::BadSignature { .. }),
            "{what}: {err}"
        );
        println!("sev-snp tampered {what}: {err}");
    }
    let bad_vcek = SnpEvidence {
        report: snp_report(),
        vcek: flipped(SNP_VCEK, 40),
    }
    .into_attestation();
    let err = SnpVerifier.verify_report(&bad_vcek, 0).unwrap_err();
    assert!(
        matches!(err, AttestationError::BadSignature { .. }),
        "tampered VCEK: {err}"
    );
}

/// The recorded report with `edit` applied, parsed (its signature no longer holds, so this
/// reaches the checks that come after the signature's).
fn snp_parsed_with(edit: impl Fn(&mut [u8])) -> sev::firmware::guest::AttestationReport {
    use sev::parser::ByteParser;
    let mut bytes = snp_report();
    edit(&mut bytes);
    sev::firmware::guest::AttestationReport::from_bytes(&bytes).unwrap()
}

#[test]
fn a_vcek_of_another_tcb_or_chip_and_a_report_below_vmpl_0_are_refused() {
    use fat_attestation::sev::{check_vcek_binds, check_vmpl};
    // The recorded pair binds: its VCEK was issued for its TCB and chip, at VMPL 0.
    let real = snp_parsed_with(|_| {});
    check_vcek_binds(SNP_VCEK, &real).unwrap();
    check_vmpl(&real).unwrap();
    // A report claiming another TCB than the VCEK's: one component at a time (Milan's
    // REPORTED_TCB is at 0x180: bootloader, TEE, 4 reserved, SNP, microcode).
    for (at, name) in [
        (0x180, "bootloader"),
        (0x181, "TEE"),
        (0x186, "SNP"),
        (0x187, "microcode"),
    ] {
        let report = snp_parsed_with(|b| b[at] = b[at].wrapping_add(1));
        let err = check_vcek_binds(SNP_VCEK, &report).unwrap_err();
        assert!(matches!(err, AttestationError::Refused { .. }), "{err}");
        assert!(err.to_string().contains(name), "{name}: {err}");
        println!("sev-snp {name} raised: {err}");
    }
    // Another chip's report.
    let other_chip = snp_parsed_with(|b| b[0x1a0 + 9] ^= 0x40);
    let err = check_vcek_binds(SNP_VCEK, &other_chip).unwrap_err();
    assert!(err.to_string().contains("another chip"), "{err}");
    // A certificate without the extensions (AMD's Milan ASK) vouches for nothing.
    let ask = sev::certs::snp::builtin::milan::ask().unwrap();
    let err = check_vcek_binds(&ask.to_der().unwrap(), &real).unwrap_err();
    assert!(err.to_string().contains("none"), "{err}");
    // A report requested at VMPL 1 (the field at 0x30).
    let vmpl1 = snp_parsed_with(|b| b[0x30] = 1);
    let err = check_vmpl(&vmpl1).unwrap_err();
    assert!(err.to_string().contains("VMPL 1"), "{err}");
    // And through the verifier, a garbage certificate is malformed, never a panic.
    let garbage = SnpEvidence {
        report: snp_report(),
        vcek: b"not DER".to_vec(),
    }
    .into_attestation();
    assert!(SnpVerifier.verify_report(&garbage, 0).is_err());
}

fn dev_quote(keys: &WorkerKeys, identity: &Keypair) -> Attestation {
    DevQuoter::new(identity.clone(), b"dev-measurement".to_vec())
        .quote(&report_data(keys))
        .unwrap()
}

#[test]
fn dev_report_round_trips_and_says_it_is_insecure() {
    let identity = Keypair::from_seed([7; 32]);
    let keys = WorkerKeys {
        identity: *identity.account_id().as_bytes(),
        ecdh: [9; 32],
    };
    let attestation = dev_quote(&keys, &identity);
    assert_eq!(attestation.provider, "dev");
    let policy = Policy::dev(vec![b"dev-measurement".to_vec()]);
    let report = Verifiers.verify(&attestation, &policy, &keys, 0).unwrap();
    assert!(report.is_insecure());
    assert!(report.to_string().contains("INSECURE"), "{report}");
    assert_eq!(report, DevVerifier.verify_report(&attestation, 0).unwrap());

    // Other keys than those committed to: refused.
    let other = WorkerKeys {
        ecdh: [8; 32],
        ..keys
    };
    let err = Verifiers
        .verify(&attestation, &policy, &other, 0)
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::ReportDataMismatch { .. }),
        "{err}"
    );

    // A tampered dev report: its signature fails.
    let mut tampered = attestation.clone();
    let last = tampered.report.0.len() - 70;
    tampered.report.0[last] ^= 1;
    let err = Verifiers.verify(&tampered, &policy, &keys, 0).unwrap_err();
    assert!(
        matches!(err, AttestationError::BadSignature { .. }),
        "{err}"
    );
}

#[test]
fn dev_report_is_refused_by_a_non_dev_policy() {
    let identity = Keypair::from_seed([7; 32]);
    let keys = WorkerKeys {
        identity: *identity.account_id().as_bytes(),
        ecdh: [9; 32],
    };
    let attestation = dev_quote(&keys, &identity);
    let policy = Policy {
        providers: vec![Provider::SgxDcap, Provider::TdxDcap, Provider::SevSnp],
        measurements: vec![(Provider::Dev, b"dev-measurement".to_vec())],
        tcb_statuses: vec!["UpToDate".to_owned()],
        snp_min_tcb: None,
    };
    let err = Verifiers
        .verify(&attestation, &policy, &keys, 0)
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::ProviderNotAccepted(Provider::Dev)),
        "{err}"
    );
    // Relabelled as a hardware provider, it does not parse as one.
    let relabelled = Attestation {
        provider: "tdx-dcap".to_owned(),
        report: attestation.report.clone(),
    };
    let err = Verifiers
        .verify(&relabelled, &policy, &keys, 0)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AttestationError::Malformed {
                provider: Provider::TdxDcap,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_provider_is_refused() {
    let attestation = Attestation {
        provider: "tpm".to_owned(),
        report: Bytes(vec![1, 2, 3]),
    };
    let err = Verifiers.verify_report(&attestation, 0).unwrap_err();
    assert!(matches!(err, AttestationError::UnknownProvider(_)), "{err}");
}

#[test]
fn hardware_quoters_say_not_available_here() {
    let data: [u8; 64] = std::array::from_fn(|i| i as u8 + 1);
    let missing = ConfigfsTsm::at("/nonexistent/tsm/report");
    let err = missing
        .report(Provider::TdxDcap, "tdx_guest", &data)
        .unwrap_err();
    assert!(
        matches!(err, AttestationError::NotAvailable { .. }),
        "{err}"
    );
    // The real interfaces: on a machine without TDX, SNP or Gramine-SGX they are absent.
    for quoter in [
        Box::new(TdxQuoter::new()) as Box<dyn Quoter>,
        Box::new(SnpQuoter::default()),
        Box::new(SgxQuoter::new()),
    ] {
        match quoter.quote(&data) {
            Err(AttestationError::NotAvailable { provider, reason }) => {
                assert_eq!(provider, quoter.provider());
                println!("{provider}: not available: {reason}");
            }
            Err(other) => panic!("{}: {other}", quoter.provider()),
            // On a machine that has one, the report is of that provider and commits to the
            // report data asked for (its signature needs collateral from the vendor's
            // services, which tests do not reach).
            Ok(attestation) => {
                assert_eq!(attestation.provider, quoter.provider().as_str());
                assert!(
                    attestation.report.0.windows(64).any(|w| w == data),
                    "{}: the report does not carry the report data",
                    quoter.provider()
                );
                println!("{}: this machine produced a report", quoter.provider());
            }
        }
    }
}

/// What a quoter does with a report once the hardware gave it, run on this machine through
/// Gramine's file interface laid out in a directory: the enclave's real quote in `quote`.
#[test]
fn an_sgx_quoter_passes_on_what_the_enclave_quoted() {
    let dir = std::env::temp_dir().join(format!("fat-gramine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("quote"), SGX_QUOTE).unwrap();
    // The data the recorded quote commits to, as a worker would ask for it.
    let data: [u8; 64] = SGX_QUOTE[SGX_REPORT_DATA..SGX_REPORT_DATA + 64]
        .try_into()
        .unwrap();
    let quoter = SgxQuoter::at(&dir);
    let attestation = quoter.quote(&data).unwrap();

    // The report data went to the enclave, and its quote came back as it was.
    assert_eq!(std::fs::read(dir.join("user_report_data")).unwrap(), data);
    assert_eq!(attestation.provider, Provider::SgxDcap.as_str());
    let evidence: DcapEvidence = borsh::from_slice(&attestation.report.0).unwrap();
    assert_eq!(evidence.quote, SGX_QUOTE);
    // Without collateral nobody can check it, and the verifier says so.
    let err = DcapVerifier
        .verify_report(&attestation, COLLATERAL_NOW)
        .unwrap_err();
    assert!(err.to_string().contains("no collateral"), "{err}");
    // With the collateral a PCCS serves, it verifies and carries the data asked for.
    let attestation = DcapEvidence {
        collateral: SGX_COLLATERAL.to_vec(),
        ..evidence
    }
    .into_attestation(Provider::SgxDcap);
    let report = DcapVerifier
        .verify_report(&attestation, COLLATERAL_NOW)
        .unwrap();
    assert_eq!(&report.report_data[..], &data[..]);

    // A missing interface is `NotAvailable`, naming the file.
    std::fs::remove_dir_all(&dir).unwrap();
    let err = quoter.quote(&data).unwrap_err();
    assert!(
        matches!(&err, AttestationError::NotAvailable { reason, .. } if reason.contains("user_report_data")),
        "{err}"
    );
}

/// A registered report is checked as of when the chain accepted it: collateral that expired
/// since is no reason to refuse the worker (before, every client refused it once the
/// collateral's next update was due). The policy's maximum age bounds how long that lasts.
#[test]
fn a_registered_report_is_checked_as_of_its_acceptance_until_it_is_too_old() {
    let mut policy = fat_attestation::dev_chain_policy();
    let at = fat_attestation::verification_time(&policy, COLLATERAL_NOW, AFTER_COLLATERAL).unwrap();
    assert_eq!(at, COLLATERAL_NOW);
    DcapVerifier
        .verify_report(&tdx(), at)
        .expect("the report as the chain accepted it");
    assert!(
        DcapVerifier
            .verify_report(&tdx(), AFTER_COLLATERAL)
            .is_err()
    );

    let month = 30 * 86_400;
    policy.max_age_secs = month;
    let at = fat_attestation::verification_time(&policy, COLLATERAL_NOW, COLLATERAL_NOW + month);
    assert_eq!(at.unwrap(), COLLATERAL_NOW);
    let err =
        fat_attestation::verification_time(&policy, COLLATERAL_NOW, AFTER_COLLATERAL).unwrap_err();
    assert!(matches!(err, AttestationError::Stale { .. }), "{err}");
    assert!(err.to_string().contains("Reattest"), "{err}");
}
