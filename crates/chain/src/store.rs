//! The block store and registry on disk (redb): one write transaction per block, fsynced
//! (`Durability::Immediate`) before the block is announced.
//!
//! After a crash, redb shows the last committed transaction and nothing of a half-written
//! one, so a restarted node resumes from its last committed block.

use std::path::{Path, PathBuf};

use fat_proto::chain::BlockFrame;
use fat_types::encoding::{decode, encode};
use fat_types::{
    Block, BlockHeader, Certificate, ChainReceipt, CodeHash, Hash32, TxId, TxLocation,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{ChainError, Result, storage};
use crate::genesis::Genesis;
use crate::state::{Changes, State, Writes, next_root};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
const TXS: TableDefinition<&[u8], (u64, u32)> = TableDefinition::new("txs");
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
const CODE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("code");

/// The value of `meta["format"]`: what this file is and which layout it uses. Version 4:
/// clusters, contracts and key provisions carry key epochs.
const FORMAT: &[u8] = b"fat-chain/4";
/// The name of the database file inside the data directory.
pub const DB_FILE: &str = "chain.redb";

/// The on-disk chain.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

/// What [`Store::open`] found.
pub struct Opened {
    /// The store.
    pub store: Store,
    /// The registry at the last committed block.
    pub state: State,
    /// The last committed block's header.
    pub tip: BlockHeader,
    /// The genesis block's hash.
    pub genesis_hash: Hash32,
}

/// The genesis block and its state changes.
pub fn genesis_block(genesis: &Genesis) -> (Block, Changes) {
    let changes = Changes::genesis(genesis);
    let header = BlockHeader {
        height: 0,
        parent: genesis.config_hash(),
        timestamp_ms: genesis.timestamp_ms,
        tx_root: fat_types::block::tx_root(&[]),
        receipts_root: fat_types::block::receipts_root(&[]),
        state_root: next_root(&Hash32::default(), &changes.writes()),
    };
    (
        Block {
            header,
            certificate: Certificate::Genesis,
            txs: Vec::new(),
        },
        changes,
    )
}

impl Store {
    /// Open the chain in `dir`, creating it from `genesis` if there is none. A database that is
    /// corrupt, foreign or of another chain is refused, never reset.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<Opened> {
        fat_types::private_fs::create_private_dir(dir).map_err(|source| ChainError::DataDir {
            path: dir.into(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let exists = path.exists();
        let db = if exists {
            Database::open(&path)
        } else {
            Database::create(&path)
        }
        .map_err(|source| ChainError::OpenStore {
            path: path.clone(),
            source,
        })?;
        fat_types::private_fs::restrict_file(&path).map_err(|source| ChainError::DataDir {
            path: path.clone(),
            source,
        })?;
        let store = Store { db, path };
        let (genesis_block, changes) = genesis_block(genesis);
        let expected = genesis_block.hash();
        if store.is_empty()? {
            let meta = [
                ("format", FORMAT),
                ("genesis", expected.as_bytes().as_slice()),
            ];
            store.write_block(&genesis_block, &[], &changes.writes(), &[], &meta)?;
        }
        let found = store.check_meta()?;
        if found != expected {
            return Err(ChainError::ForeignChain {
                path: store.path.clone(),
                found,
                expected,
            });
        }
        let tip = store.tip()?;
        let state = store.load_state()?;
        Ok(Opened {
            store,
            state,
            tip,
            genesis_hash: expected,
        })
    }

    /// Whether the file has no tables at all: a new file, or one whose first commit never
    /// completed.
    fn is_empty(&self) -> Result<bool> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let mut tables = rtx.list_tables().map_err(storage("list tables"))?;
        Ok(tables.next().is_none())
    }

    fn check_meta(&self) -> Result<Hash32> {
        let foreign = |reason: &str| ChainError::ForeignStore {
            path: self.path.clone(),
            reason: reason.into(),
        };
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let meta = rtx.open_table(META).map_err(|_| foreign("no meta table"))?;
        let format = meta
            .get("format")
            .map_err(storage("read meta"))?
            .ok_or_else(|| foreign("no format"))?;
        if format.value() != FORMAT {
            return Err(foreign(&format!(
                "format {:?}",
                String::from_utf8_lossy(format.value())
            )));
        }
        let genesis = meta
            .get("genesis")
            .map_err(storage("read meta"))?
            .ok_or_else(|| foreign("no genesis"))?;
        Hash32::from_slice(genesis.value()).map_err(|_| foreign("bad genesis hash"))
    }

    /// Commit a block with its receipts, state writes and new code, durably.
    pub fn commit(
        &self,
        block: &Block,
        receipts: &[ChainReceipt],
        writes: &Writes,
        code: &[(CodeHash, Vec<u8>)],
    ) -> Result<()> {
        self.write_block(block, receipts, writes, code, &[])
    }

    fn write_block(
        &self,
        block: &Block,
        receipts: &[ChainReceipt],
        writes: &Writes,
        code: &[(CodeHash, Vec<u8>)],
        meta_entries: &[(&str, &[u8])],
    ) -> Result<()> {
        let height = block.header.height;
        let mut wtx = self.db.begin_write().map_err(storage("begin write"))?;
        wtx.set_durability(Durability::Immediate)
            .map_err(storage("set durability"))?;
        {
            let mut blocks = wtx.open_table(BLOCKS).map_err(storage("open blocks"))?;
            blocks
                .insert(height, encode(block).as_slice())
                .map_err(storage("write block"))?;
            let mut table = wtx.open_table(RECEIPTS).map_err(storage("open receipts"))?;
            table
                .insert(height, encode(&receipts.to_vec()).as_slice())
                .map_err(storage("write receipts"))?;
            let mut txs = wtx.open_table(TXS).map_err(storage("open txs"))?;
            for (index, tx) in block.txs.iter().enumerate() {
                let id = tx.id();
                txs.insert(id.as_bytes().as_slice(), (height, index as u32))
                    .map_err(storage("write tx"))?;
            }
            let mut state = wtx.open_table(STATE).map_err(storage("open state"))?;
            for (key, value) in writes {
                state
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(storage("write state"))?;
            }
            let mut table = wtx.open_table(CODE).map_err(storage("open code"))?;
            for (hash, bytes) in code {
                table
                    .insert(hash.as_bytes().as_slice(), bytes.as_slice())
                    .map_err(storage("write code"))?;
            }
            let mut meta = wtx.open_table(META).map_err(storage("open meta"))?;
            meta.insert("tip", height.to_le_bytes().as_slice())
                .map_err(storage("write tip"))?;
            for (key, value) in meta_entries {
                meta.insert(*key, *value).map_err(storage("write meta"))?;
            }
        }
        wtx.commit().map_err(storage("commit"))
    }

    /// The last committed block's header.
    pub fn tip(&self) -> Result<BlockHeader> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let meta = rtx.open_table(META).map_err(storage("open meta"))?;
        let tip = meta
            .get("tip")
            .map_err(storage("read tip"))?
            .ok_or_else(|| ChainError::Corrupt("no tip".into()))?;
        let height = u64::from_le_bytes(
            tip.value()
                .try_into()
                .map_err(|_| ChainError::Corrupt("bad tip".into()))?,
        );
        let block = self
            .block(height)?
            .ok_or_else(|| ChainError::Corrupt(format!("tip block {height} missing")))?;
        Ok(block.header)
    }

    /// A committed block.
    pub fn block(&self, height: u64) -> Result<Option<Block>> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let table = rtx.open_table(BLOCKS).map_err(storage("open blocks"))?;
        let Some(bytes) = table.get(height).map_err(storage("read block"))? else {
            return Ok(None);
        };
        decode("block", bytes.value())
            .map(Some)
            .map_err(|e| ChainError::Corrupt(e.to_string()))
    }

    /// A committed block and, with `receipts`, its receipts, as a [`BlockFrame`]'s bytes:
    /// the bytes the store keeps, joined without being decoded.
    pub fn block_frame(&self, height: u64, receipts: bool) -> Result<Option<Vec<u8>>> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let blocks = rtx.open_table(BLOCKS).map_err(storage("open blocks"))?;
        let Some(block) = blocks.get(height).map_err(storage("read block"))? else {
            return Ok(None);
        };
        if !receipts {
            return Ok(Some(BlockFrame::join(block.value(), None)));
        }
        let table = rtx.open_table(RECEIPTS).map_err(storage("open receipts"))?;
        // Every block is committed with its receipts (genesis too): a block without them is
        // a damaged store, said as such (the JSON stream leaves the receipts out instead, and
        // its follower then asks for them and is refused).
        let Some(receipts) = table.get(height).map_err(storage("read receipts"))? else {
            return Err(ChainError::Corrupt(format!(
                "block {height} is stored without its receipts"
            )));
        };
        Ok(Some(BlockFrame::join(
            block.value(),
            Some(receipts.value()),
        )))
    }

    /// The receipts of a committed block.
    pub fn receipts(&self, height: u64) -> Result<Option<Vec<ChainReceipt>>> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let table = rtx.open_table(RECEIPTS).map_err(storage("open receipts"))?;
        let Some(bytes) = table.get(height).map_err(storage("read receipts"))? else {
            return Ok(None);
        };
        decode("receipts", bytes.value())
            .map(Some)
            .map_err(|e| ChainError::Corrupt(e.to_string()))
    }

    /// Where a committed transaction is.
    pub fn tx_location(&self, id: &TxId) -> Result<Option<TxLocation>> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let table = rtx.open_table(TXS).map_err(storage("open txs"))?;
        let found = table
            .get(id.as_bytes().as_slice())
            .map_err(storage("read tx"))?;
        Ok(found.map(|g| {
            let (height, index) = g.value();
            TxLocation { height, index }
        }))
    }

    /// The bytes of uploaded code.
    pub fn code(&self, hash: &CodeHash) -> Result<Option<Vec<u8>>> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let table = rtx.open_table(CODE).map_err(storage("open code"))?;
        Ok(table
            .get(hash.as_bytes().as_slice())
            .map_err(storage("read code"))?
            .map(|g| g.value().to_vec()))
    }

    fn load_state(&self) -> Result<State> {
        let rtx = self.db.begin_read().map_err(storage("begin read"))?;
        let table = rtx.open_table(STATE).map_err(storage("open state"))?;
        let mut entries = Vec::new();
        for entry in table.iter().map_err(storage("read state"))? {
            let (k, v) = entry.map_err(storage("read state"))?;
            entries.push((k.value().to_vec(), v.value().to_vec()));
        }
        State::load(entries)
    }
}
