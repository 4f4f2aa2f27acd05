//! The mempool: transactions admitted but not yet committed, in the order they were admitted.
//!
//! It keeps, per signer, what its pending transactions (queued or in a block being committed)
//! use up: their count (so the next nonce is the committed nonce plus the count) and what they
//! may spend. A transaction is admitted only if it fits on top of both.
//!
//! A transaction whose nonce is a little ahead of its signer's next nonce (at most
//! [`MAX_NONCE_AHEAD`]) waits aside until the transactions before it arrive: with several
//! validators, a client's next transaction may reach one before the previous one has (it was
//! sent through another validator, which may also have committed it first). It is checked in
//! full, and queued for a block, only when its turn comes; if its turn never comes it is
//! dropped once its nonce is used. Waiting costs the signer nothing until then, so only a
//! funded account may have transactions waiting, their spending must fit its balance beside
//! its pending ones, and all waiting transactions together hold at most an eighth of the
//! mempool's count and [`MAX_AHEAD_BYTES`]. Queued transactions hold at most the mempool's
//! count and [`MAX_QUEUE_BYTES`]: a count alone would let large cheap uploads fill memory.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use fat_types::{
    AccountId, ClusterId, ClusterInfo, CodeHash, ContractId, ContractInfo, SignedTransaction, TxId,
    TxRejection, WorkerId, WorkerInfo,
};

use crate::genesis::ChainParams;
use crate::rules::{Created, View, check_kind, check_limits, created, spend};
use crate::state::State;

/// How far ahead of its signer's next nonce a transaction may wait for the ones before it.
pub const MAX_NONCE_AHEAD: u64 = 16;
/// The most bytes all transactions waiting for earlier nonces may hold together.
pub const MAX_AHEAD_BYTES: u64 = 64 << 20;
/// The most bytes all queued transactions (waiting for a block, or in one not yet committed)
/// may hold together.
pub const MAX_QUEUE_BYTES: u64 = 256 << 20;

#[derive(Debug, Default, Clone, Copy)]
struct Pending {
    count: u64,
    spend: u64,
}

/// Transactions waiting for a block.
#[derive(Debug)]
pub struct Mempool {
    /// Queued transactions, with their encoded size.
    queue: VecDeque<(TxId, SignedTransaction, u64)>,
    /// The bytes of the transactions in `queue`.
    queue_bytes: u64,
    /// Transactions ahead of their signer's next nonce, with their encoded size.
    ahead: BTreeMap<(AccountId, u64), (TxId, SignedTransaction, u64)>,
    /// The bytes of the transactions in `ahead`.
    ahead_bytes: u64,
    pending: HashMap<AccountId, Pending>,
    ids: HashSet<TxId>,
    created: HashMap<Created, u32>,
    limit: usize,
}

impl Mempool {
    /// An empty mempool that holds at most `limit` transactions (queued and in flight).
    pub fn new(limit: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            queue_bytes: 0,
            ahead: BTreeMap::new(),
            ahead_bytes: 0,
            pending: HashMap::new(),
            ids: HashSet::new(),
            created: HashMap::new(),
            limit,
        }
    }

    /// How many transactions wait for a block.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no transaction waits for a block.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How many transactions wait for the ones before them (their nonce is ahead).
    pub fn ahead(&self) -> usize {
        self.ahead.len()
    }

    /// The nonce the signer's next transaction must carry.
    pub fn next_nonce(&self, state: &State, signer: &AccountId) -> u64 {
        let committed = state.accounts.get(signer).map(|a| a.nonce).unwrap_or(0);
        committed + self.pending.get(signer).map(|p| p.count).unwrap_or(0)
    }

    /// Admit a transaction whose size and signature were checked, or say why not.
    /// `now_secs` (Unix seconds) is the time attestation reports are checked at. A
    /// transaction at most [`MAX_NONCE_AHEAD`] ahead of its signer's next nonce waits for the
    /// ones before it; it is checked in full when they have come.
    pub fn admit(
        &mut self,
        state: &State,
        tx: SignedTransaction,
        size: u64,
        now_secs: u64,
    ) -> Result<TxId, TxRejection> {
        let id = tx.id();
        if self.ids.contains(&id) {
            return Err(TxRejection::AlreadyKnown);
        }
        let t = &tx.tx;
        check_limits(&state.params, t, size)?;
        let expected = self.next_nonce(state, &t.signer);
        if t.nonce < expected {
            return Err(TxRejection::StaleNonce {
                expected,
                got: t.nonce,
            });
        }
        if t.nonce > expected {
            let key = (t.signer, t.nonce);
            if t.nonce - expected > MAX_NONCE_AHEAD || self.ahead.contains_key(&key) {
                return Err(TxRejection::NonceGap {
                    expected,
                    got: t.nonce,
                });
            }
            // It must be able to pay on top of what the signer has pending and waiting.
            let waiting: u64 = self
                .ahead
                .range((t.signer, 0)..=(t.signer, u64::MAX))
                .map(|(_, (_, w, _))| spend(&state.params, &w.tx))
                .fold(0, u64::saturating_add);
            let available = self.available(state, &t.signer).saturating_sub(waiting);
            let needed = spend(&state.params, t);
            if needed > available {
                return Err(TxRejection::InsufficientBalance { needed, available });
            }
            let max_ahead = (self.limit / 8).max(1);
            if self.ahead.len() >= max_ahead
                || self.ahead_bytes.saturating_add(size) > MAX_AHEAD_BYTES
            {
                return Err(TxRejection::MempoolFull {
                    limit: max_ahead as u64,
                });
            }
            self.ids.insert(id);
            self.ahead_bytes += size;
            self.ahead.insert(key, (id, tx, size));
            return Ok(id);
        }
        let signer = t.signer;
        self.admit_next(state, id, tx, size, now_secs)?;
        self.promote(state, &signer, now_secs);
        Ok(id)
    }

    /// Whether a transaction of `size` bytes may be queued for a block: the queue holds
    /// `limit` transactions and [`MAX_QUEUE_BYTES`] at most (waiting transactions have their
    /// own room).
    fn check_room(&self, size: u64) -> Result<(), TxRejection> {
        if self.queue.len() >= self.limit {
            return Err(TxRejection::MempoolFull {
                limit: self.limit as u64,
            });
        }
        if self.queue_bytes.saturating_add(size) > MAX_QUEUE_BYTES {
            return Err(TxRejection::MempoolBytesFull {
                limit: MAX_QUEUE_BYTES,
            });
        }
        Ok(())
    }

    /// Queue the signer's waiting transactions whose turn has come, and drop those whose
    /// nonce is used.
    fn promote(&mut self, state: &State, signer: &AccountId, now_secs: u64) {
        loop {
            let expected = self.next_nonce(state, signer);
            let used: Vec<(AccountId, u64)> = self
                .ahead
                .range((*signer, 0)..(*signer, expected))
                .map(|(key, _)| *key)
                .collect();
            for key in used {
                self.take_ahead(&key);
            }
            let Some((id, tx, size)) = self.take_ahead(&(*signer, expected)) else {
                return;
            };
            if self.admit_next(state, id, tx, size, now_secs).is_err() {
                // It no longer fits (funds, a name taken): the ones after it cannot come
                // either until the signer sends another transaction with this nonce.
                return;
            }
        }
    }

    /// What `signer` may still spend: its balance less what its queued transactions may.
    fn available(&self, state: &State, signer: &AccountId) -> u64 {
        let balance = state.accounts.get(signer).map_or(0, |a| a.balance);
        balance.saturating_sub(self.pending.get(signer).map_or(0, |p| p.spend))
    }

    /// Take a waiting transaction out of `ahead`, forgetting its id.
    fn take_ahead(&mut self, key: &(AccountId, u64)) -> Option<(TxId, SignedTransaction, u64)> {
        let (id, tx, size) = self.ahead.remove(key)?;
        self.ids.remove(&id);
        self.ahead_bytes -= size;
        Some((id, tx, size))
    }

    /// Queue a transaction carrying its signer's next nonce, after checking it in full.
    fn admit_next(
        &mut self,
        state: &State,
        id: TxId,
        tx: SignedTransaction,
        size: u64,
        now_secs: u64,
    ) -> Result<(), TxRejection> {
        let t = &tx.tx;
        let available = self.available(state, &t.signer);
        let needed = spend(&state.params, t);
        if needed > available {
            return Err(TxRejection::InsufficientBalance { needed, available });
        }
        check_kind(
            &MempoolView {
                state,
                created: &self.created,
                now_secs,
            },
            t,
        )?;
        self.check_room(size)?;
        let entry = self.pending.entry(t.signer).or_default();
        entry.count += 1;
        entry.spend += needed;
        for entry in created(t) {
            *self.created.entry(entry).or_default() += 1;
        }
        self.ids.insert(id);
        self.queue_bytes += size;
        self.queue.push_back((id, tx, size));
        Ok(())
    }

    /// Up to `max` transactions for a block, in admission order, asking for at most `max_gas`
    /// and holding at most `max_bytes` together, leaving out `exclude` (those in the pending
    /// blocks the new one builds on). They stay queued and accounted until
    /// [`Self::committed`]: a proposal may never be final.
    pub fn select(
        &self,
        max: usize,
        max_gas: u64,
        max_bytes: u64,
        exclude: &HashSet<TxId>,
    ) -> Vec<SignedTransaction> {
        let (mut gas, mut bytes) = (0u64, 0u64);
        self.queue
            .iter()
            .filter(|(id, _, _)| !exclude.contains(id))
            .take(max)
            .take_while(|(_, tx, size)| {
                gas = gas.saturating_add(tx.tx.kind.gas_limit());
                bytes = bytes.saturating_add(*size);
                gas <= max_gas && bytes <= max_bytes
            })
            .map(|(_, tx, _)| tx.clone())
            .collect()
    }

    /// Forget transactions that are now committed (their effects are in `state`, the state
    /// after the block). A block may hold transactions this mempool never saw (another
    /// validator's); then what is left is checked again against `state`, and what no longer
    /// fits (a nonce used by another transaction, funds spent) is dropped.
    pub fn committed(&mut self, txs: &[SignedTransaction], state: &State, now_secs: u64) {
        let mut done = HashSet::with_capacity(txs.len());
        let mut signers = HashSet::new();
        let mut foreign = false;
        for tx in txs {
            let id = tx.id();
            done.insert(id);
            let t = &tx.tx;
            signers.insert(t.signer);
            let key = (t.signer, t.nonce);
            if self
                .ahead
                .get(&key)
                .is_some_and(|(waiting, _, _)| *waiting == id)
            {
                // It waited here and another validator's block had it first: the queue
                // never counted it, as for a foreign one. (Another transaction waiting at
                // this nonce is dropped by `promote` if the nonce is used.)
                self.take_ahead(&key);
                foreign = true;
                continue;
            }
            if !self.ids.remove(&id) {
                foreign = true;
                continue;
            }
            if let Some(p) = self.pending.get_mut(&t.signer) {
                p.count -= 1;
                p.spend -= spend(&state.params, t);
                if p.count == 0 {
                    self.pending.remove(&t.signer);
                }
            }
            for entry in created(t) {
                if let Some(n) = self.created.get_mut(&entry) {
                    *n -= 1;
                    if *n == 0 {
                        self.created.remove(&entry);
                    }
                }
            }
        }
        self.queue.retain(|(id, _, _)| !done.contains(id));
        self.queue_bytes = self.queue.iter().map(|(_, _, size)| size).sum();
        if foreign {
            let queue = std::mem::take(&mut self.queue);
            self.queue_bytes = 0;
            self.pending.clear();
            self.created.clear();
            self.ids = self.ahead.values().map(|(id, _, _)| *id).collect();
            for (_, tx, size) in queue {
                let _ = self.admit(state, tx, size, now_secs);
            }
        }
        for signer in signers {
            self.promote(state, &signer, now_secs);
        }
    }
}

/// The committed state plus what pending transactions will create. Entries created by pending
/// transactions are known to exist, but not their details; keys published by pending
/// transactions are known to be coming, so their absence is left to execution.
struct MempoolView<'a> {
    state: &'a State,
    created: &'a HashMap<Created, u32>,
    now_secs: u64,
}

impl View for MempoolView<'_> {
    fn params(&self) -> &ChainParams {
        &self.state.params
    }
    fn now_secs(&self) -> u64 {
        self.now_secs
    }
    fn has_code(&self, id: &CodeHash) -> bool {
        self.state.codes.contains_key(id) || self.created.contains_key(&Created::Code(*id))
    }
    fn has_contract(&self, id: &ContractId) -> bool {
        self.state.contracts.contains_key(id) || self.created.contains_key(&Created::Contract(*id))
    }
    fn has_cluster(&self, id: &ClusterId) -> bool {
        self.state.clusters.contains_key(id) || self.created.contains_key(&Created::Cluster(*id))
    }
    fn has_worker(&self, id: &WorkerId) -> bool {
        self.state.workers.contains_key(id) || self.created.contains_key(&Created::Worker(*id))
    }
    fn cluster(&self, id: &ClusterId) -> Option<&ClusterInfo> {
        self.state.clusters.get(id)
    }
    fn contract(&self, id: &ContractId) -> Option<&ContractInfo> {
        self.state.contracts.get(id)
    }
    fn worker(&self, id: &WorkerId) -> Option<&WorkerInfo> {
        self.state.workers.get(id)
    }
    fn key_pending(&self, key: Created) -> bool {
        self.created.contains_key(&key)
    }
    fn is_gatekeeper(&self, id: &AccountId) -> bool {
        self.state.gatekeepers.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use fat_types::{Bytes, Signature, Transaction, TxKind};

    use super::*;

    fn command(nonce: u64, gas_limit: u64) -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                chain: fat_types::Hash32([0xc1; 32]),
                signer: AccountId([1; 32]),
                nonce,
                fee: 1,
                kind: TxKind::Command {
                    contract: ContractId([2; 32]),
                    payload: Bytes::default(),
                    gas_limit,
                },
            },
            signature: Signature([0; 64]),
        }
    }

    #[test]
    fn a_block_takes_only_the_gas_it_may_hold_in_order() {
        let mut mempool = Mempool::new(10);
        let txs = [command(0, 600), command(1, 600), command(2, 1)];
        mempool
            .queue
            .extend(txs.iter().map(|tx| (tx.id(), tx.clone(), 100)));
        let none = HashSet::new();
        let first = mempool.select(10, 1000, u64::MAX, &none);
        assert_eq!(first, txs[..1], "the second would pass the block's gas");
        assert_eq!(
            mempool.select(1, 1000, u64::MAX, &none).len(),
            1,
            "and the count"
        );
        let proposed: HashSet<TxId> = [txs[0].id()].into();
        assert_eq!(
            mempool.select(10, 1000, u64::MAX, &proposed),
            txs[1..],
            "what a pending block holds is left out"
        );
        assert_eq!(
            mempool.len(),
            3,
            "selected transactions stay until committed"
        );
    }

    #[test]
    fn a_block_takes_only_the_bytes_it_may_hold_in_order() {
        let mut mempool = Mempool::new(10);
        let txs = [command(0, 1), command(1, 1), command(2, 1)];
        mempool
            .queue
            .extend(txs.iter().map(|tx| (tx.id(), tx.clone(), 400)));
        let none = HashSet::new();
        assert_eq!(mempool.select(10, u64::MAX, 1000, &none), txs[..2]);
        assert_eq!(mempool.select(10, u64::MAX, 399, &none), []);
    }
}
