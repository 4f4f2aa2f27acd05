//! A typed client of the chain node's API.

use fat_types::{
    AccountId, AttestationPolicy, Block, ChainReceipt, ClusterId, CodeHash, ContractId,
    SignedTransaction, TxId, WorkerId,
};

use crate::chain::{
    AccountView, AttestationParams, BLOCK_BORSH_EVENT, BLOCK_EVENT, BlockFrame, BlockView,
    ChainStatus, ClusterContracts, ClusterInfo, ClustersView, CodeInfo, ContractInfo, DevWorkers,
    Genesis, KeyProvision, ReceiptsView, StreamEncoding, SubmitAnswer, TxAnswer, TxStatus,
    ValidatorsView, WorkerInfo,
};
use crate::error::{Error, Result};
use crate::http::{EventStream, Http};
use crate::{content, paths, windows};

/// The chain node's API at a base URL such as `http://127.0.0.1:8545`.
#[derive(Debug, Clone)]
pub struct ChainApi {
    http: Http,
    /// The only chain this client signs for, when one is pinned ([`ChainApi::pinned_to`]).
    pinned: Option<fat_types::Hash32>,
}

impl ChainApi {
    /// A client of the node at `url` (`http://host:port`, optionally with a trailing `/`).
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self::from_http(Http::new(url)?))
    }

    /// A client over an existing transport.
    pub fn from_http(http: Http) -> Self {
        Self { http, pinned: None }
    }

    /// This client, for chain `chain` only: [`ChainApi::chain_id`] (and so
    /// [`ChainApi::checked_params`], which signers price and sign by) refuses a node that
    /// serves another chain ([`Error::OtherChain`]).
    pub fn pinned_to(mut self, chain: fat_types::Hash32) -> Self {
        self.pinned = Some(chain);
        self
    }

    /// The id (genesis block hash) of the chain the node serves, which must be the pinned one
    /// when there is one.
    pub async fn chain_id(&self) -> Result<fat_types::Hash32> {
        let served = self.status().await?.genesis;
        match self.pinned {
            Some(expected) if expected != served => Err(Error::OtherChain {
                url: self.url().into(),
                served: served.to_string(),
                expected: expected.to_string(),
            }),
            _ => Ok(served),
        }
    }

    /// The transport.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.http.url()
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<ChainStatus> {
        self.http.get_json(paths::chain::STATUS).await
    }

    /// `GET /v1/genesis`: the configuration the chain started from (check it against block 0
    /// before trusting it: its hash is block 0's parent).
    pub async fn genesis(&self) -> Result<Genesis> {
        self.http.get_json(paths::chain::GENESIS).await
    }

    /// `GET /v1/params`: the chain's parameters (fees, limits, attestation policy).
    pub async fn params(&self) -> Result<fat_types::genesis::ChainParams> {
        self.http.get_json(paths::chain::PARAMS).await
    }

    /// The genesis configuration of the chain `chain` (its genesis block hash), checked: the
    /// node's block 0 must have that hash and commit to the configuration
    /// ([`Error::ForgedGenesis`] if not).
    pub async fn checked_genesis(&self, chain: fat_types::Hash32) -> Result<Genesis> {
        let config = self.genesis().await?;
        let block0 = self.block(0).await?;
        if block0.hash() != chain || block0.header.parent != config.config_hash() {
            return Err(Error::ForgedGenesis {
                url: self.url().into(),
                chain: chain.to_string(),
            });
        }
        Ok(config)
    }

    /// The chain's id (its genesis block hash, the pinned one if any: [`ChainApi::chain_id`])
    /// and its parameters, from the genesis its block 0 commits to
    /// ([`ChainApi::checked_genesis`]). A node cannot then make a signer overpay by
    /// stating higher fees alone: with other parameters it must state another chain, and a
    /// transaction signed for that chain is worth nothing on this one.
    pub async fn checked_params(
        &self,
    ) -> Result<(fat_types::Hash32, fat_types::genesis::ChainParams)> {
        let chain = self.chain_id().await?;
        Ok((chain, self.checked_genesis(chain).await?.params))
    }

    /// The chain's attestation policy, from `GET /v1/params`.
    pub async fn attestation_policy(&self) -> Result<AttestationPolicy> {
        let params: AttestationParams = self.http.get_json(paths::chain::PARAMS).await?;
        Ok(params.attestation)
    }

    /// `POST /v1/txs`: submit `tx`; with `wait`, the node answers once it is committed (or
    /// after [`windows::COMMIT_WAIT`], still pending).
    pub async fn submit(&self, tx: &SignedTransaction, wait: bool) -> Result<SubmitAnswer> {
        self.http
            .post_json(
                &paths::chain::submit(wait),
                content::OCTET_STREAM,
                tx.encode(),
            )
            .await
    }

    /// Submit `tx` and wait until it is committed successfully: [`Error::Timeout`] when it is
    /// still pending after the node's wait and [`windows::CLIENT_WAIT`] more (asked for every
    /// quarter of a second: validators that just started, or a loaded machine, can take
    /// longer than the node's wait to commit), [`Error::Rejected`] when it committed but
    /// failed.
    pub async fn submit_committed(&self, tx: &SignedTransaction) -> Result<SubmitAnswer> {
        let mut answer = self.submit(tx, true).await?;
        let id = tx.id();
        let late = tokio::time::Instant::now() + windows::CLIENT_WAIT;
        while answer.status != TxStatus::Committed && tokio::time::Instant::now() < late {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            match self.tx(&id).await {
                Ok(found) => {
                    answer = SubmitAnswer {
                        id: found.id,
                        status: found.status,
                        height: Some(found.height),
                        index: Some(found.index),
                        receipt: Some(found.receipt),
                    }
                }
                // Not committed yet.
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e),
            }
        }
        if answer.status != TxStatus::Committed {
            return Err(Error::Timeout {
                what: format!("transaction {id} to commit"),
                seconds: (windows::COMMIT_WAIT + windows::CLIENT_WAIT).as_secs(),
            });
        }
        if let Some(reason) = answer.failure() {
            return Err(Error::Rejected {
                tx: tx.id().to_string(),
                reason,
            });
        }
        Ok(answer)
    }

    /// `GET /v1/txs/{id}`.
    pub async fn tx(&self, id: &TxId) -> Result<TxAnswer> {
        self.http.get_json(&paths::chain::tx(id)).await
    }

    /// `GET /v1/accounts/{id}`.
    pub async fn account(&self, id: &AccountId) -> Result<AccountView> {
        self.http.get_json(&paths::chain::account(id)).await
    }

    /// `GET /v1/clusters`.
    pub async fn clusters(&self) -> Result<ClustersView> {
        self.http.get_json(paths::chain::CLUSTERS).await
    }

    /// `GET /v1/validators`.
    pub async fn validators(&self) -> Result<ValidatorsView> {
        self.http.get_json(paths::chain::VALIDATORS).await
    }

    /// The nonce `account`'s next transaction must carry.
    pub async fn next_nonce(&self, account: &AccountId) -> Result<u64> {
        Ok(self.account(account).await?.next_nonce)
    }

    /// `GET /v1/blocks/{height}`, as the block itself.
    pub async fn block(&self, height: u64) -> Result<Block> {
        let view: BlockView = self.http.get_json(&paths::chain::block(height)).await?;
        Ok(view.into_parts().0)
    }

    /// `GET /v1/blocks/{height}/receipts`.
    pub async fn receipts(&self, height: u64) -> Result<Vec<ChainReceipt>> {
        let view: ReceiptsView = self
            .http
            .get_json(&paths::chain::block_receipts(height))
            .await?;
        Ok(view.receipts)
    }

    /// The block stream from `from` on, each block with its receipts, in borsh frames
    /// ([`StreamEncoding::Borsh`]; JSON from a node that sends only JSON).
    pub async fn blocks(&self, from: u64) -> Result<BlockEvents> {
        let path = paths::chain::stream_blocks_in(from, true, StreamEncoding::Borsh);
        let events = self.http.events(&path).await?;
        Ok(BlockEvents {
            api: self.clone(),
            url: format!("{}{path}", self.url()),
            events,
            waiting: None,
        })
    }

    /// `GET /v1/codes/{hash}`.
    pub async fn code(&self, hash: &CodeHash) -> Result<CodeInfo> {
        self.http.get_json(&paths::chain::code(hash)).await
    }

    /// `GET /v1/codes/{hash}/wasm`.
    pub async fn code_bytes(&self, hash: &CodeHash) -> Result<Vec<u8>> {
        self.http.get_bytes(&paths::chain::code_wasm(hash)).await
    }

    /// `GET /v1/contracts/{id}`.
    pub async fn contract(&self, id: &ContractId) -> Result<ContractInfo> {
        self.http.get_json(&paths::chain::contract(id)).await
    }

    /// `GET /v1/clusters/{id}`.
    pub async fn cluster(&self, id: &ClusterId) -> Result<ClusterInfo> {
        self.http.get_json(&paths::chain::cluster(id)).await
    }

    /// `GET /v1/clusters/{id}/contracts`.
    pub async fn cluster_contracts(&self, id: &ClusterId) -> Result<ClusterContracts> {
        self.http
            .get_json(&paths::chain::cluster_contracts(id))
            .await
    }

    /// `GET /v1/workers/{id}`.
    pub async fn worker(&self, id: &WorkerId) -> Result<WorkerInfo> {
        self.http.get_json(&paths::chain::worker(id)).await
    }

    /// `GET /v1/provisions/{worker}/{cluster}`.
    pub async fn provision(&self, worker: &WorkerId, cluster: &ClusterId) -> Result<KeyProvision> {
        self.http
            .get_json(&paths::chain::provision(worker, cluster))
            .await
    }

    /// `GET /workers` of a `fat dev` node.
    pub async fn dev_workers(&self) -> Result<DevWorkers> {
        self.http.get_json(paths::dev::WORKERS).await
    }
}

/// The chain's block stream: each committed block with its receipts, in order.
#[derive(Debug)]
pub struct BlockEvents {
    api: ChainApi,
    url: String,
    events: EventStream,
    /// A block whose receipts are being fetched: kept here so that a cancelled read loses
    /// no block.
    waiting: Option<Block>,
}

impl BlockEvents {
    /// The next block and its receipts; `None` when the node ends the stream. The receipts are
    /// what the node says: check them against the block's receipts root.
    pub async fn next(&mut self) -> Result<Option<(Block, Vec<ChainReceipt>)>> {
        if let Some(block) = &self.waiting {
            let receipts = self.api.receipts(block.header.height).await?;
            let block = self.waiting.take().expect("a waiting block");
            return Ok(Some((block, receipts)));
        }
        loop {
            let Some(event) = self.events.next().await? else {
                return Ok(None);
            };
            let bad_block = |message: String| Error::Decode {
                url: self.url.clone(),
                message: format!("bad block: {message}"),
            };
            // Borsh frames as asked for; JSON views from a node that does not know
            // `encoding=` (it sends JSON whatever is asked).
            let (block, receipts) = match event.event.as_str() {
                BLOCK_BORSH_EVENT => {
                    let frame = BlockFrame::from_event_data(&event.data).map_err(bad_block)?;
                    (frame.block, frame.receipts)
                }
                BLOCK_EVENT => serde_json::from_str::<BlockView>(&event.data)
                    .map_err(|e| bad_block(e.to_string()))?
                    .into_parts(),
                "error" => {
                    return Err(Error::Transport {
                        url: self.url.clone(),
                        message: format!("the node reports: {}", event.data),
                    });
                }
                _ => continue,
            };
            return match receipts {
                Some(receipts) => Ok(Some((block, receipts))),
                None if block.txs.is_empty() => Ok(Some((block, Vec::new()))),
                None => {
                    let height = block.header.height;
                    self.waiting = Some(block);
                    let receipts = self.api.receipts(height).await?;
                    let block = self.waiting.take().expect("a waiting block");
                    Ok(Some((block, receipts)))
                }
            };
        }
    }
}
