//! What stops a worker's operator from changing or rolling back single records on disk.
//!
//! The store keeps, beside the head, a digest of every contract's record and state hash: a
//! lattice hash ([`StateHash`]) keyed with a secret the operator does not hold (derived from
//! the worker's sealed identity key), with one element per contract, updated as blocks
//! commit. A MAC under the same secret covers the genesis, the head and the digest. When the
//! store opens, the MAC is checked and the digest is recomputed from the records: a record
//! or state hash edited, deleted, added, or put back as it was at an earlier block, is
//! refused with [`WorkerError::Corrupt`], naming what does not match.
//!
//! What it does not stop: the whole file put back as it was at an earlier block (head,
//! digest and records together): nothing on one machine without a monotonic counter can;
//! the worker then runs the blocks since again, identically. Nor the state values
//! themselves, which are sealed one by one (with their contract and key as associated
//! data) but may be put back to an earlier value of the same key: the contract's state hash
//! then no longer matches its entries, and its root differs from the other members' from
//! the next write on (`fat status` names the replica, `--confirmations` refuses it).
//! Receipts carry a MAC under the same secret (a keyed BLAKE3 of the receipt): the worker
//! signs a receipt when it serves it, after checking the MAC, so it never signs one the
//! operator wrote. Logs, root history and memberships are not covered.

use fat_crypto::Keypair;
use fat_runtime::StateHash;
use fat_types::ContractId;
use fat_types::encoding::encode;
use redb::ReadableTable;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Result, corrupt, storage};

/// The BLAKE3 context the seal key is derived under, from the worker's identity seed.
const SEAL_CONTEXT: &str = "fat/worker/store-seal/v1";
/// The BLAKE3 context of the MAC over the genesis, the head and the digest.
const MAC_CONTEXT: &str = "fat/worker/store-mac/v1";
/// The BLAKE3 context of the key of receipts' MACs.
const RECEIPT_MAC_CONTEXT: &str = "fat/worker/receipt-mac/v1";
/// The BLAKE3 context of the key of log lines' MACs.
const LOG_MAC_CONTEXT: &str = "fat/worker/log-mac/v1";
/// The lattice hash's "contract": a domain of its own.
const DOMAIN: ContractId = ContractId(*b"fat/worker/records-digest/v1\0\0\0\0");

/// The meta key of the digest (2048 bytes).
pub(crate) const DIGEST_KEY: &str = "records_digest";
/// The meta key of the MAC (32 bytes).
pub(crate) const MAC_KEY: &str = "seal";

/// The secret that authenticates a worker's store (wiped from memory when dropped).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StoreSeal([u8; 32]);

impl std::fmt::Debug for StoreSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSeal(..)")
    }
}

impl StoreSeal {
    /// The seal of the worker whose identity key is `identity` (sealed in its data
    /// directory, so the operator holds neither).
    pub fn derive(identity: &Keypair) -> Self {
        let mut seed = identity.seed();
        let seal = Self(blake3::derive_key(SEAL_CONTEXT, &seed));
        seed.zeroize();
        seal
    }

    /// A seal of these bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// An empty digest.
    pub(crate) fn empty(&self) -> StateHash {
        StateHash::keyed(DOMAIN, self.0)
    }

    /// The digest saved as `bytes`.
    pub(crate) fn digest(&self, bytes: &[u8]) -> Result<StateHash> {
        StateHash::from_bytes(DOMAIN, Some(self.0), bytes)
            .ok_or_else(|| corrupt("records digest", "not 2048 bytes"))
    }

    /// The MAC over the genesis hash, the head's encoding and the digest.
    pub(crate) fn mac(&self, genesis: &[u8], head: &[u8], digest: &StateHash) -> [u8; 32] {
        let mut key = blake3::derive_key(MAC_CONTEXT, &self.0);
        let mut hasher = blake3::Hasher::new_keyed(&key);
        key.zeroize();
        for part in [genesis, head] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.update(digest.root().as_bytes());
        *hasher.finalize().as_bytes()
    }

    /// The keys of the stored records' MACs ([`RecordSeal`]).
    pub(crate) fn records(&self) -> RecordSeal {
        RecordSeal {
            receipts: blake3::derive_key(RECEIPT_MAC_CONTEXT, &self.0),
            logs: blake3::derive_key(LOG_MAC_CONTEXT, &self.0),
        }
    }
}

/// The keys that authenticate stored receipts and log lines, one record at a time (wiped
/// from memory when dropped). What a record's MAC cannot show, that it was removed, the
/// records digest shows where it counts them (a contract's log lines).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RecordSeal {
    receipts: [u8; 32],
    logs: [u8; 32],
}

impl RecordSeal {
    /// A receipt's canonical encoding as stored: followed by its MAC.
    pub(crate) fn seal_receipt(&self, receipt: Vec<u8>) -> Vec<u8> {
        let mac = self.receipt_mac(&receipt);
        with_mac(receipt, mac)
    }

    /// The canonical encoding of a stored receipt, once its MAC matches; otherwise why not.
    pub(crate) fn open_receipt<'a>(&self, stored: &'a [u8]) -> Result<&'a [u8], &'static str> {
        without_mac(stored, |bytes| self.receipt_mac(bytes))
    }

    /// A log line's canonical encoding as stored under `key` (its contract and sequence
    /// number): followed by its MAC over both, so that a line moved to another place is
    /// refused too.
    pub(crate) fn seal_log(&self, key: &[u8], line: Vec<u8>) -> Vec<u8> {
        let mac = self.log_mac(key, &line);
        with_mac(line, mac)
    }

    /// The canonical encoding of the log line stored under `key`, once its MAC matches;
    /// otherwise why not.
    pub(crate) fn open_log<'a>(
        &self,
        key: &[u8],
        stored: &'a [u8],
    ) -> Result<&'a [u8], &'static str> {
        without_mac(stored, |bytes| self.log_mac(key, bytes))
    }

    fn receipt_mac(&self, receipt: &[u8]) -> blake3::Hash {
        blake3::keyed_hash(&self.receipts, receipt)
    }

    fn log_mac(&self, key: &[u8], line: &[u8]) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.logs);
        hasher.update(key);
        hasher.update(line);
        hasher.finalize()
    }
}

/// A record as stored: its bytes, then their 32-byte MAC.
fn with_mac(mut bytes: Vec<u8>, mac: blake3::Hash) -> Vec<u8> {
    bytes.extend_from_slice(mac.as_bytes());
    bytes
}

/// The bytes of a record stored by [`with_mac`], once `mac` of them is the MAC stored after
/// them; otherwise why not (to follow the record's name in an error).
fn without_mac(
    stored: &[u8],
    mac: impl FnOnce(&[u8]) -> blake3::Hash,
) -> Result<&[u8], &'static str> {
    let Some(split) = stored.len().checked_sub(32) else {
        return Err("is too short to carry its MAC");
    };
    let (bytes, stored_mac) = stored.split_at(split);
    let stored_mac: [u8; 32] = stored_mac.try_into().expect("32 bytes");
    // blake3::Hash compares in constant time.
    if mac(bytes) != blake3::Hash::from(stored_mac) {
        return Err("does not match its MAC (changed on disk, or another worker's store)");
    }
    Ok(bytes)
}

/// What the digest holds of `contract`: its record and state hash as stored (`None` when it
/// has neither).
pub(crate) fn element(
    contracts: &impl ReadableTable<&'static [u8], &'static [u8]>,
    hashes: &impl ReadableTable<&'static [u8], &'static [u8]>,
    contract: &ContractId,
) -> Result<Option<Vec<u8>>> {
    let key = contract.as_bytes().as_slice();
    let record = contracts
        .get(key)
        .map_err(storage("read contract"))?
        .map(|v| v.value().to_vec());
    let hash = hashes
        .get(key)
        .map_err(storage("read state hash"))?
        .map(|v| v.value().to_vec());
    Ok(match (record, hash) {
        (None, None) => None,
        both => Some(encode(&both)),
    })
}

/// A contract's element in the digest before and after a write.
pub(crate) type Moved = (ContractId, Option<Vec<u8>>, Option<Vec<u8>>);

/// Move `digest` from `old` to `new` for `contract`.
pub(crate) fn update(
    digest: &mut StateHash,
    contract: &ContractId,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
) {
    if old == new {
        return;
    }
    if let Some(old) = old {
        digest.remove(contract.as_bytes(), old);
    }
    if let Some(new) = new {
        digest.insert(contract.as_bytes(), new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_are_wiped_when_dropped() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<StoreSeal>();
        wiped_on_drop::<RecordSeal>();
        let mut seal = StoreSeal::from_bytes([7; 32]);
        let mut records = seal.records();
        assert_ne!(records.receipts, [0; 32]);
        assert_ne!(records.logs, [0; 32]);
        seal.zeroize();
        records.zeroize();
        assert_eq!(
            (seal.0, records.receipts, records.logs),
            ([0; 32], [0; 32], [0; 32])
        );
    }
}
