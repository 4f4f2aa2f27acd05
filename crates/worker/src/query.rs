//! Queries: run on a snapshot of the last committed block, plaintext or sealed to the
//! worker's key, and further queries of a session under the session's keys.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fat_crypto::envelope::{self, Direction, Envelope, ReplayGuard, Session, SessionMessage};
use fat_proto::windows::{ENVELOPE_WINDOW_MS, SESSION_TTL_MS};
use fat_proto::worker::{JobProof, QueryReply, QueryRequest};
use fat_runtime::{BlockInfo, Cache, Call, Entry};
use fat_types::{AccountId, ContractId};

use crate::error::{Result, WorkerError};
use crate::jobs::{ClusterJobs, Runner};
use crate::shared::SessionEntry;
use crate::worker::Worker;

/// A query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAnswer {
    /// The contract's output (JSON text), or why it failed.
    pub result: std::result::Result<String, fat_runtime::CallError>,
    /// The block whose state the query read.
    pub height: u64,
    /// Fuel used.
    pub gas_used: u64,
    /// Time spent, queueing included.
    pub elapsed: Duration,
    /// The proofs of the jobs the query fanned out, in the order they ended.
    pub jobs: Vec<JobProof>,
}

impl Worker {
    /// Run a query on the latest committed state, subject to admission control.
    pub async fn query(
        &self,
        contract: &ContractId,
        method: &str,
        args: &str,
        caller: AccountId,
    ) -> Result<QueryAnswer> {
        self.query_published(contract, method, args, caller, None)
            .await
    }

    /// [`Worker::query`], publishing the progress of its jobs under `progress` (see
    /// `GET /v1/progress/{id}`) while it runs.
    pub async fn query_published(
        &self,
        contract: &ContractId,
        method: &str,
        args: &str,
        caller: AccountId,
        progress: Option<&str>,
    ) -> Result<QueryAnswer> {
        let start = Instant::now();
        let _slot = self.inner.admission.enter().await?;
        let (code, mut call, cluster, height) =
            self.read_call(contract, Entry::query(method, args), caller)?;
        let jobs = ClusterJobs::new(self.clone(), *contract, cluster, caller, height);
        call.jobs = Some(Arc::new(Runner(jobs.clone())));
        let _published = self.inner.progress.publish(progress, &jobs);
        let outcome = self.inner.runtime.call(&code, call).await;
        Ok(QueryAnswer {
            result: outcome.output_str().map(str::to_owned),
            height,
            gas_used: outcome.gas_used,
            elapsed: start.elapsed(),
            jobs: jobs.proofs(),
        })
    }
}

impl Worker {
    /// A read-only call (a query or a job) of `contract` as `caller` on the last committed
    /// block: its code, the call, the contract's cluster and the block's height.
    pub(crate) fn read_call(
        &self,
        contract: &ContractId,
        entry: Entry,
        caller: AccountId,
    ) -> Result<(Arc<fat_runtime::Code>, Call, fat_types::ClusterId, u64)> {
        let snapshot = self.inner.store.snapshot()?;
        if !snapshot.started()? {
            return Err(WorkerError::UnknownContract(*contract));
        }
        let head = snapshot.head()?;
        let record = snapshot
            .contract(contract)?
            .ok_or(WorkerError::UnknownContract(*contract))?;
        let code = self.inner.code(&record.info.code_hash)?;
        let cluster = record.info.cluster;
        let crypt = self
            .inner
            .keyring
            .contract(contract, &cluster)
            .ok_or(WorkerError::NoClusterKey(cluster))?;
        let mut call = Call::new(
            entry,
            Arc::new(snapshot),
            self.inner.cache.clone() as Arc<dyn Cache>,
        );
        call.contract = *contract;
        call.caller = caller;
        call.block = BlockInfo {
            number: head.height,
            timestamp_ms: head.timestamp_ms,
            hash: head.hash(),
        };
        call.contract_secret = crypt.keys.secret();
        call.worker_key = self.id().0;
        Ok((code, call, cluster, head.height))
    }
}

/// A sealed query's answer: the response envelope.
#[derive(Debug)]
pub struct SealedAnswer {
    /// The response envelope, sealed to the query's session and signed by the worker.
    pub envelope: Envelope,
}

impl Worker {
    /// Open a query envelope sealed to this worker, run it as its signer, and seal the answer
    /// (the reply `answer` turns it into) back to the same session.
    pub async fn query_sealed(
        &self,
        contract: &ContractId,
        envelope: &Envelope,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<QueryReply>,
    ) -> Result<SealedAnswer> {
        let now_ms = self.now_ms();
        // Check and decrypt outside the shared guard's lock; only record the nonce under it.
        let opened = envelope::open(
            envelope,
            &self.inner.secrets.ecdh,
            contract,
            Direction::Request,
            &mut ReplayGuard::new(ENVELOPE_WINDOW_MS, 1),
            now_ms,
        )?;
        // Nonces of queries to contracts this worker does not run are not worth remembering.
        self.known_contract(contract)?;
        self.admit(&envelope.header)?;
        self.keep_session(&opened.session, opened.sender, now_ms);
        let plaintext = self
            .run_sealed(contract, &opened.plaintext, opened.sender, answer)
            .await?;
        let envelope = opened
            .session
            .seal_response(&self.inner.key, &plaintext, now_ms)?;
        Ok(SealedAnswer { envelope })
    }

    /// A further query of a session opened by [`Worker::query_sealed`]: opened with the
    /// session's request key, run as the session's caller, answered under its response key.
    pub async fn query_session(
        &self,
        contract: &ContractId,
        message: &SessionMessage,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<QueryReply>,
    ) -> Result<SessionMessage> {
        let now_ms = self.now_ms();
        let (session, caller) = {
            let sessions = self.inner.sessions.lock().expect("sessions lock");
            match sessions.get(&message.header.ephemeral.0) {
                Some(entry) if entry.expires_ms > now_ms => (entry.session.clone(), entry.caller),
                _ => return Err(WorkerError::UnknownSession),
            }
        };
        if session.contract() != *contract {
            return Err(fat_crypto::EnvelopeError::WrongContract {
                expected: *contract,
                found: session.contract(),
            }
            .into());
        }
        let plaintext = session.open_message(
            message,
            &caller,
            Direction::Request,
            &mut ReplayGuard::new(ENVELOPE_WINDOW_MS, 1),
            now_ms,
        )?;
        self.admit(&message.header)?;
        let body = self
            .run_sealed(contract, &plaintext, caller, answer)
            .await?;
        Ok(session.seal_reply(message, &body, now_ms))
    }

    /// Record an authenticated request's nonce in the worker's replay guard, within its
    /// sender's and its session's quotas.
    pub(crate) fn admit(&self, header: &fat_crypto::envelope::EnvelopeHeader) -> Result<()> {
        let mut guard = self.inner.replay.lock().expect("replay guard lock");
        guard.admit(header, self.now_ms())?;
        Ok(())
    }

    /// Fail unless this worker runs `contract` (and holds its keys).
    fn known_contract(&self, contract: &ContractId) -> Result<()> {
        if self.inner.keyring.cached(contract).is_some() {
            return Ok(());
        }
        match self.inner.store.snapshot()?.contract(contract)? {
            Some(_) => Ok(()),
            None => Err(WorkerError::UnknownContract(*contract)),
        }
    }

    /// Keep a session for further queries (while there is room). When full, expired
    /// sessions are swept at most once a second, not on every query.
    fn keep_session(&self, session: &Session, caller: AccountId, now_ms: u64) {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        if sessions.len() >= self.inner.max_sessions {
            let swept = self.inner.sessions_swept_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(swept) >= 1000 {
                sessions.retain(|_, e| e.expires_ms > now_ms);
                self.inner
                    .sessions_swept_ms
                    .store(now_ms, Ordering::Relaxed);
            }
        }
        if sessions.len() < self.inner.max_sessions {
            sessions.insert(
                session.ephemeral().0,
                SessionEntry {
                    session: session.clone(),
                    caller,
                    expires_ms: now_ms + SESSION_TTL_MS,
                },
            );
        }
    }

    /// Run a sealed query's plaintext (`{"method", "args"}`) as `caller`; the answer's JSON.
    async fn run_sealed(
        &self,
        contract: &ContractId,
        plaintext: &[u8],
        caller: AccountId,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<QueryReply>,
    ) -> Result<Vec<u8>> {
        let query: QueryRequest = serde_json::from_slice(plaintext).map_err(|e| {
            WorkerError::Envelope(fat_crypto::EnvelopeError::Decode(format!(
                "the query is not JSON {{\"method\", \"args\"}}: {e}"
            )))
        })?;
        let result = self
            .query_published(
                contract,
                &query.method,
                &query.args_text(),
                caller,
                query.progress.as_deref(),
            )
            .await;
        let body = answer(self, result)?;
        Ok(serde_json::to_vec(&body).expect("a query reply serializes"))
    }
}
