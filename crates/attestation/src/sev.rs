//! AMD SEV-SNP attestation reports, verified with the `sev` crate (pure Rust backend).
//!
//! A report is the borsh encoding of [`SnpEvidence`]: the 1184-byte attestation report and
//! the chip's VCEK certificate (DER). Verification checks the VCEK against AMD's built-in
//! ARK and ASK (Milan, Genoa or Turin), the report's signature by the VCEK, and refuses
//! guests whose policy allows debugging. The measurement is the report's `MEASUREMENT`.
//!
//! The policy's `snp_min_tcb` (checked by [`super::Policy::check`]) refuses a report whose
//! `REPORTED_TCB` is below it in any component.
//!
//! The VCEK is derived by the chip from its secret and a TCB: its certificate names that
//! TCB and the chip (extensions under AMD's arc 1.3.6.1.4.1.3704). A report is taken only
//! when those match the report's `REPORTED_TCB` and `CHIP_ID`, so a VCEK of an older,
//! weaker TCB (whose key may have leaked) cannot vouch for a report claiming a newer one,
//! and the policy's minimum TCB holds for the key that signed. A report must also have been
//! requested at VMPL 0, the guest's most privileged level: code running at a lower level
//! (under a paravisor) could otherwise ask for reports over data of its choosing.

use borsh::{BorshDeserialize, BorshSerialize};
use fat_types::encoding::{decode, encode};
use fat_types::{Attestation, Bytes};
use sev::certs::snp::{Certificate, Chain, Verifiable, builtin, ca};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use super::tsm::ConfigfsTsm;
use super::{
    AttestationError, AttestationVerifier, Provider, Quoter, Result, VerifiedReport, bad_signature,
    malformed,
};

/// The GUID of the VCEK in a certificate table (big-endian text order).
const VCEK_GUID: [u8; 16] = [
    0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd,
];

/// An SEV-SNP report with the certificate that signed it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SnpEvidence {
    /// The raw attestation report.
    pub report: Vec<u8>,
    /// The VCEK certificate, DER.
    pub vcek: Vec<u8>,
}

impl SnpEvidence {
    /// The attestation of this evidence.
    pub fn into_attestation(self) -> Attestation {
        Attestation {
            provider: Provider::SevSnp.as_str().to_owned(),
            report: Bytes(encode(&self)),
        }
    }
}

/// Verifies SEV-SNP reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct SnpVerifier;

impl AttestationVerifier for SnpVerifier {
    fn verify_report(&self, attestation: &Attestation, _now_secs: u64) -> Result<VerifiedReport> {
        let provider = Provider::SevSnp;
        if attestation.provider != provider.as_str() {
            return Err(malformed(provider, "not an SEV-SNP report"));
        }
        let evidence: SnpEvidence =
            decode("SNP evidence", &attestation.report.0).map_err(|e| malformed(provider, e))?;
        let report = AttestationReport::from_bytes(&evidence.report)
            .map_err(|e| malformed(provider, format!("report: {e}")))?;
        let vcek = Certificate::from_der(&evidence.vcek)
            .map_err(|e| malformed(provider, format!("VCEK: {e}")))?;
        let chain = amd_chain(vcek)?;
        (&chain, &report)
            .verify()
            .map_err(|e| bad_signature(provider, format!("report signature: {e}")))?;
        check_vcek_binds(&evidence.vcek, &report)?;
        check_vmpl(&report)?;
        if report.policy.debug_allowed() {
            return Err(AttestationError::Refused {
                provider,
                reason: "the guest policy allows debugging".to_owned(),
            });
        }
        Ok(VerifiedReport {
            provider,
            measurement: report.measurement.to_vec(),
            report_data: report.report_data,
            tcb_status: format!("{:?}", report.reported_tcb),
            snp_tcb: Some(fat_types::SnpTcb {
                bootloader: report.reported_tcb.bootloader,
                tee: report.reported_tcb.tee,
                snp: report.reported_tcb.snp,
                microcode: report.reported_tcb.microcode,
            }),
        })
    }
}

/// AMD's OIDs for the VCEK's TCB components and the chip id.
mod oid {
    use x509_cert::der::asn1::ObjectIdentifier as Oid;
    pub const BOOTLOADER: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
    pub const TEE: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
    pub const SNP: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
    pub const MICROCODE: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
    pub const FMC: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
    pub const HW_ID: Oid = Oid::new_unwrap("1.3.6.1.4.1.3704.1.4");
}

fn refused(reason: String) -> AttestationError {
    AttestationError::Refused {
        provider: Provider::SevSnp,
        reason,
    }
}

/// Refuse `report` unless the VCEK certificate `vcek` (DER) was issued for the report's
/// `REPORTED_TCB` and `CHIP_ID`. A TCB component or the chip id missing from the
/// certificate is refused too; a certificate for the FMC component (Turin) must match
/// the report's.
pub fn check_vcek_binds(vcek: &[u8], report: &AttestationReport) -> Result<()> {
    use x509_cert::der::{Decode, asn1::OctetString};
    let cert = x509_cert::Certificate::from_der(vcek)
        .map_err(|e| malformed(Provider::SevSnp, format!("VCEK: {e}")))?;
    let extensions = cert.tbs_certificate.extensions.unwrap_or_default();
    let value = |id| {
        extensions
            .iter()
            .find(|e| e.extn_id == id)
            .map(|e| e.extn_value.as_bytes())
    };
    let tcb = &report.reported_tcb;
    let components = [
        ("bootloader", oid::BOOTLOADER, Some(tcb.bootloader)),
        ("TEE", oid::TEE, Some(tcb.tee)),
        ("SNP", oid::SNP, Some(tcb.snp)),
        ("microcode", oid::MICROCODE, Some(tcb.microcode)),
        ("FMC", oid::FMC, tcb.fmc),
    ];
    for (name, id, reported) in components {
        let certified =
            match value(id) {
                Some(bytes) => Some(u8::from_der(bytes).map_err(|e| {
                    malformed(Provider::SevSnp, format!("VCEK {name} version: {e}"))
                })?),
                None => None,
            };
        if certified != reported {
            let show = |v: Option<u8>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
            return Err(refused(format!(
                "the VCEK was issued for {name} version {}, the report claims {}",
                show(certified),
                show(reported)
            )));
        }
    }
    let hw_id = value(oid::HW_ID).ok_or_else(|| refused("the VCEK names no chip".to_owned()))?;
    // Milan and Genoa put the 64-byte id as it is, Turin 8 bytes; some issuers wrap it in
    // an OCTET STRING.
    let unwrapped = OctetString::from_der(hw_id)
        .map(|o| o.as_bytes().to_vec())
        .unwrap_or_else(|_| hw_id.to_vec());
    let chip = &report.chip_id;
    let matches = |id: &[u8]| match id.len() {
        64 => id == chip,
        8 => id == &chip[..8] && chip[8..].iter().all(|b| *b == 0),
        _ => false,
    };
    if !(matches(hw_id) || matches(&unwrapped)) {
        return Err(refused(
            "the VCEK was issued to another chip than the one that made the report".to_owned(),
        ));
    }
    Ok(())
}

/// Refuse a report requested at a VMPL other than 0.
pub fn check_vmpl(report: &AttestationReport) -> Result<()> {
    if report.vmpl != 0 {
        return Err(refused(format!(
            "the report was requested at VMPL {}, not 0 (the guest's most privileged level)",
            report.vmpl
        )));
    }
    Ok(())
}

/// The chain from one of AMD's built-in roots to `vcek`, if one of them signed it.
fn amd_chain(vcek: Certificate) -> Result<Chain> {
    type Roots = fn() -> std::io::Result<(Certificate, Certificate)>;
    let roots: [(&str, Roots); 3] = [
        ("Milan", || {
            Ok((builtin::milan::ark()?, builtin::milan::ask()?))
        }),
        ("Genoa", || {
            Ok((builtin::genoa::ark()?, builtin::genoa::ask()?))
        }),
        ("Turin", || {
            Ok((builtin::turin::ark()?, builtin::turin::ask()?))
        }),
    ];
    for (_name, roots) in roots {
        let (ark, ask) = roots().map_err(|e| malformed(Provider::SevSnp, e))?;
        let chain = Chain {
            ca: ca::Chain { ark, ask },
            vek: vcek.clone(),
        };
        if chain.verify().is_ok() {
            return Ok(chain);
        }
    }
    Err(bad_signature(
        Provider::SevSnp,
        "the VCEK is not signed by AMD's Milan, Genoa or Turin keys",
    ))
}

/// Makes SEV-SNP reports through configfs-tsm (provider `sev_guest`). The VCEK comes from
/// the certificate table the host supplies (`auxblob`); without one, fetch it from AMD's
/// key distribution service and fill [`SnpEvidence::vcek`].
#[derive(Debug, Clone, Default)]
pub struct SnpQuoter {
    tsm: ConfigfsTsm,
}

impl Quoter for SnpQuoter {
    fn provider(&self) -> Provider {
        Provider::SevSnp
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Attestation> {
        let out = self
            .tsm
            .report(Provider::SevSnp, "sev_guest", report_data)?;
        Ok(SnpEvidence {
            report: out.outblob,
            vcek: vcek_from_cert_table(&out.auxblob).unwrap_or_default(),
        }
        .into_attestation())
    }
}

/// The VCEK in a GHCB certificate table: entries of (GUID, offset u32, length u32), ending
/// with an all-zero entry; offsets count from the table's start.
pub fn vcek_from_cert_table(table: &[u8]) -> Option<Vec<u8>> {
    let mut mixed = VCEK_GUID;
    mixed[0..4].reverse();
    mixed[4..6].reverse();
    mixed[6..8].reverse();
    for entry in table.chunks_exact(24) {
        let guid: [u8; 16] = entry[..16].try_into().ok()?;
        if guid == [0; 16] {
            break;
        }
        if guid == VCEK_GUID || guid == mixed {
            let offset = u32::from_le_bytes(entry[16..20].try_into().ok()?) as usize;
            let length = u32::from_le_bytes(entry[20..24].try_into().ok()?) as usize;
            return table
                .get(offset..offset.checked_add(length)?)
                .map(<[u8]>::to_vec);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcek_is_found_in_a_certificate_table() {
        let vcek = b"not really a certificate";
        let mut guid = VCEK_GUID;
        guid[0..4].reverse();
        guid[4..6].reverse();
        guid[6..8].reverse();
        let mut table = guid.to_vec();
        table.extend_from_slice(&48u32.to_le_bytes());
        table.extend_from_slice(&(vcek.len() as u32).to_le_bytes());
        table.extend_from_slice(&[0; 24]);
        table.extend_from_slice(vcek);
        assert_eq!(vcek_from_cert_table(&table).as_deref(), Some(&vcek[..]));
        assert_eq!(vcek_from_cert_table(&[0; 24]), None);
        table[20] = 0xff; // a length past the end
        assert_eq!(vcek_from_cert_table(&table), None);
    }
}
