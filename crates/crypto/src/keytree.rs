//! The key tree: master key -> cluster keys -> contract keys, and the keys derived beside them.
//!
//! Every step is HKDF-SHA256 with the parent key as input key material, no salt, and an
//! `info` of a domain-separating label followed by the child's id:
//!
//! | key | parent | label |
//! | --- | --- | --- |
//! | cluster seed | master key | [`CLUSTER_KEY_LABEL`] ‖ cluster id |
//! | cluster key of the last epoch | cluster seed | (it is the seed) |
//! | cluster key of epoch `e` | cluster key of epoch `e + 1` | [`CLUSTER_EPOCH_LABEL`] |
//! | cluster ECDH secret (init args are sealed to it) | cluster key | [`CLUSTER_ECDH_LABEL`] |
//! | at-rest key of a contract's state | cluster key | [`AT_REST_LABEL`] ‖ contract id |
//! | state-root key (keys the contract's state root) | cluster key | [`STATE_ROOT_LABEL`] ‖ contract id |
//! | contract secret (`derive-key` starts from it) | cluster key | [`CONTRACT_SECRET_LABEL`] ‖ contract id |
//! | contract ECDH secret (commands are sealed to it) | cluster key | [`CONTRACT_ECDH_LABEL`] ‖ contract id |
//!
//! A contract only ever sees its own contract secret, and HKDF is one-way: from it nothing
//! above or beside it can be computed, so a contract cannot derive another's secrets.
//!
//! A cluster's key has epochs (0 to [`MAX_KEY_EPOCHS`]` - 1`; the chain moves a cluster to
//! the next epoch each time a member is removed). The epochs are a one-way chain run
//! backwards: the key of epoch `e` is derived from the key of epoch `e + 1`. A worker
//! provisioned at epoch `e` derives every earlier epoch's key (the contracts created before
//! it joined), and none later: a removed member cannot derive the keys of contracts created
//! after it left.

use fat_types::{ClusterId, ContractId, MAX_KEY_EPOCHS};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::envelope::{EcdhPublic, EcdhSecret, EnvelopeError};

/// The label of a cluster key.
pub const CLUSTER_KEY_LABEL: &[u8] = b"fat/key-tree/cluster/v1";
/// The label of the step from a cluster key to the previous epoch's.
pub const CLUSTER_EPOCH_LABEL: &[u8] = b"fat/key-tree/cluster-epoch/v1";
/// The label of a cluster's ECDH secret.
pub const CLUSTER_ECDH_LABEL: &[u8] = b"fat/key-tree/cluster-ecdh/v1";
/// The label of a contract's at-rest key.
pub const AT_REST_LABEL: &[u8] = b"fat/key-tree/at-rest/v1";
/// The label of a contract's state-root key.
pub const STATE_ROOT_LABEL: &[u8] = b"fat/key-tree/state-root/v1";
/// The label of a contract's secret.
pub const CONTRACT_SECRET_LABEL: &[u8] = b"fat/key-tree/contract-secret/v1";
/// The label of a contract's ECDH secret.
pub const CONTRACT_ECDH_LABEL: &[u8] = b"fat/key-tree/contract-ecdh/v1";

fn derive(parent: &[u8; 32], label: &[u8], id: &[u8]) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(None, parent);
    let mut out = [0u8; 32];
    hkdf.expand_multi_info(&[label, id], &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

macro_rules! secret_debug {
    ($name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}

/// The gatekeeper's master key: the root of the tree.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);
secret_debug!(MasterKey);

impl MasterKey {
    /// A master key of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh master key from the operating system's random number generator.
    pub fn generate() -> Result<Self, EnvelopeError> {
        let mut bytes = [0u8; 32];
        crate::envelope::os_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The key's bytes (to seal them).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The key of a cluster at `epoch`, or `None` past its last epoch. Costs one step per
    /// epoch below the last ([`MAX_KEY_EPOCHS`] at most): callers keep what they use.
    pub fn cluster_key(&self, cluster: &ClusterId, epoch: u32) -> Option<ClusterKey> {
        let last = ClusterKey {
            epoch: MAX_KEY_EPOCHS - 1,
            key: derive(&self.0, CLUSTER_KEY_LABEL, cluster.as_bytes()),
        };
        last.at_epoch(epoch)
    }
}

/// A cluster's key at one epoch, shared by the workers of the cluster in that epoch.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ClusterKey {
    epoch: u32,
    key: [u8; 32],
}
secret_debug!(ClusterKey);

impl ClusterKey {
    /// The cluster key of `epoch` of these bytes (as provisioned).
    pub fn from_bytes(epoch: u32, bytes: [u8; 32]) -> Self {
        Self { epoch, key: bytes }
    }

    /// The key's bytes (to seal them).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key
    }

    /// The epoch the key is of.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The key of an epoch at or before this one (one step per epoch back), or `None` for a
    /// later epoch, which this key cannot reach.
    pub fn at_epoch(&self, epoch: u32) -> Option<ClusterKey> {
        if epoch > self.epoch {
            return None;
        }
        let mut key = self.key;
        for _ in epoch..self.epoch {
            key = derive(&key, CLUSTER_EPOCH_LABEL, &[]);
        }
        Some(ClusterKey { epoch, key })
    }

    /// The cluster's ECDH secret: instantiation arguments are sealed to its public key.
    pub fn ecdh(&self) -> EcdhSecret {
        EcdhSecret::from_bytes(derive(&self.key, CLUSTER_ECDH_LABEL, &[]))
    }

    /// The cluster's ECDH public key, as the registry publishes it.
    pub fn ecdh_public(&self) -> EcdhPublic {
        self.ecdh().public()
    }

    /// The keys of a contract of this cluster.
    pub fn contract(&self, contract: &ContractId) -> ContractKeys {
        ContractKeys {
            secret: derive(&self.key, CONTRACT_SECRET_LABEL, contract.as_bytes()),
            ecdh: EcdhSecret::from_bytes(derive(
                &self.key,
                CONTRACT_ECDH_LABEL,
                contract.as_bytes(),
            )),
            at_rest: derive(&self.key, AT_REST_LABEL, contract.as_bytes()),
            state_root: derive(&self.key, STATE_ROOT_LABEL, contract.as_bytes()),
        }
    }
}

/// The keys of one contract.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ContractKeys {
    secret: [u8; 32],
    ecdh: EcdhSecret,
    at_rest: [u8; 32],
    state_root: [u8; 32],
}
secret_debug!(ContractKeys);

impl ContractKeys {
    /// The contract's secret: the root of what the contract derives with `derive-key`. The
    /// only key of the tree a contract sees.
    pub fn secret(&self) -> [u8; 32] {
        self.secret
    }

    /// The contract's ECDH secret: commands are sealed to its public key.
    pub fn ecdh(&self) -> &EcdhSecret {
        &self.ecdh
    }

    /// The key the contract's state is encrypted with on disk.
    pub fn at_rest(&self) -> [u8; 32] {
        self.at_rest
    }

    /// The key of the contract's state root: without it, a published root cannot be used
    /// to test guesses of the state.
    pub fn state_root(&self) -> [u8; 32] {
        self.state_root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every secret of the tree is wiped from memory when dropped (not only when a caller
    /// remembers to): a copy left behind in freed memory is a copy an attacker with a memory
    /// read gets.
    #[test]
    fn secrets_are_wiped_when_dropped() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<MasterKey>();
        wiped_on_drop::<ClusterKey>();
        wiped_on_drop::<ContractKeys>();
        wiped_on_drop::<EcdhSecret>();
        let mut master = MasterKey::from_bytes([7; 32]);
        master.zeroize();
        assert_eq!(master.to_bytes(), [0; 32]);
        let mut keys = ClusterKey::from_bytes(0, [7; 32]).contract(&ContractId([1; 32]));
        keys.zeroize();
        assert_eq!(keys.secret(), [0; 32]);
        assert_eq!(keys.at_rest(), [0; 32]);
    }

    #[test]
    fn the_tree_separates_every_branch() {
        let master = MasterKey::from_bytes([1; 32]);
        let at = |cluster: u8, epoch: u32| master.cluster_key(&ClusterId([cluster; 32]), epoch);
        let cluster = at(2, 0).unwrap();
        assert_eq!(cluster, at(2, 0).unwrap());
        assert_ne!(cluster, at(3, 0).unwrap());
        assert_ne!(cluster, at(2, 1).unwrap());
        let a = cluster.contract(&ContractId([4; 32]));
        let b = cluster.contract(&ContractId([5; 32]));
        let all = [
            cluster.to_bytes(),
            cluster.ecdh().to_bytes(),
            a.secret(),
            a.ecdh().to_bytes(),
            a.at_rest(),
            a.state_root(),
            b.secret(),
            b.ecdh().to_bytes(),
            b.at_rest(),
            b.state_root(),
        ];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }

    /// A key reaches its own and every earlier epoch, the same keys the master derives, and
    /// no later one; past the last epoch there is no key.
    #[test]
    fn an_epoch_key_reaches_back_never_forward() {
        let master = MasterKey::from_bytes([1; 32]);
        let cluster = ClusterId([2; 32]);
        let five = master.cluster_key(&cluster, 5).unwrap();
        assert_eq!(five.epoch(), 5);
        for epoch in 0..=5 {
            assert_eq!(five.at_epoch(epoch), master.cluster_key(&cluster, epoch));
        }
        assert_eq!(five.at_epoch(6), None);
        assert_ne!(master.cluster_key(&cluster, 6), Some(five.clone()));
        assert!(master.cluster_key(&cluster, MAX_KEY_EPOCHS - 1).is_some());
        assert_eq!(master.cluster_key(&cluster, MAX_KEY_EPOCHS), None);
    }

    /// What is sealed on disk, what the registry publishes and what contracts derive from all
    /// hang on these bytes: a change here loses every key provisioned before it. Recomputed
    /// independently (RFC 5869 over Python's `hmac`, X25519 from `cryptography`) by
    /// `python3 scripts/keytree_vectors.py`.
    #[test]
    fn the_tree_is_pinned() {
        let master = MasterKey::from_bytes([1; 32]);
        let at = |epoch| master.cluster_key(&ClusterId([2; 32]), epoch).unwrap();
        let cluster = at(MAX_KEY_EPOCHS - 1);
        let contract = cluster.contract(&ContractId([4; 32]));
        let vectors = [
            (
                "cluster key of epoch 0",
                at(0).to_bytes(),
                "510dd38ee93822180ce6a20067c1149bf536f213a8e76c20b6197e05230604fd",
            ),
            (
                "cluster key of the epoch before the last",
                at(MAX_KEY_EPOCHS - 2).to_bytes(),
                "524d6bd76e9097003dc8d6a29193bb8a10f3cb50eb449ee678021ddec6edd013",
            ),
            (
                "cluster key of the last epoch",
                cluster.to_bytes(),
                "d6d877007930219bdeb8757d1124e4db13ec7e8e172ef02abf3c6d8e9bd28e2e",
            ),
            (
                "cluster ECDH",
                cluster.ecdh().to_bytes(),
                "19c8fae4aa643e8c5fd8c2c2440d1183650c10a1204fa6f37ccf6b2b0e320ce3",
            ),
            (
                "cluster ECDH public",
                cluster.ecdh_public().0,
                "17bbc28cf6c23052724e4b50215d996d91f852cf27f97505b5eff12a1495352f",
            ),
            (
                "contract secret",
                contract.secret(),
                "e1371bfeb35b9c15245a97e464796df1e2c215bdf2a439acc7fd983f1186667d",
            ),
            (
                "contract ECDH",
                contract.ecdh().to_bytes(),
                "71249005c86d9d6d0207e2456438398358bd4c53daf40d5327cc65ee4e270368",
            ),
            (
                "contract ECDH public",
                contract.ecdh().public().0,
                "ae06d58c970696308c5972a37fd6631a5ff96ce3ba1d4fa83e340c4d010e8b4e",
            ),
            (
                "at-rest key",
                contract.at_rest(),
                "df331fed5f1ccd7feaf3872c269576aab939935871feecb520e45d3cd78680f1",
            ),
            (
                "state-root key",
                contract.state_root(),
                "fc57416fe02418845b79a4eeb92be8915d9aebc37fae8a9d2e28d173fe267858",
            ),
        ];
        for (name, actual, expected) in vectors {
            assert_eq!(hex::encode(actual), expected, "the {name} changed");
        }
    }
}
