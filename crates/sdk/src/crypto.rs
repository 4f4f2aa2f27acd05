//! The contract's keys, signatures and hashes; signatures are deterministic.

use crate::bindings::fat::contract::crypto as host;

pub use host::{HashAlgorithm, SignatureScheme};

/// The contract's public key for `scheme` (ed25519: 32 bytes; secp256k1: 33, compressed).
pub fn public_key(scheme: SignatureScheme) -> Vec<u8> {
    host::contract_public_key(scheme)
}

/// A 32-byte secret derived from the contract's key and `salt`, the same on every worker.
pub fn derive_key(salt: &[u8]) -> Vec<u8> {
    host::derive_key(salt)
}

/// Sign `message` with the contract's key (64-byte signatures for both schemes).
pub fn sign(scheme: SignatureScheme, message: &[u8]) -> Vec<u8> {
    host::sign(scheme, message)
}

/// Whether `signature` is `public_key`'s over `message`; false for malformed input.
pub fn verify(
    scheme: SignatureScheme,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    host::verify(scheme, public_key, message, signature)
}

/// Hash `data` with `algorithm`.
pub fn hash(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    host::hash(algorithm, data)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    hash(HashAlgorithm::Sha256, data)
}
