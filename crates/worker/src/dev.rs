//! The dev network's workers and cluster: workers registered with `dev` reports and grouped
//! into one cluster by the dev gatekeeper, whose gatekeeper role then provisions its key.

use std::time::Duration;

use fat_crypto::{Keypair, dev_keypair};
use fat_types::tx::cluster_id;
use fat_types::{ClusterId, Transaction, TxKind};

use crate::client::ChainClient;
use crate::error::{Result, WorkerError};
use crate::worker::Worker;

/// The name of the dev key that signs the bootstrap transactions.
pub const DEV_GATEKEEPER: &str = "gatekeeper";

/// The well-known key of dev worker `index` (`dev_keypair("worker-{index}")`).
pub fn dev_worker_key(index: usize) -> Keypair {
    dev_keypair(&format!("worker-{index}"))
}

/// Register `workers` with `dev` attestation reports (those already registered are skipped)
/// and create one cluster of them, signed by the dev gatekeeper; returns the cluster's id.
/// A registration the chain refuses is an error that says why, and is logged.
pub async fn create_dev_cluster(client: &ChainClient, workers: &[Worker]) -> Result<ClusterId> {
    create_dev_cluster_noting(client, workers, |_| Ok(())).await
}

/// [`create_dev_cluster`], calling `note` with the cluster's id before the transaction that
/// creates it is submitted, so that a start interrupted after it can find the cluster.
pub async fn create_dev_cluster_noting(
    client: &ChainClient,
    workers: &[Worker],
    note: impl FnOnce(ClusterId) -> Result<()>,
) -> Result<ClusterId> {
    let gatekeeper = dev_keypair(DEV_GATEKEEPER);
    let signer = gatekeeper.account_id();
    for worker in workers {
        let registered: Result<serde_json::Value> = client
            .get_json(&format!("/v1/workers/{}", worker.id()))
            .await;
        if registered.is_ok() {
            continue;
        }
        let kind = worker.dev_registration()?;
        if let Err(e) = submit(client, &gatekeeper, kind).await {
            tracing::error!(worker = %worker.id(), error = %e, "registration refused");
            return Err(e);
        }
    }
    let nonce = client.next_nonce(&signer).await?;
    let cluster = cluster_id(&signer, nonce);
    note(cluster)?;
    let kind = TxKind::CreateCluster {
        workers: workers.iter().map(Worker::id).collect(),
    };
    submit_at(client, &gatekeeper, nonce, kind).await?;
    Ok(cluster)
}

/// Wait until a gatekeeper has provisioned `cluster` (its public key is on chain), for at
/// most `timeout`.
pub async fn wait_for_cluster_key(
    client: &ChainClient,
    cluster: &ClusterId,
    timeout: Duration,
) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        let info: serde_json::Value = client.get_json(&format!("/v1/clusters/{cluster}")).await?;
        if !info["public_key"].is_null() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(WorkerError::Chain {
                url: client.url().into(),
                message: format!(
                    "cluster {cluster} got no key within {}s: is a gatekeeper running?",
                    timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sign a transaction with the account's next nonce, submit it and wait until it commits
/// successfully; returns the node's answer.
pub async fn submit(
    client: &ChainClient,
    key: &Keypair,
    kind: TxKind,
) -> Result<serde_json::Value> {
    let nonce = client.next_nonce(&key.account_id()).await?;
    submit_at(client, key, nonce, kind).await
}

/// [`submit`] with a given nonce.
pub async fn submit_at(
    client: &ChainClient,
    key: &Keypair,
    nonce: u64,
    kind: TxKind,
) -> Result<serde_json::Value> {
    let tx = key.sign_tx(Transaction {
        signer: key.account_id(),
        nonce,
        fee: 10,
        kind,
    });
    let answer = client.submit_wait(&tx).await?;
    if answer["status"] != "committed" || answer["receipt"]["outcome"].get("failed").is_some() {
        return Err(WorkerError::Chain {
            url: client.url().into(),
            message: format!(
                "transaction {} not committed successfully: {answer}",
                tx.id()
            ),
        });
    }
    Ok(answer)
}
