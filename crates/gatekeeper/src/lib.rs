//! Hold the master key and hand cluster keys to attested workers through the chain.
//!
//! A [`Gatekeeper`] generates its master key on first start and keeps it sealed in its data
//! directory. It follows the chain's blocks, verifying each ([`fat_consensus::BlockVerifier`],
//! from a genesis it pins in its data directory on first use, and the receipts against each
//! block's receipts root), and learns registrations, clusters and contracts only from those
//! verified blocks: nothing the node merely says. Once caught up with the tip:
//!
//! - for every cluster with members that hold no key yet, checks each member's registered
//!   attestation report against the gatekeeper's own policy
//!   ([`fat_attestation::check_registration`]),
//!   seals the cluster key to each accepted worker's ECDH key and submits one `ProvisionKey`
//!   transaction, which also publishes the cluster's public key. A refused worker gets
//!   nothing; the gatekeeper logs why.
//! - for every new contract, publishes its public key (`PublishContractKey`), derived from
//!   the cluster key (see [`fat_crypto::keytree`]).
//!
//! What it has done is read back from the chain on every start, so it keeps no state but
//! its key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fat_attestation::seal::Sealer;
use fat_client::Http;
use fat_consensus::{BlockVerifier, ValidatorSet};
use fat_crypto::envelope::{Direction, EcdhPublic, SealRandomness, seal};
use fat_crypto::{ClusterKey, Keypair, MasterKey};
use fat_types::block::receipts_root;
use fat_types::tx::{cluster_id, contract_id};
use fat_types::{
    Attestation, AttestationPolicy, Block, Bytes, ClusterId, ContractId, Hash32, Outcome, Receipt,
    Transaction, TxKind, WorkerId,
};
use serde::Deserialize;
use serde_json::Value;

/// The file in the data directory holding the sealed master key.
pub const MASTER_FILE: &str = "master.sealed";
/// The file in the data directory naming the chain (its genesis hash) the gatekeeper serves.
pub const GENESIS_FILE: &str = "genesis";
const MASTER_LABEL: &str = "fat/gatekeeper/master/v1";
/// The fee the gatekeeper's transactions offer.
const FEE: u64 = 10;

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
    Chain(#[from] fat_client::Error),
    /// The chain answered something unexpected.
    #[error("chain: {0}")]
    Unexpected(String),
}

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
}

impl std::fmt::Debug for Gatekeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gatekeeper({})", self.key.account_id())
    }
}

/// What the chain has done so far, read from its verified blocks.
#[derive(Debug, Default)]
struct Seen {
    /// Registered workers: ECDH key and report.
    workers: HashMap<WorkerId, (Hash32, Attestation)>,
    /// Clusters and their members, in the order they joined.
    clusters: BTreeMap<ClusterId, Vec<WorkerId>>,
    provisioned: HashSet<(WorkerId, ClusterId)>,
    refused: HashSet<(WorkerId, ClusterId)>,
    /// Contracts whose key is not published yet, with their cluster.
    unpublished: BTreeMap<ContractId, ClusterId>,
}

/// A block as the chain's stream sends it with `receipts=true`.
#[derive(Deserialize)]
struct StreamedBlock {
    header: fat_types::BlockHeader,
    certificate: fat_types::Certificate,
    txs: Vec<fat_types::SignedTransaction>,
    #[serde(default)]
    receipts: Vec<Receipt>,
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
        })
    }

    /// The key of a cluster.
    pub fn cluster_key(&self, cluster: &ClusterId) -> ClusterKey {
        self.master.cluster_key(cluster)
    }

    /// Follow the chain at `rpc` and provision keys until `shutdown` completes; reconnects
    /// when the stream breaks.
    pub async fn run(&self, rpc: &str, shutdown: impl Future<Output = ()>) -> Result<()> {
        let http = Http::new(rpc)?;
        tokio::pin!(shutdown);
        loop {
            let mut seen = Seen::default();
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                result = self.follow(&http, &mut seen) => if let Err(e) = result {
                    tracing::warn!(error = %e, "gatekeeper lost the chain; reconnecting");
                },
            }
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// The chain's genesis block, checked against the one pinned in the data directory (or
    /// pinned there on first use).
    async fn genesis(&self, http: &Http) -> Result<Block> {
        let genesis: Block = http.get_json("/v1/blocks/0").await?;
        let found = genesis.hash();
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

    async fn follow(&self, http: &Http, seen: &mut Seen) -> Result<()> {
        let genesis = self.genesis(http).await?;
        let config: fat_types::Genesis = http.get_json("/v1/genesis").await?;
        if config.config_hash() != genesis.header.parent {
            return Err(GatekeeperError::Unexpected(format!(
                "the chain's genesis hashes to {}, but block 0 links to {}",
                config.config_hash(),
                genesis.header.parent
            )));
        }
        let validators = ValidatorSet::new(config.validators)
            .map_err(|e| GatekeeperError::Unexpected(format!("the chain's genesis: {e}")))?;
        let mut verifier = BlockVerifier::new(genesis.header.clone(), validators);
        let mut blocks = http
            .events("/v1/stream/blocks?from=1&receipts=true")
            .await?;
        while let Some(event) = blocks.next().await? {
            if event.event != "block" {
                continue;
            }
            let streamed: StreamedBlock = serde_json::from_str(&event.data)
                .map_err(|e| GatekeeperError::Unexpected(format!("bad block: {e}")))?;
            let block = Block {
                header: streamed.header,
                certificate: streamed.certificate,
                txs: streamed.txs,
            };
            verifier
                .accept(&block)
                .map_err(|e| GatekeeperError::Unexpected(format!("block does not verify: {e}")))?;
            if streamed.receipts.len() != block.txs.len()
                || receipts_root(&streamed.receipts) != block.header.receipts_root
            {
                return Err(GatekeeperError::Unexpected(format!(
                    "the receipts of block {} do not match its receipts root",
                    block.header.height
                )));
            }
            note_block(seen, &block, &streamed.receipts);
            let status: Value = http.get_json("/v1/status").await?;
            let tip = status["height"].as_u64().unwrap_or_default();
            if block.header.height >= tip {
                self.reconcile(http, seen).await?;
            }
        }
        Ok(())
    }

    /// Provision the clusters and publish the contract keys that need it.
    async fn reconcile(&self, http: &Http, seen: &mut Seen) -> Result<()> {
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
            let key = self.master.cluster_key(&cluster);
            let mut keys = Vec::new();
            for worker in waiting {
                let Some((ecdh_public, attestation)) = seen.workers.get(&worker).cloned() else {
                    continue;
                };
                match fat_attestation::check_registration(
                    &self.policy,
                    &worker,
                    &ecdh_public,
                    &attestation,
                    now_ms() / 1000,
                ) {
                    Ok(report) => {
                        let sealed =
                            self.seal_cluster_key(&cluster, &key, &worker, &ecdh_public)?;
                        tracing::info!(%worker, %cluster, %report, "provisioning the cluster key");
                        keys.push((worker, Bytes(sealed)));
                    }
                    Err(e) => {
                        tracing::warn!(%worker, %cluster, error = %e, "not provisioning: attestation refused");
                        seen.refused.insert((worker, cluster));
                    }
                }
            }
            if keys.is_empty() {
                continue;
            }
            let workers: Vec<WorkerId> = keys.iter().map(|(w, _)| *w).collect();
            self.submit(
                http,
                TxKind::ProvisionKey {
                    cluster,
                    cluster_public: Hash32(key.ecdh_public().0),
                    keys,
                },
            )
            .await?;
            seen.provisioned
                .extend(workers.into_iter().map(|w| (w, cluster)));
        }
        for (contract, cluster) in std::mem::take(&mut seen.unpublished) {
            let public = self
                .master
                .cluster_key(&cluster)
                .contract(&contract)
                .ecdh()
                .public();
            self.submit(
                http,
                TxKind::PublishContractKey {
                    contract,
                    public_key: Hash32(public.0),
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
            now_ms(),
            randomness,
        )
        .map_err(|e| GatekeeperError::Key(format!("cannot seal to worker {worker}: {e}")))?;
        Ok(envelope.to_bytes())
    }

    async fn submit(&self, http: &Http, kind: TxKind) -> Result<()> {
        let account: Value = http
            .get_json(&format!("/v1/accounts/{}", self.key.account_id()))
            .await?;
        let nonce = account["next_nonce"]
            .as_u64()
            .ok_or_else(|| GatekeeperError::Unexpected("no next_nonce in the account".into()))?;
        let tx = self.key.sign_tx(Transaction {
            signer: self.key.account_id(),
            nonce,
            fee: FEE,
            kind,
        });
        let answer: Value = http
            .post_json("/v1/txs?wait=true", "application/octet-stream", tx.encode())
            .await?;
        if answer["status"] != "committed" || answer["receipt"]["outcome"].get("failed").is_some() {
            return Err(GatekeeperError::Unexpected(format!(
                "transaction {} not committed successfully: {answer}",
                tx.id()
            )));
        }
        Ok(())
    }
}

/// Record what a block did that the gatekeeper acts on.
fn note_block(seen: &mut Seen, block: &Block, receipts: &[Receipt]) {
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
                    .insert(*worker, (*ecdh_public, attestation.clone()));
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
            TxKind::ProvisionKey { cluster, keys, .. } => {
                seen.provisioned
                    .extend(keys.iter().map(|(w, _)| (*w, *cluster)));
            }
            TxKind::Instantiate {
                code_hash,
                cluster,
                salt,
                ..
            } => {
                seen.unpublished.insert(
                    contract_id(&tx.signer, code_hash, cluster, &salt.0),
                    *cluster,
                );
            }
            TxKind::PublishContractKey { contract, .. } => {
                seen.unpublished.remove(contract);
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
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(MASTER_FILE);
    match std::fs::read(&path) {
        Ok(sealed) => {
            let plain = sealer
                .unseal(MASTER_LABEL, &sealed)
                .map_err(|e| GatekeeperError::Key(format!("{}: {e}", path.display())))?;
            let bytes: [u8; 32] = plain
                .try_into()
                .map_err(|_| GatekeeperError::Key(format!("{}: not 32 bytes", path.display())))?;
            Ok(MasterKey::from_bytes(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let master = MasterKey::generate().map_err(|e| GatekeeperError::Key(e.to_string()))?;
            let sealed = sealer
                .seal(MASTER_LABEL, &master.to_bytes())
                .map_err(|e| GatekeeperError::Key(e.to_string()))?;
            let tmp = path.with_extension("tmp");
            {
                use std::io::Write;
                let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
                file.write_all(&sealed).map_err(io(&tmp))?;
                file.sync_all().map_err(io(&tmp))?;
            }
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
            Ok(master)
        }
        Err(e) => Err(io(&path)(e)),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fat_attestation::seal::DevSealer;

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
        let key = first.cluster_key(&cluster).to_bytes();
        assert!(!stored.windows(32).any(|w| w == first.master.to_bytes()));
        let again = Gatekeeper::open(config.clone()).unwrap();
        assert_eq!(again.cluster_key(&cluster).to_bytes(), key);
        std::fs::write(dir.join(MASTER_FILE), b"garbage").unwrap();
        let err = Gatekeeper::open(config).unwrap_err().to_string();
        assert!(err.contains("master.sealed"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
