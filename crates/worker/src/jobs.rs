//! Jobs: a query's fan-out over the workers of its contract's cluster, and the jobs the other
//! workers of a cluster send this one.
//!
//! A query that spawns jobs gets a [`ClusterJobs`] scheduler. It learns the cluster's members
//! (ids, x25519 keys, endpoints) from the chain node the worker follows, and gives each job to
//! the member with the fewest of this query's jobs in flight, at most twice `job_slots` each, this
//! worker included. A job for another member travels as an envelope sealed to that member's
//! key and signed by this worker's identity (direction `job`); the member checks that the
//! sender belongs to the contract's cluster, runs the job in job mode (its own fuel and
//! deadline) and answers under the envelope's session with the output and a [`JobProof`] it
//! signed. A member that fails, is busy, answers late or sends a proof that does not verify
//! loses its place for the rest of the query and the job runs on another. With two replicas
//! a job runs on two members and their outputs must be equal byte for byte.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fat_crypto::envelope::{self, Direction, EcdhPublic, Envelope, ReplayGuard, SealRandomness};
use fat_proto::WorkerApi;
use fat_proto::windows::ENVELOPE_WINDOW_MS;
use fat_proto::worker::{JobAnswer, JobCall, JobProgress, JobProof, progress_id_ok};
use fat_runtime::{Entry, JobFuture, JobRequest, JobResult, JobRunner};
use fat_types::encoding::{decode, encode};
use fat_types::{AccountId, ClusterId, ContractId, WorkerId};
use tokio::sync::Notify;

use crate::error::{Result, WorkerError};
use crate::worker::Worker;

/// How long a job waits for its worker to reach the block its query read.
const CATCH_UP: Duration = Duration::from_secs(5);
/// How long a coordinator waits for another worker's answer beyond a job's own deadline.
const ANSWER_GRACE: Duration = Duration::from_secs(5);
/// How long a cluster's members, as the chain node lists them, are reused.
const MEMBERS_TTL: Duration = Duration::from_secs(2);

/// A member of a cluster, as a coordinator reaches it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: WorkerId,
    pub(crate) ecdh: EcdhPublic,
    /// `None`: this worker.
    pub(crate) api: Option<WorkerApi>,
}

/// A cluster's reachable members, this worker first.
pub(crate) type Members = Arc<Vec<Member>>;

/// Member lists as last looked up, with when, by cluster.
#[derive(Debug, Default)]
pub(crate) struct MemberCache(Mutex<HashMap<ClusterId, (Instant, Members)>>);

impl Worker {
    /// The members of `cluster` this worker can reach: itself, and every other member with
    /// an endpoint, as the chain node it follows lists them.
    pub(crate) async fn cluster_members(&self, cluster: &ClusterId) -> Result<Members> {
        if let Some((at, members)) = self.inner.members.0.lock().expect("members").get(cluster)
            && at.elapsed() < MEMBERS_TTL
        {
            return Ok(members.clone());
        }
        let me = self.id();
        let mut members = (*self.alone()).clone();
        let chain = self.inner.chain.lock().expect("chain").clone();
        if let Some(chain) = chain {
            let asked = |e: fat_proto::Error| WorkerError::Chain {
                url: chain.url().to_owned(),
                message: e.to_string(),
            };
            let info = chain.cluster(cluster).await.map_err(asked)?;
            for id in info.workers.iter().filter(|id| **id != me) {
                let worker = chain.worker(id).await.map_err(asked)?;
                let Some(api) = worker
                    .endpoint
                    .as_deref()
                    .and_then(|url| WorkerApi::new(url).ok())
                else {
                    continue;
                };
                members.push(Member {
                    id: *id,
                    ecdh: EcdhPublic(worker.ecdh_public.0),
                    api: Some(api),
                });
            }
        }
        let members = Arc::new(members);
        self.inner
            .members
            .0
            .lock()
            .expect("members")
            .insert(*cluster, (Instant::now(), members.clone()));
        Ok(members)
    }

    /// This worker alone, as a list of members.
    fn alone(&self) -> Members {
        Arc::new(vec![Member {
            id: self.id(),
            ecdh: self.inner.secrets.ecdh_public(),
            api: None,
        }])
    }

    /// The cluster of a contract this worker runs (as of its last committed block).
    pub(crate) fn cluster_of(&self, contract: &ContractId) -> Result<ClusterId> {
        Ok(self
            .inner
            .store
            .snapshot()?
            .contract(contract)?
            .ok_or(WorkerError::UnknownContract(*contract))?
            .info
            .cluster)
    }

    /// Open an envelope another worker sealed to this one (`direction`, about the contract
    /// its header names) and decode its plaintext, named `what`, whose own contract
    /// (`contract_of`) must be the header's.
    pub(crate) fn open_from_member<T: borsh::BorshDeserialize>(
        &self,
        envelope: &Envelope,
        direction: Direction,
        what: &'static str,
        contract_of: impl Fn(&T) -> ContractId,
    ) -> Result<(T, envelope::Opened)> {
        let contract = envelope.header.contract;
        let opened = envelope::open(
            envelope,
            &self.inner.secrets.ecdh,
            &contract,
            direction,
            &mut ReplayGuard::once(ENVELOPE_WINDOW_MS),
            self.now_ms(),
        )?;
        let decoded: T = decode(what, &opened.plaintext)
            .map_err(|e| WorkerError::Envelope(fat_crypto::EnvelopeError::Decode(e.to_string())))?;
        let found = contract_of(&decoded);
        if found != contract {
            return Err(WorkerError::Envelope(
                fat_crypto::EnvelopeError::WrongContract {
                    expected: contract,
                    found,
                },
            ));
        }
        Ok((decoded, opened))
    }

    /// Seal `plaintext` to `member` (direction `job` or `snapshot`, about `contract`), signed
    /// by this worker's identity; post it to the member's API; and open the answer, which the
    /// member must have sealed under the same session, within `wait`.
    pub(crate) async fn ask_member(
        &self,
        member: &Member,
        contract: ContractId,
        direction: Direction,
        plaintext: &[u8],
        wait: Duration,
    ) -> std::result::Result<Vec<u8>, String> {
        let api = member.api.as_ref().ok_or("no endpoint")?;
        let randomness = SealRandomness::generate().map_err(|e| e.to_string())?;
        let (sealed, session) = envelope::seal(
            &self.inner.key,
            &member.ecdh,
            contract,
            direction,
            plaintext,
            self.now_ms(),
            randomness,
        )
        .map_err(|e| e.to_string())?;
        let body = sealed.to_bytes();
        let post = async {
            match direction {
                Direction::Snapshot => api.snapshot(body).await,
                _ => api.job(body).await,
            }
        };
        let bytes = tokio::time::timeout(wait, post)
            .await
            .map_err(|_| format!("no answer within {} s", wait.as_secs()))?
            .map_err(|e| e.to_string())?;
        let envelope = Envelope::from_bytes(&bytes).map_err(|e| e.to_string())?;
        session
            .open_response(
                &envelope,
                &AccountId(member.id.0),
                &mut ReplayGuard::once(ENVELOPE_WINDOW_MS),
                self.now_ms(),
            )
            .map_err(|e| format!("its answer does not open: {e}"))
    }

    /// Run job `name` of `contract` here, in job mode, on the state of block `min_height` or
    /// a later one, and sign what came out.
    pub(crate) async fn execute_job(
        &self,
        contract: &ContractId,
        caller: AccountId,
        name: &str,
        input: Vec<u8>,
        min_height: u64,
    ) -> Result<JobAnswer> {
        let _slot = self.inner.job_admission.enter().await?;
        self.run_job(contract, caller, name, input, min_height)
            .await
    }

    /// [`Worker::execute_job`] for a caller that holds a job slot already.
    async fn run_job(
        &self,
        contract: &ContractId,
        caller: AccountId,
        name: &str,
        input: Vec<u8>,
        min_height: u64,
    ) -> Result<JobAnswer> {
        let started = Instant::now();
        if !self.wait_for_height(min_height, CATCH_UP).await {
            return Err(WorkerError::Behind { height: min_height });
        }
        let (code, call, _, height) = self
            .read_call(contract, Entry::job(name, input.clone()), caller)
            .await?;
        let outcome = self.inner.runtime.call(&code, call).await;
        let output = outcome.result.map_err(|e| e.to_string());
        let proof = JobProof::sign(&self.inner.key, *contract, name, &input, &output);
        Ok(JobAnswer {
            output,
            height,
            elapsed_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            proof,
        })
    }

    /// A job another worker of the cluster sent: open it, check that its sender is a member
    /// of the contract's cluster, run it and seal the answer to the sender's session.
    ///
    /// The job takes its place in the job queue before anything is opened or checked, so a
    /// flood of envelopes costs no cryptography once the queue is full: it is answered
    /// "busy".
    pub async fn serve_job(&self, envelope: &Envelope) -> Result<Envelope> {
        let _slot = self.inner.job_admission.enter().await?;
        let contract = envelope.header.contract;
        let (call, opened) =
            self.open_from_member(envelope, Direction::Job, "job call", |c: &JobCall| {
                c.contract
            })?;
        if !self.wait_for_height(call.min_height, CATCH_UP).await {
            return Err(WorkerError::Behind {
                height: call.min_height,
            });
        }
        let cluster = self.cluster_of(&contract)?;
        let sender = WorkerId(opened.sender.0);
        let members = self.cluster_members(&cluster).await?;
        if sender == self.id() || !members.iter().any(|m| m.id == sender) {
            return Err(WorkerError::NotMember { sender, cluster });
        }
        self.admit(&envelope.header)?;
        let input = call.input;
        let mut answer = self
            .run_job(
                &contract,
                call.caller,
                &call.name,
                input.clone(),
                call.min_height,
            )
            .await?;
        if self.inner.corrupt_jobs
            && let Ok(output) = &mut answer.output
        {
            // Test-only fault: a worker that returns a wrong result and signs it.
            if let Some(first) = output.first_mut() {
                *first ^= 0xff;
            }
            answer.proof = JobProof::sign(
                &self.inner.key,
                contract,
                &call.name,
                &input,
                &answer.output,
            );
        }
        Ok(opened
            .session
            .seal_response(&self.inner.key, &encode(&answer), self.now_ms())?)
    }
}

/// Where one query's jobs stand: each member's jobs in flight, the members that failed, where
/// the next choice starts, and the proofs of the jobs done (the answer carries them).
#[derive(Debug, Default)]
struct Schedule {
    in_flight: Vec<usize>,
    failed: Vec<bool>,
    rotation: usize,
    proofs: Vec<JobProof>,
}

/// The jobs of one query: where each runs, retried and compared as the query asked.
pub(crate) struct ClusterJobs {
    worker: Worker,
    contract: ContractId,
    cluster: ClusterId,
    caller: AccountId,
    min_height: u64,
    members: tokio::sync::OnceCell<Members>,
    state: Mutex<Schedule>,
    freed: Notify,
    planned: AtomicU64,
    spawned: AtomicU64,
    done: AtomicU64,
}

impl ClusterJobs {
    pub(crate) fn new(
        worker: Worker,
        contract: ContractId,
        cluster: ClusterId,
        caller: AccountId,
        min_height: u64,
    ) -> Arc<Self> {
        Arc::new(Self {
            worker,
            contract,
            cluster,
            caller,
            min_height,
            members: tokio::sync::OnceCell::new(),
            state: Mutex::new(Schedule::default()),
            freed: Notify::new(),
            planned: AtomicU64::new(0),
            spawned: AtomicU64::new(0),
            done: AtomicU64::new(0),
        })
    }

    /// How far the query's jobs got.
    pub(crate) fn progress(&self) -> JobProgress {
        let spawned = self.spawned.load(Ordering::Relaxed);
        JobProgress {
            done: self.done.load(Ordering::Relaxed),
            total: spawned.max(self.planned.load(Ordering::Relaxed)),
        }
    }

    /// The proofs of every job run so far, in the order they ended.
    pub(crate) fn proofs(&self) -> Vec<JobProof> {
        self.state.lock().expect("jobs state").proofs.clone()
    }

    async fn members(&self) -> Members {
        self.members
            .get_or_init(|| async {
                // Without the list (the chain node is unreachable), the jobs still run here.
                let members = match self.worker.cluster_members(&self.cluster).await {
                    Ok(members) => members,
                    Err(e) => {
                        tracing::warn!(cluster = %self.cluster, error = %e, "cannot list the cluster's workers; its jobs run here");
                        self.worker.alone()
                    }
                };
                let mut state = self.state.lock().expect("jobs state");
                state.in_flight = vec![0; members.len()];
                state.failed = vec![false; members.len()];
                members
            })
            .await
            .clone()
    }

    /// A place on the least busy member that has not failed, other than `avoid`; waits while
    /// every such member is full; `None` when none is left.
    ///
    /// A member holds up to twice `job_slots` of the query's jobs: one set runs while the
    /// other travels or waits in the member's queue, so no member idles for a round trip.
    async fn acquire(&self, avoid: Option<usize>) -> Option<usize> {
        let slots = self.worker.inner.job_slots.max(1) * 2;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.state.lock().expect("jobs state");
                let n = state.in_flight.len();
                let usable: Vec<usize> = (0..n)
                    .map(|k| (state.rotation + k) % n.max(1))
                    .filter(|&i| !state.failed[i] && Some(i) != avoid)
                    .collect();
                if usable.is_empty() {
                    return None;
                }
                let best = usable
                    .iter()
                    .copied()
                    .filter(|&i| state.in_flight[i] < slots)
                    .min_by_key(|&i| state.in_flight[i]);
                if let Some(i) = best {
                    state.in_flight[i] += 1;
                    state.rotation = (i + 1) % n;
                    return Some(i);
                }
            }
            freed.await;
        }
    }

    fn release(&self, member: usize, failed: bool) {
        let mut state = self.state.lock().expect("jobs state");
        state.in_flight[member] -= 1;
        if failed {
            state.failed[member] = true;
        }
        drop(state);
        self.freed.notify_waiters();
    }

    /// Run `job` on one member other than `avoid`, moving on to another when one fails.
    async fn run_once(
        &self,
        members: &[Member],
        job: &JobRequest,
        avoid: Option<usize>,
    ) -> std::result::Result<(usize, JobAnswer), String> {
        let mut errors = Vec::new();
        loop {
            let Some(i) = self.acquire(avoid).await else {
                let tried = if errors.is_empty() {
                    "no other worker of the cluster is reachable".to_owned()
                } else {
                    errors.join("; ")
                };
                return Err(format!("no worker could run the job: {tried}"));
            };
            let result = self.attempt(&members[i], job).await;
            self.release(i, result.is_err());
            match result {
                Ok(answer) => return Ok((i, answer)),
                Err(e) => {
                    tracing::warn!(worker = %members[i].id, error = %e, "a job failed on a worker; trying another");
                    errors.push(format!("worker {}: {e}", members[i].id));
                }
            }
        }
    }

    /// Run `job` on `member` once.
    async fn attempt(
        &self,
        member: &Member,
        job: &JobRequest,
    ) -> std::result::Result<JobAnswer, String> {
        if member.api.is_none() {
            return self
                .worker
                .execute_job(
                    &self.contract,
                    self.caller,
                    &job.name,
                    job.input.clone(),
                    self.min_height,
                )
                .await
                .map_err(|e| e.to_string());
        }
        let inner = &self.worker.inner;
        let call = JobCall {
            contract: self.contract,
            caller: self.caller,
            name: job.name.clone(),
            input: job.input.clone(),
            min_height: self.min_height,
        };
        let wait = inner.runtime.config().limits.query_deadline + CATCH_UP + ANSWER_GRACE;
        let plaintext = self
            .worker
            .ask_member(member, self.contract, Direction::Job, &encode(&call), wait)
            .await?;
        let answer: JobAnswer = decode("job answer", &plaintext).map_err(|e| e.to_string())?;
        if answer.proof.worker != member.id {
            return Err(format!("its proof names worker {}", answer.proof.worker));
        }
        answer.proof.verify(&job.input, &answer.output)?;
        Ok(answer)
    }

    fn record(&self, proof: JobProof) {
        self.state.lock().expect("jobs state").proofs.push(proof);
    }

    async fn run(&self, job: JobRequest) -> JobResult {
        let started = Instant::now();
        let members = self.members().await;
        if job.replicas >= 2 && members.len() < 2 {
            return JobResult {
                output: Err(format!(
                    "a job with {} replicas needs as many reachable workers; the cluster has {}",
                    job.replicas,
                    members.len()
                )),
                time: started.elapsed(),
            };
        }
        let first = match self.run_once(&members, &job, None).await {
            Ok(done) => done,
            Err(message) => {
                return JobResult {
                    output: Err(message),
                    time: started.elapsed(),
                };
            }
        };
        let time = Duration::from_micros(first.1.elapsed_us);
        if job.replicas < 2 {
            let (_, answer) = first;
            self.record(answer.proof);
            return JobResult {
                output: answer.output,
                time,
            };
        }
        let (a, first) = first;
        let second = self.run_once(&members, &job, Some(a)).await;
        self.record(first.proof.clone());
        let (b, second) = match second {
            Ok(done) => done,
            Err(message) => {
                return JobResult {
                    output: Err(format!("the second replica did not run: {message}")),
                    time,
                };
            }
        };
        self.record(second.proof.clone());
        let time = time + Duration::from_micros(second.elapsed_us);
        if first.output != second.output {
            return JobResult {
                output: Err(format!(
                    "replicas disagree: worker {} returned {}, worker {} returned {}",
                    members[a].id,
                    describe(&first.proof),
                    members[b].id,
                    describe(&second.proof),
                )),
                time,
            };
        }
        JobResult {
            output: first.output,
            time,
        }
    }
}

fn describe(proof: &JobProof) -> String {
    let kind = if proof.ok { "output" } else { "error" };
    format!("{kind} {}", proof.output_hash)
}

/// The [`JobRunner`] a query's call holds.
pub(crate) struct Runner(pub(crate) Arc<ClusterJobs>);

impl JobRunner for Runner {
    fn run(&self, job: JobRequest) -> JobFuture {
        let jobs = self.0.clone();
        jobs.spawned.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let result = jobs.run(job).await;
            jobs.done.fetch_add(1, Ordering::Relaxed);
            result
        })
    }

    fn plan(&self, total: u32) {
        self.0.planned.store(u64::from(total), Ordering::Relaxed);
    }
}

/// Queries that publish their progress, by the id their client chose.
#[derive(Default)]
pub(crate) struct ProgressBoard(Mutex<HashMap<String, Weak<ClusterJobs>>>);

/// How many queries may publish their progress at once.
const PROGRESS_BOARD: usize = 4096;

/// A query's place on the board, removed when dropped.
pub(crate) struct Published<'a> {
    board: &'a ProgressBoard,
    id: Option<String>,
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        if let Some(id) = &self.id {
            self.board.0.lock().expect("progress board").remove(id);
        }
    }
}

impl ProgressBoard {
    /// Publish `jobs` under `id` (a valid id not in use, while there is room).
    pub(crate) fn publish(&self, id: Option<&str>, jobs: &Arc<ClusterJobs>) -> Published<'_> {
        let mut board = self.0.lock().expect("progress board");
        let id = id
            .filter(|id| {
                progress_id_ok(id) && board.len() < PROGRESS_BOARD && !board.contains_key(*id)
            })
            .map(|id| {
                board.insert(id.to_owned(), Arc::downgrade(jobs));
                id.to_owned()
            });
        Published { board: self, id }
    }

    /// The progress of the query published under `id`, if it runs.
    pub(crate) fn get(&self, id: &str) -> Option<JobProgress> {
        let board = self.0.lock().expect("progress board");
        board.get(id)?.upgrade().map(|jobs| jobs.progress())
    }
}

#[cfg(test)]
mod tests {
    use fat_crypto::dev_keypair;
    use fat_crypto::envelope::{EcdhPublic, SealRandomness, seal};

    use super::*;
    use crate::WorkerConfig;

    /// With every job slot taken and no queue, a job envelope or a snapshot request is turned
    /// away before the worker checks its signature or exchanges a key: busy. With a slot free,
    /// the same envelope reaches the cryptography and is refused for its signature.
    #[tokio::test]
    async fn jobs_and_snapshot_requests_queue_before_any_cryptography() {
        let dir =
            std::env::temp_dir().join(format!("fat-worker-jobs-admit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = WorkerConfig::new(&dir, Some(dev_keypair("worker-0")));
        config.job_slots = 1;
        config.query_queue = 0;
        let worker = Worker::open(config).unwrap();
        let contract = ContractId([7; 32]);
        let forged = |direction| {
            let (mut envelope, _) = seal(
                &dev_keypair("worker-1"),
                &EcdhPublic(worker.ecdh_public().0),
                contract,
                direction,
                b"anything",
                worker.now_ms(),
                SealRandomness::generate().unwrap(),
            )
            .unwrap();
            envelope.signature.0[0] ^= 1;
            envelope
        };
        let (job, snapshot) = (forged(Direction::Job), forged(Direction::Snapshot));
        let bad_signature = |r: &Result<Envelope>| {
            matches!(
                r,
                Err(WorkerError::Envelope(
                    fat_crypto::EnvelopeError::BadSignature(_)
                ))
            )
        };

        let held = worker.inner.job_admission.enter().await.unwrap();
        let answer = worker.serve_job(&job).await;
        assert!(matches!(answer, Err(WorkerError::Busy)), "{answer:?}");
        drop(held);
        let answer = worker.serve_job(&job).await;
        assert!(bad_signature(&answer), "{answer:?}");

        let held = worker.inner.snapshot_slot.try_acquire().unwrap();
        let answer = worker.serve_snapshot(&snapshot).await;
        assert!(matches!(answer, Err(WorkerError::Busy)), "{answer:?}");
        drop(held);
        let answer = worker.serve_snapshot(&snapshot).await;
        assert!(bad_signature(&answer), "{answer:?}");
        drop(worker);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
