//! The validator set and the certificates it signs.

use std::collections::HashSet;

use fat_crypto::{Keypair, verify};
use fat_types::{AccountId, Certificate, Hash32, Signature, finalize_message};

use crate::error::{CertificateError, ConsensusError, Result};

/// The validators a genesis names, in order: a certificate names each signer by its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<AccountId>,
}

impl ValidatorSet {
    /// The set of `validators` (their ed25519 consensus keys); refuses an empty set and a key
    /// listed twice.
    pub fn new(validators: Vec<AccountId>) -> Result<Self> {
        if validators.is_empty() {
            return Err(ConsensusError::NoValidators);
        }
        let mut seen = HashSet::new();
        if let Some(twice) = validators.iter().find(|v| !seen.insert(**v)) {
            return Err(ConsensusError::DuplicateValidator { validator: *twice });
        }
        Ok(Self { validators })
    }

    /// How many validators there are.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Whether the set is empty (never: [`Self::new`] refuses it).
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The validators, in order.
    pub fn validators(&self) -> &[AccountId] {
        &self.validators
    }

    /// The index of `account` in the set.
    pub fn index_of(&self, account: &AccountId) -> Option<u32> {
        self.validators
            .iter()
            .position(|v| v == account)
            .map(|i| i as u32)
    }

    /// How many distinct signatures finalize a block: n − ⌊(n−1)/3⌋, i.e. 2f+1 of 3f+1
    /// (1 of 1, 3 of 3, 3 of 4, 5 of 7). Any two quorums share an honest validator while at
    /// most ⌊(n−1)/3⌋ are faulty.
    pub fn quorum(&self) -> usize {
        let n = self.validators.len();
        n - n.saturating_sub(1) / 3
    }

    /// Check `certificate` proves the block `block_hash` final: every signer index in range,
    /// no signer twice, every signature valid over what its scheme signs ([`finalize_message`]
    /// for [`Certificate::Ed25519`], simplex's finalize vote for [`Certificate::Simplex`]), at
    /// least a quorum. A simplex certificate over a descendant must link back to `block_hash`
    /// header by header. A [`Certificate::Genesis`] is refused: the genesis block is trusted by
    /// configuration, never by certificate.
    pub fn verify(
        &self,
        block_hash: &Hash32,
        certificate: &Certificate,
    ) -> Result<(), CertificateError> {
        match certificate {
            Certificate::Genesis => Err(CertificateError::GenesisCertificate),
            Certificate::Ed25519 { round, signatures } => {
                let message = finalize_message(*round, block_hash);
                self.check_signatures(message.as_bytes(), signatures)
            }
            Certificate::Simplex {
                view,
                parent_view,
                signatures,
                descendants,
            } => {
                let mut finalized = *block_hash;
                for (at, header) in descendants.iter().enumerate() {
                    if header.parent != finalized {
                        return Err(CertificateError::BrokenDescendants { at });
                    }
                    finalized = header.hash();
                }
                let message = simplex_finalize_message(*view, *parent_view, &finalized);
                self.check_signatures(&message, signatures)
            }
        }
    }

    fn check_signatures(
        &self,
        message: &[u8],
        signatures: &[(u32, Signature)],
    ) -> Result<(), CertificateError> {
        let needed = self.quorum();
        if signatures.len() < needed {
            return Err(CertificateError::NoQuorum {
                signed: signatures.len(),
                needed,
            });
        }
        let mut signed = vec![false; self.validators.len()];
        for (index, signature) in signatures {
            let key = self
                .validators
                .get(*index as usize)
                .ok_or(CertificateError::UnknownValidator { index: *index })?;
            if std::mem::replace(&mut signed[*index as usize], true) {
                return Err(CertificateError::DuplicateSigner { index: *index });
            }
            verify(key, message, signature)
                .map_err(|_| CertificateError::BadSignature { validator: *index })?;
        }
        Ok(())
    }
}

/// The namespace under which the validators of every chain run commonware's simplex engine.
/// It need not name the chain: what they sign is a block hash, which links to the genesis.
pub const SIMPLEX_NAMESPACE: &[u8] = b"fat/simplex/v1";

/// The bytes a validator's ed25519 key signs in simplex's finalize vote for the block
/// `block_hash` proposed in `view` on a parent proposed in `parent_view` (epoch 0), under
/// [`SIMPLEX_NAMESPACE`]: `varint(len(ns)) ‖ ns ‖ varint(epoch) ‖ varint(view) ‖
/// varint(parent_view) ‖ block_hash`, where `ns` is the namespace followed by `_FINALIZE`.
/// The simplex module's tests check it against the engine's own verification.
pub fn simplex_finalize_message(view: u64, parent_view: u64, block_hash: &Hash32) -> Vec<u8> {
    let mut namespace = SIMPLEX_NAMESPACE.to_vec();
    namespace.extend_from_slice(b"_FINALIZE");
    let mut message = Vec::with_capacity(namespace.len() + 64);
    write_varint(&mut message, namespace.len() as u64);
    message.extend_from_slice(&namespace);
    write_varint(&mut message, 0);
    write_varint(&mut message, view);
    write_varint(&mut message, parent_view);
    message.extend_from_slice(block_hash.as_bytes());
    message
}

/// Unsigned LEB128, as commonware's codec writes integers.
fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A validator's signature finalizing the block `block_hash` in `round`.
pub fn sign_finalize(key: &Keypair, round: u64, block_hash: &Hash32) -> Signature {
    key.sign(finalize_message(round, block_hash).as_bytes())
}
