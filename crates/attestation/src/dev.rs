//! The `dev` provider: a software report the worker signs with its own identity key.
//!
//! It proves only that whoever made it holds the identity key: nothing about the code or
//! the machine. Every output says so ([`VerifiedReport::is_insecure`], its `Display`), and
//! only a dev network's [`Policy`](super::Policy) lists [`Provider::Dev`].

use borsh::{BorshDeserialize, BorshSerialize};
use fat_crypto::Keypair;
use fat_types::encoding::{decode, encode, tagged_hash};
use fat_types::{AccountId, Attestation, Bytes, Signature};

use super::{
    AttestationVerifier, Provider, Quoter, Result, VerifiedReport, bad_signature, malformed,
};

/// The domain tag of the hash a dev report's signature covers.
pub const DEV_REPORT_TAG: &str = "fat/attestation/dev/v1";

/// The TCB status of every dev report.
pub const DEV_TCB_STATUS: &str = "insecure";

/// The body of a dev report: what the worker claims.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DevReportBody {
    /// The signer: the worker's ed25519 identity key.
    pub identity: AccountId,
    /// What the worker claims to run (e.g. a hash of its binary). Nothing checks it.
    pub measurement: Bytes,
    /// The report data (see [`super::report_data`]).
    pub report_data: Vec<u8>,
}

/// A dev report: its body and the identity key's signature of H([`DEV_REPORT_TAG`], body).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DevReport {
    /// The claims.
    pub body: DevReportBody,
    /// The signature.
    pub signature: Signature,
}

/// Makes dev reports with the worker's identity key.
#[derive(Debug, Clone)]
pub struct DevQuoter {
    identity: Keypair,
    measurement: Vec<u8>,
}

impl DevQuoter {
    /// A quoter signing with `identity` and claiming `measurement`.
    pub fn new(identity: Keypair, measurement: Vec<u8>) -> Self {
        Self {
            identity,
            measurement,
        }
    }
}

impl Quoter for DevQuoter {
    fn provider(&self) -> Provider {
        Provider::Dev
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Attestation> {
        let body = DevReportBody {
            identity: self.identity.account_id(),
            measurement: Bytes(self.measurement.clone()),
            report_data: report_data.to_vec(),
        };
        let signature = self
            .identity
            .sign(tagged_hash(DEV_REPORT_TAG, &body).as_bytes());
        Ok(Attestation {
            provider: Provider::Dev.as_str().to_owned(),
            report: Bytes(encode(&DevReport { body, signature })),
        })
    }
}

/// Verifies dev reports: the signature is the claimed identity's. That is all it can check.
#[derive(Debug, Default, Clone, Copy)]
pub struct DevVerifier;

impl DevVerifier {
    /// The identity a dev report names as its signer (not verified: see `verify_report`).
    pub fn signer(attestation: &Attestation) -> Result<AccountId> {
        let report: DevReport =
            decode("dev report", &attestation.report.0).map_err(|e| malformed(Provider::Dev, e))?;
        Ok(report.body.identity)
    }
}

impl AttestationVerifier for DevVerifier {
    fn verify_report(&self, attestation: &Attestation, _now_secs: u64) -> Result<VerifiedReport> {
        let provider = Provider::Dev;
        if attestation.provider != provider.as_str() {
            return Err(malformed(provider, "not a dev report"));
        }
        let report: DevReport =
            decode("dev report", &attestation.report.0).map_err(|e| malformed(provider, e))?;
        let hash = tagged_hash(DEV_REPORT_TAG, &report.body);
        fat_crypto::verify(&report.body.identity, hash.as_bytes(), &report.signature)
            .map_err(|e| bad_signature(provider, e))?;
        let report_data: [u8; 64] = report
            .body
            .report_data
            .as_slice()
            .try_into()
            .map_err(|_| malformed(provider, "report data is not 64 bytes"))?;
        Ok(VerifiedReport {
            provider,
            measurement: report.body.measurement.0,
            report_data,
            tcb_status: DEV_TCB_STATUS.to_owned(),
            snp_tcb: None,
        })
    }
}
