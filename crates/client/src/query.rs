//! Queries, sealed to an attested worker's key (further queries of a session under the
//! session's keys), and contract logs.

use std::collections::BTreeMap;

use fat_crypto::Keypair;
use fat_crypto::envelope::{Direction, EcdhPublic, Envelope, ReplayGuard, SessionMessage, seal};
use fat_proto::windows::{ANSWER_WINDOW_MS, SESSION_REUSE_MS};
use fat_proto::worker::{JobProgress, JobProof, LogLine, QueryReply, QueryRequest};
use fat_proto::{EventStream, WorkerApi, paths};
use fat_types::{AccountId, ContractId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::{Client, TrustedWorker, randomness};

/// What [`Client::query_watched`] calls with the progress of a query's jobs.
pub type ProgressWatch = std::sync::Arc<dyn Fn(JobProgress) + Send + Sync>;

/// A query's answer (`fat query --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// The method's JSON result.
    pub output: Value,
    /// The worker that answered.
    pub worker: String,
    /// How long the call took on the worker.
    pub elapsed_ms: f64,
    /// How many of the query's jobs each worker ran (by worker id), when it fanned out jobs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub jobs_by_worker: BTreeMap<String, usize>,
    /// The signed proof of every job run (per replica), each checked against its worker's
    /// key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobProof>,
}

impl Client {
    /// Run query `method` with JSON `args` (`None` for none) on a worker, as `key`'s account:
    /// sealed to the worker's registered key, the answer opened with the query's session.
    ///
    /// The query goes to the first member of the contract's cluster the client can reach;
    /// when one is down, busy or stuck it goes to the next
    /// ([`Client::trusted_workers_for`]).
    pub async fn query(
        &self,
        key: &Keypair,
        contract: &ContractId,
        method: &str,
        args: Option<Value>,
    ) -> Result<QueryResult> {
        self.query_watched(key, contract, method, args, None).await
    }

    /// [`Client::query`], calling `watch` with the progress of the query's jobs while it runs
    /// (from the answering worker's `GET /v1/progress/{id}`, under an id the client draws).
    pub async fn query_watched(
        &self,
        key: &Keypair,
        contract: &ContractId,
        method: &str,
        args: Option<Value>,
        watch: Option<ProgressWatch>,
    ) -> Result<QueryResult> {
        let workers = self.workers_for_contract(contract).await?;
        let watch = &watch;
        let args = &args;
        let not_found = |e: &Error| matches!(e, Error::Proto(e) if e.is_not_found());
        crate::ask_members(
            workers,
            |worker| async move {
                let answer = self
                    .query_on(&worker, key, contract, method, args.clone(), watch)
                    .await;
                if !matches!(&answer, Err(e) if not_found(e)) {
                    return answer;
                }
                // A member still catching up does not know a contract created after its
                // head: wait for it to reach the contract's block, then ask again. Caught up
                // and still without it, it is a broken member: the next is asked.
                let created = self.checked().await?.contract(contract).await?.height;
                self.wait_for_height(&worker, created).await?;
                self.query_on(&worker, key, contract, method, args.clone(), watch)
                    .await
            },
            |e| crate::unreachable(e) || not_found(e),
        )
        .await
    }

    /// [`Client::query`] on one worker, following its progress when `watch` is given.
    async fn query_on(
        &self,
        worker: &TrustedWorker,
        key: &Keypair,
        contract: &ContractId,
        method: &str,
        args: Option<Value>,
        watch: &Option<ProgressWatch>,
    ) -> Result<QueryResult> {
        let progress = match watch {
            Some(_) => Some(hex::encode(&randomness()?.nonce[..16])),
            None => None,
        };
        let request = QueryRequest {
            method: method.into(),
            args: args.unwrap_or(Value::Null),
            progress: progress.clone(),
        };
        let follower = watch.clone().zip(progress).map(|(watch, id)| {
            let api = worker.api();
            tokio::spawn(async move {
                let Ok(mut events) = api.follow_progress(&id).await else {
                    return;
                };
                while let Ok(Some(event)) = events.next().await {
                    match event.event.as_str() {
                        "progress" => {
                            if let Ok(now) = serde_json::from_str::<JobProgress>(&event.data) {
                                watch(now);
                            }
                        }
                        "end" => return,
                        _ => {}
                    }
                }
            })
        });
        let answer = self
            .query_request(worker, key, contract, method, &request)
            .await;
        if let Some(follower) = follower {
            follower.abort();
        }
        answer
    }

    /// Send `request` to `worker`, sealed (under a session when one is open), and open the
    /// answer.
    async fn query_request(
        &self,
        worker: &TrustedWorker,
        key: &Keypair,
        contract: &ContractId,
        method: &str,
        request: &QueryRequest,
    ) -> Result<QueryResult> {
        let api = worker.api();
        let body = serde_json::to_vec(request).expect("a query serializes");
        let caller = key.account_id();
        let url = format!("{}{}", api.url(), paths::worker::query(contract));
        let what = format!("the answer of worker {} to query {method}", worker.id);
        let envelope_error = |source| Error::Envelope {
            what: format!("cannot open {what}"),
            source,
        };
        let slot = (worker.id, *contract, caller);
        let cached = {
            let cache = self.cache();
            cache
                .sessions
                .get(&slot)
                .filter(|(_, opened)| self.now_ms().saturating_sub(*opened) < SESSION_REUSE_MS)
                .map(|(session, _)| session.clone())
        };
        if let Some(session) = cached {
            let message = session
                .seal_message(caller, Direction::Request, &body, self.now_ms())
                .map_err(|source| Error::Envelope {
                    what: format!("cannot seal query {method} to worker {}", worker.id),
                    source,
                })?;
            match api.query_session(contract, message.to_bytes()).await {
                Ok(bytes) => {
                    let answer = SessionMessage::from_bytes(&bytes).map_err(envelope_error)?;
                    let plaintext = session
                        .open_reply(
                            &answer,
                            &message,
                            &mut ReplayGuard::once(ANSWER_WINDOW_MS),
                            self.now_ms(),
                        )
                        .map_err(envelope_error)?;
                    return query_result(&url, &what, &plaintext);
                }
                // The worker no longer keeps the session, or this message came too far
                // behind the session's others (410): open a new one below. (Session messages
                // take no nonce of the worker's replay guard, so no quota refuses them.)
                Err(e) if e.status() == Some(410) => {
                    self.cache().sessions.remove(&slot);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (sealed, session) = seal(
            key,
            &EcdhPublic(worker.ecdh_public.0),
            *contract,
            Direction::Request,
            &body,
            self.now_ms(),
            randomness()?,
        )
        .map_err(|source| Error::Envelope {
            what: format!("cannot seal query {method} to worker {}", worker.id),
            source,
        })?;
        let bytes = api.query_sealed(contract, sealed.to_bytes()).await?;
        let envelope = Envelope::from_bytes(&bytes).map_err(envelope_error)?;
        let plaintext = session
            .open_response(
                &envelope,
                &AccountId(worker.id.0),
                &mut ReplayGuard::once(ANSWER_WINDOW_MS),
                self.now_ms(),
            )
            .map_err(envelope_error)?;
        self.cache().sessions.insert(slot, (session, self.now_ms()));
        query_result(&url, &what, &plaintext)
    }

    /// The API of the worker that answers for `contract`, typed.
    async fn worker_api(&self, contract: &ContractId) -> Result<WorkerApi> {
        Ok(TrustedWorker::api(
            &self.worker_for_contract(contract).await?,
        ))
    }

    /// Up to `limit` log lines of `contract` from sequence number `from`.
    pub async fn logs(
        &self,
        contract: &ContractId,
        from: u64,
        limit: usize,
    ) -> Result<Vec<LogLine>> {
        Ok(self
            .worker_api(contract)
            .await?
            .logs(contract, from, limit)
            .await?
            .logs)
    }

    /// The log lines of `contract` from `from` on, as they are written (one `log` event
    /// each, data = the line as JSON).
    pub async fn follow_logs(&self, contract: &ContractId, from: u64) -> Result<EventStream> {
        Ok(self
            .worker_api(contract)
            .await?
            .follow_logs(contract, from)
            .await?)
    }
}

/// The result of a query from its answer's plaintext JSON.
fn query_result(url: &str, what: &str, plaintext: &[u8]) -> Result<QueryResult> {
    let reply: QueryReply =
        serde_json::from_slice(plaintext).map_err(|e| fat_proto::Error::Decode {
            url: url.into(),
            message: format!("{what}: {e}"),
        })?;
    if let Some(code) = reply.code.clone() {
        return Err(fat_proto::Error::Api {
            url: url.into(),
            status: 422,
            code: Some(code),
            message: reply.message.clone().unwrap_or_default(),
            body: Box::new(serde_json::to_value(&reply).unwrap_or_default()),
        }
        .into());
    }
    let mut jobs_by_worker = BTreeMap::new();
    for proof in &reply.jobs {
        proof
            .check_signature()
            .map_err(|message| fat_proto::Error::Decode {
                url: url.into(),
                message: format!("{what}: {message}"),
            })?;
        *jobs_by_worker.entry(proof.worker.to_string()).or_default() += 1;
    }
    Ok(QueryResult {
        output: reply.output.unwrap_or(Value::Null),
        worker: reply.worker.to_string(),
        elapsed_ms: reply.elapsed_ms,
        jobs_by_worker,
        jobs: reply.jobs,
    })
}
