//! The glue between the engine and an [`Application`]: the automaton (propose, verify), the
//! relay (send blocks), the reporter (commit what is final) and our channel (blocks,
//! transactions, catch-up).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use commonware_actor::Feedback;
use commonware_consensus::simplex::Plan;
use commonware_consensus::simplex::types::{Activity, Context};
use commonware_consensus::{Automaton, CertifiableAutomaton, Relay, Reporter};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Spawner};
use commonware_utils::ordered::Set;
use fat_types::{Block, BlockHeader, Certificate, Hash32, Signature};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::wire::Wire;
use super::{Digest, PublicKey, Scheme, digest, hash};
use crate::application::{Application, Proposal};

/// How often a waiting propose, verify or commit looks again without being woken.
const POLL: Duration = Duration::from_millis(50);
/// How long before a request that got no answer is sent again.
const RETRY: Duration = Duration::from_millis(250);
/// How often a validator tells its peers its last final height.
const ANNOUNCE: Duration = Duration::from_millis(500);
/// How long submitted transactions wait to be passed on together.
const GOSSIP_DELAY: Duration = Duration::from_millis(5);
/// The most transactions passed on in one message.
const GOSSIP_BATCH: usize = 512;
/// The most final blocks and proposals one peer is sent in answer to its requests, per second.
pub const SERVES_PER_SECOND: u32 = 256;
/// The most bytes of final blocks and proposals one peer is sent in answer, per second.
pub const SERVE_BYTES_PER_SECOND: u64 = 64 << 20;

/// What one peer was sent in answer to its requests during the current second: a small
/// request (`Want`, `WantFinal`) asks for a whole block, so answers are budgeted per peer.
#[derive(Debug, Clone, Copy)]
struct Served {
    since: SystemTime,
    count: u32,
    bytes: u64,
}

impl Served {
    /// Whether `bytes` more may go to the peer at `now`; if so they are counted.
    fn allow(&mut self, now: SystemTime, bytes: u64) -> bool {
        if elapsed(self.since, now) >= Duration::from_secs(1) {
            *self = Served {
                since: now,
                count: 0,
                bytes: 0,
            };
        }
        if self.count >= SERVES_PER_SECOND
            || self.bytes.saturating_add(bytes) > SERVE_BYTES_PER_SECOND
        {
            return false;
        }
        self.count += 1;
        self.bytes += bytes;
        true
    }
}
/// The most proposals received from peers kept while they are not final.
const SEEN_LIMIT: usize = 256;

/// A finalization as the glue keeps it: the finalized block's hash, the views simplex signed
/// and the signatures by genesis index.
#[derive(Debug, Clone)]
struct Finalized {
    view: u64,
    parent_view: u64,
    hash: Hash32,
    signatures: Vec<(u32, Signature)>,
}

/// The engine's automaton, relay and reporter for one validator; cheap to clone.
pub struct Glue<A, E> {
    inner: Arc<Inner<A>>,
    context: E,
}

impl<A, E: Spawner> Clone for Glue<A, E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            context: self.context.child("glue"),
        }
    }
}

struct Inner<A> {
    app: A,
    /// The genesis index of each validator, by its index in the engine's (sorted) order.
    genesis_index: Vec<u32>,
    block_time: Duration,
    /// Proposals received from peers, with their hashes, oldest first.
    seen: Mutex<VecDeque<(Hash32, Proposal)>>,
    /// Bumped when a proposal arrives or a block is committed: waiting tasks look again.
    changed: watch::Sender<u64>,
    outbound: mpsc::UnboundedSender<(Recipients<PublicKey>, Vec<u8>)>,
    finals: mpsc::UnboundedSender<Finalized>,
}

impl<A: Application, E: Spawner + Clock> Glue<A, E> {
    /// Start the glue's tasks (our channel, commits) on `context`.
    pub fn start<S, R>(
        context: E,
        app: A,
        participants: Set<PublicKey>,
        block_time: Duration,
        channel: (S, R),
    ) -> Self
    where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        let genesis_index = participants
            .iter()
            .map(|key| {
                let account = fat_types::AccountId(
                    key.as_ref().try_into().expect("an ed25519 key is 32 bytes"),
                );
                app.validators()
                    .index_of(&account)
                    .expect("participants are the genesis validators")
            })
            .collect();
        let (outbound, outbound_rx) = mpsc::unbounded_channel();
        let (finals, finals_rx) = mpsc::unbounded_channel();
        let admitted = app.subscribe_admitted();
        let inner = Arc::new(Inner {
            app,
            genesis_index,
            block_time,
            seen: Mutex::new(VecDeque::new()),
            changed: watch::channel(0).0,
            outbound,
            finals,
        });
        let (sender, receiver) = channel;
        let network = inner.clone();
        context
            .child("network")
            .spawn(move |ctx| network.run_network(ctx, sender, receiver, outbound_rx, admitted));
        let committer = inner.clone();
        context
            .child("commit")
            .spawn(move |ctx| committer.run_commits(ctx, finals_rx));
        Self { inner, context }
    }
}

impl<A: Application> Inner<A> {
    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn send(&self, to: Recipients<PublicKey>, message: &Wire) {
        let _ = self.outbound.send((to, message.encode()));
    }

    /// A proposal by hash: received from a peer, or built or verified here.
    fn proposal(&self, hash: &Hash32) -> Option<Proposal> {
        let seen = self.seen.lock().expect("seen lock");
        seen.iter()
            .find(|(h, _)| h == hash)
            .map(|(_, p)| p.clone())
            .or_else(|| {
                drop(seen);
                self.app.pending_proposal(hash)
            })
    }

    fn remember(&self, proposal: Proposal) {
        let mut seen = self.seen.lock().expect("seen lock");
        let hash = proposal.hash();
        if seen.iter().any(|(h, _)| *h == hash) {
            return;
        }
        if seen.len() >= SEEN_LIMIT {
            seen.pop_front();
        }
        seen.push_back((hash, proposal));
        drop(seen);
        self.bump();
    }

    /// The header of `hash` if a block can build on it: the last final block, or a proposal
    /// executed here and not final yet.
    fn buildable(&self, hash: &Hash32) -> Option<BlockHeader> {
        let tip = self.app.last_finalized();
        if tip.hash() == *hash {
            return Some(tip);
        }
        self.app.pending_proposal(hash).map(|p| p.header)
    }

    /// Whether `proposal` is the final block at its height.
    fn is_final(&self, proposal: &Proposal) -> bool {
        matches!(
            self.app.final_block(proposal.header.height),
            Ok(Some(block)) if block.hash() == proposal.hash()
        )
    }

    async fn propose<E: Clock>(&self, ctx: E, parent: Hash32, mut reply: oneshot::Sender<Digest>) {
        let mut changed = self.changed.subscribe();
        loop {
            if let Some(header) = self.buildable(&parent) {
                let ready = header
                    .timestamp_ms
                    .saturating_add(self.block_time.as_millis() as u64);
                if millis(ctx.current()) >= ready && self.app.pending() > 0 {
                    match self.app.propose(&header) {
                        Ok(Some(proposal)) => {
                            let payload = digest(&proposal.hash());
                            self.remember(proposal);
                            let _ = reply.send(payload);
                            return;
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!(%error, "could not build a block");
                            return;
                        }
                    }
                }
            }
            tokio::select! {
                biased;
                () = reply.closed() => return,
                _ = changed.changed() => {}
                () = self.app.work_available() => {}
                () = ctx.sleep(POLL) => {}
            }
        }
    }

    async fn verify<E: Clock>(
        &self,
        ctx: E,
        context: Context<Digest, PublicKey>,
        payload: Hash32,
        mut reply: oneshot::Sender<bool>,
    ) {
        let parent = hash(&context.parent.1);
        let mut changed = self.changed.subscribe();
        let mut asked: Option<SystemTime> = None;
        loop {
            match self.proposal(&payload) {
                Some(proposal) if proposal.header.parent != parent => {
                    tracing::warn!(block = %payload, "a proposal on another parent than its view's");
                    let _ = reply.send(false);
                    return;
                }
                Some(proposal) if proposal.header.height <= self.app.last_finalized().height => {
                    let _ = reply.send(self.is_final(&proposal));
                    return;
                }
                Some(proposal) if self.buildable(&parent).is_some() => {
                    let verdict = match self.app.verify(&proposal) {
                        Ok(()) => true,
                        Err(error) if A::is_invalid_proposal(&error) => {
                            tracing::warn!(%error, "refused a proposal");
                            false
                        }
                        Err(error) => {
                            tracing::warn!(%error, "could not verify a proposal");
                            return;
                        }
                    };
                    let _ = reply.send(verdict);
                    return;
                }
                Some(_) => {}
                None => {
                    let now = ctx.current();
                    if asked.is_none_or(|at| elapsed(at, now) >= RETRY) {
                        self.send(
                            Recipients::One(context.leader.clone()),
                            &Wire::Want(payload),
                        );
                        asked = Some(now);
                    }
                }
            }
            tokio::select! {
                biased;
                () = reply.closed() => return,
                _ = changed.changed() => {}
                () = ctx.sleep(POLL) => {}
            }
        }
    }

    /// Commit what finalizations make final, newest first: a finalization makes its block and
    /// every ancestor not final yet final.
    async fn run_commits<E: Clock>(
        self: Arc<Self>,
        ctx: E,
        mut finals: mpsc::UnboundedReceiver<Finalized>,
    ) {
        let mut changed = self.changed.subscribe();
        let mut latest: Option<Finalized> = None;
        let mut asked: Option<SystemTime> = None;
        loop {
            tokio::select! {
                biased;
                finalized = finals.recv() => match finalized {
                    Some(f) if latest.as_ref().is_none_or(|l| f.view > l.view) => latest = Some(f),
                    Some(_) => continue,
                    None => return,
                },
                _ = changed.changed() => {}
                () = ctx.sleep(POLL) => {}
            }
            let Some(finalized) = &latest else { continue };
            match self.commit(finalized) {
                Ok(None) => latest = None,
                Ok(Some(missing)) => {
                    let now = ctx.current();
                    if asked.is_none_or(|at| elapsed(at, now) >= RETRY) {
                        self.send(Recipients::All, &Wire::Want(missing));
                        asked = Some(now);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, view = finalized.view, "could not commit a final block");
                    latest = None;
                }
            }
        }
    }

    /// Commit `finalized`'s block and its ancestors that are not final yet; the hash of a block
    /// on the way that is not here yet.
    fn commit(&self, finalized: &Finalized) -> Result<Option<Hash32>, A::Error> {
        let tip = self.app.last_finalized();
        let tip_hash = tip.hash();
        let mut chain = Vec::new();
        let mut at = finalized.hash;
        while at != tip_hash {
            let Some(proposal) = self.proposal(&at) else {
                // Committed already (caught up from a peer), or not received yet.
                return Ok(
                    if chain.is_empty() && self.recently_final(&at, tip.height) {
                        None
                    } else {
                        Some(at)
                    },
                );
            };
            if proposal.header.height <= tip.height {
                if !self.is_final(&proposal) {
                    tracing::error!(block = %at, "a finalization conflicts with the final chain");
                }
                return Ok(None);
            }
            at = proposal.header.parent;
            chain.push(proposal);
        }
        chain.reverse();
        let headers: Vec<BlockHeader> = chain.iter().map(|p| p.header.clone()).collect();
        for (i, proposal) in chain.into_iter().enumerate() {
            let certificate = Certificate::Simplex {
                view: finalized.view,
                parent_view: finalized.parent_view,
                signatures: finalized.signatures.clone(),
                descendants: headers[i + 1..].to_vec(),
            };
            let height = proposal.header.height;
            if let Err(error) = self.app.finalize(proposal, certificate) {
                // A block caught up from a peer may have got there first.
                if self.app.last_finalized().height < height {
                    return Err(error);
                }
            }
        }
        self.bump();
        Ok(None)
    }

    /// Whether `hash` is one of the last few final blocks (below or at `tip`).
    fn recently_final(&self, hash: &Hash32, tip: u64) -> bool {
        (tip.saturating_sub(16)..=tip).rev().any(|height| {
            matches!(self.app.final_block(height), Ok(Some(block)) if block.hash() == *hash)
        })
    }

    async fn run_network<E, S, R>(
        self: Arc<Self>,
        ctx: E,
        mut sender: S,
        mut receiver: R,
        mut outbound: mpsc::UnboundedReceiver<(Recipients<PublicKey>, Vec<u8>)>,
        mut admitted: broadcast::Receiver<Arc<Vec<u8>>>,
    ) where
        E: Clock,
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut peers: BTreeMap<PublicKey, u64> = BTreeMap::new();
        let mut served: BTreeMap<PublicKey, Served> = BTreeMap::new();
        let mut catching_up: Option<SystemTime> = None;
        let mut next_flush = ctx.current() + GOSSIP_DELAY;
        let mut next_announce = ctx.current();
        loop {
            let wake = next_flush.min(next_announce);
            tokio::select! {
                biased;
                message = receiver.recv() => match message {
                    Ok((peer, bytes)) => {
                        self.handle(&mut sender, &peer, bytes.as_ref(), &mut peers, &mut served, &mut catching_up, &ctx);
                    }
                    Err(error) => {
                        tracing::info!(%error, "our consensus channel closed");
                        return;
                    }
                },
                message = outbound.recv() => match message {
                    Some((to, bytes)) => {
                        sender.send(to, bytes, false);
                    }
                    None => return,
                },
                tx = admitted.recv() => match tx {
                    Ok(tx) => {
                        batch.push(tx.as_ref().clone());
                        if batch.len() >= GOSSIP_BATCH {
                            let txs = std::mem::take(&mut batch);
                            sender.send(Recipients::All, Wire::Txs(txs).encode(), false);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "passed on fewer transactions than were submitted");
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        admitted = self.app.subscribe_admitted();
                    }
                },
                () = ctx.sleep_until(wake) => {
                    let now = ctx.current();
                    if now >= next_flush {
                        if !batch.is_empty() {
                            let txs = std::mem::take(&mut batch);
                            sender.send(Recipients::All, Wire::Txs(txs).encode(), false);
                        }
                        next_flush = now + GOSSIP_DELAY;
                    }
                    if now >= next_announce {
                        let height = self.app.last_finalized().height;
                        sender.send(Recipients::All, Wire::Tip(height).encode(), false);
                        next_announce = now + ANNOUNCE;
                    }
                }
            }
        }
    }

    /// Answer one message from `peer` on our channel. A message that does not decode, or a
    /// final block whose certificate does not check, is refused and logged; nothing else
    /// changes. Blocks sent in answer to the peer's requests stay within its budget
    /// ([`SERVES_PER_SECOND`], [`SERVE_BYTES_PER_SECOND`]); requests beyond it go unanswered
    /// (an honest peer asks again).
    #[allow(clippy::too_many_arguments)]
    fn handle<S: Sender<PublicKey = PublicKey>, E: Clock>(
        &self,
        sender: &mut S,
        peer: &PublicKey,
        bytes: &[u8],
        peers: &mut BTreeMap<PublicKey, u64>,
        served: &mut BTreeMap<PublicKey, Served>,
        catching_up: &mut Option<SystemTime>,
        ctx: &E,
    ) {
        let message = match Wire::decode(bytes) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%peer, %error, "refused a message");
                return;
            }
        };
        let reply = |sender: &mut S, message: Wire| {
            sender.send(Recipients::One(peer.clone()), message.encode(), false);
        };
        let now = ctx.current();
        let mut serve = |sender: &mut S, message: Wire| {
            let bytes = message.encode();
            let budget = served.entry(peer.clone()).or_insert(Served {
                since: now,
                count: 0,
                bytes: 0,
            });
            if budget.allow(now, bytes.len() as u64) {
                sender.send(Recipients::One(peer.clone()), bytes, false);
            } else {
                tracing::debug!(%peer, "over its answer budget; a request goes unanswered");
            }
        };
        match message {
            Wire::Proposal(proposal) => self.remember(proposal),
            Wire::Want(hash) => {
                if let Some(proposal) = self.proposal(&hash) {
                    serve(sender, Wire::Proposal(proposal));
                }
            }
            Wire::Tip(height) => {
                peers.insert(peer.clone(), height);
                let tip = self.app.last_finalized().height;
                let now = ctx.current();
                if height > tip && catching_up.is_none_or(|at| elapsed(at, now) >= RETRY) {
                    reply(sender, Wire::WantFinal(tip + 1));
                    *catching_up = Some(now);
                }
            }
            Wire::WantFinal(height) => {
                if let Ok(Some(block)) = self.app.final_block(height)
                    && height > 0
                {
                    serve(sender, Wire::Final(block));
                }
            }
            Wire::Final(block) => {
                let tip = self.app.last_finalized().height;
                if block.header.height != tip + 1 {
                    return;
                }
                let Block {
                    header,
                    certificate,
                    txs,
                } = block;
                let height = header.height;
                match self.app.finalize(Proposal { header, txs }, certificate) {
                    Ok(_) => {
                        self.bump();
                        if peers.get(peer).is_some_and(|&h| h > height) {
                            reply(sender, Wire::WantFinal(height + 1));
                            *catching_up = Some(ctx.current());
                        } else {
                            *catching_up = None;
                        }
                    }
                    Err(error) => tracing::warn!(%peer, height, %error, "refused a final block"),
                }
            }
            Wire::Txs(txs) => {
                for tx in txs.iter().take(GOSSIP_BATCH) {
                    self.app.submit_from_peer(tx);
                }
            }
        }
    }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or(Duration::ZERO)
}

impl<A: Application, E: Spawner + Clock> Automaton for Glue<A, E> {
    type Context = Context<Digest, PublicKey>;
    type Digest = Digest;

    async fn propose(&mut self, context: Self::Context) -> oneshot::Receiver<Digest> {
        let (reply, receiver) = oneshot::channel();
        let inner = self.inner.clone();
        let parent = hash(&context.parent.1);
        // Building a block executes it: off the engine's async threads (inline in the
        // deterministic runtime).
        self.context
            .child("propose")
            .shared(true)
            .spawn(move |ctx| async move { inner.propose(ctx, parent, reply).await });
        receiver
    }

    async fn verify(&mut self, context: Self::Context, payload: Digest) -> oneshot::Receiver<bool> {
        let (reply, receiver) = oneshot::channel();
        let inner = self.inner.clone();
        let payload = hash(&payload);
        self.context
            .child("verify")
            .shared(true)
            .spawn(move |ctx| async move { inner.verify(ctx, context, payload, reply).await });
        receiver
    }
}

impl<A: Application, E: Spawner + Clock> CertifiableAutomaton for Glue<A, E> {}

impl<A: Application, E: Spawner + Clock> Relay for Glue<A, E> {
    type Digest = Digest;
    type PublicKey = PublicKey;
    type Plan = Plan<PublicKey>;

    fn broadcast(&mut self, payload: Digest, plan: Plan<PublicKey>) -> Feedback {
        let to = match plan {
            Plan::Forward { recipients, .. } => recipients,
            Plan::Prepare { .. } | Plan::Propose { .. } => Recipients::All,
        };
        if let Some(proposal) = self.inner.proposal(&hash(&payload)) {
            self.inner.send(to, &Wire::Proposal(proposal));
        }
        Feedback::Ok
    }
}

impl<A: Application, E: Spawner + Clock> Reporter for Glue<A, E> {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        let Activity::Finalization(finalization) = activity else {
            return Feedback::Ok;
        };
        let certificate = &finalization.certificate;
        let signatures = certificate
            .signers
            .iter()
            .zip(certificate.signatures.iter())
            .filter_map(|(signer, signature)| {
                let index = *self.inner.genesis_index.get(signer.get() as usize)?;
                let bytes: [u8; 64] = signature.get()?.as_ref().try_into().ok()?;
                Some((index, Signature(bytes)))
            })
            .collect();
        let proposal = &finalization.proposal;
        let finalized = Finalized {
            view: proposal.round.view().get(),
            parent_view: proposal.parent.get(),
            hash: hash(&proposal.payload),
            signatures,
        };
        let _ = self.inner.finals.send(finalized);
        Feedback::Ok
    }
}
