//! Deploying a contract: upload its code unless the chain has it, instantiate it with its
//! init arguments sealed to the cluster's key, and wait for the workers to run `init`.

use std::time::{Duration, Instant};

use fat_crypto::Keypair;
use fat_crypto::envelope::{Direction, EcdhPublic, seal};
use fat_proto::not_found_as_none;
use fat_types::tx::{code_hash, contract_id};
use fat_types::{Bytes, ClusterId, CodeHash, ContractId, Hash32, TxKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{Client, WAIT, committed_height, randomness, receipt};

/// A deployed contract (`fat deploy --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The contract's id.
    pub contract: ContractId,
    /// The code it runs.
    pub code_hash: CodeHash,
    /// The cluster whose workers run it.
    pub cluster: ClusterId,
    /// The block that created it.
    pub block: u64,
}

impl Client {
    /// Upload `wasm` (unless the chain has it), instantiate it with JSON `args` (sealed to the
    /// cluster's key) and wait until a gatekeeper published its key and the workers ran
    /// `init`. `progress` hears each step.
    pub async fn deploy(
        &self,
        key: &Keypair,
        wasm: Vec<u8>,
        args: &str,
        salt: &[u8],
        cluster: Option<ClusterId>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Deployed> {
        let hash = code_hash(&wasm);
        let cluster = match cluster {
            Some(cluster) => cluster,
            None => self.placement(&key.account_id()).await?,
        };
        let chain = self.checked().await?;
        let published = chain.cluster(&cluster).await?.public_key;
        let cluster_key = public(published).ok_or_else(|| Error::NotProvisioned {
            what: format!("cluster {cluster}"),
            hint: "a gatekeeper has not provisioned its key yet (a new cluster, or a new key \
                       epoch after a member was removed); try again once one has"
                .into(),
        })?;
        if let Some(published) = published {
            self.confirm_key(cluster, crate::ConfirmSubject::Cluster, published)
                .await?;
        }
        if not_found_as_none(chain.code(&hash).await)?.is_some() {
            progress(&format!("code {hash} is already on chain"));
        } else {
            progress(&format!(
                "uploading code {hash} ({:.1} KiB)",
                wasm.len() as f64 / 1024.0
            ));
            self.submit(key, TxKind::UploadCode { code: Bytes(wasm) }, true)
                .await?;
        }
        progress(&format!("instantiating in cluster {cluster}"));
        let contract = contract_id(&key.account_id(), &hash, &cluster, salt);
        let (sealed, _) = seal(
            key,
            &cluster_key,
            contract,
            Direction::InitArgs,
            args.as_bytes(),
            self.now_ms(),
            randomness()?,
        )
        .map_err(|source| Error::Envelope {
            what: format!("cannot seal the init arguments of {contract}"),
            source,
        })?;
        let kind = TxKind::Instantiate {
            code_hash: hash,
            cluster,
            salt: Bytes(salt.to_vec()),
            args: Bytes(sealed.to_bytes()),
            gas_limit: self.gas_limit,
        };
        let answer = self.submit(key, kind, true).await?;
        let block = committed_height(&answer);
        progress(&format!(
            "waiting for the workers to run init (block {block})"
        ));
        self.contract_key(&contract, true).await?;
        let receipt = self.receipt_in(Some(cluster), &answer.id, block).await?;
        receipt::check_ok("init", &contract.to_string(), &receipt)?;
        Ok(Deployed {
            contract,
            code_hash: hash,
            cluster,
            block,
        })
    }

    /// The contract's published key; with `wait`, poll until a gatekeeper published it
    /// (bounded by [`WAIT`]).
    pub(crate) async fn contract_key(
        &self,
        contract: &ContractId,
        wait: bool,
    ) -> Result<EcdhPublic> {
        let start = Instant::now();
        loop {
            let info = self.checked().await?.contract(contract).await?;
            if let Some(key) = public(info.public_key) {
                return Ok(key);
            }
            if !wait {
                return Err(Error::NotProvisioned {
                    what: format!("contract {contract}"),
                    hint: "a gatekeeper has not published it yet; try again in a moment".into(),
                });
            }
            if start.elapsed() > WAIT {
                return Err(fat_proto::Error::Timeout {
                    what: format!("a gatekeeper to publish the key of contract {contract}"),
                    seconds: WAIT.as_secs(),
                }
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A published x25519 key.
fn public(key: Option<Hash32>) -> Option<EcdhPublic> {
    key.map(|k| EcdhPublic(k.0))
}
