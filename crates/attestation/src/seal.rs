//! Sealed storage: secrets a worker or a gatekeeper keeps on disk, readable only by the same
//! enclave.
//!
//! In an enclave the sealing key comes from the hardware (SGX `EGETKEY` bound to the
//! measurement, a TDX or SNP derived key); none of that exists on this machine, so the only
//! sealer here is [`DevSealer`], whose key is public: it keeps the format and the code paths
//! of sealing, and protects nothing. Sealed bytes are `FATSEAL1` ‖ provider name length (1
//! byte) ‖ provider name ‖ 24-byte nonce ‖ XChaCha20-Poly1305 ciphertext, with the label as
//! associated data, so a blob sealed for one purpose does not unseal for another.

use hkdf::Hkdf;
use sha2::Sha256;

use super::Provider;

const MAGIC: &[u8] = b"FATSEAL1";

/// Why sealed bytes did not unseal.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Not sealed bytes, or sealed by another provider.
    #[error("not sealed by {expected}: {reason}")]
    Format {
        /// The sealer's provider.
        expected: Provider,
        /// What is wrong.
        reason: String,
    },
    /// The bytes were changed, sealed under another label, or by another enclave.
    #[error("sealed {label} does not unseal: changed, or sealed by another enclave")]
    Tampered {
        /// The label.
        label: String,
    },
    /// No randomness.
    #[error("no randomness for sealing: {0}")]
    Random(String),
}

/// Seals secrets to this enclave.
pub trait Sealer: Send + Sync {
    /// The provider whose enclave the key is bound to.
    fn provider(&self) -> Provider;

    /// Seal `plaintext` for the purpose `label`.
    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError>;

    /// Unseal what [`Sealer::seal`] sealed with the same label.
    fn unseal(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError>;
}

/// The dev sealer: a well-known key. Insecure by design; for dev networks only.
#[derive(Debug, Clone, Copy, Default)]
pub struct DevSealer;

/// The input key material of the dev sealing key (public: dev sealing protects nothing).
pub const DEV_SEALING_SEED: &[u8] = b"fat dev sealing key: NOT A SECRET";

impl DevSealer {
    fn cipher(&self) -> fat_crypto::XChaCha {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, DEV_SEALING_SEED)
            .expand(b"fat/seal/dev/v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        fat_crypto::XChaCha::new(key)
    }

    fn header(&self) -> Vec<u8> {
        let name = self.provider().as_str().as_bytes();
        let mut header = MAGIC.to_vec();
        header.push(name.len() as u8);
        header.extend_from_slice(name);
        header
    }
}

impl Sealer for DevSealer {
    fn provider(&self) -> Provider {
        Provider::Dev
    }

    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let ciphertext = self.cipher().seal(&nonce, label.as_bytes(), plaintext);
        let mut out = self.header();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn unseal(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let format = |reason: &str| SealError::Format {
            expected: self.provider(),
            reason: reason.into(),
        };
        let header = self.header();
        let rest = sealed
            .strip_prefix(MAGIC)
            .ok_or_else(|| format("no FATSEAL1 header"))?;
        let rest = sealed.strip_prefix(header.as_slice()).ok_or_else(|| {
            format(&format!(
                "sealed by another provider ({} bytes)",
                rest.len()
            ))
        })?;
        if rest.len() < 24 + 16 {
            return Err(format("truncated"));
        }
        let (nonce, ciphertext) = rest.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().expect("24 bytes");
        self.cipher()
            .open(&nonce, label.as_bytes(), ciphertext)
            .map_err(|_| SealError::Tampered {
                label: label.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_round_trip_and_refuse_tampering_and_other_labels() {
        let sealer = DevSealer;
        let sealed = sealer.seal("worker-keys", b"secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(sealer.unseal("worker-keys", &sealed).unwrap(), b"secret");
        assert!(matches!(
            sealer.unseal("master-key", &sealed),
            Err(SealError::Tampered { .. })
        ));
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            sealer.unseal("worker-keys", &bad),
            Err(SealError::Tampered { .. })
        ));
        assert!(matches!(
            sealer.unseal("worker-keys", b"plain"),
            Err(SealError::Format { .. })
        ));
        assert!(matches!(
            sealer.unseal("worker-keys", &sealed[..20]),
            Err(SealError::Format { .. })
        ));
    }
}
