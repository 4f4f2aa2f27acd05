//! The contract's keys and the hashes and signatures of the crypto interface.

use std::sync::OnceLock;

use ed25519_dalek::Signer as _;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::bindings::fat::contract::crypto::{HashAlgorithm, SignatureScheme};

/// HKDF labels. Each use of the contract secret has its own, so no output of one use
/// can be fed to another.
const ED25519_LABEL: &[u8] = b"fat/contract/ed25519/v1";
const SECP256K1_LABEL: &[u8] = b"fat/contract/secp256k1/v1";
const DERIVE_LABEL: &[u8] = b"fat/contract/derive-key/v1";

/// The keys of one contract, derived from its 32-byte secret on first use.
///
/// The secret itself comes from the key tree (cluster key -> contract); nothing here lets a
/// contract reach a secret other than its own.
pub(crate) struct ContractKeys {
    secret: [u8; 32],
    ed25519: OnceLock<ed25519_dalek::SigningKey>,
    secp256k1: OnceLock<k256::ecdsa::SigningKey>,
}

impl ContractKeys {
    pub(crate) fn new(secret: [u8; 32]) -> Self {
        Self {
            secret,
            ed25519: OnceLock::new(),
            secp256k1: OnceLock::new(),
        }
    }

    fn expand(&self, label: &[u8], salt: &[u8]) -> [u8; 32] {
        let hkdf = Hkdf::<Sha256>::new(None, &self.secret);
        let mut out = [0u8; 32];
        let info = [label, &(salt.len() as u32).to_le_bytes(), salt].concat();
        hkdf.expand(&info, &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        out
    }

    /// A 32-byte secret for `salt`.
    pub(crate) fn derive(&self, salt: &[u8]) -> [u8; 32] {
        self.expand(DERIVE_LABEL, salt)
    }

    fn ed25519(&self) -> &ed25519_dalek::SigningKey {
        self.ed25519
            .get_or_init(|| ed25519_dalek::SigningKey::from_bytes(&self.expand(ED25519_LABEL, b"")))
    }

    fn secp256k1(&self) -> &k256::ecdsa::SigningKey {
        self.secp256k1.get_or_init(|| {
            // A 32-byte string is a valid scalar with overwhelming probability; a counter
            // in the salt picks the next one in the rare case it is not.
            (0u32..)
                .find_map(|n| {
                    let bytes = self.expand(SECP256K1_LABEL, &n.to_le_bytes());
                    k256::ecdsa::SigningKey::from_slice(&bytes).ok()
                })
                .expect("some counter gives a valid scalar")
        })
    }

    pub(crate) fn public_key(&self, scheme: SignatureScheme) -> Vec<u8> {
        match scheme {
            SignatureScheme::Ed25519 => self.ed25519().verifying_key().to_bytes().to_vec(),
            SignatureScheme::Secp256k1 => self
                .secp256k1()
                .verifying_key()
                .to_sec1_point(true)
                .as_bytes()
                .to_vec(),
        }
    }

    pub(crate) fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Vec<u8> {
        match scheme {
            SignatureScheme::Ed25519 => self.ed25519().sign(message).to_bytes().to_vec(),
            SignatureScheme::Secp256k1 => {
                let signature: k256::ecdsa::Signature = self.secp256k1().sign(message);
                let signature = signature.normalize_s();
                signature.to_bytes().to_vec()
            }
        }
    }
}

/// Check a signature; any malformed input is simply not a valid signature.
pub(crate) fn verify(
    scheme: SignatureScheme,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    match scheme {
        SignatureScheme::Ed25519 => {
            let (Ok(key), Ok(signature)) = (
                <[u8; 32]>::try_from(public_key),
                ed25519_dalek::Signature::from_slice(signature),
            ) else {
                return false;
            };
            ed25519_dalek::VerifyingKey::from_bytes(&key)
                .is_ok_and(|key| key.verify_strict(message, &signature).is_ok())
        }
        SignatureScheme::Secp256k1 => {
            use k256::ecdsa::signature::Verifier as _;
            let (Ok(key), Ok(signature)) = (
                k256::ecdsa::VerifyingKey::from_sec1_bytes(public_key),
                k256::ecdsa::Signature::from_slice(signature),
            ) else {
                return false;
            };
            key.verify(message, &signature).is_ok()
        }
    }
}

pub(crate) fn hash(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        HashAlgorithm::Keccak256 => sha3::Keccak256::digest(data).to_vec(),
        HashAlgorithm::Blake3 => blake3::hash(data).as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_per_secret() {
        let a = ContractKeys::new([1; 32]);
        let a2 = ContractKeys::new([1; 32]);
        let b = ContractKeys::new([2; 32]);
        assert_eq!(a.derive(b"x"), a2.derive(b"x"));
        assert_ne!(a.derive(b"x"), a.derive(b"y"));
        assert_ne!(a.derive(b"x"), b.derive(b"x"));
        for scheme in [SignatureScheme::Ed25519, SignatureScheme::Secp256k1] {
            assert_eq!(a.public_key(scheme), a2.public_key(scheme));
            assert_ne!(a.public_key(scheme), b.public_key(scheme));
            let signature = a.sign(scheme, b"message");
            assert_eq!(
                signature,
                a2.sign(scheme, b"message"),
                "deterministic signatures"
            );
            assert!(verify(
                scheme,
                &a.public_key(scheme),
                b"message",
                &signature
            ));
            assert!(!verify(scheme, &a.public_key(scheme), b"other", &signature));
            assert!(!verify(
                scheme,
                &b.public_key(scheme),
                b"message",
                &signature
            ));
            assert!(!verify(scheme, b"short", b"message", &signature));
            assert!(!verify(scheme, &a.public_key(scheme), b"message", b"bad"));
        }
    }

    #[test]
    fn known_hashes() {
        assert_eq!(
            hex(&hash(HashAlgorithm::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&hash(HashAlgorithm::Keccak256, b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex(&hash(HashAlgorithm::Blake3, b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
