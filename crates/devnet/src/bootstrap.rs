//! The dev network's workers and clusters: workers registered with `dev` reports by the dev
//! gatekeeper's key and grouped into clusters by the dev cluster admin (alice); the
//! gatekeeper then provisions their keys.

use std::time::{Duration, Instant};

use fat_crypto::{Keypair, dev_keypair};
use fat_proto::chain::SubmitAnswer;
use fat_proto::{ChainApi, not_found_as_none};
use fat_types::tx::cluster_id;
use fat_types::{ClusterId, Transaction, TxKind, WorkerId};
use fat_worker::Worker;

use crate::{DevnetError, Result};

/// The name of the dev key that registers the dev workers.
pub const DEV_GATEKEEPER: &str = "gatekeeper";
/// The name of the dev key that creates (and so owns) the dev clusters: the dev network's
/// cluster admin. Not the gatekeeper's key, whose provisioning transactions would race the
/// creation of a second cluster for nonces.
pub const DEV_CLUSTER_ADMIN: &str = "alice";

/// The fee the bootstrap's transactions offer.
const FEE: u64 = 10;

/// The well-known key of dev worker `index` (`dev_keypair("worker-{index}")`).
pub fn dev_worker_key(index: usize) -> Keypair {
    dev_keypair(&format!("worker-{index}"))
}

/// Register `workers` with `dev` attestation reports (those already registered are skipped)
/// and create one cluster of them, owned by the dev cluster admin; returns the cluster's id.
/// A registration the chain refuses is an error that says why, and is logged.
pub async fn create_dev_cluster(chain: &ChainApi, workers: &[Worker]) -> Result<ClusterId> {
    create_dev_cluster_noting(chain, workers, |_| Ok(())).await
}

/// [`create_dev_cluster`], calling `note` with the cluster's id before the transaction that
/// creates it is submitted, so that a start interrupted after it can find the cluster.
pub async fn create_dev_cluster_noting(
    chain: &ChainApi,
    workers: &[Worker],
    note: impl FnOnce(ClusterId) -> std::io::Result<()>,
) -> Result<ClusterId> {
    register_dev_workers(chain, workers).await?;
    let admin = dev_keypair(DEV_CLUSTER_ADMIN);
    let signer = admin.account_id();
    let nonce = chain.next_nonce(&signer).await?;
    let cluster = cluster_id(&signer, nonce);
    note(cluster).map_err(|source| DevnetError::Note { cluster, source })?;
    let kind = TxKind::CreateCluster {
        workers: workers.iter().map(Worker::id).collect(),
    };
    submit_at(chain, &admin, nonce, kind).await?;
    Ok(cluster)
}

/// Register `workers` with `dev` attestation reports, signed by the dev gatekeeper's key
/// (those already registered are skipped). A registration the chain refuses is an error
/// that says why, and is logged.
pub async fn register_dev_workers(chain: &ChainApi, workers: &[Worker]) -> Result<()> {
    let gatekeeper = dev_keypair(DEV_GATEKEEPER);
    for worker in workers {
        if not_found_as_none(chain.worker(&worker.id()).await)?.is_some() {
            continue;
        }
        let kind = worker.dev_registration()?;
        if let Err(e) = submit(chain, &gatekeeper, kind).await {
            tracing::error!(worker = %worker.id(), error = %e, "registration refused");
            return Err(e);
        }
    }
    Ok(())
}

/// Make each dev worker's registered endpoint its URL (`fat dev`'s `/workers/{i}` prefix), so
/// that clients and the other members of its cluster (which send it jobs) reach it there;
/// signed by the dev gatekeeper, the dev workers' operator. Endpoints already right are left.
pub async fn set_dev_endpoints(chain: &ChainApi, endpoints: &[(WorkerId, String)]) -> Result<()> {
    let operator = dev_keypair(DEV_GATEKEEPER);
    for (worker, url) in endpoints {
        if chain.worker(worker).await?.endpoint.as_deref() == Some(url) {
            continue;
        }
        let kind = TxKind::SetWorkerEndpoint {
            worker: *worker,
            endpoint: url.clone(),
        };
        submit(chain, &operator, kind).await?;
    }
    Ok(())
}

/// Wait until a gatekeeper has provisioned `cluster` (its public key is on chain), for at
/// most `timeout`.
pub async fn wait_for_cluster_key(
    chain: &ChainApi,
    cluster: &ClusterId,
    timeout: Duration,
) -> Result<()> {
    let start = Instant::now();
    loop {
        if chain.cluster(cluster).await?.public_key.is_some() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(fat_proto::Error::Timeout {
                what: format!("a gatekeeper to provision cluster {cluster} (is one running?)"),
                seconds: timeout.as_secs(),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sign a transaction with the account's next nonce, submit it and wait until it commits
/// successfully; returns the node's answer.
pub async fn submit(chain: &ChainApi, key: &Keypair, kind: TxKind) -> Result<SubmitAnswer> {
    let nonce = chain.next_nonce(&key.account_id()).await?;
    submit_at(chain, key, nonce, kind).await
}

/// [`submit`] with a given nonce.
pub async fn submit_at(
    chain: &ChainApi,
    key: &Keypair,
    nonce: u64,
    kind: TxKind,
) -> Result<SubmitAnswer> {
    // Parameters checked against block 0, so that the node cannot raise the fee alone.
    let (id, params) = chain.checked_params().await?;
    // The fee grows with the bytes and the gas asked: offer the chain's minimum when it is more.
    let tx = params.priced(Transaction {
        chain: id,
        signer: key.account_id(),
        nonce,
        fee: FEE,
        kind,
    });
    Ok(chain.submit_committed(&key.sign_tx(tx)).await?)
}
