//! The node: mempool, registry state and block store behind one handle.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fat_consensus::{Application, Proposal, Sequencer, ValidatorSet};
use fat_crypto::{Keypair, verify_tx};
use fat_proto::chain::LIVENESS_WINDOW;
use fat_types::block::{receipts_root, tx_root};
use fat_types::encoding::{decode, encoded_len};
use fat_types::genesis::MAX_BLOCK_BYTES;
use fat_types::{
    Block, BlockHeader, Certificate, ChainReceipt, Clock, CodeHash, Hash32, SignedTransaction,
    TxId, TxLocation, TxRejection,
};
use tokio::sync::{Notify, broadcast, watch};

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
    /// the executions of the proposals not yet final.
    consensus: Mutex<PendingTree>,
    /// Transactions admitted from clients, for the consensus engine to pass to its peers.
    gossip: broadcast::Sender<Arc<Vec<u8>>>,
    halted: AtomicBool,
    genesis_hash: Hash32,
    /// Per validator, the last height whose certificate it signed (see [`Node::last_signed`]).
    signed: Mutex<Vec<Option<u64>>>,
    /// Signed transactions whose signature this node checked (at admission), so a proposal
    /// holding them is not checked again: ed25519 verification is most of a proposal's cost.
    verified: Mutex<HashSet<(TxId, [u8; 64])>>,
}

/// How many checked signatures [`Inner::verified`] remembers before it starts over.
const VERIFIED_MEMORY: usize = 200_000;

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
        let mut signed = vec![None; validators.len()];
        let top = opened.tip.height;
        for height in top.saturating_sub(LIVENESS_WINDOW - 1).max(1)..=top {
            if let Some(block) = opened.store.block(height)? {
                note_signers(&mut signed, &block);
            }
        }
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
                consensus: Mutex::new(PendingTree::default()),
                gossip: broadcast::channel(GOSSIP_BACKLOG).0,
                halted: AtomicBool::new(false),
                genesis_hash: opened.genesis_hash,
                signed: Mutex::new(signed),
                verified: Mutex::new(HashSet::new()),
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

    /// Per genesis validator, in order, the last height whose certificate it signed: of
    /// the blocks committed since the node opened and the last [`LIVENESS_WINDOW`] before.
    pub fn last_signed(&self) -> Vec<Option<u64>> {
        self.inner.signed.lock().expect("signed lock").clone()
    }

    /// The last committed block's header.
    pub fn tip(&self) -> BlockHeader {
        self.inner.tip.borrow().clone()
    }

    /// Watch the last committed header: it changes only after a block is durably committed.
    pub fn subscribe(&self) -> watch::Receiver<BlockHeader> {
        self.inner.tip.subscribe()
    }

    /// Check and admit an encoded signed transaction from a client; once admitted it is
    /// offered to the consensus engine's peers (see [`Self::subscribe_admitted`]).
    pub fn submit(&self, bytes: &[u8]) -> Result<TxId, TxRejection> {
        let id = self.admit(bytes)?;
        if self.inner.gossip.receiver_count() > 0 {
            let _ = self.inner.gossip.send(Arc::new(bytes.to_vec()));
        }
        Ok(id)
    }

    /// Check and admit an encoded signed transaction a peer passed on (not passed on again).
    pub fn submit_from_peer(&self, bytes: &[u8]) -> Result<TxId, TxRejection> {
        self.admit(bytes)
    }

    /// The encoded transactions clients submit from now on, as they are admitted. A receiver
    /// that falls more than a few thousand behind misses some (its peers order them anyway
    /// when this node proposes).
    pub fn subscribe_admitted(&self) -> broadcast::Receiver<Arc<Vec<u8>>> {
        self.inner.gossip.subscribe()
    }

    fn admit(&self, bytes: &[u8]) -> Result<TxId, TxRejection> {
        let size = bytes.len() as u64;
        let max = self.inner.params.max_tx_bytes;
        if size > max {
            return Err(TxRejection::TooLarge { size, max });
        }
        let tx: SignedTransaction =
            decode("signed transaction", bytes).map_err(|e| TxRejection::Malformed {
                reason: e.to_string(),
            })?;
        self.check_signed(&tx)?;
        // Committed already (perhaps as a failure, its nonce unused): proposing it again
        // would only make every peer refuse the proposal as a replay.
        if matches!(self.inner.store.tx_location(&tx.id()), Ok(Some(_))) {
            return Err(TxRejection::AlreadyKnown);
        }
        let id = {
            let mut mempool = self.inner.mempool.lock().expect("mempool lock");
            let state = self.inner.state.read().expect("state lock");
            mempool.admit(&state, tx, size, self.inner.clock.now_ms() / 1000)?
        };
        self.inner.work.notify_one();
        Ok(id)
    }

    /// Check `signed` is for this chain (its genesis block hash) and signed by its signer.
    /// A signature checked here before (the same bytes over the same transaction: at its
    /// admission, say) is not checked again when a proposal holds it.
    fn check_signed(&self, signed: &SignedTransaction) -> Result<(), TxRejection> {
        let chain = self.inner.genesis_hash;
        if signed.tx.chain != chain {
            return Err(TxRejection::WrongChain {
                expected: chain,
                got: signed.tx.chain,
            });
        }
        let seen = (signed.id(), signed.signature.0);
        if self
            .inner
            .verified
            .lock()
            .expect("verified lock")
            .contains(&seen)
        {
            return Ok(());
        }
        verify_tx(signed).map_err(|_| TxRejection::BadSignature)?;
        let mut verified = self.inner.verified.lock().expect("verified lock");
        if verified.len() >= VERIFIED_MEMORY {
            verified.clear();
        }
        verified.insert(seen);
        Ok(())
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
    ) -> Result<Option<(TxLocation, SignedTransaction, ChainReceipt)>> {
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

    /// Check `proposal` against its parent (the last final block or a pending proposal) and
    /// execute it on the parent's state, or say which rule it breaks. Call with the consensus
    /// lock held.
    fn check(&self, tree: &PendingTree, proposal: &Proposal) -> Result<Executed> {
        let inner = &*self.inner;
        let header = &proposal.header;
        let height = header.height;
        let invalid = |reason| ChainError::Proposal { height, reason };
        let tip = self.tip();
        let ancestors = tree.ancestors(&header.parent, &tip.hash()).ok_or_else(|| {
            invalid(InvalidProposal::BadParent {
                expected: tip.hash(),
                got: header.parent,
            })
        })?;
        let parent = ancestors.last().map_or(&tip, |p| &p.proposal.header);
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
        let mut ids: HashSet<TxId> = ancestors.iter().flat_map(|p| p.tx_ids()).collect();
        let mut bytes = 0u64;
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
            let size = encoded_len(signed) as u64;
            bytes = bytes.saturating_add(size);
            if bytes > MAX_BLOCK_BYTES {
                return Err(invalid(InvalidProposal::TooManyBytes {
                    bytes,
                    max: MAX_BLOCK_BYTES,
                }));
            }
            if size > params.max_tx_bytes {
                return Err(refused(TxRejection::TooLarge {
                    size,
                    max: params.max_tx_bytes,
                }));
            }
            check_limits(params, &signed.tx, size).map_err(refused)?;
            self.check_signed(signed).map_err(refused)?;
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
        let executed = self.execute(
            &ancestors,
            parent,
            height,
            header.timestamp_ms,
            &proposal.txs,
        );
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

    /// Execute `txs` as the block at `height` on the state after `parent`: the committed state
    /// with the changes of `ancestors` (the pending proposals from the last final block up to
    /// `parent`, oldest first; empty when `parent` is the last final block) on top.
    fn execute(
        &self,
        ancestors: &[&Pending],
        parent: &BlockHeader,
        height: u64,
        timestamp_ms: u64,
        txs: &[SignedTransaction],
    ) -> Executed {
        let committed = self.inner.state.read().expect("state lock");
        let speculative;
        let state = if ancestors.is_empty() {
            &*committed
        } else {
            let mut state = committed.clone();
            for ancestor in ancestors {
                state.apply(ancestor.executed.changes.clone());
            }
            speculative = state;
            &speculative
        };
        let mut rules = Rules::new(state, height, timestamp_ms);
        let receipts: Vec<ChainReceipt> = txs.iter().map(|tx| rules.execute(tx)).collect();
        let mut changes = rules.changes;
        drop(committed);
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
    receipts: Vec<ChainReceipt>,
    changes: Changes,
    writes: Writes,
    code: Vec<(CodeHash, Vec<u8>)>,
    state_root: Hash32,
}

/// A proposal executed on its parent's state, not yet final.
#[derive(Debug)]
struct Pending {
    proposal: Proposal,
    executed: Executed,
}

impl Pending {
    fn tx_ids(&self) -> impl Iterator<Item = TxId> + '_ {
        self.proposal.txs.iter().map(SignedTransaction::id)
    }
}

/// The most executed proposals kept while none is final (an engine sees one per view, and a
/// proposal may build on another that is not final yet).
const PENDING_LIMIT: usize = 64;

/// Note who signed `block`'s certificate.
fn note_signers(signed: &mut [Option<u64>], block: &Block) {
    for signer in block.certificate.signers() {
        if let Some(slot) = signed.get_mut(signer as usize) {
            *slot = Some(block.header.height);
        }
    }
}

/// How many admitted transactions wait for the consensus engine to pass them on.
const GOSSIP_BACKLOG: usize = 8192;

/// Executed proposals not yet final, by block hash: each builds on the last final block or on
/// another of them. Emptied of what a final block makes obsolete.
#[derive(Debug, Default)]
struct PendingTree {
    entries: BTreeMap<Hash32, Pending>,
}

impl PendingTree {
    fn insert(&mut self, hash: Hash32, pending: Pending) {
        if self.entries.contains_key(&hash) {
            return;
        }
        if self.entries.len() >= PENDING_LIMIT {
            let lowest = self
                .entries
                .iter()
                .min_by_key(|(_, p)| p.proposal.header.height)
                .map(|(h, _)| *h);
            if let Some(lowest) = lowest {
                self.entries.remove(&lowest);
            }
        }
        self.entries.insert(hash, pending);
    }

    /// The pending proposals from the child of `tip` up to `parent`, oldest first: empty when
    /// `parent` is `tip`, `None` when `parent` neither is `tip` nor leads back to it.
    fn ancestors(&self, parent: &Hash32, tip: &Hash32) -> Option<Vec<&Pending>> {
        let mut chain = Vec::new();
        let mut at = *parent;
        while at != *tip {
            let pending = self.entries.get(&at)?;
            at = pending.proposal.header.parent;
            chain.push(pending);
            if chain.len() > PENDING_LIMIT {
                return None;
            }
        }
        chain.reverse();
        Some(chain)
    }

    /// Take the execution of the final block `hash`; forget every proposal at its height or
    /// below (final now, or on a branch that can no longer be).
    fn finalize(&mut self, hash: &Hash32, height: u64) -> Option<Pending> {
        let found = self.entries.remove(hash);
        self.entries
            .retain(|_, p| p.proposal.header.height > height);
        found
    }
}

impl Application for Node {
    type Error = ChainError;

    fn validators(&self) -> &ValidatorSet {
        &self.inner.validators
    }

    fn genesis_hash(&self) -> Hash32 {
        self.inner.genesis_hash
    }

    fn is_invalid_proposal(error: &ChainError) -> bool {
        matches!(error, ChainError::Proposal { .. })
    }

    fn submit_from_peer(&self, bytes: &[u8]) -> bool {
        Node::submit_from_peer(self, bytes).is_ok()
    }

    fn subscribe_admitted(&self) -> broadcast::Receiver<Arc<Vec<u8>>> {
        Node::subscribe_admitted(self)
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
        let mut tree = inner.consensus.lock().expect("consensus lock");
        if inner.halted.load(Ordering::SeqCst) {
            return Err(ChainError::Halted);
        }
        let tip = self.tip();
        let parent_hash = parent.hash();
        let Some(ancestors) = tree.ancestors(&parent_hash, &tip.hash()) else {
            return Err(ChainError::Proposal {
                height: parent.height + 1,
                reason: InvalidProposal::BadParent {
                    expected: tip.hash(),
                    got: parent_hash,
                },
            });
        };
        let included: HashSet<TxId> = ancestors.iter().flat_map(|p| p.tx_ids()).collect();
        let txs = inner.mempool.lock().expect("mempool lock").select(
            inner.params.max_block_txs as usize,
            inner.params.max_block_gas,
            MAX_BLOCK_BYTES,
            &included,
        );
        if txs.is_empty() {
            return Ok(None);
        }
        let height = parent.height + 1;
        let timestamp_ms = inner.clock.now_ms().max(parent.timestamp_ms);
        let executed = self.execute(&ancestors, parent, height, timestamp_ms, &txs);
        let header = BlockHeader {
            height,
            parent: parent_hash,
            timestamp_ms,
            tx_root: tx_root(&txs),
            receipts_root: receipts_root(&executed.receipts),
            state_root: executed.state_root,
        };
        let proposal = Proposal { header, txs };
        tree.insert(
            proposal.hash(),
            Pending {
                proposal: proposal.clone(),
                executed,
            },
        );
        Ok(Some(proposal))
    }

    fn verify(&self, proposal: &Proposal) -> Result<()> {
        let mut tree = self.inner.consensus.lock().expect("consensus lock");
        let hash = proposal.hash();
        if tree.entries.contains_key(&hash) {
            // Executed when proposed or verified: only the transactions are left to match.
            if tx_root(&proposal.txs) != proposal.header.tx_root {
                return Err(ChainError::Proposal {
                    height: proposal.header.height,
                    reason: InvalidProposal::TxRootMismatch,
                });
            }
            return Ok(());
        }
        let executed = self.check(&tree, proposal)?;
        tree.insert(
            hash,
            Pending {
                proposal: proposal.clone(),
                executed,
            },
        );
        Ok(())
    }

    fn pending_proposal(&self, hash: &Hash32) -> Option<Proposal> {
        let tree = self.inner.consensus.lock().expect("consensus lock");
        tree.entries.get(hash).map(|p| p.proposal.clone())
    }

    fn final_block(&self, height: u64) -> Result<Option<Block>> {
        self.inner.store.block(height)
    }

    fn finalize(&self, proposal: Proposal, certificate: Certificate) -> Result<BlockHeader> {
        let inner = &*self.inner;
        let mut tree = inner.consensus.lock().expect("consensus lock");
        if inner.halted.load(Ordering::SeqCst) {
            return Err(ChainError::Halted);
        }
        let hash = proposal.hash();
        let height = proposal.header.height;
        let tip = self.tip();
        if proposal.header.parent != tip.hash() {
            return Err(ChainError::Proposal {
                height,
                reason: InvalidProposal::BadParent {
                    expected: tip.hash(),
                    got: proposal.header.parent,
                },
            });
        }
        inner
            .validators
            .verify(&hash, &certificate)
            .map_err(|source| ChainError::Certificate { height, source })?;
        let executed = match tree.finalize(&hash, height) {
            Some(pending) if tx_root(&proposal.txs) == proposal.header.tx_root => pending.executed,
            _ => self.check(&tree, &proposal)?,
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
            let mut state = inner.state.write().expect("state lock");
            state.apply(executed.changes);
            mempool.committed(&block.txs, &state, block.header.timestamp_ms / 1000);
        }
        note_signers(&mut inner.signed.lock().expect("signed lock"), &block);
        inner.tip.send_replace(block.header.clone());
        Ok(block.header)
    }
}
