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
    /// no signer twice, every signature valid over [`finalize_message`], at least a quorum.
    /// A [`Certificate::Genesis`] is refused: the genesis block is trusted by configuration,
    /// never by certificate.
    pub fn verify(
        &self,
        block_hash: &Hash32,
        certificate: &Certificate,
    ) -> Result<(), CertificateError> {
        let (round, signatures) = match certificate {
            Certificate::Genesis => return Err(CertificateError::GenesisCertificate),
            Certificate::Ed25519 { round, signatures } => (*round, signatures),
        };
        let needed = self.quorum();
        if signatures.len() < needed {
            return Err(CertificateError::NoQuorum {
                signed: signatures.len(),
                needed,
            });
        }
        let message = finalize_message(round, block_hash);
        let mut signed = vec![false; self.validators.len()];
        for (index, signature) in signatures {
            let key = self
                .validators
                .get(*index as usize)
                .ok_or(CertificateError::UnknownValidator { index: *index })?;
            if std::mem::replace(&mut signed[*index as usize], true) {
                return Err(CertificateError::DuplicateSigner { index: *index });
            }
            verify(key, message.as_bytes(), signature)
                .map_err(|_| CertificateError::BadSignature { validator: *index })?;
        }
        Ok(())
    }
}

/// A validator's signature finalizing the block `block_hash` in `round`.
pub fn sign_finalize(key: &Keypair, round: u64, block_hash: &Hash32) -> Signature {
    key.sign(finalize_message(round, block_hash).as_bytes())
}
