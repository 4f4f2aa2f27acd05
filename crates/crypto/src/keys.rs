//! Key pairs, signing and verification.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use fat_types::{AccountId, Signature, SignedTransaction, Transaction};

use crate::{CryptoError, Result};

/// The BLAKE3 `derive_key` context of dev account seeds.
pub const DEV_SEED_CONTEXT: &str = "fat dev account seed v1";

/// An ed25519 key pair.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.account_id())
    }
}

impl Keypair {
    /// The key pair of a 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The secret seed.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key as an account id.
    pub fn account_id(&self) -> AccountId {
        AccountId(self.signing.verifying_key().to_bytes())
    }

    /// Sign a message.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }

    /// Sign a transaction: the signature covers its id.
    pub fn sign_tx(&self, tx: Transaction) -> SignedTransaction {
        let signature = self.sign(tx.id().as_bytes());
        SignedTransaction { tx, signature }
    }
}

/// The well-known key pair of a dev account.
///
/// The seed is `blake3::derive_key(DEV_SEED_CONTEXT, name)`, so anyone can sign as `alice`,
/// `bob`, `charlie`, `gatekeeper` or `sequencer` on a dev chain. Never fund these on a real one.
pub fn dev_keypair(name: &str) -> Keypair {
    Keypair::from_seed(blake3::derive_key(DEV_SEED_CONTEXT, name.as_bytes()))
}

/// Check `signature` is `signer`'s over `message` (strictly: no malleable or weak-key forms).
pub fn verify(signer: &AccountId, message: &[u8], signature: &Signature) -> Result<()> {
    let key = VerifyingKey::from_bytes(signer.as_bytes())
        .map_err(|_| CryptoError::BadPublicKey(*signer))?;
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature)
        .map_err(|_| CryptoError::BadSignature(*signer))
}

/// Check a transaction is signed by its signer.
pub fn verify_tx(tx: &SignedTransaction) -> Result<()> {
    verify(&tx.tx.signer, tx.id().as_bytes(), &tx.signature)
}

/// Whether every transaction of `txs` is signed by its signer, checked together by ed25519's
/// batch verification: one multi-scalar multiplication for all, about half the work per
/// signature of [`verify_tx`] (lists of fewer than four are checked one by one, which costs
/// less there). `false` says only that one is refused; [`verify_tx`] tells which.
///
/// What [`verify_tx`] accepts, this accepts. What it refuses, this refuses too, but for one
/// case: a signature whose points carry a small-order component (which only its signer can
/// make) fails [`verify_tx`]'s exact equation, yet may pass the batch's, which weighs each
/// signature by a coefficient. The coefficients are a hash of the whole list (not chance),
/// so every checker of the same list gets the same answer. The checks of the form that
/// [`verify_tx`] makes first are made here too: weak keys, small-order or non-canonical
/// commitments `R`, and `s` not reduced are refused.
pub fn verify_txs(txs: &[SignedTransaction]) -> bool {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    // Below this a batch costs more than checking each. Part of the protocol, like the
    // batches' size: it decides which lists are checked by which equation.
    const SMALLEST_BATCH: usize = 4;
    if txs.len() < SMALLEST_BATCH {
        return txs.iter().all(|tx| verify_tx(tx).is_ok());
    }
    let mut ids = Vec::with_capacity(txs.len());
    let mut signatures = Vec::with_capacity(txs.len());
    let mut keys = Vec::with_capacity(txs.len());
    for signed in txs {
        let Ok(key) = VerifyingKey::from_bytes(signed.tx.signer.as_bytes()) else {
            return false;
        };
        if key.is_weak() {
            return false;
        }
        let signature = ed25519_dalek::Signature::from_bytes(&signed.signature.0);
        let r = CompressedEdwardsY(*signature.r_bytes());
        match r.decompress() {
            Some(point) if !point.is_small_order() && point.compress() == r => {}
            _ => return false,
        }
        ids.push(signed.id());
        signatures.push(signature);
        keys.push(key);
    }
    let messages: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes().as_slice()).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}
