//! The node: mempool, registry state and block store behind one handle.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fat_consensus::{Application, Proposal, Sequencer, ValidatorSet};
use fat_crypto::{Keypair, verify_tx};
use fat_types::block::{receipts_root, tx_root};
use fat_types::encoding::{decode, encode};
use fat_types::{
    BlockHeader, Certificate, Clock, CodeHash, Hash32, Receipt, SignedTransaction, TxId,
    TxLocation, TxRejection,
};
use tokio::sync::{Notify, watch};

use crate::error::{ChainError, InvalidProposal, Result};
use crate::genesis::{ChainParams, Genesis};
use crate::mempool::Mempool;
use crate::rules::{Rules, check_limits};
use crate::state::{Changes, State, Writes, next_root};
use crate::store::Store;

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
    genesis: Genesis,
    validators: ValidatorSet,
    validator: Option<Keypair>,
    clock: Arc<dyn Clock>,
    tip: watch::Sender<BlockHeader>,
    work: Notify,
    /// Held by propose, verify and finalize, so the tip and the state they read agree; keeps
    /// the executions of the proposals seen at the current height.
    consensus: Mutex<ExecutedCache>,
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
    /// Open (or create) the chain in `config.data_dir`. A `validator_key` must be one of the
    /// genesis validators' ([`Self::produce_block`] signs with it).
    pub fn open(
        config: NodeConfig,
        validator_key: Option<Keypair>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let validators = ValidatorSet::new(config.genesis.validators.clone())?;
        if let Some(key) = &validator_key
            && validators.index_of(&key.account_id()).is_none()
        {
            return Err(ChainError::NotValidator {
                account: key.account_id(),
            });
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
                genesis: config.genesis,
                validators,
                validator: validator_key,
                clock,
                tip,
                work: Notify::new(),
                consensus: Mutex::new(ExecutedCache::default()),
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

    /// Wait until there may be work for the consensus engine.
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

    /// The chain's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.inner.genesis
    }

    /// Propose, verify, sign as this node's validator and finalize a block of pending
    /// transactions: what the single sequencer does, in one call (for tests and benches).
    /// Returns the new header, or `None` when nothing was pending.
    pub fn produce_block(&self) -> Result<Option<BlockHeader>> {
        let key = self
            .inner
            .validator
            .clone()
            .ok_or(ChainError::NoValidatorKey)?;
        let sequencer = Sequencer {
            key,
            block_time: Duration::ZERO,
        };
        sequencer.step(self)
    }

    /// Check `proposal` against the last final block and execute it on its state, or say
    /// which rule it breaks. Call with the consensus lock held.
    fn check(&self, proposal: &Proposal) -> Result<Executed> {
        let inner = &*self.inner;
        let header = &proposal.header;
        let height = header.height;
        let invalid = |reason| ChainError::Proposal { height, reason };
        let parent = self.tip();
        let parent_hash = parent.hash();
        if header.parent != parent_hash {
            return Err(invalid(InvalidProposal::BadParent {
                expected: parent_hash,
                got: header.parent,
            }));
        }
        if height != parent.height + 1 {
            return Err(invalid(InvalidProposal::WrongHeight {
                expected: parent.height + 1,
                got: height,
            }));
        }
        if header.timestamp_ms < parent.timestamp_ms {
            return Err(invalid(InvalidProposal::TimeWentBack {
                parent: parent.timestamp_ms,
                got: header.timestamp_ms,
            }));
        }
        let params = &inner.params;
        if proposal.txs.len() > params.max_block_txs as usize {
            return Err(invalid(InvalidProposal::TooManyTxs {
                count: proposal.txs.len(),
                max: params.max_block_txs,
            }));
        }
        if tx_root(&proposal.txs) != header.tx_root {
            return Err(invalid(InvalidProposal::TxRootMismatch));
        }
        let mut ids = HashSet::with_capacity(proposal.txs.len());
        for (index, signed) in proposal.txs.iter().enumerate() {
            let index = index as u32;
            let tx = signed.id();
            let refused = |rejection| {
                invalid(InvalidProposal::Tx {
                    index,
                    tx,
                    rejection,
                })
            };
            let size = encode(signed).len() as u64;
            if size > params.max_tx_bytes {
                return Err(refused(TxRejection::TooLarge {
                    size,
                    max: params.max_tx_bytes,
                }));
            }
            check_limits(params, &signed.tx, size).map_err(refused)?;
            if verify_tx(signed).is_err() {
                return Err(refused(TxRejection::BadSignature));
            }
            if !ids.insert(tx) || inner.store.tx_location(&tx)?.is_some() {
                return Err(invalid(InvalidProposal::Replayed { index, tx }));
            }
        }
        let gas = proposal
            .txs
            .iter()
            .fold(0u64, |sum, tx| sum.saturating_add(tx.tx.kind.gas_limit()));
        if gas > params.max_block_gas {
            return Err(invalid(InvalidProposal::TooMuchGas {
                gas,
                max: params.max_block_gas,
            }));
        }
        let executed = self.execute(&parent, height, header.timestamp_ms, &proposal.txs);
        let receipts_root = receipts_root(&executed.receipts);
        if receipts_root != header.receipts_root {
            return Err(invalid(InvalidProposal::ReceiptsRootMismatch {
                expected: receipts_root,
                got: header.receipts_root,
            }));
        }
        if executed.state_root != header.state_root {
            return Err(invalid(InvalidProposal::StateRootMismatch {
                expected: executed.state_root,
                got: header.state_root,
            }));
        }
        Ok(executed)
    }

    /// Execute `txs` as the block at `height` on the committed state (`parent`'s).
    fn execute(
        &self,
        parent: &BlockHeader,
        height: u64,
        timestamp_ms: u64,
        txs: &[SignedTransaction],
    ) -> Executed {
        let state = self.inner.state.read().expect("state lock");
        let mut rules = Rules::new(&state, height, timestamp_ms);
        let receipts: Vec<Receipt> = txs.iter().map(|tx| rules.execute(tx)).collect();
        let mut changes = rules.changes;
        drop(state);
        let code = std::mem::take(&mut changes.code_bytes);
        let writes = changes.writes();
        let state_root = next_root(&parent.state_root, &writes);
        Executed {
            receipts,
            changes,
            writes,
            code,
            state_root,
        }
    }
}

/// What executing a proposal gave, kept until it is finalized or its height is.
#[derive(Debug)]
struct Executed {
    receipts: Vec<Receipt>,
    changes: Changes,
    writes: Writes,
    code: Vec<(CodeHash, Vec<u8>)>,
    state_root: Hash32,
}

/// The most executed proposals kept for one height (an engine may see several per height, one
/// per round).
const EXECUTED_CACHE: usize = 8;

/// Executed proposals by block hash, all on the current tip; emptied when a block is final.
#[derive(Debug, Default)]
struct ExecutedCache {
    entries: VecDeque<(Hash32, Executed)>,
}

impl ExecutedCache {
    fn contains(&self, hash: &Hash32) -> bool {
        self.entries.iter().any(|(h, _)| h == hash)
    }

    fn insert(&mut self, hash: Hash32, executed: Executed) {
        if self.contains(&hash) {
            return;
        }
        if self.entries.len() == EXECUTED_CACHE {
            self.entries.pop_front();
        }
        self.entries.push_back((hash, executed));
    }

    /// The execution of `hash`, if kept; forgets every other (they build on the old tip).
    fn finalize(&mut self, hash: &Hash32) -> Option<Executed> {
        let found = self
            .entries
            .iter()
            .position(|(h, _)| h == hash)
            .and_then(|i| self.entries.remove(i))
            .map(|(_, executed)| executed);
        self.entries.clear();
        found
    }
}

impl Application for Node {
    type Error = ChainError;

    fn validators(&self) -> &ValidatorSet {
        &self.inner.validators
    }

    fn last_finalized(&self) -> BlockHeader {
        self.tip()
    }

    fn pending(&self) -> usize {
        Node::pending(self)
    }

    fn work_available(&self) -> impl Future<Output = ()> + Send {
        self.inner.work.notified()
    }

    fn propose(&self, parent: &BlockHeader) -> Result<Option<Proposal>> {
        let inner = &*self.inner;
        let mut cache = inner.consensus.lock().expect("consensus lock");
        if inner.halted.load(Ordering::SeqCst) {
            return Err(ChainError::Halted);
        }
        let tip = self.tip();
        if parent.hash() != tip.hash() {
            return Err(ChainError::Proposal {
                height: parent.height + 1,
                reason: InvalidProposal::BadParent {
                    expected: tip.hash(),
                    got: parent.hash(),
                },
            });
        }
        let txs = inner.mempool.lock().expect("mempool lock").take(
            inner.params.max_block_txs as usize,
            inner.params.max_block_gas,
        );
        if txs.is_empty() {
            return Ok(None);
        }
        let height = tip.height + 1;
        let timestamp_ms = inner.clock.now_ms().max(tip.timestamp_ms);
        let executed = self.execute(&tip, height, timestamp_ms, &txs);
        let header = BlockHeader {
            height,
            parent: tip.hash(),
            timestamp_ms,
            tx_root: tx_root(&txs),
            receipts_root: receipts_root(&executed.receipts),
            state_root: executed.state_root,
        };
        let proposal = Proposal { header, txs };
        cache.insert(proposal.hash(), executed);
        Ok(Some(proposal))
    }

    fn verify(&self, proposal: &Proposal) -> Result<()> {
        let mut cache = self.inner.consensus.lock().expect("consensus lock");
        let hash = proposal.hash();
        if cache.contains(&hash) {
            // Executed when proposed or verified: only the transactions are left to match.
            if tx_root(&proposal.txs) != proposal.header.tx_root {
                return Err(ChainError::Proposal {
                    height: proposal.header.height,
                    reason: InvalidProposal::TxRootMismatch,
                });
            }
            return Ok(());
        }
        let executed = self.check(proposal)?;
        cache.insert(hash, executed);
        Ok(())
    }

    fn finalize(&self, proposal: Proposal, certificate: Certificate) -> Result<BlockHeader> {
        let inner = &*self.inner;
        let mut cache = inner.consensus.lock().expect("consensus lock");
        if inner.halted.load(Ordering::SeqCst) {
            return Err(ChainError::Halted);
        }
        let hash = proposal.hash();
        let height = proposal.header.height;
        inner
            .validators
            .verify(&hash, &certificate)
            .map_err(|source| ChainError::Certificate { height, source })?;
        let executed = match cache.finalize(&hash) {
            Some(executed) if tx_root(&proposal.txs) == proposal.header.tx_root => executed,
            _ => self.check(&proposal)?,
        };
        let block = proposal.into_block(certificate);
        if let Err(e) =
            inner
                .store
                .commit(&block, &executed.receipts, &executed.writes, &executed.code)
        {
            inner.halted.store(true, Ordering::SeqCst);
            return Err(e);
        }
        {
            let mut mempool = inner.mempool.lock().expect("mempool lock");
            inner
                .state
                .write()
                .expect("state lock")
                .apply(executed.changes);
            mempool.committed(&block.txs);
        }
        inner.tip.send_replace(block.header.clone());
        Ok(block.header)
    }
}
