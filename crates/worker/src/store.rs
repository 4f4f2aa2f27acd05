//! The worker's store on disk (redb): contract state, code, receipts and logs, committed
//! atomically per block together with the header of the block they reflect.
//!
//! A [`Snapshot`] is one read transaction: everything read through it (state, the head,
//! contract records) is the same committed block, however many blocks commit meanwhile.
//!
//! Commits are visible at once but durable in groups ([`Store::commit`]); the store knows
//! the height up to which they are durable ([`Store::durable_height`]), so that what must
//! survive a crash (a signed receipt handed out) is served only from there.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use fat_runtime::{StateHash, StateStore};
use fat_types::encoding::{decode, encode};
use fat_types::{
    BlockHeader, ClusterId, CodeHash, ContractId, ContractInfo, ExecutionReceipt, Hash32, TxId,
};
use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};

use crate::error::{Result, WorkerError, corrupt, storage};
use crate::keys::{ContractCrypt, Keyring};
use crate::seal::{self, DIGEST_KEY, MAC_KEY, StoreSeal};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const CODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("codes");
const CONTRACTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("contracts");
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// The receipts of the transactions this worker executed, by the height of their block
/// (big-endian), then the transaction id ([`receipt_key`]): each block's receipts are added
/// after all the earlier ones, so a block writes a few pages at the end of the table
/// however large it grows, not a random page per receipt.
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts");
const LOGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("logs");
const CLUSTERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("clusters");
const CLUSTER_KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("cluster_keys");
/// Per contract, the running hash of its entries ([`StateHash`]), whose root is its state root.
const STATE_HASHES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state_hashes");
/// Per contract and block that changed it (contract id, then the height big-endian), its
/// state root after the block: what the worker signs as its roots at any height.
const ROOT_HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("root_history");
/// Clusters this worker joined whose earlier contracts it may lack (cluster id to the
/// height it joined at), until it has received their state from another member.
const SYNC_PENDING: TableDefinition<&[u8], u64> = TableDefinition::new("sync_pending");
/// Per cluster whose key rotated (any cluster, not only this worker's), its key epoch.
const KEY_EPOCHS: TableDefinition<&[u8], u32> = TableDefinition::new("key_epochs");

/// The value of `meta["format"]`. Version 2 encrypts state values at rest; version 3 keeps
/// each contract's state hash; version 5 keeps roots per block and contracts received from
/// another member; version 6 keeps cluster keys with their epochs, each contract's epoch
/// and each cluster's, and seals the records and the head (see [`crate::seal`]); version 7
/// stores receipts unsigned with a MAC under the seal (signed when served); version 8 stores
/// log lines with a MAC and counts them in the records; version 9 keys receipts by their
/// block's height, then their transaction id.
const FORMAT: &[u8] = b"fat-worker/9";
/// The database file inside the worker's data directory.
pub const DB_FILE: &str = "worker.redb";

pub use fat_executor::{ContractRecord, LogRecord};

/// What one block commits: the executor's [`fat_executor::BlockChanges`] with the cluster
/// keys it opened sealed by the worker (see [`fat_executor::BlockChanges::map_keys`]).
pub type BlockChanges = fat_executor::BlockChanges<Vec<u8>>;

/// The worker's database.
pub struct Store {
    /// The snapshot queries share while no write commits (dropped before the database).
    shared: Mutex<Option<(u64, Arc<Snapshot>)>>,
    /// How many write transactions have committed (or failed to) since the store opened.
    writes: AtomicU64,
    db: Database,
    path: PathBuf,
    keyring: Arc<Keyring>,
    /// Authenticates the records and the head against the operator.
    seal: StoreSeal,
    /// Authenticates the stored receipts and log lines likewise.
    records: seal::RecordSeal,
    /// The height of the last block known to be durable on disk.
    durable: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

/// The value of `key` in the store's meta table, which the seal needs: a missing one is
/// corruption.
fn meta_value(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Vec<u8>> {
    meta.get(key)
        .map_err(storage("read meta"))?
        .map(|v| v.value().to_vec())
        .ok_or_else(|| corrupt("seal", format!("no {key} in the store's meta")))
}

fn state_key(contract: &ContractId, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + key.len());
    k.extend_from_slice(contract.as_bytes());
    k.extend_from_slice(key);
    k
}

fn root_key(contract: &ContractId, height: u64) -> Vec<u8> {
    let mut k = contract.as_bytes().to_vec();
    k.extend_from_slice(&height.to_be_bytes());
    k
}

/// The key of a receipt: the height of its block, big-endian, then the transaction id.
pub fn receipt_key(height: u64, tx: &TxId) -> [u8; 40] {
    let mut k = [0; 40];
    k[..8].copy_from_slice(&height.to_be_bytes());
    k[8..].copy_from_slice(tx.as_bytes());
    k
}

fn log_key(contract: &ContractId, seq: u64) -> Vec<u8> {
    let mut k = contract.as_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

impl Store {
    /// Open (or create) the store in `dir`; state values are encrypted with keys derived
    /// from the cluster keys in `keyring`; records and the head are authenticated with
    /// `seal`, and an existing store whose records do not match it is refused.
    pub fn open(dir: &Path, keyring: Arc<Keyring>, seal: StoreSeal) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| WorkerError::DataDir {
            path: dir.into(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let db = if path.exists() {
            Database::open(&path)
        } else {
            Database::create(&path)
        }
        .map_err(|source| WorkerError::OpenStore {
            path: path.clone(),
            source,
        })?;
        fat_types::private_fs::restrict_file(&path).map_err(|source| WorkerError::DataDir {
            path: path.clone(),
            source,
        })?;
        let store = Self {
            shared: Mutex::new(None),
            writes: AtomicU64::new(0),
            db,
            path,
            keyring,
            records: seal.records(),
            seal,
            durable: AtomicU64::new(0),
        };
        let wtx = store.db.begin_write().map_err(storage("begin write"))?;
        for table in [
            CODES,
            CONTRACTS,
            STATE,
            RECEIPTS,
            LOGS,
            CLUSTERS,
            CLUSTER_KEYS,
            STATE_HASHES,
            ROOT_HISTORY,
        ] {
            wtx.open_table(table).map_err(storage("create tables"))?;
        }
        wtx.open_table(SYNC_PENDING)
            .map_err(storage("create tables"))?;
        wtx.open_table(KEY_EPOCHS)
            .map_err(storage("create tables"))?;
        {
            let mut meta = wtx.open_table(META).map_err(storage("create tables"))?;
            let format = meta.get("format").map_err(storage("read meta"))?;
            match format.map(|f| f.value().to_vec()) {
                Some(f) if f != FORMAT => {
                    return Err(corrupt(
                        "format",
                        format!(
                            "the store is {}, this worker reads {} (a store of another \
                             version: move its {DB_FILE} aside and start the worker again; it \
                             keeps its identity and follows the chain from genesis)",
                            String::from_utf8_lossy(&f),
                            String::from_utf8_lossy(FORMAT)
                        ),
                    ));
                }
                Some(_) => {}
                None if meta.get("head").map_err(storage("read meta"))?.is_some() => {
                    // A started store always has its format: its key was removed.
                    return Err(corrupt(
                        "format",
                        "the store has a head but no format (removed on disk); \
                         refusing to run on it",
                    ));
                }
                None => {
                    meta.insert("format", FORMAT)
                        .map_err(storage("write meta"))?;
                }
            }
        }
        // This commit is durable, and so is everything committed before it.
        store.commit_write(wtx, "commit")?;
        let snapshot = store.snapshot()?;
        if let Some(head) = snapshot.started_head()? {
            store.check_seal()?;
            store.durable.store(head.height, Ordering::SeqCst);
        }
        drop(snapshot);
        Ok(store)
    }

    /// The height of the last block whose commit is durable on disk: a crash keeps it and
    /// every block before it. Blocks above it are visible (in snapshots) but would run again
    /// after a crash.
    pub fn durable_height(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// Start following a chain from its genesis header, or check the store follows it.
    /// Returns the last applied header.
    pub fn start(&self, genesis: &BlockHeader) -> Result<BlockHeader> {
        let expected = genesis.hash();
        let snapshot = self.snapshot()?;
        if let Some(found) = snapshot.genesis()? {
            if found != expected {
                return Err(WorkerError::ForeignChain { found, expected });
            }
            return snapshot.head();
        }
        drop(snapshot);
        let wtx = self.db.begin_write().map_err(storage("begin write"))?;
        {
            let mut meta = wtx.open_table(META).map_err(storage("open meta"))?;
            meta.insert("genesis", expected.as_bytes().as_slice())
                .map_err(storage("write meta"))?;
            meta.insert("head", encode(genesis).as_slice())
                .map_err(storage("write meta"))?;
            meta.insert(DIGEST_KEY, self.seal.empty().to_bytes().as_slice())
                .map_err(storage("write meta"))?;
            self.reseal(&mut meta, &[])?;
        }
        self.commit_write(wtx, "commit")?;
        self.durable.fetch_max(genesis.height, Ordering::SeqCst);
        Ok(genesis.clone())
    }

    /// Commit `wtx` and retire the snapshot queries share: every write commits here, so a
    /// [`Store::shared_snapshot`] taken after this returns sees the write.
    fn commit_write(&self, wtx: redb::WriteTransaction, what: &'static str) -> Result<()> {
        let committed = wtx.commit().map_err(storage(what));
        self.writes.fetch_add(1, Ordering::SeqCst);
        *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = None;
        committed
    }

    /// A snapshot of the last commit, shared by the callers that ask before the next write
    /// commits: queries skip opening a read transaction and its tables each time. Whoever
    /// holds it reads one consistent commit, as with [`Store::snapshot`]; the next write
    /// retires it (its read transaction ends when the last holder drops it).
    pub fn shared_snapshot(&self) -> Result<Arc<Snapshot>> {
        let writes = self.writes.load(Ordering::SeqCst);
        if let Some((at, snapshot)) = &*self.shared.lock().unwrap_or_else(|e| e.into_inner())
            && *at == writes
        {
            return Ok(snapshot.clone());
        }
        // A write that commits between the count and the read transaction leaves a snapshot
        // newer than its count says: never served again, since the count moved on.
        let snapshot = Arc::new(self.snapshot()?);
        *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = Some((writes, snapshot.clone()));
        Ok(snapshot)
    }

    /// A consistent view of the last committed block.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        Ok(Snapshot {
            meta: OnceLock::new(),
            head: OnceLock::new(),
            codes: OnceLock::new(),
            contracts: OnceLock::new(),
            state: OnceLock::new(),
            receipts: OnceLock::new(),
            logs: OnceLock::new(),
            clusters: OnceLock::new(),
            cluster_keys: OnceLock::new(),
            keyring: self.keyring.clone(),
            records_seal: self.records.clone(),
            rtx,
        })
    }

    /// Commit a block's changes with its header, atomically; its receipts as stored (with
    /// each contract's state root after the block; signed when served). With
    /// `durable`, the commit is on disk when this returns, and so is every commit before it;
    /// without, it is visible at once but reaches the disk with the next durable commit (or
    /// [`Store::flush`]). A crash loses only commits not yet durable, which the worker then
    /// executes again, identically, from the last durable block.
    pub fn commit(
        &self,
        header: &BlockHeader,
        mut changes: BlockChanges,
        durable: bool,
    ) -> Result<Vec<ExecutionReceipt>> {
        let mut wtx = self.db.begin_write().map_err(storage("begin write"))?;
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        wtx.set_durability(durability)
            .map_err(|e| corrupt("durability", e))?;
        let mut kept = Vec::with_capacity(changes.receipts.len());
        {
            // What the sealed digest holds of each contract the block touches, before it.
            let touched: std::collections::BTreeSet<ContractId> = changes
                .contracts
                .keys()
                .chain(changes.writes.keys())
                .copied()
                .collect();
            let before = {
                let contracts = wtx
                    .open_table(CONTRACTS)
                    .map_err(storage("open contracts"))?;
                let hashes = wtx
                    .open_table(STATE_HASHES)
                    .map_err(storage("open state hashes"))?;
                touched
                    .iter()
                    .map(|id| Ok((*id, seal::element(&contracts, &hashes, id)?)))
                    .collect::<Result<Vec<_>>>()?
            };
            let mut codes = wtx.open_table(CODES).map_err(storage("open codes"))?;
            for (hash, code) in &changes.codes {
                codes
                    .insert(hash.as_bytes().as_slice(), code.as_slice())
                    .map_err(storage("write code"))?;
            }
            let mut clusters = wtx.open_table(CLUSTERS).map_err(storage("open clusters"))?;
            for cluster in &changes.clusters {
                clusters
                    .insert(cluster.as_bytes().as_slice(), [].as_slice())
                    .map_err(storage("write cluster"))?;
            }
            for cluster in &changes.left {
                clusters
                    .remove(cluster.as_bytes().as_slice())
                    .map_err(storage("remove cluster"))?;
            }
            let mut pending = wtx
                .open_table(SYNC_PENDING)
                .map_err(storage("open sync pending"))?;
            for cluster in &changes.clusters {
                pending
                    .insert(cluster.as_bytes().as_slice(), header.height)
                    .map_err(storage("write sync pending"))?;
            }
            for cluster in &changes.left {
                pending
                    .remove(cluster.as_bytes().as_slice())
                    .map_err(storage("remove sync pending"))?;
            }
            let mut sealed_keys = wtx
                .open_table(CLUSTER_KEYS)
                .map_err(storage("open cluster keys"))?;
            for (cluster, sealed) in &changes.cluster_keys {
                sealed_keys
                    .insert(cluster.as_bytes().as_slice(), sealed.as_slice())
                    .map_err(storage("write cluster key"))?;
            }
            let mut epochs = wtx
                .open_table(KEY_EPOCHS)
                .map_err(storage("open key epochs"))?;
            for (cluster, epoch) in &changes.key_epochs {
                epochs
                    .insert(cluster.as_bytes().as_slice(), *epoch)
                    .map_err(storage("write key epoch"))?;
            }
            let mut state = wtx.open_table(STATE).map_err(storage("open state"))?;
            let mut hashes = wtx
                .open_table(STATE_HASHES)
                .map_err(storage("open state hashes"))?;
            let load_hash = |hashes: &redb::Table<&[u8], &[u8]>,
                             id: &ContractId,
                             key: [u8; 32]|
             -> Result<StateHash> {
                match hashes
                    .get(id.as_bytes().as_slice())
                    .map_err(storage("read state hash"))?
                {
                    Some(bytes) => StateHash::from_bytes(*id, Some(key), bytes.value())
                        .ok_or_else(|| corrupt("state hash", format!("of {id} is not 2048 bytes"))),
                    None => Ok(StateHash::keyed(*id, key)),
                }
            };
            for (contract, writes) in &changes.writes {
                let crypt = self.crypt_of(contract, &changes)?;
                let mut hash = load_hash(&hashes, contract, crypt.keys.state_root())?;
                for (key, value) in writes {
                    let k = state_key(contract, key);
                    let old = state
                        .get(k.as_slice())
                        .map_err(storage("read state"))?
                        .map(|v| v.value().to_vec());
                    if let Some(old) = old {
                        hash.remove(key, &crypt.decrypt(contract, key, &old)?);
                    }
                    match value {
                        Some(v) => {
                            hash.insert(key, v);
                            let stored = crypt.encrypt(contract, key, v)?;
                            state.insert(k.as_slice(), stored.as_slice())
                        }
                        None => state.remove(k.as_slice()),
                    }
                    .map_err(storage("write state"))?;
                }
                hashes
                    .insert(contract.as_bytes().as_slice(), hash.to_bytes().as_slice())
                    .map_err(storage("write state hash"))?;
            }
            let mut contracts = wtx
                .open_table(CONTRACTS)
                .map_err(storage("open contracts"))?;
            let mut roots = Vec::with_capacity(changes.contracts.len());
            for id in changes.contracts.keys() {
                let key = self.crypt_of(id, &changes)?.keys.state_root();
                roots.push(load_hash(&hashes, id, key)?.root());
            }
            let mut history = wtx
                .open_table(ROOT_HISTORY)
                .map_err(storage("open root history"))?;
            for ((id, record), root) in changes.contracts.iter_mut().zip(roots) {
                if record.state_root != root || record.info.height == header.height {
                    history
                        .insert(
                            root_key(id, header.height).as_slice(),
                            root.as_bytes().as_slice(),
                        )
                        .map_err(storage("write root history"))?;
                }
                record.state_root = root;
                contracts
                    .insert(id.as_bytes().as_slice(), encode(record).as_slice())
                    .map_err(storage("write contract"))?;
            }
            let mut receipts = wtx.open_table(RECEIPTS).map_err(storage("open receipts"))?;
            // Stored with their MAC; the worker signs a receipt when it serves it.
            let records = &changes.contracts;
            for mut receipt in std::mem::take(&mut changes.receipts) {
                // Found by the block's height: one of another block would never be found.
                if receipt.height != header.height {
                    return Err(WorkerError::Corrupt(format!(
                        "the receipt of {} is of block {}, committed with block {}",
                        receipt.tx, receipt.height, header.height
                    )));
                }
                if let Some(record) = records.get(&receipt.contract) {
                    receipt.state_root = record.state_root;
                }
                let stored = self.records.seal_receipt(encode(&receipt));
                receipts
                    .insert(
                        receipt_key(header.height, &receipt.tx).as_slice(),
                        stored.as_slice(),
                    )
                    .map_err(storage("write receipt"))?;
                kept.push(receipt);
            }
            let mut logs = wtx.open_table(LOGS).map_err(storage("open logs"))?;
            for (contract, line) in &changes.logs {
                let key = log_key(contract, line.seq);
                let stored = self.records.seal_log(&key, encode(line));
                logs.insert(key.as_slice(), stored.as_slice())
                    .map_err(storage("write log"))?;
            }
            let mut meta = wtx.open_table(META).map_err(storage("open meta"))?;
            meta.insert("head", encode(header).as_slice())
                .map_err(storage("write head"))?;
            let mut after = Vec::with_capacity(before.len());
            for (id, old) in before {
                let new = seal::element(&contracts, &hashes, &id)?;
                after.push((id, old, new));
            }
            self.reseal(&mut meta, &after)?;
        }
        self.commit_write(wtx, "commit block")?;
        if durable {
            self.durable.fetch_max(header.height, Ordering::SeqCst);
        }
        Ok(kept)
    }
}

impl Store {
    /// The keys of a contract being committed (its record is in `changes`).
    fn crypt_of(
        &self,
        contract: &ContractId,
        changes: &BlockChanges,
    ) -> Result<Arc<ContractCrypt>> {
        let info = changes
            .contracts
            .get(contract)
            .map(|r| &r.info)
            .ok_or_else(|| {
                WorkerError::Corrupt(format!("writes of {contract} without its record"))
            })?;
        self.keyring
            .contract(info)
            .ok_or(WorkerError::NoClusterKey(info.cluster))
    }
}

/// A contract's state received from another member of its cluster, checked against its
/// root (see [`Store::install`]).
#[derive(Debug)]
pub struct Received {
    /// The contract's record as the member sent it (its root over `entries`).
    pub record: ContractRecord,
    /// The block the state is as of.
    pub height: u64,
    /// Every entry, in key order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Store {
    /// The root of `entries` of a contract, keyed as this worker keys it: `None` when it
    /// holds no key of the contract's cluster and epoch.
    pub fn root_of_entries(
        &self,
        info: &ContractInfo,
        entries: &[(Vec<u8>, Vec<u8>)],
    ) -> Option<Hash32> {
        let crypt = self.keyring.contract(info)?;
        let mut hash = StateHash::keyed(info.id, crypt.keys.state_root());
        for (key, value) in entries {
            hash.insert(key, value);
        }
        Some(hash.root())
    }

    /// Install a contract this worker lacks, with the state another member of its cluster
    /// sent, durably. Its transactions up to `received.height` are in that state: the
    /// executor skips them ([`ContractRecord::synced_through`]). Refused when the contract is
    /// already here, when the entries are not in strict key order, or when they do not hash
    /// to the record's root.
    pub fn install(&self, received: Received) -> Result<()> {
        let Received {
            mut record,
            height,
            entries,
        } = received;
        let id = record.info.id;
        let crypt = self
            .keyring
            .contract(&record.info)
            .ok_or(WorkerError::NoClusterKey(record.info.cluster))?;
        if entries.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(WorkerError::Snapshot(format!(
                "the entries of {id} are not in strict key order"
            )));
        }
        let mut hash = StateHash::keyed(id, crypt.keys.state_root());
        for (key, value) in &entries {
            hash.insert(key, value);
        }
        if hash.root() != record.state_root {
            return Err(WorkerError::Snapshot(format!(
                "the entries of {id} hash to {}, not to the root {} sent with them",
                hash.root(),
                record.state_root
            )));
        }
        record.entries = entries.len() as u64;
        record.synced_through = height;
        let mut wtx = self.db.begin_write().map_err(storage("begin write"))?;
        wtx.set_durability(Durability::Immediate)
            .map_err(|e| corrupt("durability", e))?;
        {
            let mut contracts = wtx
                .open_table(CONTRACTS)
                .map_err(storage("open contracts"))?;
            if contracts
                .get(id.as_bytes().as_slice())
                .map_err(storage("read contract"))?
                .is_some()
            {
                return Err(WorkerError::Snapshot(format!("{id} is already here")));
            }
            let mut hashes = wtx
                .open_table(STATE_HASHES)
                .map_err(storage("open state hashes"))?;
            let before = seal::element(&contracts, &hashes, &id)?;
            contracts
                .insert(id.as_bytes().as_slice(), encode(&record).as_slice())
                .map_err(storage("write contract"))?;
            hashes
                .insert(id.as_bytes().as_slice(), hash.to_bytes().as_slice())
                .map_err(storage("write state hash"))?;
            let after = seal::element(&contracts, &hashes, &id)?;
            let mut meta = wtx.open_table(META).map_err(storage("open meta"))?;
            self.reseal(&mut meta, &[(id, before, after)])?;
            let mut state = wtx.open_table(STATE).map_err(storage("open state"))?;
            for (key, value) in &entries {
                let stored = crypt.encrypt(&id, key, value)?;
                state
                    .insert(state_key(&id, key).as_slice(), stored.as_slice())
                    .map_err(storage("write state"))?;
            }
            wtx.open_table(ROOT_HISTORY)
                .map_err(storage("open root history"))?
                .insert(
                    root_key(&id, height).as_slice(),
                    record.state_root.as_bytes().as_slice(),
                )
                .map_err(storage("write root history"))?;
        }
        self.commit_write(wtx, "commit snapshot")
    }

    /// Move the sealed digest in `meta` by `moved` (each contract's element before and
    /// after), and seal it with the genesis and the head `meta` holds (the new head, when a
    /// commit wrote it first).
    fn reseal(&self, meta: &mut redb::Table<&str, &[u8]>, moved: &[seal::Moved]) -> Result<()> {
        let (genesis, head) = (meta_value(meta, "genesis")?, meta_value(meta, "head")?);
        let mut digest = self.seal.digest(&meta_value(meta, DIGEST_KEY)?)?;
        for (id, old, new) in moved {
            seal::update(&mut digest, id, old.as_deref(), new.as_deref());
        }
        let mac = self.seal.mac(&genesis, &head, &digest);
        meta.insert(DIGEST_KEY, digest.to_bytes().as_slice())
            .map_err(storage("write meta"))?;
        meta.insert(MAC_KEY, mac.as_slice())
            .map_err(storage("write meta"))?;
        Ok(())
    }

    /// Check the store against its seal: the MAC over the genesis, the head and the digest,
    /// and the digest against every record and state hash (see [`crate::seal`]).
    fn check_seal(&self) -> Result<()> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let meta = rtx.open_table(META).map_err(storage("open meta"))?;
        let read = |key| meta_value(&meta, key);
        let (genesis, head, mac) = (read("genesis")?, read("head")?, read(MAC_KEY)?);
        let stored = self.seal.digest(&read(DIGEST_KEY)?)?;
        if mac != self.seal.mac(&genesis, &head, &stored) {
            return Err(corrupt(
                "seal",
                "the head or the records digest was altered (or the store is another \
                 worker's): refusing to run on it",
            ));
        }
        let contracts = rtx
            .open_table(CONTRACTS)
            .map_err(storage("open contracts"))?;
        let hashes = rtx
            .open_table(STATE_HASHES)
            .map_err(storage("open state hashes"))?;
        let mut ids = std::collections::BTreeSet::new();
        for table in [&contracts, &hashes] {
            for item in table.iter().map_err(storage("scan records"))? {
                let (k, _) = item.map_err(storage("scan records"))?;
                let id: [u8; 32] = k
                    .value()
                    .try_into()
                    .map_err(|_| corrupt("records", "a contract id not 32 bytes"))?;
                ids.insert(ContractId(id));
            }
        }
        let mut digest = self.seal.empty();
        for id in &ids {
            if let Some(element) = seal::element(&contracts, &hashes, id)? {
                digest.insert(id.as_bytes(), &element);
            }
        }
        if digest != stored {
            return Err(corrupt(
                "seal",
                "a contract's record or state hash was altered, removed, added or rolled \
                 back behind the worker's back: refusing to run on it",
            ));
        }
        Ok(())
    }

    /// Check every contract's stored state against its sealed state root: each value
    /// decrypts under its contract and key, and the values together hash to the root the
    /// seal covers ([`Store::open`] checked it). A value altered, deleted, added or put
    /// back to an earlier value of its key is refused ("refusing to run on it"). Contracts
    /// of clusters whose key is not held are skipped (their state cannot be read). It reads
    /// the whole state: call it once, when the cluster keys are in the keyring.
    pub fn check_state(&self) -> Result<()> {
        use rayon::prelude::*;
        // Read a page at a time: the state is hashed as it is read, never held whole.
        const PAGE: usize = 4096;
        let snapshot = self.snapshot()?;
        for record in snapshot.contracts()? {
            let id = record.info.id;
            let Some(crypt) = self.keyring.contract(&record.info) else {
                continue;
            };
            let refused = |why: String| {
                corrupt(
                    "state",
                    format!(
                        "the state of contract {id} {why}: a value was altered, removed, \
                         added or put back behind the worker's back; refusing to run on it"
                    ),
                )
            };
            let empty = StateHash::keyed(id, crypt.keys.state_root());
            let mut hash = empty.clone();
            // The sealed values are read in order here, a page at a time; each page is
            // opened and hashed on every core (the hash of a set is the sum of its entries').
            let prefix = state_key(&id, &[]);
            let table = snapshot.table(&snapshot.state, STATE)?;
            let mut range = table
                .range(prefix.as_slice()..)
                .map_err(storage("scan state"))?;
            loop {
                let mut page = Vec::with_capacity(PAGE);
                for item in range.by_ref() {
                    let (k, v) = item.map_err(storage("scan state"))?;
                    if !k.value().starts_with(&prefix) {
                        break;
                    }
                    page.push((k.value()[32..].to_vec(), v.value().to_vec()));
                    if page.len() == PAGE {
                        break;
                    }
                }
                let part = page
                    .par_chunks(256)
                    .map(|chunk| {
                        let mut part = empty.clone();
                        for (key, sealed) in chunk {
                            let value = crypt
                                .decrypt(&id, key, sealed)
                                .map_err(|e| refused(format!("does not decrypt ({e})")))?;
                            part.insert(key, &value);
                        }
                        Ok::<_, WorkerError>(part)
                    })
                    .try_reduce(
                        || empty.clone(),
                        |mut a, b| {
                            a.merge(&b);
                            Ok(a)
                        },
                    )?;
                hash.merge(&part);
                if page.len() < PAGE {
                    break;
                }
            }
            let root = hash.root();
            if root != record.state_root {
                return Err(refused(format!(
                    "hashes to {root}, not to its sealed root {}",
                    record.state_root
                )));
            }
        }
        Ok(())
    }

    /// Mark `cluster` as holding every earlier contract here now.
    pub fn synced(&self, cluster: &ClusterId) -> Result<()> {
        let wtx = self.db.begin_write().map_err(storage("begin write"))?;
        wtx.open_table(SYNC_PENDING)
            .map_err(storage("open sync pending"))?
            .remove(cluster.as_bytes().as_slice())
            .map_err(storage("remove sync pending"))?;
        self.commit_write(wtx, "commit")
    }
}

impl Store {
    /// Make every commit so far durable; [`Store::durable_height`] is then the head's.
    pub fn flush(&self) -> Result<()> {
        let mut wtx = self.db.begin_write().map_err(storage("begin write"))?;
        wtx.set_durability(Durability::Immediate)
            .map_err(|e| corrupt("durability", e))?;
        // Write transactions run one at a time: the head read here is the last commit.
        let head = {
            let meta = wtx.open_table(META).map_err(storage("open meta"))?;
            let head = meta.get("head").map_err(storage("read head"))?;
            head.map(|bytes| decode::<BlockHeader>("block header", bytes.value()))
                .transpose()
                .map_err(|e| corrupt("head", e))?
        };
        self.commit_write(wtx, "flush")?;
        if let Some(head) = head {
            self.durable.fetch_max(head.height, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// One read transaction over the store: a consistent view of one committed block.
pub struct Snapshot {
    // Each table is opened the first time it is read: a query reads three of them.
    meta: OnceLock<ReadOnlyTable<&'static str, &'static [u8]>>,
    /// The head and its hash, once read ([`Snapshot::started_head_hashed`]).
    head: OnceLock<(BlockHeader, Hash32)>,
    codes: OnceLock<BytesTable>,
    contracts: OnceLock<BytesTable>,
    state: OnceLock<BytesTable>,
    receipts: OnceLock<BytesTable>,
    logs: OnceLock<BytesTable>,
    clusters: OnceLock<BytesTable>,
    cluster_keys: OnceLock<BytesTable>,
    keyring: Arc<Keyring>,
    /// Checks the receipts and log lines read.
    records_seal: seal::RecordSeal,
    /// The read transaction the tables are opened in.
    rtx: redb::ReadTransaction,
}

/// A read-only table of bytes to bytes.
type BytesTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

fn get(table: &ReadOnlyTable<&'static [u8], &'static [u8]>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    Ok(table
        .get(key)
        .map_err(storage("read"))?
        .map(|v| v.value().to_vec()))
}

impl Snapshot {
    /// The table of `definition`, opened in `cell` the first time it is asked for.
    fn table<'s, K: redb::Key + 'static, V: redb::Value + 'static>(
        &'s self,
        cell: &'s OnceLock<ReadOnlyTable<K, V>>,
        definition: TableDefinition<K, V>,
    ) -> Result<&'s ReadOnlyTable<K, V>> {
        if let Some(table) = cell.get() {
            return Ok(table);
        }
        let table = self
            .rtx
            .open_table(definition)
            .map_err(storage("open table"))?;
        Ok(cell.get_or_init(|| table))
    }

    fn meta_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .table(&self.meta, META)?
            .get(key)
            .map_err(storage("read meta"))?
            .map(|v| v.value().to_vec()))
    }

    /// The genesis hash of the chain the store follows, once it started following one.
    pub fn genesis(&self) -> Result<Option<Hash32>> {
        self.meta_bytes("genesis")?
            .map(|found| Hash32::from_slice(&found).map_err(|e| corrupt("genesis", e)))
            .transpose()
    }

    /// The header of the block this snapshot reflects.
    pub fn head(&self) -> Result<BlockHeader> {
        self.started_head()?
            .ok_or_else(|| WorkerError::Corrupt("no head".into()))
    }

    /// The header of the block this snapshot reflects, or `None` before the store started
    /// following a chain.
    pub fn started_head(&self) -> Result<Option<BlockHeader>> {
        self.meta_bytes("head")?
            .map(|bytes| decode("block header", &bytes).map_err(|e| corrupt("head", e)))
            .transpose()
    }

    /// [`Snapshot::started_head`] with the head's hash, both decoded and hashed once per
    /// snapshot: the queries that share one ([`Store::shared_snapshot`]) do not each hash
    /// the header again.
    pub fn started_head_hashed(&self) -> Result<Option<(BlockHeader, Hash32)>> {
        if let Some(head) = self.head.get() {
            return Ok(Some(head.clone()));
        }
        let Some(header) = self.started_head()? else {
            return Ok(None);
        };
        let hash = header.hash();
        Ok(Some(self.head.get_or_init(|| (header, hash)).clone()))
    }

    /// A contract this worker runs.
    pub fn contract(&self, id: &ContractId) -> Result<Option<ContractRecord>> {
        get(self.table(&self.contracts, CONTRACTS)?, id.as_bytes())?
            .map(|b| decode("contract record", &b).map_err(|e| corrupt("contract", e)))
            .transpose()
    }

    /// Every contract this worker runs.
    pub fn contracts(&self) -> Result<Vec<ContractRecord>> {
        let mut out = Vec::new();
        for item in self
            .table(&self.contracts, CONTRACTS)?
            .iter()
            .map_err(storage("scan contracts"))?
        {
            let (_, v) = item.map_err(storage("scan contracts"))?;
            out.push(decode("contract record", v.value()).map_err(|e| corrupt("contract", e))?);
        }
        Ok(out)
    }

    /// Uploaded code.
    pub fn code(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>> {
        get(self.table(&self.codes, CODES)?, hash.as_bytes())
    }

    /// Whether this worker is a member of a cluster.
    pub fn is_member(&self, cluster: &ClusterId) -> Result<bool> {
        Ok(get(self.table(&self.clusters, CLUSTERS)?, cluster.as_bytes())?.is_some())
    }

    /// The key epoch of a cluster: how many members were removed from it.
    pub fn key_epoch(&self, cluster: &ClusterId) -> Result<u32> {
        let epochs = self
            .rtx
            .open_table(KEY_EPOCHS)
            .map_err(storage("open key epochs"))?;
        let epoch = epochs
            .get(cluster.as_bytes().as_slice())
            .map_err(storage("read key epoch"))?;
        Ok(epoch.map_or(0, |e| e.value()))
    }

    /// The receipt of a transaction this worker executed in block `height`, checked against
    /// its MAC (unsigned: the worker signs it when it serves it). `None` when this worker
    /// executed no such transaction in that block (the chain tells which block holds a
    /// transaction).
    pub fn receipt(&self, tx: &TxId, height: u64) -> Result<Option<ExecutionReceipt>> {
        let key = receipt_key(height, tx);
        let Some(stored) = get(self.table(&self.receipts, RECEIPTS)?, &key)? else {
            return Ok(None);
        };
        let bad = |why: &str| {
            corrupt(
                "receipt",
                format!("the receipt of {tx} at block {height} {why}"),
            )
        };
        let bytes = self.records_seal.open_receipt(&stored).map_err(bad)?;
        let receipt: ExecutionReceipt =
            decode("receipt", bytes).map_err(|e| bad(&e.to_string()))?;
        if receipt.tx != *tx || receipt.height != height {
            return Err(bad(&format!(
                "is stored as that of {} at block {}",
                receipt.tx, receipt.height
            )));
        }
        Ok(Some(receipt))
    }

    /// Up to `limit` log lines of a contract from sequence number `from`, each checked
    /// against its MAC. Lines follow one another from the first found, and the last line of
    /// a short page is the contract's last (its record, in the records digest, counts
    /// them): a line edited, moved or removed on disk is refused. Not the lines before the
    /// first this worker holds, nor all of them at once: a worker that joined the cluster
    /// later holds none before its state came from another member, which looks the same.
    pub fn logs(&self, contract: &ContractId, from: u64, limit: usize) -> Result<Vec<LogRecord>> {
        let start = log_key(contract, from);
        let mut out: Vec<LogRecord> = Vec::new();
        let bad = |seq: u64, why: &str| {
            corrupt(
                "log",
                format!("log line {seq} of contract {contract} {why}"),
            )
        };
        for item in self
            .table(&self.logs, LOGS)?
            .range(start.as_slice()..)
            .map_err(storage("scan logs"))?
        {
            let (k, v) = item.map_err(storage("scan logs"))?;
            let key = k.value();
            if !key.starts_with(contract.as_bytes()) || out.len() >= limit {
                break;
            }
            let seq = key
                .get(32..)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| corrupt("log", "a log key that is not a contract and a number"))?;
            let bytes = self
                .records_seal
                .open_log(key, v.value())
                .map_err(|why| bad(seq, why))?;
            let line: LogRecord =
                decode("log line", bytes).map_err(|e| bad(seq, &e.to_string()))?;
            if let Some(last) = out.last()
                && line.seq != last.seq + 1
            {
                return Err(bad(last.seq + 1, "is missing (removed on disk?)"));
            }
            out.push(line);
        }
        // A short page must end at the contract's last line, which its record counts.
        if let Some(last) = out.last()
            && out.len() < limit
        {
            let written = self.contract(contract)?.map_or(0, |record| record.logs);
            if last.seq + 1 < written {
                return Err(bad(last.seq + 1, "is missing (removed on disk?)"));
            }
        }
        Ok(out)
    }

    /// The sealed cluster keys provisioned to this worker.
    pub fn sealed_cluster_keys(&self) -> Result<Vec<(ClusterId, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self
            .table(&self.cluster_keys, CLUSTER_KEYS)?
            .iter()
            .map_err(storage("scan cluster keys"))?
        {
            let (k, v) = item.map_err(storage("scan cluster keys"))?;
            let id = ClusterId(
                k.value()
                    .try_into()
                    .map_err(|_| corrupt("cluster key id", "not 32 bytes"))?,
            );
            out.push((id, v.value().to_vec()));
        }
        Ok(out)
    }

    /// The keys of a contract this worker runs.
    fn crypt(&self, contract: &ContractId) -> Result<Arc<ContractCrypt>> {
        if let Some(crypt) = self.keyring.cached(contract) {
            return Ok(crypt);
        }
        let record = self
            .contract(contract)?
            .ok_or(WorkerError::UnknownContract(*contract))?;
        self.keyring
            .contract(&record.info)
            .ok_or(WorkerError::NoClusterKey(record.info.cluster))
    }

    /// The clusters this worker joined whose earlier contracts it may still lack.
    pub fn pending_syncs(&self) -> Result<Vec<ClusterId>> {
        let mut out = Vec::new();
        let pending = self
            .rtx
            .open_table(SYNC_PENDING)
            .map_err(storage("open sync pending"))?;
        for item in pending.iter().map_err(storage("scan sync pending"))? {
            let (k, _) = item.map_err(storage("scan sync pending"))?;
            out.push(ClusterId(k.value().try_into().map_err(|_| {
                corrupt("sync pending", "a cluster id not 32 bytes")
            })?));
        }
        Ok(out)
    }

    /// The state root of `contract` after block `height`: the root after the last block at
    /// or before it that changed the contract (`None` when none did: the contract was not
    /// here yet).
    pub fn root_at(&self, contract: &ContractId, height: u64) -> Result<Option<Hash32>> {
        let from = root_key(contract, 0);
        let to = root_key(contract, height);
        let history = self
            .rtx
            .open_table(ROOT_HISTORY)
            .map_err(storage("open root history"))?;
        let last = history
            .range(from.as_slice()..=to.as_slice())
            .map_err(storage("read root history"))?
            .next_back()
            .transpose()
            .map_err(storage("read root history"))?;
        last.map(|(_, v)| Hash32::from_slice(v.value()).map_err(|e| corrupt("root history", e)))
            .transpose()
    }

    /// Every entry of `contract`, decrypted, in key order.
    pub fn entries(&self, contract: &ContractId) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        StateStore::scan(self, contract, &[], None, usize::MAX)
            .map_err(|e| WorkerError::Corrupt(e.to_string()))
    }

    /// How many state entries the store holds, all contracts together.
    pub fn total_entries(&self) -> Result<u64> {
        self.table(&self.state, STATE)?
            .len()
            .map_err(storage("count state"))
    }
}

fn runtime_error(e: WorkerError) -> fat_runtime::Error {
    fat_runtime::Error::Store(e.to_string())
}

impl StateStore for Snapshot {
    fn get(&self, contract: &ContractId, key: &[u8]) -> fat_runtime::Result<Option<Vec<u8>>> {
        let Some(stored) = get(
            self.table(&self.state, STATE).map_err(runtime_error)?,
            &state_key(contract, key),
        )
        .map_err(runtime_error)?
        else {
            return Ok(None);
        };
        let crypt = self.crypt(contract).map_err(runtime_error)?;
        crypt
            .decrypt(contract, key, &stored)
            .map(Some)
            .map_err(runtime_error)
    }

    fn scan(
        &self,
        contract: &ContractId,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> fat_runtime::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let full_prefix = state_key(contract, prefix);
        let start = match after {
            Some(a) if a > prefix => state_key(contract, a),
            _ => full_prefix.clone(),
        };
        let mut out = Vec::new();
        let mut crypt: Option<Arc<ContractCrypt>> = None;
        let range = self
            .table(&self.state, STATE)
            .map_err(runtime_error)?
            .range(start.as_slice()..)
            .map_err(|e| runtime_error(storage("scan state")(e)))?;
        for item in range {
            let (k, v) = item.map_err(|e| runtime_error(storage("scan state")(e)))?;
            let k = k.value();
            if !k.starts_with(&full_prefix) || out.len() >= limit {
                break;
            }
            let key = &k[32..];
            if Some(key) == after {
                continue;
            }
            let crypt = match &crypt {
                Some(c) => c,
                None => crypt.insert(self.crypt(contract).map_err(runtime_error)?),
            };
            let value = crypt
                .decrypt(contract, key, v.value())
                .map_err(runtime_error)?;
            out.push((key.to_vec(), value));
        }
        Ok(out)
    }

    fn entry_count(&self, contract: &ContractId) -> fat_runtime::Result<u64> {
        Ok(self
            .contract(contract)
            .map_err(runtime_error)?
            .map_or(0, |r| r.entries))
    }
}

/// What the executor reads of a snapshot besides state entries.
impl fat_executor::StateView for Snapshot {
    fn is_member(&self, cluster: &ClusterId) -> fat_runtime::Result<bool> {
        Snapshot::is_member(self, cluster).map_err(runtime_error)
    }

    fn key_epoch(&self, cluster: &ClusterId) -> fat_runtime::Result<u32> {
        Snapshot::key_epoch(self, cluster).map_err(runtime_error)
    }

    fn contract(&self, id: &ContractId) -> fat_runtime::Result<Option<ContractRecord>> {
        Snapshot::contract(self, id).map_err(runtime_error)
    }

    fn code(&self, hash: &CodeHash) -> fat_runtime::Result<Option<Vec<u8>>> {
        Snapshot::code(self, hash).map_err(runtime_error)
    }
}
