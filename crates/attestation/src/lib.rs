//! Check that a worker runs measured code and owns the keys it registers.
//!
//! A report commits to the worker's ed25519 identity key and x25519 ECDH key through its
//! 64-byte report-data field: [`report_data`] = SHA-512([`REPORT_DATA_LABEL`] ‖ identity ‖
//! ECDH key). The chain checks a report at registration against a [`Policy`] (accepted
//! providers, an allow-list of measurements, accepted TCB statuses); clients can do the same.
//!
//! Providers ([`Provider`]): [`dev`] (a software report, insecure, for dev networks only),
//! [`dcap`] (Intel SGX and TDX quotes, verified with `dcap-qvl` against collateral carried
//! with the quote) and [`sev`] (AMD SEV-SNP reports, verified with the `sev` crate against
//! AMD's built-in root keys and the chip's VCEK certificate carried with the report).
//!
//! [`check_registration`] is what the chain, the gatekeeper and clients run on a worker's
//! registration. [`seal`] keeps secrets on disk bound to the enclave.
//!
//! [`AttestationVerifier`] checks reports; [`Quoter`] makes them. Time comes in as an
//! argument (`now_secs`, Unix seconds): collateral expires, and tests pin it.

pub mod dcap;
pub mod dev;
pub mod seal;
pub mod sev;
pub mod tsm;

use std::fmt;

use fat_types::{Attestation, AttestationPolicy, Hash32, WorkerId};
use sha2::{Digest, Sha512};

/// The label that starts the hash committed to in a report's report data.
pub const REPORT_DATA_LABEL: &[u8] = b"fat/attestation/report-data/v1";

/// Why a report was not verified or not produced.
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    /// The provider name is not one this worker knows.
    #[error("unknown attestation provider {0:?}")]
    UnknownProvider(String),
    /// The policy does not accept this provider.
    #[error("attestation provider {0} is not accepted by this policy")]
    ProviderNotAccepted(Provider),
    /// The report's bytes do not parse.
    #[error("malformed {provider} report: {reason}")]
    Malformed {
        /// The provider.
        provider: Provider,
        /// What is wrong.
        reason: String,
    },
    /// A signature or certificate chain in the report does not verify.
    #[error("{provider} report does not verify: {reason}")]
    BadSignature {
        /// The provider.
        provider: Provider,
        /// What failed.
        reason: String,
    },
    /// The report verifies but is not acceptable (debug mode, TCB status, ...).
    #[error("{provider} report refused: {reason}")]
    Refused {
        /// The provider.
        provider: Provider,
        /// Why.
        reason: String,
    },
    /// The measurement is not on the policy's allow-list.
    #[error("{provider} measurement {measurement} is not on the allow-list")]
    MeasurementNotAllowed {
        /// The provider.
        provider: Provider,
        /// The measurement, hex.
        measurement: String,
    },
    /// The chain accepted the report longer ago than the policy allows.
    #[error(
        "the report was accepted {age_secs} s ago, past the policy's maximum age of \
         {max_age_secs} s: the worker's operator must send a fresh one (Reattest)"
    )]
    Stale {
        /// Seconds since the chain accepted it.
        age_secs: u64,
        /// The policy's maximum.
        max_age_secs: u64,
    },
    /// The report data does not commit to the worker's keys.
    #[error("{provider} report data does not commit to the worker's keys")]
    ReportDataMismatch {
        /// The provider.
        provider: Provider,
    },
    /// This machine cannot produce reports of this provider.
    #[error("{provider} attestation is not available on this machine: {reason}")]
    NotAvailable {
        /// The provider.
        provider: Provider,
        /// What is missing.
        reason: String,
    },
}

/// The result type of the attestation module.
pub type Result<T, E = AttestationError> = std::result::Result<T, E>;

/// Who vouches for a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// A software report signed by the worker's own key: no protection at all.
    Dev,
    /// An Intel SGX DCAP quote.
    SgxDcap,
    /// An Intel TDX DCAP quote.
    TdxDcap,
    /// An AMD SEV-SNP attestation report.
    SevSnp,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 4] = [Self::Dev, Self::SgxDcap, Self::TdxDcap, Self::SevSnp];

    /// The name in [`Attestation::provider`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::SgxDcap => "sgx-dcap",
            Self::TdxDcap => "tdx-dcap",
            Self::SevSnp => "sev-snp",
        }
    }

    /// The provider of a name.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| AttestationError::UnknownProvider(name.to_owned()))
    }

    /// Whether reports of this provider protect nothing (the `dev` provider).
    pub fn is_insecure(self) -> bool {
        self == Self::Dev
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public keys a worker registers and its report commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerKeys {
    /// The ed25519 identity key (the worker id).
    pub identity: [u8; 32],
    /// The x25519 key queries are encrypted to.
    pub ecdh: [u8; 32],
}

/// The report data that commits to `keys`: SHA-512([`REPORT_DATA_LABEL`] ‖ identity ‖ ecdh).
pub fn report_data(keys: &WorkerKeys) -> [u8; 64] {
    let mut hasher = Sha512::new();
    hasher.update(REPORT_DATA_LABEL);
    hasher.update(keys.identity);
    hasher.update(keys.ecdh);
    hasher.finalize().into()
}

/// What a report attests, once its signatures verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport {
    /// Who vouches for it.
    pub provider: Provider,
    /// The code's measurement: SGX `MRENCLAVE`; TDX `MRTD ‖ RTMR0..3`; SNP `MEASUREMENT`;
    /// dev, whatever the worker claims.
    pub measurement: Vec<u8>,
    /// The 64 bytes of report data.
    pub report_data: [u8; 64],
    /// The platform's TCB status (`UpToDate`, ...; `insecure` for dev).
    pub tcb_status: String,
    /// For SEV-SNP, the TCB the report says the platform runs.
    pub snp_tcb: Option<fat_types::SnpTcb>,
}

impl VerifiedReport {
    /// Whether this report protects nothing (a `dev` report).
    pub fn is_insecure(&self) -> bool {
        self.provider.is_insecure()
    }
}

impl fmt::Display for VerifiedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_insecure() {
            f.write_str("INSECURE (software report, no hardware protection) ")?;
        }
        write!(
            f,
            "{} report, measurement {}, tcb {}",
            self.provider,
            hex::encode(&self.measurement),
            self.tcb_status
        )
    }
}

/// What a verifier accepts.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// The accepted providers. `dev` belongs only in a dev network's policy.
    pub providers: Vec<Provider>,
    /// The allowed measurements, per provider.
    pub measurements: Vec<(Provider, Vec<u8>)>,
    /// The accepted TCB statuses of DCAP quotes (e.g. `UpToDate`); empty accepts none.
    pub tcb_statuses: Vec<String>,
    /// The lowest SEV-SNP TCB accepted (`None`: any).
    pub snp_min_tcb: Option<fat_types::SnpTcb>,
}

impl Policy {
    /// The dev network's policy: `dev` reports with these measurements, nothing else.
    pub fn dev(measurements: Vec<Vec<u8>>) -> Self {
        Self {
            providers: vec![Provider::Dev],
            measurements: measurements
                .into_iter()
                .map(|m| (Provider::Dev, m))
                .collect(),
            tcb_statuses: Vec::new(),
            snp_min_tcb: None,
        }
    }

    /// The policy a chain's registry holds, in this crate's terms.
    pub fn from_chain(policy: &AttestationPolicy) -> Result<Self> {
        let providers = policy
            .providers
            .iter()
            .map(|p| Provider::parse(p))
            .collect::<Result<_>>()?;
        let measurements = policy
            .measurements
            .iter()
            .map(|(p, m)| Ok((Provider::parse(p)?, m.0.clone())))
            .collect::<Result<_>>()?;
        Ok(Self {
            providers,
            measurements,
            tcb_statuses: policy.tcb_statuses.clone(),
            snp_min_tcb: policy.snp_min_tcb,
        })
    }

    /// Check a verified report against this policy and the worker's keys.
    pub fn check(&self, report: &VerifiedReport, keys: &WorkerKeys) -> Result<()> {
        let provider = report.provider;
        if !self.providers.contains(&provider) {
            return Err(AttestationError::ProviderNotAccepted(provider));
        }
        if !self
            .measurements
            .iter()
            .any(|(p, m)| *p == provider && *m == report.measurement)
        {
            return Err(AttestationError::MeasurementNotAllowed {
                provider,
                measurement: hex::encode(&report.measurement),
            });
        }
        if matches!(provider, Provider::SgxDcap | Provider::TdxDcap)
            && !self.tcb_statuses.contains(&report.tcb_status)
        {
            return Err(AttestationError::Refused {
                provider,
                reason: format!("TCB status {} is not accepted", report.tcb_status),
            });
        }
        if provider == Provider::SevSnp
            && let Some(min) = &self.snp_min_tcb
        {
            match &report.snp_tcb {
                Some(tcb) if tcb.at_least(min) => {}
                Some(tcb) => {
                    return Err(AttestationError::Refused {
                        provider,
                        reason: format!(
                            "the reported TCB ({tcb}) is below the policy's minimum ({min})"
                        ),
                    });
                }
                None => {
                    return Err(AttestationError::Refused {
                        provider,
                        reason: "the report carries no TCB to compare with the policy's minimum"
                            .into(),
                    });
                }
            }
        }
        if report.report_data != report_data(keys) {
            return Err(AttestationError::ReportDataMismatch { provider });
        }
        Ok(())
    }
}

/// Checks reports of one or more providers.
pub trait AttestationVerifier {
    /// Verify the report's signatures and return what it attests; no policy yet.
    fn verify_report(&self, attestation: &Attestation, now_secs: u64) -> Result<VerifiedReport>;

    /// Verify a report against a policy: the provider is accepted, the signatures verify,
    /// the measurement is allowed and the report data commits to `keys`.
    fn verify(
        &self,
        attestation: &Attestation,
        policy: &Policy,
        keys: &WorkerKeys,
        now_secs: u64,
    ) -> Result<VerifiedReport> {
        let provider = Provider::parse(&attestation.provider)?;
        if !policy.providers.contains(&provider) {
            return Err(AttestationError::ProviderNotAccepted(provider));
        }
        let report = self.verify_report(attestation, now_secs)?;
        if report.provider != provider {
            return Err(AttestationError::Malformed {
                provider,
                reason: format!("the report is a {} report", report.provider),
            });
        }
        policy.check(&report, keys)?;
        Ok(report)
    }
}

/// Produces reports on this machine.
pub trait Quoter {
    /// The provider of the reports.
    fn provider(&self) -> Provider;

    /// A report whose report data is `report_data` (see [`report_data`]).
    fn quote(&self, report_data: &[u8; 64]) -> Result<Attestation>;
}

/// What a `dev` worker claims to run: the measurement a dev chain's policy allows.
pub const DEV_MEASUREMENT: &[u8] = b"fat-worker dev build (insecure)";

/// The policy of a dev chain: `dev` reports claiming [`DEV_MEASUREMENT`], nothing else.
pub fn dev_chain_policy() -> AttestationPolicy {
    AttestationPolicy {
        providers: vec![Provider::Dev.as_str().into()],
        measurements: vec![(
            Provider::Dev.as_str().into(),
            fat_types::Bytes(DEV_MEASUREMENT.to_vec()),
        )],
        tcb_statuses: Vec::new(),
        max_age_secs: 0,
        snp_min_tcb: None,
    }
}

/// The time a registered report is checked at: when the chain accepted it (`attested_at`,
/// Unix seconds), so collateral that expired since does not make a worker untrusted. Past
/// the policy's `max_age_secs` at `now_secs`, the report is stale: its operator must send
/// a fresh one.
pub fn verification_time(
    policy: &AttestationPolicy,
    attested_at: u64,
    now_secs: u64,
) -> Result<u64> {
    let age = now_secs.saturating_sub(attested_at);
    if policy.max_age_secs > 0 && age > policy.max_age_secs {
        return Err(AttestationError::Stale {
            age_secs: age,
            max_age_secs: policy.max_age_secs,
        });
    }
    Ok(attested_at)
}

/// [`check_registration`] of a registered report: as of when the chain accepted it, if it
/// is not older than the policy allows at `now_secs` ([`verification_time`]).
pub fn check_registered(
    policy: &AttestationPolicy,
    worker: &WorkerId,
    ecdh_public: &Hash32,
    attestation: &Attestation,
    attested_at: u64,
    now_secs: u64,
) -> Result<VerifiedReport> {
    let at = verification_time(policy, attested_at, now_secs)?;
    check_registration(policy, worker, ecdh_public, attestation, at)
}

/// Check a worker's registration against a chain's policy: the report verifies, its provider
/// and measurement are accepted, and its report data commits to the worker's identity and
/// ECDH keys. `now_secs` is the time collateral must be valid at (a block's time on chain).
pub fn check_registration(
    policy: &AttestationPolicy,
    worker: &WorkerId,
    ecdh_public: &Hash32,
    attestation: &Attestation,
    now_secs: u64,
) -> Result<VerifiedReport> {
    let policy = Policy::from_chain(policy)?;
    let keys = WorkerKeys {
        identity: worker.0,
        ecdh: ecdh_public.0,
    };
    let report = Verifiers.verify(attestation, &policy, &keys, now_secs)?;
    // A dev report is signed by the key it names: it must name the worker registering.
    if report.provider == Provider::Dev {
        let signer = dev::DevVerifier::signer(attestation)?;
        if signer.0 != worker.0 {
            return Err(AttestationError::Refused {
                provider: Provider::Dev,
                reason: format!("the report is signed by {signer}, not by worker {worker}"),
            });
        }
    }
    Ok(report)
}

/// The verifier of every provider: dispatches on [`Attestation::provider`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Verifiers;

impl AttestationVerifier for Verifiers {
    fn verify_report(&self, attestation: &Attestation, now_secs: u64) -> Result<VerifiedReport> {
        match Provider::parse(&attestation.provider)? {
            Provider::Dev => dev::DevVerifier.verify_report(attestation, now_secs),
            Provider::SgxDcap | Provider::TdxDcap => {
                dcap::DcapVerifier.verify_report(attestation, now_secs)
            }
            Provider::SevSnp => sev::SnpVerifier.verify_report(attestation, now_secs),
        }
    }
}

pub(crate) fn malformed(provider: Provider, reason: impl fmt::Display) -> AttestationError {
    AttestationError::Malformed {
        provider,
        reason: reason.to_string(),
    }
}

pub(crate) fn bad_signature(provider: Provider, reason: impl fmt::Display) -> AttestationError {
    AttestationError::BadSignature {
        provider,
        reason: reason.to_string(),
    }
}
