//! Queries: run on a snapshot of the last committed block, plaintext or sealed to the
//! worker's key, and further queries of a session under the session's keys.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fat_crypto::envelope::{self, Direction, Envelope, ReplayGuard, SessionMessage};
use fat_proto::windows::ENVELOPE_WINDOW_MS;
use fat_proto::worker::{JobProof, QueryReply, QueryRequest};
use fat_runtime::{BlockInfo, Cache, Call, Entry};
use fat_types::{AccountId, ContractId};

use crate::error::{Result, WorkerError};
use crate::jobs::{ClusterJobs, Runner};
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
        self.run_query(contract, method, args, caller, progress, start)
            .await
    }

    /// Run a query that holds its admission slot; `start` is when it asked for the slot.
    async fn run_query(
        &self,
        contract: &ContractId,
        method: &str,
        args: &str,
        caller: AccountId,
        progress: Option<&str>,
        start: Instant,
    ) -> Result<QueryAnswer> {
        let (code, mut call, cluster, height) = self
            .read_call(contract, Entry::query(method, args), caller)
            .await?;
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
    pub(crate) async fn read_call(
        &self,
        contract: &ContractId,
        entry: Entry,
        caller: AccountId,
    ) -> Result<(Arc<fat_runtime::Code>, Call, fat_types::ClusterId, u64)> {
        let snapshot = self.inner.store.shared_snapshot()?;
        let Some((head, hash)) = snapshot.started_head_hashed()? else {
            return Err(WorkerError::UnknownContract(*contract));
        };
        let record = snapshot
            .contract(contract)?
            .ok_or(WorkerError::UnknownContract(*contract))?;
        let code = self.code(&record.info.code_hash).await?;
        let crypt = self
            .inner
            .keyring
            .contract(&record.info)
            .ok_or(WorkerError::NoClusterKey(record.info.cluster))?;
        let mut call = Call::new(entry, snapshot, self.inner.cache.clone() as Arc<dyn Cache>);
        call.contract = *contract;
        call.caller = caller;
        call.block = BlockInfo {
            number: head.height,
            timestamp_ms: head.timestamp_ms,
            hash,
        };
        call.contract_secret = crypt.keys.secret();
        call.worker_key = self.id().0;
        Ok((code, call, record.info.cluster, head.height))
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
    ///
    /// The query takes its admission slot before anything else, so that a flood of envelopes
    /// waits in (or is turned away by) the bounded queue instead of running key exchanges
    /// and signature checks side by side; it keeps that one slot while it runs.
    pub async fn query_sealed(
        &self,
        contract: &ContractId,
        envelope: &Envelope,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<QueryReply>,
    ) -> Result<SealedAnswer> {
        let start = Instant::now();
        let _slot = self.inner.admission.enter().await?;
        let now_ms = self.now_ms();
        // Check and decrypt outside the shared guard's lock; only record the nonce under it.
        let opened = envelope::open(
            envelope,
            &self.inner.secrets.ecdh,
            contract,
            Direction::Request,
            &mut ReplayGuard::once(ENVELOPE_WINDOW_MS),
            now_ms,
        )?;
        // Nonces of queries to contracts this worker does not run are not worth remembering.
        self.known_contract(contract)?;
        self.admit(&envelope.header)?;
        self.inner.sessions.lock().expect("sessions lock").keep(
            &opened.session,
            opened.sender,
            now_ms,
        );
        let plaintext = self
            .run_sealed(contract, &opened.plaintext, opened.sender, answer, start)
            .await?;
        let envelope = opened
            .session
            .seal_response(&self.inner.key, &plaintext, now_ms)?;
        Ok(SealedAnswer { envelope })
    }

    /// A further query of a session opened by [`Worker::query_sealed`]: opened with the
    /// session's request key, run as the session's caller, answered under its response key.
    /// Like a sealed query, it takes its one admission slot before it decrypts.
    ///
    /// Its counter is admitted once by the session's window. A message stamped before this
    /// worker started is refused as of an unknown session: sessions and their windows live
    /// in memory, so without this rule a recorded session could be replayed into a restarted
    /// worker (its opening envelope, then its messages) and run again. The reply takes a
    /// nonce of this run ([`fat_crypto::envelope::ReplyNonces`]), so even a message answered
    /// twice is never answered under a nonce used before.
    pub async fn query_session(
        &self,
        contract: &ContractId,
        message: &SessionMessage,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<QueryReply>,
    ) -> Result<SessionMessage> {
        let start = Instant::now();
        let _slot = self.inner.admission.enter().await?;
        let now_ms = self.now_ms();
        let key = (message.header.ephemeral.0, message.header.contract);
        let (session, caller) = {
            let sessions = self.inner.sessions.lock().expect("sessions lock");
            let entry = sessions
                .live(&key, now_ms)
                .ok_or(WorkerError::UnknownSession)?;
            (entry.session().clone(), entry.caller())
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
            &mut ReplayGuard::once(ENVELOPE_WINDOW_MS),
            now_ms,
        )?;
        // Fresh, authentic, and of a session this worker keeps, yet stamped before it started:
        // of its previous run, whose answers it cannot know (see above).
        if message.header.timestamp_ms < self.inner.started_ms {
            return Err(WorkerError::UnknownSession);
        }
        // Authentic: admit its counter in the session's window (not in the shared guard, so
        // a session carries any number of queries in bounded memory), if the session is still
        // the one it was opened with (not forgotten and kept anew in between).
        {
            let mut sessions = self.inner.sessions.lock().expect("sessions lock");
            let entry = sessions
                .get_mut(&key)
                .filter(|e| e.live(now_ms) && e.session().is_clone_of(&session))
                .ok_or(WorkerError::UnknownSession)?;
            entry.admit(
                envelope::message_counter(&message.header.nonce),
                message.header.timestamp_ms,
            )?;
        }
        let body = self
            .run_sealed(contract, &plaintext, caller, answer, start)
            .await?;
        Ok(session.seal_reply(message, &body, now_ms, &self.inner.reply_nonces))
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
        match self.inner.store.shared_snapshot()?.contract(contract)? {
            Some(_) => Ok(()),
            None => Err(WorkerError::UnknownContract(*contract)),
        }
    }

    /// Run a sealed query's plaintext (`{"method", "args"}`) as `caller`, in the admission
    /// slot the caller holds (asked for at `start`); the answer's JSON.
    async fn run_sealed(
        &self,
        contract: &ContractId,
        plaintext: &[u8],
        caller: AccountId,
        answer: impl FnOnce(&Worker, Result<QueryAnswer>) -> Result<QueryReply>,
        start: Instant,
    ) -> Result<Vec<u8>> {
        let query: QueryRequest = serde_json::from_slice(plaintext).map_err(|e| {
            WorkerError::Envelope(fat_crypto::EnvelopeError::Decode(format!(
                "the query is not JSON {{\"method\", \"args\"}}: {e}"
            )))
        })?;
        let result = self
            .run_query(
                contract,
                &query.method,
                &query.args_text(),
                caller,
                query.progress.as_deref(),
                start,
            )
            .await;
        let body = answer(self, result)?;
        Ok(serde_json::to_vec(&body).expect("a query reply serializes"))
    }
}

#[cfg(test)]
mod tests {
    use fat_crypto::envelope::{EcdhPublic, SealRandomness, seal};
    use fat_crypto::{EnvelopeError, dev_keypair};

    use super::*;
    use crate::WorkerConfig;

    /// With the only slot taken and no queue, a sealed query or a session message is turned
    /// away before the worker checks a signature, exchanges a key or touches the replay
    /// guard: busy, not the envelope's own fault. With the slot free, the same envelope
    /// reaches the cryptography and is refused for its signature.
    #[tokio::test]
    async fn admission_comes_before_any_cryptography() {
        let dir = std::env::temp_dir().join(format!("fat-worker-admit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = WorkerConfig::new(&dir, Some(dev_keypair("worker-0")));
        config.query_concurrency = 1;
        config.query_queue = 0;
        let worker = Worker::open(config).unwrap();
        let contract = ContractId([7; 32]);
        let body = br#"{"method": "get", "args": null}"#;
        let (mut envelope, session) = seal(
            &dev_keypair("alice"),
            &EcdhPublic(worker.ecdh_public().0),
            contract,
            Direction::Request,
            body,
            worker.now_ms(),
            SealRandomness::generate().unwrap(),
        )
        .unwrap();
        envelope.signature.0[0] ^= 1;
        let message = session
            .seal_message(
                dev_keypair("alice").account_id(),
                Direction::Request,
                body,
                worker.now_ms(),
            )
            .unwrap();
        let never = |_: &Worker, _: Result<QueryAnswer>| -> Result<QueryReply> {
            unreachable!("nothing runs")
        };

        let held = worker.inner.admission.enter().await.unwrap();
        let sealed = worker.query_sealed(&contract, &envelope, never).await;
        assert!(matches!(sealed, Err(WorkerError::Busy)), "{sealed:?}");
        let further = worker.query_session(&contract, &message, never).await;
        assert!(matches!(further, Err(WorkerError::Busy)), "{further:?}");
        assert!(worker.inner.replay.lock().unwrap().is_empty());

        drop(held);
        let sealed = worker.query_sealed(&contract, &envelope, never).await;
        assert!(
            matches!(
                sealed,
                Err(WorkerError::Envelope(EnvelopeError::BadSignature(_)))
            ),
            "{sealed:?}"
        );
        assert_eq!(worker.queries_admitted(), 0, "the slot is given back");
        drop(worker);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An envelope judged stale stays stale when the worker's clock steps back: the worker's
    /// time never goes back. (Read as it is, the stepped-back clock would find the envelope
    /// fresh, and the query would go on, here to be refused for its unknown contract.)
    #[tokio::test]
    async fn a_clock_stepped_back_makes_no_stale_envelope_fresh() {
        let dir = std::env::temp_dir().join(format!("fat-worker-clock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let clock = Arc::new(fat_types::ManualClock::new(1_750_000_000_000));
        let mut config = WorkerConfig::new(&dir, Some(dev_keypair("worker-0")));
        config.clock = clock.clone();
        let worker = Worker::open(config).unwrap();
        let contract = ContractId([7; 32]);
        let now = worker.now_ms();
        let (envelope, _) = seal(
            &dev_keypair("alice"),
            &EcdhPublic(worker.ecdh_public().0),
            contract,
            Direction::Request,
            br#"{"method": "get", "args": null}"#,
            now - ENVELOPE_WINDOW_MS - 60_000,
            SealRandomness::generate().unwrap(),
        )
        .unwrap();
        let never = |_: &Worker, _: Result<QueryAnswer>| -> Result<QueryReply> {
            unreachable!("nothing runs")
        };
        let stale = |answer: &Result<SealedAnswer>| {
            matches!(
                answer,
                Err(WorkerError::Envelope(EnvelopeError::Expired { .. }))
            )
        };
        let first = worker.query_sealed(&contract, &envelope, never).await;
        assert!(stale(&first), "{first:?}");
        clock.set(now - 2 * 60_000);
        let again = worker.query_sealed(&contract, &envelope, never).await;
        assert!(stale(&again), "{again:?}");
        assert_eq!(worker.now_ms(), now);
        clock.set(now + 1_000);
        assert_eq!(worker.now_ms(), now + 1_000);
        drop(worker);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
