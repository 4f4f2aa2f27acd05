//! The worker's HTTP API (axum): queries, receipts, logs and status. Documented in
//! `docs/openapi-worker.yaml`; a test keeps the two in sync.

use std::convert::Infallible;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use fat_crypto::{Envelope, EnvelopeError, SessionMessage};
use fat_proto::worker::{
    KeyConfirmation, LogLine, LogsView, QueryReply, QueryRequest, ReceiptView, SignedRoots,
    WorkerContract, WorkerStatus,
};
use fat_proto::{ErrorBody, ServerLimits, content, paths};
use fat_types::{AccountId, ClusterId, ContractId, TxId};
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::error::{Result, WorkerError};
use crate::worker::Worker;

/// The content type of a further query of a session (a [`SessionMessage`]) and its answer.
pub const SESSION_CONTENT_TYPE: &str = content::SESSION;

/// Every route the API serves, as (method, path) in OpenAPI's template syntax.
pub use fat_proto::paths::worker::ROUTES;

/// The API as a router, servable or callable directly in tests. It serves [`ROUTES`] and
/// nothing else, so the table the OpenAPI test checks is the one served.
pub fn app(worker: Worker) -> Router {
    ROUTES
        .iter()
        .fold(Router::new(), |router, &(method, path)| {
            router.route(path, handler(method, path))
        })
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route") })
        .with_state(worker)
}

/// The handler of a route of [`ROUTES`].
fn handler(method: &str, path: &str) -> MethodRouter<Worker> {
    use paths::worker as p;
    match (method, path) {
        ("GET", p::STATUS) => get(status),
        ("GET", p::CONTRACT) => get(contract),
        ("POST", p::QUERY) => post(query),
        ("GET", p::LOGS) => get(logs),
        ("GET", p::RECEIPT) => get(receipt),
        ("POST", p::JOBS) => post(job),
        ("GET", p::PROGRESS) => get(progress),
        ("GET", p::ROOTS) => get(roots),
        ("POST", p::SNAPSHOTS) => post(snapshot),
        ("GET", p::CLUSTER_KEY) => get(cluster_key),
        ("GET", p::CONTRACT_KEY) => get(contract_key),
        other => unreachable!("ROUTES names {other:?}, which has no handler"),
    }
}

/// Serve the API on `listener` until `shutdown` completes.
pub async fn serve(
    worker: Worker,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    fat_proto::serve(listener, app(worker), ServerLimits::default(), shutdown)
        .await
        .map_err(|source| WorkerError::Serve { addr, source })
}

/// An error as the API returns it: a status and `{"code", "message"}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    body: Box<ErrorBody>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody::new(code, message)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A query string parsed into `T`, as axum's `Query` does, but refused (a missing or bad
/// parameter, one given twice) with the API's error body rather than axum's plain text.
struct ApiQuery<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> std::result::Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Self(q)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                rejection.body_text(),
            )),
        }
    }
}

/// What the worker has not reached yet (a block above its head) has nothing here yet: ask
/// again later. Any other error as it is.
fn not_reached(error: WorkerError) -> ApiError {
    match error {
        WorkerError::Behind { height } => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_reached",
            format!("this worker has not reached block {height} yet"),
        ),
        e => e.into(),
    }
}

impl From<WorkerError> for ApiError {
    fn from(error: WorkerError) -> Self {
        match error {
            WorkerError::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", error),
            WorkerError::UnknownContract(_) => Self::new(StatusCode::NOT_FOUND, "not_found", error),
            WorkerError::NoClusterKey(_) => Self::new(StatusCode::NOT_FOUND, "not_found", error),
            WorkerError::UnknownSession => Self::new(StatusCode::GONE, "unknown_session", error),
            WorkerError::Behind { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "behind", error)
            }
            WorkerError::NotMember { .. } => Self::new(StatusCode::FORBIDDEN, "not_member", error),
            WorkerError::Envelope(e) => {
                let (status, code) = match &e {
                    EnvelopeError::Expired { .. } | EnvelopeError::FromFuture { .. } => {
                        (StatusCode::BAD_REQUEST, "stale_envelope")
                    }
                    EnvelopeError::Replayed => (StatusCode::CONFLICT, "replayed"),
                    EnvelopeError::BehindWindow { .. } => (StatusCode::GONE, "behind_session"),
                    EnvelopeError::ReplayGuardFull => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
                    EnvelopeError::SenderOverQuota { .. }
                    | EnvelopeError::SessionOverQuota { .. } => {
                        (StatusCode::TOO_MANY_REQUESTS, "over_quota")
                    }
                    _ => (StatusCode::BAD_REQUEST, "bad_envelope"),
                };
                Self::new(status, code, format!("envelope refused: {e}"))
            }
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                fat_types::with_causes(&other),
            ),
        }
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

fn parse<T: FromStr>(what: &str, text: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("bad {what} {text:?}: {e}"),
        )
    })
}

async fn status(State(worker): State<Worker>) -> ApiResult<Json<WorkerStatus>> {
    let snapshot = worker.snapshot()?;
    let head = snapshot.started_head()?;
    Ok(Json(WorkerStatus {
        worker: worker.id(),
        ecdh_public: worker.ecdh_public(),
        contracts: snapshot.contracts()?.len(),
        queries_admitted: worker.queries_admitted(),
        jobs_admitted: worker.inner.job_admission.admitted(),
        height: head.as_ref().map(|h| h.height),
        hash: head.as_ref().map(|h| h.hash()),
        timestamp_ms: head.as_ref().map(|h| h.timestamp_ms),
    }))
}

async fn contract(
    State(worker): State<Worker>,
    Path(id): Path<String>,
) -> ApiResult<Json<WorkerContract>> {
    let id: ContractId = parse("contract", &id)?;
    let snapshot = worker.snapshot()?;
    let record = snapshot
        .contract(&id)?
        .ok_or(WorkerError::UnknownContract(id))?;
    let height = snapshot.head()?.height;
    Ok(Json(WorkerContract {
        id: record.info.id,
        code_hash: record.info.code_hash,
        cluster: record.info.cluster,
        deployer: record.info.deployer,
        created: record.info.height,
        height,
        state_root: record.state_root,
        entries: record.entries,
        logs: record.logs,
        synced_through: (record.synced_through > 0).then_some(record.synced_through),
    }))
}

/// The answer of a query: who ran it, on which block, at what cost, with the output or, when
/// the call failed, `code`, `message` and `error`.
fn answer_json(worker: &Worker, answer: &crate::QueryAnswer) -> (StatusCode, QueryReply) {
    let mut reply = QueryReply {
        worker: worker.id(),
        height: answer.height,
        gas_used: answer.gas_used,
        elapsed_ms: answer.elapsed.as_secs_f64() * 1000.0,
        output: None,
        code: None,
        message: None,
        error: None,
        jobs: answer.jobs.clone(),
    };
    match &answer.result {
        Ok(text) => {
            reply.output = Some(
                serde_json::from_str(text)
                    .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
            );
            (StatusCode::OK, reply)
        }
        Err(e) => {
            reply.code = Some("call_failed".into());
            reply.message = Some(e.to_string());
            reply.error = serde_json::to_value(e).ok();
            (StatusCode::UNPROCESSABLE_ENTITY, reply)
        }
    }
}

/// A query: an envelope sealed to this worker (`application/octet-stream`), answered with an
/// envelope of the same session; or, when the worker allows it, plaintext JSON.
async fn query(
    State(worker): State<Worker>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let id: ContractId = parse("contract", &id)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with(content::SESSION) {
        let message = SessionMessage::from_bytes(&body).map_err(WorkerError::from)?;
        let sealed = worker
            .query_session(&id, &message, |worker, answer| {
                Ok(answer_json(worker, &answer?).1)
            })
            .await?;
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, content::SESSION)],
            sealed.to_bytes(),
        )
            .into_response());
    }
    if content_type.starts_with(content::OCTET_STREAM) {
        let envelope = Envelope::from_bytes(&body).map_err(WorkerError::from)?;
        let sealed = worker
            .query_sealed(&id, &envelope, |worker, answer| {
                Ok(answer_json(worker, &answer?).1)
            })
            .await?;
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, content::OCTET_STREAM)],
            sealed.envelope.to_bytes(),
        )
            .into_response());
    }
    if !worker.plaintext_queries() {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "sealed_only",
            "this worker answers only sealed queries (application/octet-stream envelopes sealed to its key; see docs/security.md)",
        ));
    }
    let body: QueryRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("bad query body: {e}"),
        )
    })?;
    let answer = worker
        .query_published(
            &id,
            &body.method,
            &body.args_text(),
            AccountId::default(),
            body.progress.as_deref(),
        )
        .await?;
    let (status, body) = answer_json(&worker, &answer);
    Ok((status, Json(body)).into_response())
}

/// A job from another worker of the cluster: an envelope sealed to this worker, answered
/// with an envelope of the same session.
async fn job(State(worker): State<Worker>, body: axum::body::Bytes) -> ApiResult<Response> {
    let envelope = Envelope::from_bytes(&body).map_err(WorkerError::from)?;
    let sealed = worker.serve_job(&envelope).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content::OCTET_STREAM)],
        sealed.to_bytes(),
    )
        .into_response())
}

/// `GET /v1/roots?height=`.
#[derive(Debug, Deserialize)]
struct RootsQuery {
    height: Option<u64>,
}

/// The state roots of the worker's contracts at a block it reached (its head by default),
/// signed by its identity.
async fn roots(
    State(worker): State<Worker>,
    ApiQuery(q): ApiQuery<RootsQuery>,
) -> ApiResult<Json<SignedRoots>> {
    // A block not reached yet has no roots here: ask again later, or at a lower height.
    Ok(Json(worker.signed_roots(q.height).map_err(not_reached)?))
}

/// The key of a cluster's current epoch, as this member derives it, signed.
async fn cluster_key(
    State(worker): State<Worker>,
    Path(id): Path<String>,
) -> ApiResult<Json<KeyConfirmation>> {
    let id: ClusterId = parse("cluster", &id)?;
    Ok(Json(worker.confirm_cluster_key(&id)?))
}

/// The key of a contract this worker runs, as it derives it, signed.
async fn contract_key(
    State(worker): State<Worker>,
    Path(id): Path<String>,
) -> ApiResult<Json<KeyConfirmation>> {
    let id: ContractId = parse("contract", &id)?;
    Ok(Json(worker.confirm_contract_key(&id)?))
}

/// A worker joining a contract's cluster asks for the contract's state: an envelope sealed
/// to this worker, answered with an envelope of the same session.
async fn snapshot(State(worker): State<Worker>, body: axum::body::Bytes) -> ApiResult<Response> {
    let envelope = Envelope::from_bytes(&body).map_err(WorkerError::from)?;
    let sealed = worker.serve_snapshot(&envelope).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content::OCTET_STREAM)],
        sealed.to_bytes(),
    )
        .into_response())
}

/// How often a progress stream looks at its query.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// How long a progress stream waits for its query to start.
const PROGRESS_WAIT: Duration = Duration::from_secs(10);

/// The progress of the query published under `id`: a `progress` event whenever it changes,
/// then `end` when the query is over (or never started within 10 s).
async fn progress(State(worker): State<Worker>, Path(id): Path<String>) -> ApiResult<Response> {
    if !fat_proto::worker::progress_id_ok(&id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a progress id is 16 to 64 lower-case hex characters",
        ));
    }
    let started = std::time::Instant::now();
    let stream = futures_util::stream::unfold(
        (worker, id, None, false),
        move |(worker, id, last, ended)| async move {
            if ended {
                return None;
            }
            loop {
                match worker.inner.progress.get(&id) {
                    Some(now) if Some(now) != last => {
                        let event = Event::default()
                            .event("progress")
                            .json_data(now)
                            .unwrap_or_else(|e| {
                                Event::default().event("error").data(e.to_string())
                            });
                        return Some((Ok::<_, Infallible>(event), (worker, id, Some(now), false)));
                    }
                    None if last.is_some() || started.elapsed() > PROGRESS_WAIT => {
                        let event = Event::default().event("end").data("{}");
                        return Some((Ok(event), (worker, id, last, true)));
                    }
                    _ => tokio::time::sleep(PROGRESS_EVERY).await,
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(fat_proto::windows::STREAM_KEEP_ALIVE))
        .into_response())
}

/// `GET /v1/receipts/{tx}?height=`.
#[derive(Debug, Deserialize)]
struct ReceiptQuery {
    height: Option<u64>,
}

/// The signed receipt of a transaction in block `height`, served only once its block is
/// durable (a receipt above the durable height is made durable first: [`Worker::receipt`]).
async fn receipt(
    State(worker): State<Worker>,
    Path(tx): Path<String>,
    ApiQuery(q): ApiQuery<ReceiptQuery>,
) -> ApiResult<Json<ReceiptView>> {
    let tx: TxId = parse("transaction", &tx)?;
    let Some(height) = q.height else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "which block holds {tx}? Ask for /v1/receipts/{tx}?height=H, with the height \
                 the chain gives for the transaction (GET /v1/txs/{tx} on a node)"
            ),
        ));
    };
    let signed = worker.receipt(&tx, height).await.map_err(not_reached)?;
    let signed = signed.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("this worker executed no transaction {tx} in block {height}"),
        )
    })?;
    let hash = signed.receipt.hash();
    Ok(Json(ReceiptView { signed, hash }))
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    #[serde(default)]
    from: u64,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    follow: bool,
}

fn default_limit() -> usize {
    1000
}

async fn logs(
    State(worker): State<Worker>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Response> {
    let id: ContractId = parse("contract", &id)?;
    let snapshot = worker.snapshot()?;
    snapshot
        .contract(&id)?
        .ok_or(WorkerError::UnknownContract(id))?;
    if !q.follow {
        let lines = snapshot.logs(&id, q.from, q.limit.min(10_000))?;
        return Ok(Json(LogsView {
            contract: id,
            logs: lines,
        })
        .into_response());
    }
    drop(snapshot);
    let heads = worker.subscribe();
    let stream = futures_util::stream::unfold(
        (worker, heads, q.from, Vec::<LogLine>::new().into_iter()),
        move |(worker, mut heads, next, mut buffered)| async move {
            loop {
                if let Some(line) = buffered.next() {
                    let event = Event::default()
                        .event("log")
                        .id(line.seq.to_string())
                        .json_data(&line)
                        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
                    let next = line.seq + 1;
                    return Some((Ok::<_, Infallible>(event), (worker, heads, next, buffered)));
                }
                heads.borrow_and_update();
                let lines = worker.snapshot().and_then(|s| s.logs(&id, next, 1000));
                match lines {
                    Ok(lines) if !lines.is_empty() => buffered = lines.into_iter(),
                    Ok(_) => {
                        let mut closing = worker.closing();
                        tokio::select! {
                            changed = heads.changed() => changed.ok()?,
                            _ = closing.wait_for(|c| *c) => return None,
                        }
                    }
                    Err(e) => {
                        let event = Event::default().event("error").data(e.to_string());
                        return Some((Ok(event), (worker, heads, next, buffered)));
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(fat_proto::windows::STREAM_KEEP_ALIVE))
        .into_response())
}
