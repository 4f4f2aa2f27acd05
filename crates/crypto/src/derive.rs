//! Derive contract secrets from the key tree.

use fat_types::ContractId;
use hkdf::Hkdf;
use sha2::Sha256;

/// The HKDF-SHA256 `info` label of a contract's secret; the contract id follows it.
pub const CONTRACT_SECRET_LABEL: &[u8] = b"fat/contract-secret/v1";

/// The root of the dev key tree. Stands in for the gatekeeper's master key until workers get
/// cluster keys from a gatekeeper: it is public, so dev contract secrets are not secret.
pub const DEV_ROOT_KEY: [u8; 32] = *b"fat dev root key: NOT A SECRET!!";

/// A contract's 32-byte secret: HKDF-SHA256 with the root key as input key material, no salt,
/// and `info` = [`CONTRACT_SECRET_LABEL`] || contract id.
///
/// For now the root is [`DEV_ROOT_KEY`]; the secure-workers work replaces it with the key the
/// gatekeeper provisions, in this one function.
pub fn contract_secret(contract: &ContractId) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(None, &DEV_ROOT_KEY);
    let mut info = CONTRACT_SECRET_LABEL.to_vec();
    info.extend_from_slice(contract.as_bytes());
    let mut out = [0u8; 32];
    hkdf.expand(&info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_differ_per_contract_and_are_stable() {
        let a = contract_secret(&ContractId([1; 32]));
        assert_eq!(a, contract_secret(&ContractId([1; 32])));
        assert_ne!(a, contract_secret(&ContractId([2; 32])));
    }
}
