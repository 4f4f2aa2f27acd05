//! The dev network's workers and cluster: well-known worker keys, registered and grouped into
//! one cluster by the dev gatekeeper.

use fat_crypto::{Keypair, dev_keypair};
use fat_types::tx::cluster_id;
use fat_types::{Attestation, Bytes, ClusterId, Hash32, Transaction, TxKind, WorkerId};

use crate::client::ChainClient;
use crate::error::{Result, WorkerError};

/// The name of the dev key that signs the bootstrap transactions.
pub const DEV_GATEKEEPER: &str = "gatekeeper";

/// The well-known key of dev worker `index` (`dev_keypair("worker-{index}")`).
pub fn dev_worker_key(index: usize) -> Keypair {
    dev_keypair(&format!("worker-{index}"))
}

/// Register `workers` (with `dev` attestation; those already registered are skipped) and
/// create one cluster of them, signed by the dev gatekeeper; returns the cluster's id.
pub async fn create_dev_cluster(client: &ChainClient, workers: &[WorkerId]) -> Result<ClusterId> {
    let gatekeeper = dev_keypair(DEV_GATEKEEPER);
    let signer = gatekeeper.account_id();
    for worker in workers {
        let registered: Result<serde_json::Value> =
            client.get_json(&format!("/v1/workers/{worker}")).await;
        if registered.is_ok() {
            continue;
        }
        let kind = TxKind::RegisterWorker {
            worker: *worker,
            ecdh_public: Hash32(blake3::derive_key("fat dev worker ecdh v1", &worker.0)),
            attestation: Attestation {
                provider: "dev".into(),
                report: Bytes(b"dev attestation: insecure".to_vec()),
            },
        };
        submit(client, &gatekeeper, kind).await?;
    }
    let nonce = client.next_nonce(&signer).await?;
    let kind = TxKind::CreateCluster {
        workers: workers.to_vec(),
    };
    submit(client, &gatekeeper, kind).await?;
    Ok(cluster_id(&signer, nonce))
}

/// Sign a transaction with the account's next nonce, submit it and wait until it commits
/// successfully; returns the node's answer.
pub async fn submit(
    client: &ChainClient,
    key: &Keypair,
    kind: TxKind,
) -> Result<serde_json::Value> {
    let nonce = client.next_nonce(&key.account_id()).await?;
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
