//! Hold the master key and hand cluster keys to attested workers through the chain.
//!
//! A [`Gatekeeper`] generates its master key on first start and keeps it sealed in its data
//! directory. It follows the chain's blocks, verifying each ([`fat_proto::follow::Follower`],
//! from a genesis it pins in its data directory on first use, and the receipts against each
//! block's receipts root), and learns registrations, clusters and contracts only from those
//! verified blocks: nothing the node merely says. Once caught up with the tip:
//!
//! - for every cluster with members that hold no key yet, checks each member's registered
//!   attestation report against the gatekeeper's own policy
//!   ([`fat_attestation::check_registration`]),
//!   seals the key of the cluster's current epoch to each accepted worker's ECDH key and
//!   submits one `ProvisionKey` transaction, which also publishes the epoch's public key. A
//!   refused worker gets nothing; the gatekeeper logs why.
//! - when a member is removed, the cluster moves to its next key epoch (as the chain
//!   counts it): every member that stays is provisioned again with the new epoch's key,
//!   which the removed one never receives (see [`fat_crypto::keytree`] for why an epoch's
//!   key reaches back to the earlier epochs and not forward).
//! - publishes the public keys of the new contracts, derived from the key of the epoch each
//!   was created in (see [`fat_crypto::keytree`]), up to [`MAX_PUBLISHED_KEYS`] in one
//!   `PublishContractKeys` transaction: many deploys cost one transaction, not one each.
//!
//! Its transactions offer the chain's minimum fee; the key deposits the deploys paid
//! (`key_fee`) are paid to it when it publishes, so its balance grows with its work.
//!
//! What it has done is read back from the chain on every start, so it keeps no state but
//! its key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fat_attestation::seal::Sealer;
use fat_crypto::envelope::{Direction, EcdhPublic, SealRandomness, seal};
use fat_crypto::{ClusterKey, Keypair, MasterKey};
use fat_proto::ChainApi;
use fat_proto::follow::{ChainGenesis, Follower, FollowerError, genesis_of};
use fat_types::tx::{MAX_PUBLISHED_KEYS, cluster_id, contract_id};
use fat_types::{
    Attestation, AttestationPolicy, Block, Bytes, ChainParams, ChainReceipt, Clock, ClusterId,
    ContractId, Hash32, Outcome, SystemClock, Transaction, TxKind, WorkerId,
};

/// An error and each of its causes on one line (for log lines that say why).
pub use fat_types::with_causes;

/// The file in the data directory holding the sealed master key.
pub const MASTER_FILE: &str = "master.sealed";
/// The file in the data directory naming the chain (its genesis hash) the gatekeeper serves.
pub const GENESIS_FILE: &str = "genesis";
/// The file in the data directory naming the master key made there (a hash of it, public):
/// it outlives a lost `master.sealed`, so a lost key is noticed, and it catches a key file
/// swapped for another gatekeeper's.
pub const MASTER_ID_FILE: &str = "master.id";
const MASTER_LABEL: &str = "fat/gatekeeper/master/v1";

/// What can go wrong in a gatekeeper.
#[derive(Debug, thiserror::Error)]
pub enum GatekeeperError {
    /// The data directory or the key file cannot be read or written.
    #[error("{path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The master key cannot be made, unsealed or used.
    #[error("master key: {0}")]
    Key(String),
    /// Talking to the chain failed.
    #[error("chain: {0}")]
    Chain(#[from] fat_proto::Error),
    /// A block from the chain does not verify.
    #[error("following the chain")]
    Follow(#[from] FollowerError),
    /// The chain answered something unexpected.
    #[error("chain: {0}")]
    Unexpected(String),
}

/// The pause before following the chain again after it failed; it doubles while attempts
/// keep failing at once, up to [`RETRY_LAST`].
const RETRY_FIRST: Duration = Duration::from_millis(200);
/// The longest pause between attempts to follow the chain.
const RETRY_LAST: Duration = Duration::from_secs(5);

/// The result type of this crate.
pub type Result<T, E = GatekeeperError> = std::result::Result<T, E>;

/// How a gatekeeper is set up.
#[derive(Clone)]
pub struct GatekeeperConfig {
    /// Where the sealed master key lives.
    pub data_dir: PathBuf,
    /// The gatekeeper's account (must be a gatekeeper in the chain's registry).
    pub key: Keypair,
    /// Seals the master key on disk.
    pub sealer: Arc<dyn Sealer>,
    /// The attestation reports the gatekeeper accepts before it hands a worker a key. Its
    /// own, not the node's: a node could claim any policy.
    pub policy: AttestationPolicy,
}

/// The gatekeeper.
pub struct Gatekeeper {
    master: MasterKey,
    key: Keypair,
    policy: AttestationPolicy,
    data_dir: PathBuf,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Gatekeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gatekeeper({})", self.key.account_id())
    }
}

/// What the chain has done so far, read from its verified blocks.
#[derive(Debug, Default)]
struct Seen {
    /// Registered workers: ECDH key, report, and when the chain accepted the report (Unix
    /// seconds).
    workers: HashMap<WorkerId, (Hash32, Attestation, u64)>,
    /// Clusters and their members, in the order they joined.
    clusters: BTreeMap<ClusterId, Vec<WorkerId>>,
    /// Members holding the key of their cluster's current epoch.
    provisioned: HashSet<(WorkerId, ClusterId)>,
    refused: HashSet<(WorkerId, ClusterId)>,
    /// Clusters whose key rotated, with their current key epoch (0 for the others).
    epochs: HashMap<ClusterId, u32>,
    /// Contracts whose key is not published yet, with their cluster and its key epoch when
    /// they were created.
    unpublished: BTreeMap<ContractId, (ClusterId, u32)>,
    /// Cluster keys derived so far (each costs up to [`fat_types::MAX_KEY_EPOCHS`] steps).
    keys: HashMap<(ClusterId, u32), ClusterKey>,
}

impl Seen {
    fn epoch(&self, cluster: &ClusterId) -> u32 {
        self.epochs.get(cluster).copied().unwrap_or(0)
    }
}

impl Gatekeeper {
    /// Open the gatekeeper: unseal its master key, or make and seal one on first start.
    pub fn open(config: GatekeeperConfig) -> Result<Self> {
        let master = load_or_create_master(&config.data_dir, config.sealer.as_ref())?;
        Ok(Self {
            master,
            key: config.key,
            policy: config.policy,
            data_dir: config.data_dir,
            clock: Arc::new(SystemClock),
        })
    }

    /// Read the time from `clock` (attestation freshness, envelope times) instead of the
    /// system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The key of a cluster at a key epoch (`None` past the last epoch).
    pub fn cluster_key(&self, cluster: &ClusterId, epoch: u32) -> Option<ClusterKey> {
        self.master.cluster_key(cluster, epoch)
    }

    /// The key of `cluster` at `epoch`, derived once per run.
    fn key_at(&self, seen: &mut Seen, cluster: &ClusterId, epoch: u32) -> Result<ClusterKey> {
        if let Some(key) = seen.keys.get(&(*cluster, epoch)) {
            return Ok(key.clone());
        }
        let key = self.master.cluster_key(cluster, epoch).ok_or_else(|| {
            GatekeeperError::Unexpected(format!(
                "the chain put cluster {cluster} at key epoch {epoch}, past the last one"
            ))
        })?;
        seen.keys.insert((*cluster, epoch), key.clone());
        Ok(key)
    }

    /// Follow the chain at `rpc` and provision keys until `shutdown` completes; reconnects
    /// when the stream breaks.
    pub async fn run(&self, rpc: &str, shutdown: impl Future<Output = ()>) -> Result<()> {
        let chain = ChainApi::new(rpc)?;
        tokio::pin!(shutdown);
        let mut pause = RETRY_FIRST;
        loop {
            let mut seen = Seen::default();
            let started = tokio::time::Instant::now();
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                result = self.follow(&chain, &mut seen) => if let Err(e) = result {
                    tracing::warn!(error = %with_causes(&e), retry_in = ?pause, "the gatekeeper stopped following the chain; following it again from genesis");
                },
            }
            let followed_for = started.elapsed();
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(pause) => {}
            }
            // Failing again at once doubles the pause; having followed a while resets it.
            pause = if followed_for >= RETRY_LAST {
                RETRY_FIRST
            } else {
                (pause * 2).min(RETRY_LAST)
            };
        }
    }

    /// The chain's genesis block, checked against the one pinned in the data directory (or
    /// pinned there on first use).
    async fn genesis(&self, chain: &ChainApi) -> Result<ChainGenesis> {
        let genesis = genesis_of(chain).await?;
        let found = genesis.block.hash();
        let path = self.data_dir.join(GENESIS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let pinned: Hash32 = text.trim().parse().map_err(|e| {
                    GatekeeperError::Key(format!("{}: not a genesis hash: {e}", path.display()))
                })?;
                if pinned != found {
                    return Err(GatekeeperError::Unexpected(format!(
                        "the node serves chain {found}, but this gatekeeper serves {pinned} \
                         ({}); point it at its own chain",
                        path.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(&path, format!("{found}\n")).map_err(|source| {
                    GatekeeperError::Io {
                        path: path.clone(),
                        source,
                    }
                })?;
            }
            Err(source) => return Err(GatekeeperError::Io { path, source }),
        }
        Ok(genesis)
    }

    /// Follow the chain's verified blocks from genesis, noting what they do; once caught up
    /// with the tip, act on it. Returns only when a block does not verify or the chain
    /// refuses what the gatekeeper submits.
    async fn follow(&self, chain: &ChainApi, seen: &mut Seen) -> Result<()> {
        let genesis = self.genesis(chain).await?;
        let chain_id = genesis.block.hash();
        let params = genesis.config.params.clone();
        // It runs no contract: the signatures of commands are not its to check.
        let mut follower = Follower::new(
            chain.clone(),
            chain_id,
            genesis.block.header,
            genesis.validators,
        )
        .checking_commands_of(|_| std::collections::BTreeSet::new());
        loop {
            let followed = follower.next().await?;
            note_block(seen, &followed.block, &followed.receipts);
            let tip = chain.status().await?.height;
            if followed.block.header.height >= tip {
                self.reconcile(chain, chain_id, &params, seen).await?;
            }
        }
    }

    /// Provision the clusters and publish the contract keys that need it, with transactions
    /// for the chain `chain_id`.
    async fn reconcile(
        &self,
        chain: &ChainApi,
        chain_id: Hash32,
        params: &ChainParams,
        seen: &mut Seen,
    ) -> Result<()> {
        for (cluster, members) in seen.clusters.clone() {
            let waiting: Vec<WorkerId> = members
                .into_iter()
                .filter(|w| {
                    !seen.provisioned.contains(&(*w, cluster))
                        && !seen.refused.contains(&(*w, cluster))
                })
                .collect();
            if waiting.is_empty() {
                continue;
            }
            let epoch = seen.epoch(&cluster);
            let key = self.key_at(seen, &cluster, epoch)?;
            let mut keys = Vec::new();
            for worker in waiting {
                let Some((ecdh_public, attestation, attested_at)) =
                    seen.workers.get(&worker).cloned()
                else {
                    continue;
                };
                match fat_attestation::check_registered(
                    &self.policy,
                    &worker,
                    &ecdh_public,
                    &attestation,
                    attested_at,
                    self.clock.now_ms() / 1000,
                ) {
                    Ok(report) => {
                        let sealed =
                            self.seal_cluster_key(&cluster, &key, &worker, &ecdh_public)?;
                        tracing::info!(%worker, %cluster, epoch, %report, "provisioning the cluster key");
                        keys.push((worker, Bytes(sealed)));
                    }
                    Err(e) => {
                        tracing::warn!(%worker, %cluster, error = %with_causes(&e), "not provisioning: attestation refused");
                        seen.refused.insert((worker, cluster));
                    }
                }
            }
            if keys.is_empty() {
                continue;
            }
            let workers: Vec<WorkerId> = keys.iter().map(|(w, _)| *w).collect();
            self.submit(
                chain,
                chain_id,
                params,
                TxKind::ProvisionKey {
                    cluster,
                    epoch,
                    cluster_public: Hash32(key.ecdh_public().0),
                    keys,
                },
            )
            .await?;
            seen.provisioned
                .extend(workers.into_iter().map(|w| (w, cluster)));
        }
        let mut keys: Vec<(ContractId, Hash32)> = Vec::new();
        for (contract, (cluster, epoch)) in std::mem::take(&mut seen.unpublished) {
            let public = self
                .key_at(seen, &cluster, epoch)?
                .contract(&contract)
                .ecdh()
                .public();
            keys.push((contract, Hash32(public.0)));
        }
        for batch in keys.chunks(publication_size(params)) {
            self.submit(
                chain,
                chain_id,
                params,
                TxKind::PublishContractKeys {
                    keys: batch.to_vec(),
                },
            )
            .await?;
        }
        Ok(())
    }

    fn seal_cluster_key(
        &self,
        cluster: &ClusterId,
        key: &ClusterKey,
        worker: &WorkerId,
        ecdh_public: &Hash32,
    ) -> Result<Vec<u8>> {
        let randomness =
            SealRandomness::generate().map_err(|e| GatekeeperError::Key(e.to_string()))?;
        let (envelope, _) = seal(
            &self.key,
            &EcdhPublic(ecdh_public.0),
            ContractId(cluster.0),
            Direction::ClusterKey,
            &key.to_bytes(),
            self.clock.now_ms(),
            randomness,
        )
        .map_err(|e| GatekeeperError::Key(format!("cannot seal to worker {worker}: {e}")))?;
        Ok(envelope.to_bytes())
    }

    /// Sign `kind` with the chain's minimum fee for it, submit it and wait until committed.
    async fn submit(
        &self,
        chain: &ChainApi,
        chain_id: Hash32,
        params: &ChainParams,
        kind: TxKind,
    ) -> Result<()> {
        let nonce = chain.next_nonce(&self.key.account_id()).await?;
        let tx = params.priced(Transaction {
            chain: chain_id,
            signer: self.key.account_id(),
            nonce,
            fee: 0,
            kind,
        });
        chain.submit_committed(&self.key.sign_tx(tx)).await?;
        Ok(())
    }
}

/// Record what a block did that the gatekeeper acts on.
fn note_block(seen: &mut Seen, block: &Block, receipts: &[ChainReceipt]) {
    let block_secs = block.header.timestamp_ms / 1000;
    for (signed, receipt) in block.txs.iter().zip(receipts) {
        if matches!(receipt.outcome, Outcome::Failed(_)) {
            continue;
        }
        let tx = &signed.tx;
        match &tx.kind {
            TxKind::RegisterWorker {
                worker,
                ecdh_public,
                attestation,
            } => {
                seen.workers
                    .insert(*worker, (*ecdh_public, attestation.clone(), block_secs));
            }
            TxKind::Reattest {
                worker,
                attestation,
            } => {
                if let Some(known) = seen.workers.get_mut(worker) {
                    known.1 = attestation.clone();
                    known.2 = block_secs;
                }
                // A worker refused for a stale or outdated report is checked again.
                seen.refused.retain(|(w, _)| w != worker);
            }
            TxKind::CreateCluster { workers } => {
                let mut members: Vec<WorkerId> = Vec::new();
                for w in workers {
                    if !members.contains(w) {
                        members.push(*w);
                    }
                }
                seen.clusters
                    .insert(cluster_id(&tx.signer, tx.nonce), members);
            }
            TxKind::AddClusterWorker { cluster, worker } => {
                seen.clusters.entry(*cluster).or_default().push(*worker);
            }
            TxKind::RemoveClusterWorker { cluster, worker } => {
                if let Some(members) = seen.clusters.get_mut(cluster) {
                    members.retain(|w| w != worker);
                }
                // The cluster's key moves to the next epoch: every member that stays is
                // provisioned again, and the removed one (back in later, or not) is not
                // until it is a member again.
                *seen.epochs.entry(*cluster).or_insert(0) += 1;
                seen.provisioned.retain(|(_, c)| c != cluster);
            }
            TxKind::ProvisionKey {
                cluster,
                epoch,
                keys,
                ..
            } if *epoch == seen.epoch(cluster) => {
                seen.provisioned
                    .extend(keys.iter().map(|(w, _)| (*w, *cluster)));
            }
            TxKind::Instantiate {
                code_hash,
                cluster,
                salt,
                ..
            } => {
                let epoch = seen.epoch(cluster);
                seen.unpublished.insert(
                    contract_id(&tx.signer, code_hash, cluster, &salt.0),
                    (*cluster, epoch),
                );
            }
            TxKind::PublishContractKey { contract, .. } => {
                seen.unpublished.remove(contract);
            }
            TxKind::PublishContractKeys { keys } => {
                for (contract, _) in keys {
                    seen.unpublished.remove(contract);
                }
            }
            _ => {}
        }
    }
}

fn load_or_create_master(dir: &Path, sealer: &dyn Sealer) -> Result<MasterKey> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GatekeeperError::Io { path, source }
    };
    fat_types::private_fs::create_private_dir(dir).map_err(io(dir))?;
    let path = dir.join(MASTER_FILE);
    let id_path = dir.join(MASTER_ID_FILE);
    let recorded = match std::fs::read_to_string(&id_path) {
        Ok(text) => Some(text.trim().parse::<Hash32>().map_err(|e| {
            GatekeeperError::Key(format!("{}: not a master key id: {e}", id_path.display()))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&id_path)(e)),
    };
    match std::fs::read(&path) {
        Ok(sealed) => {
            let plain = sealer
                .unseal(MASTER_LABEL, &sealed)
                .map_err(|e| GatekeeperError::Key(format!("{}: {e}", path.display())))?;
            let bytes: [u8; 32] = plain
                .try_into()
                .map_err(|_| GatekeeperError::Key(format!("{}: not 32 bytes", path.display())))?;
            let master = MasterKey::from_bytes(bytes);
            let id = master_id(&master);
            match recorded {
                Some(recorded) if recorded != id => Err(GatekeeperError::Key(format!(
                    "{} holds master key {id}, but this data directory made {recorded} \
                     ({}): refusing a key file from elsewhere",
                    path.display(),
                    id_path.display()
                ))),
                Some(_) => Ok(master),
                None => {
                    // A directory from before the id file: record it now.
                    let text = format!("{id}\n");
                    fat_types::private_fs::write_private_new(&id_path, text.as_bytes())
                        .map_err(io(&id_path))?;
                    Ok(master)
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A master key was made here and handed out as cluster keys: a new one would give
            // every cluster another key. Refuse.
            if let Some(recorded) = recorded {
                return Err(GatekeeperError::Key(format!(
                    "{} is missing, but this data directory made master key {recorded} ({}): \
                     refusing to make a new one, which would change every cluster's key; \
                     restore the file, or start in an empty data directory",
                    path.display(),
                    id_path.display()
                )));
            }
            let master = MasterKey::generate().map_err(|e| GatekeeperError::Key(e.to_string()))?;
            let sealed = sealer
                .seal(MASTER_LABEL, &master.to_bytes())
                .map_err(|e| GatekeeperError::Key(e.to_string()))?;
            let text = format!("{}\n", master_id(&master));
            fat_types::private_fs::write_private_new(&id_path, text.as_bytes())
                .map_err(io(&id_path))?;
            fat_types::private_fs::write_private_new(&path, &sealed).map_err(io(&path))?;
            Ok(master)
        }
        Err(e) => Err(io(&path)(e)),
    }
}

/// A public name of a master key: a hash of it under its own domain tag.
fn master_id(master: &MasterKey) -> Hash32 {
    fat_types::encoding::tagged_hash("fat/gatekeeper/master-id/v1", &master.to_bytes())
}

/// How many contract keys one publication carries: [`MAX_PUBLISHED_KEYS`], or fewer when the
/// chain's largest transaction could not hold them (each takes 64 bytes; a few hundred are
/// left for the rest of the transaction).
fn publication_size(params: &ChainParams) -> usize {
    let room = params.max_tx_bytes.saturating_sub(512) / 64;
    (room as usize).clamp(1, MAX_PUBLISHED_KEYS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fat_attestation::seal::DevSealer;

    #[test]
    fn a_logged_error_says_why_through_each_cause() {
        let refused = GatekeeperError::from(FollowerError::ReceiptsMismatch { height: 7 });
        assert_eq!(refused.to_string(), "following the chain");
        assert_eq!(
            with_causes(&refused),
            "following the chain: receipts of block 7 do not match its receipts root"
        );
    }

    #[test]
    fn a_lost_or_foreign_master_key_is_refused_not_replaced() {
        let root = std::env::temp_dir().join(format!("fat-gatekeeper-lost-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let config = |dir: &Path| GatekeeperConfig {
            data_dir: dir.to_path_buf(),
            key: fat_crypto::dev_keypair("gatekeeper"),
            sealer: Arc::new(DevSealer),
            policy: fat_attestation::dev_chain_policy(),
        };
        let (dir, other) = (root.join("a"), root.join("b"));
        // A chain pinned before the first start is no reason to refuse one.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(GENESIS_FILE), format!("{}\n", Hash32([3; 32]))).unwrap();
        let first = Gatekeeper::open(config(&dir)).unwrap();
        let key = first
            .cluster_key(&ClusterId([9; 32]), 0)
            .unwrap()
            .to_bytes();
        drop(first);
        drop(Gatekeeper::open(config(&other)).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&other), 0o700);
            assert_eq!(mode(&other.join(MASTER_FILE)), 0o600);
        }

        // Another gatekeeper's key file: refused, and left.
        let ours = std::fs::read(dir.join(MASTER_FILE)).unwrap();
        let theirs = std::fs::read(other.join(MASTER_FILE)).unwrap();
        std::fs::write(dir.join(MASTER_FILE), &theirs).unwrap();
        let err = Gatekeeper::open(config(&dir)).expect_err("a foreign key");
        assert!(err.to_string().contains("from elsewhere"), "{err}");
        assert_eq!(std::fs::read(dir.join(MASTER_FILE)).unwrap(), theirs);

        // Lost: refused, and no new key is made.
        std::fs::remove_file(dir.join(MASTER_FILE)).unwrap();
        let err = Gatekeeper::open(config(&dir)).expect_err("a lost key");
        assert!(
            err.to_string().contains("refusing to make a new one"),
            "{err}"
        );
        assert!(!dir.join(MASTER_FILE).exists());

        // Put back, it is the same gatekeeper.
        std::fs::write(dir.join(MASTER_FILE), &ours).unwrap();
        let again = Gatekeeper::open(config(&dir)).unwrap();
        assert_eq!(
            again
                .cluster_key(&ClusterId([9; 32]), 0)
                .unwrap()
                .to_bytes(),
            key
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_master_key_is_sealed_on_first_start_and_reused() {
        let dir = std::env::temp_dir().join(format!("fat-gatekeeper-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = GatekeeperConfig {
            data_dir: dir.clone(),
            key: fat_crypto::dev_keypair("gatekeeper"),
            sealer: Arc::new(DevSealer),
            policy: fat_attestation::dev_chain_policy(),
        };
        let first = Gatekeeper::open(config.clone()).unwrap();
        let cluster = ClusterId([9; 32]);
        let stored = std::fs::read(dir.join(MASTER_FILE)).unwrap();
        let key = first.cluster_key(&cluster, 0).unwrap().to_bytes();
        assert!(!stored.windows(32).any(|w| w == first.master.to_bytes()));
        let again = Gatekeeper::open(config.clone()).unwrap();
        assert_eq!(again.cluster_key(&cluster, 0).unwrap().to_bytes(), key);
        std::fs::write(dir.join(MASTER_FILE), b"garbage").unwrap();
        let err = Gatekeeper::open(config).unwrap_err().to_string();
        assert!(err.contains("master.sealed"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
