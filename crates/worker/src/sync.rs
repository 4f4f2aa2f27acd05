//! Joining a cluster that already runs contracts: their state comes from another member, not
//! from replaying the chain; and the signed state roots members compare.
//!
//! A worker added to a cluster (or created in one) marks it pending. Once it holds the
//! cluster's key, between two blocks, it asks the chain node for the cluster's contracts and,
//! for each one instantiated at or before its head that it lacks, asks a member for the
//! contract's state ([`SnapshotRequest`], an envelope sealed to the member's attested x25519
//! key and signed by the joiner's identity; the member checks on the chain that the joiner
//! belongs to the cluster and answers under the envelope's session, so the state travels
//! encrypted end to end and signed by the member). The state is as of the member's head, a
//! block at or after the joiner's. Before it is used:
//!
//! - the other members' signed roots at that block ([`SignedRoots`]) are asked for; when more
//!   of them differ from the root the state came with than match it, it is refused;
//! - the entries must hash to that root under the contract's secret ([`Store::install`]).
//!
//! A refused or failed answer moves on to the next member; when none serves, the worker tries
//! again later (1 s, doubling to 30 s) and keeps following meanwhile. The received contract
//! records the block its state is as of, and the executor skips the contract's transactions
//! up to that block ([`fat_executor::ContractRecord::synced_through`]).
//!
//! The log lines written before the join and the receipts of earlier commands stay with the
//! members that ran them.
//!
//! [`Store::install`]: crate::Store::install

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fat_crypto::envelope::{Direction, Envelope};
use fat_proto::ChainApi;
use fat_proto::worker::{ContractRoot, ContractSnapshot, SignedRoots, SnapshotRequest};
use fat_types::encoding::{decode, encode};
use fat_types::{ClusterId, ContractInfo, Hash32, WorkerId};

use crate::error::{Result, WorkerError};
use crate::jobs::Member;
use crate::store::{ContractRecord, Received};
use crate::worker::Worker;

/// How long a member may take to send a contract's state.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(60);
/// How long a member may take to send its signed roots.
const ROOTS_WAIT: Duration = Duration::from_secs(5);
/// How long a member asked for a snapshot waits to reach the asker's head.
const CATCH_UP: Duration = Duration::from_secs(5);
/// The first pause after a failed sync, doubled while it keeps failing.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest pause between tries.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Test-only faults in the state a worker sends a joining member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFault {
    /// One value changed; the root sent is the true one (the entries do not hash to it).
    Entries,
    /// One value changed and the root sent recomputed over the changed entries, signed: only
    /// the other members' roots tell.
    Consistent,
}

impl std::str::FromStr for SnapshotFault {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "entries" => Ok(Self::Entries),
            "consistent" => Ok(Self::Consistent),
            other => Err(format!(
                "unknown snapshot fault {other:?}: expected entries or consistent"
            )),
        }
    }
}

impl Worker {
    /// The state roots of the contracts this worker runs, as of block `height` (its head
    /// when `None`), signed by its identity. A contract appears once the worker has its state
    /// at that block (created there or before, or received as of there or before).
    pub fn signed_roots(&self, height: Option<u64>) -> Result<SignedRoots> {
        let snapshot = self.inner.store.snapshot()?;
        let head = snapshot.started_head()?.map_or(0, |head| head.height);
        let height = height.unwrap_or(head);
        if height > head {
            return Err(WorkerError::Behind { height });
        }
        let mut roots = Vec::new();
        for record in snapshot.contracts()? {
            if !snapshot.is_member(&record.info.cluster)? {
                continue;
            }
            if let Some(root) = snapshot.root_at(&record.info.id, height)? {
                roots.push(ContractRoot {
                    contract: record.info.id,
                    root,
                });
            }
        }
        Ok(SignedRoots::sign(&self.inner.key, height, roots))
    }

    /// A member joining a contract's cluster asks for its state: open the request, check on
    /// the chain that its sender is a member, and seal the contract's entries as of this
    /// worker's head (at least the height asked) to the request's session.
    ///
    /// One snapshot is served at a time: the slot is taken before anything is opened, so
    /// further requests meanwhile cost nothing but a "busy".
    pub async fn serve_snapshot(&self, envelope: &Envelope) -> Result<Envelope> {
        let _slot = self
            .inner
            .snapshot_slot
            .try_acquire()
            .map_err(|_| WorkerError::Busy)?;
        let contract = envelope.header.contract;
        let (request, opened) = self.open_from_member(
            envelope,
            Direction::Snapshot,
            "snapshot request",
            |r: &SnapshotRequest| r.contract,
        )?;
        let cluster = self.cluster_of(&contract)?;
        let sender = WorkerId(opened.sender.0);
        if sender == self.id() || !self.member_on_chain(&cluster, &sender).await? {
            return Err(WorkerError::NotMember { sender, cluster });
        }
        self.admit(&envelope.header)?;
        if !self.wait_for_height(request.min_height, CATCH_UP).await {
            return Err(WorkerError::Behind {
                height: request.min_height,
            });
        }
        let worker = self.clone();
        let state = tokio::task::spawn_blocking(move || worker.export(&contract))
            .await
            .map_err(|e| WorkerError::Corrupt(format!("snapshot task: {e}")))??;
        tracing::info!(%contract, %sender, height = state.height, entries = state.entries.len(), "sent a contract's state to a joining member");
        Ok(opened
            .session
            .seal_response(&self.inner.key, &encode(&state), self.now_ms())?)
    }

    /// Whether the chain node lists `worker` as a member of `cluster` (`false` without a node).
    async fn member_on_chain(&self, cluster: &ClusterId, worker: &WorkerId) -> Result<bool> {
        let chain = self.inner.chain.lock().expect("chain").clone();
        let Some(chain) = chain else {
            return Ok(false);
        };
        let info = chain
            .cluster(cluster)
            .await
            .map_err(|e| WorkerError::Chain {
                url: chain.url().to_owned(),
                message: e.to_string(),
            })?;
        Ok(info.workers.contains(worker))
    }

    /// A contract's record and entries, as of this worker's head (or the block its state was
    /// received as of, when that is later).
    fn export(&self, contract: &fat_types::ContractId) -> Result<ContractSnapshot> {
        let snapshot = self.inner.store.snapshot()?;
        let head = snapshot.head()?.height;
        let record = snapshot
            .contract(contract)?
            .ok_or(WorkerError::UnknownContract(*contract))?;
        let mut entries = snapshot.entries(contract)?;
        let mut state_root = record.state_root;
        if let Some(fault) = self.inner.corrupt_snapshots
            && let Some((_, value)) = entries.first_mut()
        {
            value.push(0xff);
            if fault == SnapshotFault::Consistent {
                state_root = self
                    .inner
                    .store
                    .root_of_entries(&record.info, &entries)
                    .ok_or(WorkerError::NoClusterKey(record.info.cluster))?;
            }
        }
        Ok(ContractSnapshot {
            height: head.max(record.synced_through),
            info: record.info,
            state_root,
            logs: record.logs,
            entries,
        })
    }

    /// Between blocks: receive the state of the contracts this worker lacks in the clusters
    /// it joined, once it holds their keys. Failures are logged and tried again later; they
    /// never stop following.
    pub(crate) async fn sync_joined(&self) {
        if let Some((at, _)) = *self.inner.sync_retry.lock().expect("sync retry")
            && Instant::now() < at
        {
            return;
        }
        let chain = self.inner.chain.lock().expect("chain").clone();
        let Some(chain) = chain else {
            return;
        };
        let pending = match self.inner.store.snapshot().and_then(|s| s.pending_syncs()) {
            Ok(pending) => pending,
            Err(error) => {
                tracing::error!(%error, "cannot read the clusters waiting for state");
                return;
            }
        };
        if pending.is_empty() {
            // Nothing waits any more (the clusters were left): no retry is due either, or the
            // follower, which wakes when one is due, would wake at every tick of the timer.
            self.inner.maybe_sync.store(false, Ordering::SeqCst);
            *self.inner.sync_retry.lock().expect("sync retry") = None;
            return;
        }
        let mut failed = false;
        for cluster in pending {
            if self.inner.keyring.cluster(&cluster).is_none() {
                continue;
            }
            let done = match self.sync_cluster(&chain, &cluster).await {
                Ok(()) => self.inner.store.synced(&cluster),
                Err(e) => Err(e),
            };
            if let Err(error) = done {
                tracing::warn!(%cluster, error = %fat_types::with_causes(&error), "cannot receive the state of the cluster's contracts yet");
                failed = true;
            }
        }
        let mut retry = self.inner.sync_retry.lock().expect("sync retry");
        *retry = failed.then(|| {
            let pause = retry.map_or(RETRY_FIRST, |(_, p)| (p * 2).min(RETRY_MAX));
            (Instant::now() + pause, pause)
        });
    }

    /// Whether a joined cluster may still wait for its contracts' state.
    pub(crate) fn may_need_sync(&self) -> bool {
        self.inner.maybe_sync.load(Ordering::SeqCst)
    }

    /// When the next try at receiving state is due, if one failed.
    pub(crate) fn sync_due(&self) -> Option<Instant> {
        self.inner
            .sync_retry
            .lock()
            .expect("sync retry")
            .map(|(at, _)| at)
    }

    /// Receive every contract of `cluster` instantiated at or before this worker's head that
    /// it lacks.
    async fn sync_cluster(&self, chain: &ChainApi, cluster: &ClusterId) -> Result<()> {
        let head = self.head().map_or(0, |h| h.height);
        let listed = chain
            .cluster_contracts(cluster)
            .await
            .map_err(|e| WorkerError::Chain {
                url: chain.url().to_owned(),
                message: e.to_string(),
            })?;
        let snapshot = self.inner.store.snapshot()?;
        let mut missing = Vec::new();
        for info in listed.contracts {
            if info.cluster == *cluster
                && info.height <= head
                && snapshot.contract(&info.id)?.is_none()
            {
                missing.push(info);
            }
        }
        drop(snapshot);
        if missing.is_empty() {
            return Ok(());
        }
        let members = self.cluster_members(cluster).await?;
        let others: Vec<&Member> = members.iter().filter(|m| m.api.is_some()).collect();
        if others.is_empty() {
            return Err(WorkerError::Snapshot(format!(
                "no other member of cluster {cluster} has an endpoint to ask"
            )));
        }
        // One contract no member can send (or one the node lists wrongly) does not keep the
        // others from arriving; the cluster stays pending until every one has.
        let mut failed = Vec::new();
        for info in &missing {
            if let Err(e) = self.sync_contract(&others, info, head).await {
                failed.push(e.to_string());
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(WorkerError::Snapshot(failed.join("; ")))
        }
    }

    /// Receive one contract's state from the first member whose state checks out.
    async fn sync_contract(
        &self,
        others: &[&Member],
        info: &ContractInfo,
        head: u64,
    ) -> Result<()> {
        let mut refused = Vec::new();
        for source in others {
            let started = Instant::now();
            let received = match self.receive_from(source, info, head).await {
                Ok(received) => received,
                Err(e) => {
                    refused.push(format!("worker {}: {e}", source.id));
                    continue;
                }
            };
            if let Err(e) = self.check_roots(others, source, &received).await {
                tracing::warn!(contract = %info.id, worker = %source.id, error = %e, "refused a contract's state");
                refused.push(format!("worker {}: {e}", source.id));
                continue;
            }
            let (height, entries) = (received.height, received.entries.len());
            let worker = self.clone();
            let installed =
                tokio::task::spawn_blocking(move || worker.inner.store.install(received))
                    .await
                    .map_err(|e| WorkerError::Corrupt(format!("install task: {e}")))?;
            match installed {
                Ok(()) => {
                    let elapsed_ms = started.elapsed().as_millis();
                    tracing::info!(contract = %info.id, worker = %source.id, height, entries, elapsed_ms, "received a contract's state");
                    return Ok(());
                }
                Err(WorkerError::Snapshot(e)) => {
                    tracing::warn!(contract = %info.id, worker = %source.id, error = %e, "refused a contract's state");
                    refused.push(format!("worker {}: {e}", source.id));
                }
                Err(e) => return Err(e),
            }
        }
        Err(WorkerError::Snapshot(format!(
            "no member sent the state of contract {}: {}",
            info.id,
            refused.join("; ")
        )))
    }

    /// Ask `source` for a contract's state as of `head` or later, and check that it is the
    /// contract the chain registered.
    async fn receive_from(
        &self,
        source: &Member,
        info: &ContractInfo,
        head: u64,
    ) -> std::result::Result<Received, String> {
        let request = SnapshotRequest {
            contract: info.id,
            min_height: head,
        };
        let plaintext = self
            .ask_member(
                source,
                info.id,
                Direction::Snapshot,
                &encode(&request),
                SNAPSHOT_WAIT,
            )
            .await?;
        let state: ContractSnapshot =
            decode("contract snapshot", &plaintext).map_err(|e| e.to_string())?;
        let sent = &state.info;
        if (
            sent.id,
            sent.cluster,
            sent.code_hash,
            sent.deployer,
            sent.height,
            sent.key_epoch,
        ) != (
            info.id,
            info.cluster,
            info.code_hash,
            info.deployer,
            info.height,
            info.key_epoch,
        ) {
            return Err(format!(
                "it sent contract {} of cluster {}, not the one the chain registered",
                sent.id, sent.cluster
            ));
        }
        if state.height < head {
            return Err(format!(
                "its state is of block {}, before this worker's {head}",
                state.height
            ));
        }
        let public_key = self
            .inner
            .keyring
            .contract(info)
            .map(|crypt| Hash32(crypt.keys.ecdh().public().0));
        Ok(Received {
            record: ContractRecord {
                // The chain's record, with the key this worker derives.
                info: ContractInfo {
                    public_key,
                    ..info.clone()
                },
                state_root: state.state_root,
                entries: 0,
                logs: state.logs,
                synced_through: state.height,
            },
            height: state.height,
            entries: state.entries,
        })
    }

    /// Compare the root `source` sent with the roots the other members signed at the same
    /// block: refused when more of them differ than match. Members that are down, do not
    /// reach the block within a few seconds, or whose roots do not verify have no say; when
    /// none has, the source's root (which the entries must still hash to) is taken.
    async fn check_roots(
        &self,
        others: &[&Member],
        source: &Member,
        received: &Received,
    ) -> std::result::Result<(), String> {
        let (id, height, claimed) = (
            received.record.info.id,
            received.height,
            received.record.state_root,
        );
        let asks = others
            .iter()
            .filter(|m| m.id != source.id)
            .map(|m| async move {
                let api = m.api.as_ref()?;
                // A member a block or two behind the source gets a moment to reach its block.
                let ask = async {
                    loop {
                        match api.status().await {
                            Ok(status) if status.height >= Some(height) => {
                                return api.roots(Some(height)).await.ok();
                            }
                            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                            Err(_) => return None,
                        }
                    }
                };
                let roots = tokio::time::timeout(ROOTS_WAIT, ask).await.ok()??;
                (roots.worker == m.id && roots.height == height && roots.verify().is_ok())
                    .then(|| (m.id, roots.root_of(&id)))
            });
        let (mut agree, mut differ) = (Vec::new(), Vec::new());
        for (worker, root) in futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
        {
            match root {
                Some(root) if root == claimed => agree.push(worker),
                Some(_) => differ.push(worker),
                None => {}
            }
        }
        if differ.len() > agree.len() {
            let names: Vec<String> = differ.iter().map(|w| w.to_string()).collect();
            return Err(format!(
                "its root {claimed} at block {height} differs from the roots workers {} signed",
                names.join(", ")
            ));
        }
        Ok(())
    }
}
