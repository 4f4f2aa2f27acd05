//! x25519 keys and the randomness of a seal.

use super::{EnvelopeError, NONCE_LEN, Result};

/// Fill `bytes` from the operating system's random number generator.
pub(crate) fn os_random(bytes: &mut [u8]) -> Result<()> {
    getrandom::fill(bytes).map_err(|e| EnvelopeError::Random(e.to_string()))
}
use std::sync::OnceLock;

use borsh::{BorshDeserialize, BorshSerialize};

/// An x25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct EcdhPublic(pub [u8; 32]);

/// An x25519 secret key (a worker's or a contract's ECDH key).
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct EcdhSecret(
    [u8; 32],
    /// The public key, computed when first asked for: opening an envelope checks it.
    #[zeroize(skip)]
    OnceLock<EcdhPublic>,
);

impl std::fmt::Debug for EcdhSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcdhSecret(public {})", hex_short(&self.public().0))
    }
}

impl EcdhSecret {
    /// The secret of 32 bytes (clamped when used, as x25519 specifies).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes, OnceLock::new())
    }

    /// A fresh secret from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        os_random(&mut bytes)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The secret's bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The public key: `x25519(secret, 9)`, computed once per value, as a fixed-base
    /// multiplication (precomputed tables: a few times faster than the ladder, same bytes).
    pub fn public(&self) -> EcdhPublic {
        *self.1.get_or_init(|| {
            let secret = x25519_dalek::StaticSecret::from(self.0);
            EcdhPublic(x25519_dalek::PublicKey::from(&secret).to_bytes())
        })
    }

    pub(super) fn shared(&self, public: &EcdhPublic) -> Result<[u8; 32]> {
        let shared = x25519_dalek::x25519(self.0, public.0);
        if shared == [0; 32] {
            return Err(EnvelopeError::WeakKey);
        }
        Ok(shared)
    }
}

fn hex_short(bytes: &[u8]) -> String {
    bytes[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The randomness one seal consumes. Fixed values make seals reproducible (golden tests);
/// anything else must use [`SealRandomness::generate`].
#[derive(Clone)]
pub struct SealRandomness {
    /// The ephemeral x25519 secret.
    pub ephemeral: [u8; 32],
    /// The AEAD nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl SealRandomness {
    /// Fresh randomness from the operating system.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32 + NONCE_LEN];
        os_random(&mut bytes)?;
        let (ephemeral, nonce) = bytes.split_at(32);
        Ok(Self {
            ephemeral: ephemeral.try_into().expect("32 bytes"),
            nonce: nonce.try_into().expect("24 bytes"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_is_the_ladder_on_the_base_point() {
        let mut secrets = vec![[0u8; 32], [0xff; 32], [1; 32]];
        for i in 0..32u8 {
            secrets.push(std::array::from_fn(|j| (j as u8).wrapping_mul(37) ^ i));
        }
        for bytes in secrets {
            let ladder = x25519_dalek::x25519(bytes, x25519_dalek::X25519_BASEPOINT_BYTES);
            let secret = EcdhSecret::from_bytes(bytes);
            assert_eq!(secret.public().0, ladder);
            assert_eq!(
                secret.clone().public().0,
                ladder,
                "the cache survives a clone"
            );
        }
    }
}
