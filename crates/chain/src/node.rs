//! The node: mempool, registry state and block store behind one handle.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fat_crypto::{Keypair, verify_tx};
use fat_types::block::{receipts_root, tx_root};
use fat_types::encoding::decode;
use fat_types::{
    Block, BlockHeader, Hash32, Receipt, SignedTransaction, TxId, TxLocation, TxRejection,
};
use tokio::sync::{Notify, watch};

use crate::error::{ChainError, Result};
use crate::genesis::{ChainParams, Genesis};
use crate::mempool::Mempool;
use crate::rules::Rules;
use crate::state::{State, next_root};
use crate::store::Store;
use fat_types::Clock;

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the database lives.
    pub data_dir: PathBuf,
    /// The chain it runs.
    pub genesis: Genesis,
    /// The most transactions waiting in the mempool.
    pub mempool_limit: usize,
}

struct Inner {
    store: Store,
    state: RwLock<State>,
    mempool: Mutex<Mempool>,
    params: ChainParams,
    producer: Option<Keypair>,
    clock: Arc<dyn Clock>,
    tip: watch::Sender<BlockHeader>,
    work: Notify,
    produce: Mutex<()>,
    halted: AtomicBool,
    genesis_hash: Hash32,
}

/// A handle to a running node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node(height {})", self.tip().height)
    }
}

impl Node {
    /// Open (or create) the chain in `config.data_dir`. With a `producer` key the node can
    /// produce blocks; the key must be the genesis producer's.
    pub fn open(
        config: NodeConfig,
        producer: Option<Keypair>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        if let Some(key) = &producer
            && key.account_id() != config.genesis.producer
        {
            return Err(ChainError::NotProducer);
        }
        let opened = Store::open(&config.data_dir, &config.genesis)?;
        let params = opened.state.params.clone();
        let (tip, _) = watch::channel(opened.tip);
        Ok(Self {
            inner: Arc::new(Inner {
                store: opened.store,
                state: RwLock::new(opened.state),
                mempool: Mutex::new(Mempool::new(config.mempool_limit)),
                params,
                producer,
                clock,
                tip,
                work: Notify::new(),
                produce: Mutex::new(()),
                halted: AtomicBool::new(false),
                genesis_hash: opened.genesis_hash,
            }),
        })
    }

    /// The chain's parameters.
    pub fn params(&self) -> &ChainParams {
        &self.inner.params
    }

    /// The genesis block's hash.
    pub fn genesis_hash(&self) -> Hash32 {
        self.inner.genesis_hash
    }

    /// The last committed block's header.
    pub fn tip(&self) -> BlockHeader {
        self.inner.tip.borrow().clone()
    }

    /// Watch the last committed header: it changes only after a block is durably committed.
    pub fn subscribe(&self) -> watch::Receiver<BlockHeader> {
        self.inner.tip.subscribe()
    }

    /// Check and admit an encoded signed transaction.
    pub fn submit(&self, bytes: &[u8]) -> Result<TxId, TxRejection> {
        let size = bytes.len() as u64;
        let max = self.inner.params.max_tx_bytes;
        if size > max {
            return Err(TxRejection::TooLarge { size, max });
        }
        let tx: SignedTransaction =
            decode("signed transaction", bytes).map_err(|e| TxRejection::Malformed {
                reason: e.to_string(),
            })?;
        verify_tx(&tx).map_err(|_| TxRejection::BadSignature)?;
        let id = {
            let mut mempool = self.inner.mempool.lock().expect("mempool lock");
            let state = self.inner.state.read().expect("state lock");
            mempool.admit(&state, tx, size, self.inner.clock.now_ms() / 1000)?
        };
        self.inner.work.notify_one();
        Ok(id)
    }

    /// Check and admit a signed transaction.
    pub fn submit_tx(&self, tx: &SignedTransaction) -> Result<TxId, TxRejection> {
        self.submit(&tx.encode())
    }

    /// How many transactions wait for a block.
    pub fn pending(&self) -> usize {
        self.inner.mempool.lock().expect("mempool lock").len()
    }

    /// The nonce the account's next transaction must carry, counting its pending ones.
    pub fn next_nonce(&self, account: &fat_types::AccountId) -> u64 {
        let mempool = self.inner.mempool.lock().expect("mempool lock");
        let state = self.inner.state.read().expect("state lock");
        mempool.next_nonce(&state, account)
    }

    /// Wait until there may be work for the producer.
    pub async fn work_available(&self) {
        self.inner.work.notified().await
    }

    /// Read the committed registry.
    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.state.read().expect("state lock"))
    }

    /// The block store (committed data only).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Where a committed transaction is, its block and its receipt.
    pub fn committed_tx(
        &self,
        id: &TxId,
    ) -> Result<Option<(TxLocation, SignedTransaction, Receipt)>> {
        let Some(location) = self.inner.store.tx_location(id)? else {
            return Ok(None);
        };
        let corrupt = || ChainError::Corrupt(format!("transaction {id} indexed but missing"));
        let block = self
            .inner
            .store
            .block(location.height)?
            .ok_or_else(corrupt)?;
        let receipts = self
            .inner
            .store
            .receipts(location.height)?
            .ok_or_else(corrupt)?;
        let i = location.index as usize;
        let tx = block.txs.get(i).cloned().ok_or_else(corrupt)?;
        let receipt = receipts.get(i).cloned().ok_or_else(corrupt)?;
        Ok(Some((location, tx, receipt)))
    }

    /// Wait until a transaction is committed, for at most `timeout`.
    pub async fn wait_committed(&self, id: &TxId, timeout: Duration) -> Result<Option<TxLocation>> {
        let mut tip = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            tip.borrow_and_update();
            if let Some(location) = self.inner.store.tx_location(id)? {
                return Ok(Some(location));
            }
            match tokio::time::timeout_at(deadline, tip.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(None),
            }
        }
    }

    /// Build, sign and durably commit a block of pending transactions, then announce it.
    /// Returns the new header, or `None` when nothing was pending.
    pub fn produce_block(&self) -> Result<Option<BlockHeader>> {
        let inner = &*self.inner;
        let key = inner.producer.as_ref().ok_or(ChainError::NotProducer)?;
        let _one_at_a_time = inner.produce.lock().expect("produce lock");
        if inner.halted.load(Ordering::SeqCst) {
            return Err(ChainError::Halted);
        }
        let txs = inner
            .mempool
            .lock()
            .expect("mempool lock")
            .take(inner.params.max_block_txs as usize);
        if txs.is_empty() {
            return Ok(None);
        }
        let parent = self.tip();
        let height = parent.height + 1;
        let timestamp_ms = inner.clock.now_ms().max(parent.timestamp_ms);
        let state = inner.state.read().expect("state lock");
        let mut rules = Rules::new(&state, height, timestamp_ms);
        let receipts: Vec<Receipt> = txs.iter().map(|tx| rules.execute(tx)).collect();
        let mut changes = rules.changes;
        drop(state);
        let code = std::mem::take(&mut changes.code_bytes);
        let writes = changes.writes();
        let header = BlockHeader {
            height,
            parent: parent.hash(),
            timestamp_ms,
            tx_root: tx_root(&txs),
            receipts_root: receipts_root(&receipts),
            state_root: next_root(&parent.state_root, &writes),
            producer: key.account_id(),
        };
        let signature = key.sign(header.hash().as_bytes());
        let block = Block {
            header,
            signature,
            txs,
        };
        if let Err(e) = inner.store.commit(&block, &receipts, &writes, &code) {
            inner.halted.store(true, Ordering::SeqCst);
            return Err(e);
        }
        {
            let mut mempool = inner.mempool.lock().expect("mempool lock");
            inner.state.write().expect("state lock").apply(changes);
            mempool.committed(&block.txs);
        }
        inner.tip.send_replace(block.header.clone());
        Ok(Some(block.header))
    }
}
