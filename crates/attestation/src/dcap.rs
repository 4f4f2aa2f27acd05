//! Intel SGX and TDX DCAP quotes, verified with `dcap-qvl` (pure Rust, no network).
//!
//! A report is the borsh encoding of [`DcapEvidence`]: the quote and its collateral (the
//! `QuoteCollateralV3` JSON a PCCS serves: TCB info, QE identity, CRLs and their issuer
//! chains). Verification checks the PCK chain up to Intel's root, the CRLs, the QE report,
//! the quote's signature, TCB levels at `now_secs`, and refuses debug enclaves and TDs.
//!
//! The measurement is `MRENCLAVE` (SGX) or `MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3` (TDX).

use std::path::{Path, PathBuf};

use borsh::{BorshDeserialize, BorshSerialize};
use dcap_qvl::QuoteCollateralV3;
use dcap_qvl::configs::RustCryptoConfig;
use dcap_qvl::quote::Report;
use dcap_qvl::verify::QuoteVerifier;
use fat_types::encoding::{decode, encode};
use fat_types::{Attestation, Bytes};

use super::tsm::ConfigfsTsm;
use super::{
    AttestationError, AttestationVerifier, Provider, Quoter, Result, VerifiedReport, bad_signature,
    malformed,
};

/// A DCAP quote with the collateral it is verified against.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DcapEvidence {
    /// The quote, as the quoting enclave produced it.
    pub quote: Vec<u8>,
    /// The collateral: `QuoteCollateralV3` as JSON (what a PCCS serves).
    pub collateral: Vec<u8>,
}

impl DcapEvidence {
    /// The attestation of this evidence under `provider` (`sgx-dcap` or `tdx-dcap`).
    pub fn into_attestation(self, provider: Provider) -> Attestation {
        Attestation {
            provider: provider.as_str().to_owned(),
            report: Bytes(encode(&self)),
        }
    }
}

/// Verifies SGX and TDX DCAP quotes.
#[derive(Debug, Default, Clone, Copy)]
pub struct DcapVerifier;

impl AttestationVerifier for DcapVerifier {
    fn verify_report(&self, attestation: &Attestation, now_secs: u64) -> Result<VerifiedReport> {
        let provider = Provider::parse(&attestation.provider)?;
        if !matches!(provider, Provider::SgxDcap | Provider::TdxDcap) {
            return Err(malformed(provider, "not a DCAP report"));
        }
        let evidence: DcapEvidence =
            decode("DCAP evidence", &attestation.report.0).map_err(|e| malformed(provider, e))?;
        if evidence.collateral.is_empty() {
            return Err(malformed(provider, "no collateral with the quote"));
        }
        let collateral: QuoteCollateralV3 = serde_json::from_slice(&evidence.collateral)
            .map_err(|e| malformed(provider, format!("collateral: {e}")))?;
        let verified = QuoteVerifier::new_prod()
            .with_config::<RustCryptoConfig>()
            .verify(&evidence.quote, &collateral, now_secs)
            .map_err(|e| bad_signature(provider, format!("{e:#}")))?;
        let (measurement, report_data) = match (&verified.report, provider) {
            (Report::SgxEnclave(r), Provider::SgxDcap) => (r.mr_enclave.to_vec(), r.report_data),
            (report, Provider::TdxDcap) if report.as_td10().is_some() => {
                let td = report.as_td10().expect("checked");
                let mut m = td.mr_td.to_vec();
                for rtmr in [&td.rt_mr0, &td.rt_mr1, &td.rt_mr2, &td.rt_mr3] {
                    m.extend_from_slice(rtmr);
                }
                (m, td.report_data)
            }
            _ => return Err(malformed(provider, "the quote is of another TEE type")),
        };
        Ok(VerifiedReport {
            provider,
            measurement,
            report_data,
            tcb_status: verified.status,
            snp_tcb: None,
        })
    }
}

/// Makes TDX quotes through the kernel's configfs-tsm interface
/// (`/sys/kernel/config/tsm/report`, provider `tdx_guest`).
///
/// The quote carries no collateral: whoever submits it fetches the collateral from a PCCS
/// and fills [`DcapEvidence::collateral`] (this worker does not talk to Intel's services).
#[derive(Debug, Clone)]
pub struct TdxQuoter {
    tsm: ConfigfsTsm,
}

impl TdxQuoter {
    /// A quoter using configfs-tsm at its standard place.
    pub fn new() -> Self {
        Self {
            tsm: ConfigfsTsm::default(),
        }
    }
}

impl Default for TdxQuoter {
    fn default() -> Self {
        Self::new()
    }
}

impl Quoter for TdxQuoter {
    fn provider(&self) -> Provider {
        Provider::TdxDcap
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Attestation> {
        let out = self
            .tsm
            .report(Provider::TdxDcap, "tdx_guest", report_data)?;
        Ok(DcapEvidence {
            quote: out.outblob,
            collateral: Vec::new(),
        }
        .into_attestation(Provider::TdxDcap))
    }
}

/// Makes SGX quotes through Gramine's `/dev/attestation` pseudo-files (the enclave writes
/// `user_report_data` and reads `quote`). Collateral as for [`TdxQuoter`].
#[derive(Debug, Clone)]
pub struct SgxQuoter {
    dir: PathBuf,
}

impl SgxQuoter {
    /// A quoter using `/dev/attestation`.
    pub fn new() -> Self {
        Self {
            dir: PathBuf::from("/dev/attestation"),
        }
    }
}

impl SgxQuoter {
    /// A quoter using Gramine's attestation pseudo-files in `dir` (`user_report_data`,
    /// `quote`), for an enclave that mounts them elsewhere.
    pub fn at(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_owned(),
        }
    }
}

impl Default for SgxQuoter {
    fn default() -> Self {
        Self::new()
    }
}

impl Quoter for SgxQuoter {
    fn provider(&self) -> Provider {
        Provider::SgxDcap
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Attestation> {
        let provider = Provider::SgxDcap;
        let unavailable = |what: &str, e: std::io::Error| AttestationError::NotAvailable {
            provider,
            reason: format!("{what} {}: {e}", self.dir.display()),
        };
        std::fs::write(self.dir.join("user_report_data"), report_data)
            .map_err(|e| unavailable("cannot write user_report_data in", e))?;
        let quote = std::fs::read(self.dir.join("quote"))
            .map_err(|e| unavailable("cannot read quote from", e))?;
        Ok(DcapEvidence {
            quote,
            collateral: Vec::new(),
        }
        .into_attestation(provider))
    }
}
