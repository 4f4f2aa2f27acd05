//! Request handlers.

use std::str::FromStr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fat_proto::chain::{
    AccountView, BlockView, ChainStatus, ClusterContracts, ClusterInfo, ClusterSummary,
    ClustersView, CodeInfo, ContractInfo, KeyProvision, ReceiptsView, SubmitAnswer, TxAnswer,
    TxStatus, TxView, ValidatorView, ValidatorsView, WorkerInfo,
};
use fat_proto::{content, windows};
use fat_types::{AccountId, AccountState, ClusterId, CodeHash, ContractId, TxId, WorkerId};
use serde::Deserialize;

use super::error::ApiError;
use crate::genesis::{ChainParams, Genesis};
use crate::node::Node;

type ApiResult<T> = Result<T, ApiError>;

fn parse<T: FromStr>(what: &str, text: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| ApiError::bad_request(format!("bad {what} {text:?}: {e}")))
}

pub(super) async fn no_route() -> ApiError {
    ApiError::no_route()
}

pub(super) async fn status(State(node): State<Node>) -> Json<ChainStatus> {
    let tip = node.tip();
    Json(ChainStatus {
        genesis: node.genesis_hash(),
        height: tip.height,
        hash: tip.hash(),
        timestamp_ms: tip.timestamp_ms,
        state_root: tip.state_root,
        pending: node.pending(),
    })
}

pub(super) async fn clusters(State(node): State<Node>) -> Json<ClustersView> {
    let clusters = node.with_state(|state| {
        let mut counts: std::collections::HashMap<ClusterId, u64> = Default::default();
        for contract in state.contracts.values() {
            *counts.entry(contract.cluster).or_default() += 1;
        }
        let mut clusters: Vec<ClusterSummary> = state
            .clusters
            .values()
            .map(|info| ClusterSummary {
                info: info.clone(),
                contracts: counts.get(&info.id).copied().unwrap_or(0),
            })
            .collect();
        clusters.sort_by_key(|c| c.info.id);
        clusters
    });
    Json(ClustersView { clusters })
}

pub(super) async fn validators(State(node): State<Node>) -> Json<ValidatorsView> {
    let validators = node
        .genesis()
        .validators
        .iter()
        .zip(node.last_signed())
        .enumerate()
        .map(|(index, (account, last_signed))| ValidatorView {
            index: index as u32,
            account: *account,
            last_signed,
        })
        .collect();
    Json(ValidatorsView {
        height: node.tip().height,
        validators,
    })
}

pub(super) async fn params(State(node): State<Node>) -> Json<ChainParams> {
    Json(node.params().clone())
}

pub(super) async fn genesis(State(node): State<Node>) -> Json<Genesis> {
    Json(node.genesis().clone())
}

#[derive(Debug, Deserialize)]
pub(super) struct SubmitQuery {
    #[serde(default)]
    wait: bool,
}

pub(super) async fn submit(
    State(node): State<Node>,
    Query(q): Query<SubmitQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let id = node.submit(&body)?;
    if q.wait
        && let Some(location) = node.wait_committed(&id, windows::COMMIT_WAIT).await?
    {
        let receipt = node.committed_tx(&id)?.map(|(_, _, r)| r);
        let answer = SubmitAnswer {
            id,
            status: TxStatus::Committed,
            height: Some(location.height),
            index: Some(location.index),
            receipt,
        };
        return Ok((StatusCode::OK, Json(answer)).into_response());
    }
    Ok((StatusCode::ACCEPTED, Json(SubmitAnswer::pending(id))).into_response())
}

pub(super) async fn tx(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<TxAnswer>> {
    let id: TxId = parse("transaction id", &id)?;
    let (location, tx, receipt) = node
        .committed_tx(&id)?
        .ok_or_else(|| ApiError::not_found(format!("transaction {id}")))?;
    Ok(Json(TxAnswer {
        id,
        status: TxStatus::Committed,
        height: location.height,
        index: location.index,
        tx: TxView::from(tx),
        receipt,
    }))
}

fn height(node: &Node, text: &str) -> ApiResult<u64> {
    if text == "latest" {
        Ok(node.tip().height)
    } else {
        parse("height", text)
    }
}

pub(super) async fn block(
    State(node): State<Node>,
    Path(h): Path<String>,
) -> ApiResult<Json<BlockView>> {
    let h = height(&node, &h)?;
    let block = node
        .store()
        .block(h)?
        .ok_or_else(|| ApiError::not_found(format!("block {h}")))?;
    Ok(Json(block.into()))
}

pub(super) async fn receipts(
    State(node): State<Node>,
    Path(h): Path<String>,
) -> ApiResult<Json<ReceiptsView>> {
    let height = height(&node, &h)?;
    let receipts = node
        .store()
        .receipts(height)?
        .ok_or_else(|| ApiError::not_found(format!("block {height}")))?;
    Ok(Json(ReceiptsView { height, receipts }))
}

pub(super) async fn account(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountView>> {
    let id: AccountId = parse("account", &id)?;
    let state = node
        .with_state(|s| s.accounts.get(&id).copied())
        .unwrap_or(AccountState::default());
    let next_nonce = node.next_nonce(&id);
    Ok(Json(AccountView {
        id,
        balance: state.balance,
        nonce: state.nonce,
        next_nonce,
    }))
}

pub(super) async fn code(
    State(node): State<Node>,
    Path(hash): Path<String>,
) -> ApiResult<Json<CodeInfo>> {
    let hash: CodeHash = parse("code hash", &hash)?;
    let info = node
        .with_state(|s| s.codes.get(&hash).cloned())
        .ok_or_else(|| ApiError::not_found(format!("code {hash}")))?;
    Ok(Json(info))
}

pub(super) async fn code_bytes(
    State(node): State<Node>,
    Path(hash): Path<String>,
) -> ApiResult<Response> {
    let hash: CodeHash = parse("code hash", &hash)?;
    let bytes = node
        .store()
        .code(&hash)?
        .ok_or_else(|| ApiError::not_found(format!("code {hash}")))?;
    Ok(([(header::CONTENT_TYPE, content::WASM)], bytes).into_response())
}

pub(super) async fn contract(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<ContractInfo>> {
    let id: ContractId = parse("contract", &id)?;
    let info = node
        .with_state(|s| s.contracts.get(&id).cloned())
        .ok_or_else(|| ApiError::not_found(format!("contract {id}")))?;
    Ok(Json(info))
}

/// The contracts of a cluster, by height then id; an unknown cluster is 404.
pub(super) async fn cluster_contracts(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterContracts>> {
    let id: ClusterId = parse("cluster", &id)?;
    let contracts = node
        .with_state(|s| {
            s.clusters.contains_key(&id).then(|| {
                let mut contracts: Vec<ContractInfo> = s
                    .contracts
                    .values()
                    .filter(|c| c.cluster == id)
                    .cloned()
                    .collect();
                contracts.sort_by_key(|c| (c.height, c.id));
                contracts
            })
        })
        .ok_or_else(|| ApiError::not_found(format!("cluster {id}")))?;
    Ok(Json(ClusterContracts {
        cluster: id,
        contracts,
    }))
}

pub(super) async fn cluster(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterInfo>> {
    let id: ClusterId = parse("cluster", &id)?;
    let info = node
        .with_state(|s| s.clusters.get(&id).cloned())
        .ok_or_else(|| ApiError::not_found(format!("cluster {id}")))?;
    Ok(Json(info))
}

pub(super) async fn worker(
    State(node): State<Node>,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkerInfo>> {
    let id: WorkerId = parse("worker", &id)?;
    let info = node
        .with_state(|s| s.workers.get(&id).cloned())
        .ok_or_else(|| ApiError::not_found(format!("worker {id}")))?;
    Ok(Json(info))
}

pub(super) async fn provision(
    State(node): State<Node>,
    Path((worker, cluster)): Path<(String, String)>,
) -> ApiResult<Json<KeyProvision>> {
    let worker: WorkerId = parse("worker", &worker)?;
    let cluster: ClusterId = parse("cluster", &cluster)?;
    let info = node
        .with_state(|s| s.provisions.get(&(worker, cluster)).cloned())
        .ok_or_else(|| {
            ApiError::not_found(format!("key of cluster {cluster} for worker {worker}"))
        })?;
    Ok(Json(info))
}
