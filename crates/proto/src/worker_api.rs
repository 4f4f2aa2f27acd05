//! A typed client of a worker's API.

use fat_types::{ContractId, TxId};

use crate::error::Result;
use crate::http::{EventStream, Http};
use crate::worker::{
    LogsView, QueryReply, QueryRequest, ReceiptView, WorkerContract, WorkerStatus,
};
use crate::{content, paths};

/// A worker's API at a base URL (`http://host:port`, or a `fat dev` node's
/// `http://host:port/workers/0`).
#[derive(Debug, Clone)]
pub struct WorkerApi {
    http: Http,
}

impl WorkerApi {
    /// A client of the worker at `url`.
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            http: Http::new(url)?,
        })
    }

    /// A client over an existing transport.
    pub fn from_http(http: Http) -> Self {
        Self { http }
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
    pub async fn status(&self) -> Result<WorkerStatus> {
        self.http.get_json(paths::worker::STATUS).await
    }

    /// `GET /v1/contracts/{id}`.
    pub async fn contract(&self, id: &ContractId) -> Result<WorkerContract> {
        self.http.get_json(&paths::worker::contract(id)).await
    }

    /// `GET /v1/receipts/{tx}?height=`: the receipt of `tx`, in the block at `height`.
    pub async fn receipt(&self, tx: &TxId, height: u64) -> Result<ReceiptView> {
        self.http
            .get_json(&paths::worker::receipt(tx, height))
            .await
    }

    /// Up to `limit` log lines of `contract` from `from`.
    pub async fn logs(&self, contract: &ContractId, from: u64, limit: usize) -> Result<LogsView> {
        self.http
            .get_json(&paths::worker::logs(contract, from, limit))
            .await
    }

    /// The log lines of `contract` from `from` on, as they are written (`log` events).
    pub async fn follow_logs(&self, contract: &ContractId, from: u64) -> Result<EventStream> {
        self.http
            .events(&paths::worker::follow_logs(contract, from))
            .await
    }

    /// POST a sealed query envelope; the answer envelope's bytes.
    pub async fn query_sealed(&self, contract: &ContractId, envelope: Vec<u8>) -> Result<Vec<u8>> {
        self.http
            .post_bytes(
                &paths::worker::query(contract),
                content::OCTET_STREAM,
                envelope,
            )
            .await
    }

    /// The progress of the query that named itself `id`: `progress` events (data: a
    /// [`crate::worker::JobProgress`]), then `end` when the query is over.
    pub async fn follow_progress(&self, id: &str) -> Result<EventStream> {
        self.http.events(&format!("/v1/progress/{id}")).await
    }

    /// POST a job envelope (from another worker of the cluster); the answer envelope's bytes.
    pub async fn job(&self, envelope: Vec<u8>) -> Result<Vec<u8>> {
        self.http
            .post_bytes(paths::worker::JOBS, content::OCTET_STREAM, envelope)
            .await
    }

    /// The state roots of the worker's contracts at `height` (its head when `None`), signed.
    pub async fn roots(&self, height: Option<u64>) -> Result<crate::worker::SignedRoots> {
        self.http.get_json(&paths::worker::roots(height)).await
    }

    /// POST a snapshot request envelope (from a worker joining the cluster); the answer
    /// envelope's bytes.
    pub async fn snapshot(&self, envelope: Vec<u8>) -> Result<Vec<u8>> {
        self.http
            .post_bytes(paths::worker::SNAPSHOTS, content::OCTET_STREAM, envelope)
            .await
    }

    /// POST a further query of a session; the answer message's bytes.
    pub async fn query_session(&self, contract: &ContractId, message: Vec<u8>) -> Result<Vec<u8>> {
        self.http
            .post_bytes(&paths::worker::query(contract), content::SESSION, message)
            .await
    }

    /// POST a plaintext query (only workers that allow them answer).
    pub async fn query_plain(
        &self,
        contract: &ContractId,
        request: &QueryRequest,
    ) -> Result<QueryReply> {
        let body = serde_json::to_vec(request).expect("a query serializes");
        self.http
            .post_json(&paths::worker::query(contract), content::JSON, body)
            .await
    }
}
