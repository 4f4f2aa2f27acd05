//! XChaCha20-Poly1305, the platform's one authenticated cipher: envelopes, session messages,
//! state at rest and sealed secrets all use it.
//!
//! A 24-byte nonce is long enough to be drawn at random for every message. The construction
//! is the standard one (draft-irtf-cfrg-xchacha): HChaCha20 of the key and the nonce's first
//! 16 bytes gives a subkey, and ChaCha20-Poly1305 (RFC 8439) under that subkey takes the
//! nonce's last 8 bytes behind four zero bytes. The subkey comes from the `chacha20` crate;
//! the AEAD itself from `ring`, whose assembly is several times faster than a portable
//! implementation on the short messages queries and state values are (about 4× at 150
//! bytes). The bytes are those of every other XChaCha20-Poly1305: the tests check them
//! against RustCrypto's `chacha20poly1305`.
//!
//! An [`XChaCha`] wipes its key when dropped, and the subkey once handed to `ring`; the copies
//! made inside the two crates (HChaCha's working state, `ring`'s key) are not wiped, as they
//! were not with RustCrypto's AEAD built without its `zeroize` feature. What guards keys in
//! memory is the enclave, not wiping.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of a key.
pub const KEY_LEN: usize = 32;
/// Bytes of a nonce.
pub const NONCE_LEN: usize = 24;
/// Bytes of the tag a sealed message carries after its ciphertext.
pub const TAG_LEN: usize = 16;

/// A message that does not open: altered, under another key, nonce or associated data, or
/// shorter than a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the message does not decrypt")]
pub struct OpenError;

/// An XChaCha20-Poly1305 key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct XChaCha {
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for XChaCha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XChaCha(..)")
    }
}

impl XChaCha {
    /// The cipher of `key`.
    pub fn new(key: [u8; KEY_LEN]) -> Self {
        Self { key }
    }

    /// The ChaCha20-Poly1305 key and nonce that `nonce` selects.
    fn inner(&self, nonce: &[u8; NONCE_LEN]) -> (LessSafeKey, Nonce) {
        let (head, tail) = nonce.split_at(16);
        let mut subkey: [u8; KEY_LEN] =
            chacha20::hchacha::<chacha20::R20>(&self.key.into(), head.try_into().expect("16"))
                .into();
        let key = UnboundKey::new(&CHACHA20_POLY1305, &subkey)
            .expect("ChaCha20-Poly1305 takes a 32-byte key");
        subkey.zeroize();
        let mut short = [0u8; 12];
        short[4..].copy_from_slice(tail);
        (LessSafeKey::new(key), Nonce::assume_unique_for_key(short))
    }

    /// `plaintext` encrypted under `nonce` with `aad` authenticated beside it: the
    /// ciphertext followed by its [`TAG_LEN`]-byte tag.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        let (key, nonce) = self.inner(nonce);
        key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut out)
            .expect("ChaCha20-Poly1305 seals up to 256 GiB, more than any message here");
        out
    }

    /// The plaintext of what [`XChaCha::seal`] made with the same key, `nonce` and `aad`.
    pub fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < TAG_LEN {
            return Err(OpenError);
        }
        let mut out = sealed.to_vec();
        let (key, nonce) = self.inner(nonce);
        let len = key
            .open_in_place(nonce, Aad::from(aad), &mut out)
            .map_err(|_| OpenError)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}
