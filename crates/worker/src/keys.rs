//! The worker's secrets: its own keys, sealed on disk, and the cluster keys provisioned to it,
//! from which it derives each contract's keys and the at-rest cipher of its state.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use borsh::{BorshDeserialize, BorshSerialize};
use fat_attestation::seal::Sealer;
use fat_crypto::envelope::{EcdhPublic, EcdhSecret};
use fat_crypto::{ClusterKey, ContractKeys, Keypair};
use fat_types::encoding::{decode, encode};
use fat_types::{ClusterId, ContractId, ContractInfo};
use zeroize::Zeroize;

use crate::error::{Result, WorkerError};

/// The file in the data directory holding the worker's sealed keys.
pub const KEYS_FILE: &str = "keys.sealed";
const KEYS_LABEL: &str = "fat/worker/keys/v1";
/// The label cluster keys are sealed under in the store: the sealed bytes are the key's
/// epoch (4 bytes, little-endian) then the key (32 bytes).
const CLUSTER_KEY_LABEL: &str = "fat/worker/cluster-key/v2";

/// Seal a cluster key, with its epoch, for the store.
pub(crate) fn seal_cluster_key(sealer: &dyn Sealer, key: &ClusterKey) -> Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(36);
    plain.extend_from_slice(&key.epoch().to_le_bytes());
    plain.extend_from_slice(&key.to_bytes());
    let sealed = sealer.seal(CLUSTER_KEY_LABEL, &plain);
    plain.zeroize();
    sealed.map_err(|e| WorkerError::Keys(e.to_string()))
}

/// Unseal a cluster key the store holds for `cluster`.
pub(crate) fn unseal_cluster_key(
    sealer: &dyn Sealer,
    cluster: &ClusterId,
    sealed: &[u8],
) -> Result<ClusterKey> {
    let mut plain = sealer
        .unseal(CLUSTER_KEY_LABEL, sealed)
        .map_err(|e| WorkerError::Keys(format!("cluster key of {cluster}: {e}")))?;
    let key = match plain.as_slice() {
        [e0, e1, e2, e3, rest @ ..] if rest.len() == 32 => {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(rest);
            Ok(ClusterKey::from_bytes(
                u32::from_le_bytes([*e0, *e1, *e2, *e3]),
                bytes,
            ))
        }
        _ => Err(WorkerError::Keys(format!(
            "cluster key of {cluster}: {} bytes, not an epoch and a key",
            plain.len()
        ))),
    };
    plain.zeroize();
    key
}

#[derive(BorshSerialize, BorshDeserialize)]
struct SealedKeys {
    identity: [u8; 32],
    ecdh: [u8; 32],
}

/// A worker's own keys: its ed25519 identity and its x25519 ECDH key.
#[derive(Clone)]
pub struct WorkerSecrets {
    /// Signs receipts, responses and (as the worker id) is what the chain registers.
    pub identity: Keypair,
    /// Queries and provisioned cluster keys are sealed to its public key.
    pub ecdh: EcdhSecret,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let clusters = self.clusters.read().expect("keyring lock").len();
        write!(f, "Keyring({clusters} clusters)")
    }
}

impl std::fmt::Debug for WorkerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkerSecrets({})", self.identity.account_id())
    }
}

impl WorkerSecrets {
    /// The keys sealed in `dir`, or new ones sealed there on first start. With `identity`,
    /// the first start uses that identity key instead of a new one, and later starts check
    /// that the sealed identity is the same.
    pub fn load_or_create(
        dir: &Path,
        sealer: &dyn Sealer,
        identity: Option<&Keypair>,
    ) -> Result<Self> {
        let path = dir.join(KEYS_FILE);
        let secrets = match std::fs::read(&path) {
            Ok(sealed) => {
                let plain = sealer
                    .unseal(KEYS_LABEL, &sealed)
                    .map_err(|e| WorkerError::Keys(format!("{}: {e}", path.display())))?;
                let keys: SealedKeys = decode("worker keys", &plain)
                    .map_err(|e| WorkerError::Keys(format!("{}: {e}", path.display())))?;
                Self {
                    identity: Keypair::from_seed(keys.identity),
                    ecdh: EcdhSecret::from_bytes(keys.ecdh),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A store without its keys is a worker that lost its identity: making a new
                // one would leave the store's sealed state unreadable and pose as another
                // worker. Refuse, and leave both as they are.
                let store = dir.join(crate::store::DB_FILE);
                if store.exists() {
                    return Err(WorkerError::Keys(format!(
                        "{} is missing beside the store {}: refusing to make a new identity \
                         for an existing worker; restore the key file, or start in an empty \
                         data directory",
                        path.display(),
                        store.display()
                    )));
                }
                let identity = match identity {
                    Some(key) => key.clone(),
                    None => Keypair::from_seed(random()?),
                };
                let secrets = Self {
                    identity,
                    ecdh: EcdhSecret::from_bytes(random()?),
                };
                let plain = encode(&SealedKeys {
                    identity: secrets.identity.seed(),
                    ecdh: secrets.ecdh.to_bytes(),
                });
                let sealed = sealer
                    .seal(KEYS_LABEL, &plain)
                    .map_err(|e| WorkerError::Keys(e.to_string()))?;
                write_new(&path, &sealed)?;
                secrets
            }
            Err(source) => {
                return Err(WorkerError::DataDir {
                    path: path.clone(),
                    source,
                });
            }
        };
        if let Some(given) = identity
            && given.account_id() != secrets.identity.account_id()
        {
            return Err(WorkerError::Keys(format!(
                "{} holds the identity {}, not the requested {}",
                path.display(),
                secrets.identity.account_id(),
                given.account_id()
            )));
        }
        Ok(secrets)
    }

    /// The ECDH public key.
    pub fn ecdh_public(&self) -> EcdhPublic {
        self.ecdh.public()
    }
}

fn random() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| WorkerError::Keys(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// Write a file that must not exist yet, durably and readable by the worker's user only.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    fat_types::private_fs::write_private_new(path, bytes).map_err(|source| WorkerError::DataDir {
        path: path.into(),
        source,
    })
}

/// A contract's keys and the cipher of its state at rest.
pub(crate) struct ContractCrypt {
    pub(crate) keys: ContractKeys,
    at_rest: fat_crypto::XChaCha,
    /// The cluster and the key epoch the keys are of.
    of: (ClusterId, u32),
}

fn aad(contract: &ContractId, key: &[u8]) -> Vec<u8> {
    let mut aad = contract.as_bytes().to_vec();
    aad.extend_from_slice(key);
    aad
}

impl ContractCrypt {
    fn new(keys: ContractKeys, of: (ClusterId, u32)) -> Self {
        let at_rest = fat_crypto::XChaCha::new(keys.at_rest());
        Self { keys, at_rest, of }
    }

    /// Encrypt a state value stored under `key`: nonce ‖ ciphertext.
    pub(crate) fn encrypt(
        &self,
        contract: &ContractId,
        key: &[u8],
        value: &[u8],
    ) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce)
            .map_err(|e| WorkerError::Keys(format!("no randomness: {e}")))?;
        let ciphertext = self.at_rest.seal(&nonce, &aad(contract, key), value);
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypt what [`ContractCrypt::encrypt`] stored under `key`.
    pub(crate) fn decrypt(
        &self,
        contract: &ContractId,
        key: &[u8],
        stored: &[u8],
    ) -> Result<Vec<u8>> {
        if stored.len() < 24 + 16 {
            return Err(WorkerError::Corrupt(format!(
                "state value of {contract} is too short to be encrypted"
            )));
        }
        let (nonce, ciphertext) = stored.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().expect("24 bytes");
        self.at_rest
            .open(&nonce, &aad(contract, key), ciphertext)
            .map_err(|_| {
                WorkerError::Corrupt(format!(
                    "a state value of {contract} does not decrypt (changed on disk, or another key)"
                ))
            })
    }
}

/// The cluster keys this worker holds, and the contract keys derived from them.
#[derive(Default)]
pub struct Keyring {
    clusters: RwLock<HashMap<ClusterId, ClusterKey>>,
    contracts: RwLock<HashMap<ContractId, Arc<ContractCrypt>>>,
}

impl Keyring {
    /// Hold the key of `cluster`. A key of the same chain as the one held (one that reaches
    /// back to it: a later epoch's) derives the same contract keys at every epoch the held
    /// one reached, so the contract keys kept stay; any other key (an earlier epoch's, or
    /// one that does not lead back to the held key) drops those kept for the cluster, to be
    /// derived from it.
    pub fn add_cluster(&self, cluster: ClusterId, key: ClusterKey) {
        let mut clusters = self.clusters.write().expect("keyring lock");
        let same_chain = clusters
            .get(&cluster)
            .is_none_or(|held| key.at_epoch(held.epoch()).as_ref() == Some(held));
        if !same_chain {
            self.contracts
                .write()
                .expect("keyring lock")
                .retain(|_, crypt| crypt.of.0 != cluster);
        }
        clusters.insert(cluster, key);
    }

    /// The key of `cluster`, if held.
    pub fn cluster(&self, cluster: &ClusterId) -> Option<ClusterKey> {
        self.clusters
            .read()
            .expect("keyring lock")
            .get(cluster)
            .cloned()
    }

    /// The keys of a contract, if this worker holds its cluster's key of the contract's
    /// epoch or a later one.
    pub(crate) fn contract(&self, info: &ContractInfo) -> Option<Arc<ContractCrypt>> {
        self.derived(&info.cluster, info.key_epoch, &info.id)
    }

    /// The keys of `contract`, of `cluster` at key epoch `epoch`, from the key of `cluster`
    /// held: kept once derived. A contract's cluster and epoch are fixed when it is created
    /// (`ContractInfo`; the chain refuses an id that exists), and a key of another chain
    /// drops what was kept ([`Keyring::add_cluster`]), so what is kept is what the key held
    /// derives.
    fn derived(
        &self,
        cluster: &ClusterId,
        epoch: u32,
        contract: &ContractId,
    ) -> Option<Arc<ContractCrypt>> {
        let of = (*cluster, epoch);
        let kept = |contracts: &HashMap<ContractId, Arc<ContractCrypt>>| {
            contracts.get(contract).filter(|c| c.of == of).cloned()
        };
        if let Some(found) = kept(&self.contracts.read().expect("keyring lock")) {
            return Some(found);
        }
        // The cluster's key is read for as long as the keys it derives are being kept, so a
        // key of another chain held meanwhile cannot leave them behind (locks in the order
        // `add_cluster` takes them).
        let clusters = self.clusters.read().expect("keyring lock");
        let keys = fat_executor::contract_keys_of(clusters.get(cluster)?, epoch, contract)?;
        let mut contracts = self.contracts.write().expect("keyring lock");
        // Derived by another thread meanwhile: one derivation is kept.
        if let Some(found) = kept(&contracts) {
            return Some(found);
        }
        let crypt = Arc::new(ContractCrypt::new(keys, of));
        contracts.insert(*contract, crypt.clone());
        Some(crypt)
    }

    /// The keys of a contract already derived (see [`Keyring::contract`]).
    pub(crate) fn cached(&self, contract: &ContractId) -> Option<Arc<ContractCrypt>> {
        self.contracts
            .read()
            .expect("keyring lock")
            .get(contract)
            .cloned()
    }
}

/// The keys the executor starts a block with.
impl fat_executor::ClusterKeys for Keyring {
    fn cluster_key(&self, cluster: &ClusterId) -> Option<ClusterKey> {
        self.cluster(cluster)
    }

    /// From the contract keys the keyring keeps, shared with the queries.
    fn contract_keys(
        &self,
        cluster: &ClusterId,
        epoch: u32,
        contract: &ContractId,
    ) -> Option<ContractKeys> {
        Some(self.derived(cluster, epoch, contract)?.keys.clone())
    }
}

#[cfg(test)]
mod tests {
    use fat_executor::ClusterKeys;

    use super::*;

    /// A contract's keys, as the executor asks for them, are its cluster key's at the
    /// contract's epoch, derived once and kept: the blocks that follow and the queries take
    /// the same ones. No cluster key held, or one of an earlier epoch, gives none (and keeps
    /// nothing). A later key of the same chain keeps them; a key of another chain drops them,
    /// and they are derived from it.
    #[test]
    fn a_contracts_keys_are_derived_once_and_kept() {
        let keyring = Keyring::default();
        let (cluster, contract) = (ClusterId([1; 32]), ContractId([3; 32]));
        let later = ClusterKey::from_bytes(3, [9; 32]);
        let key = later.at_epoch(2).unwrap();
        assert!(keyring.contract_keys(&cluster, 1, &contract).is_none());
        keyring.add_cluster(cluster, key.clone());
        assert!(keyring.contract_keys(&cluster, 3, &contract).is_none());
        assert!(keyring.cached(&contract).is_none());

        let same = |keys: &ContractKeys, direct: &ContractKeys| {
            keys.ecdh().public() == direct.ecdh().public()
                && (keys.secret(), keys.at_rest(), keys.state_root())
                    == (direct.secret(), direct.at_rest(), direct.state_root())
        };
        let direct = key.at_epoch(1).unwrap().contract(&contract);
        assert!(same(
            &keyring.contract_keys(&cluster, 1, &contract).unwrap(),
            &direct
        ));
        let kept = keyring.cached(&contract).expect("kept once derived");
        assert!(same(
            &keyring.contract_keys(&cluster, 1, &contract).unwrap(),
            &direct
        ));
        assert!(Arc::ptr_eq(&kept, &keyring.cached(&contract).unwrap()));
        // Asked as of another cluster, whose key is not held: none, and what is kept stays.
        assert!(
            keyring
                .contract_keys(&ClusterId([5; 32]), 1, &contract)
                .is_none()
        );
        assert!(Arc::ptr_eq(&kept, &keyring.cached(&contract).unwrap()));

        keyring.add_cluster(cluster, later);
        assert!(Arc::ptr_eq(&kept, &keyring.cached(&contract).unwrap()));

        let other = ClusterKey::from_bytes(4, [8; 32]);
        keyring.add_cluster(cluster, other.clone());
        assert!(
            keyring.cached(&contract).is_none(),
            "dropped with its chain"
        );
        let from_other = other.at_epoch(1).unwrap().contract(&contract);
        assert!(!same(&direct, &from_other));
        assert!(same(
            &keyring.contract_keys(&cluster, 1, &contract).unwrap(),
            &from_other
        ));
    }
}
