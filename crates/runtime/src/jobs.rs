//! Jobs a query fans out: what the host asks of whoever runs them, and the bookkeeping of one
//! call's jobs against its limits.
//!
//! The runtime does not choose where a job runs. A query's [`Call`](crate::Call) carries a
//! [`JobRunner`] (the worker spreads jobs over its cluster); each `spawn` hands the job to it
//! on a task of its own, so jobs run while the query goes on, and `wait-next` returns them in
//! the order they end. When the call ends, jobs still in flight are cancelled.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::config::Limits;
use crate::error::Limit;

/// A job a query spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    /// The job's name (the contract's `#[job]` method).
    pub name: String,
    /// Its input.
    pub input: Vec<u8>,
    /// On how many different workers it runs (1 or 2); with 2 the outputs must be equal.
    pub replicas: u8,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// The job's output, or its error (the contract's, a limit's, or why no worker ran it).
    pub output: Result<Vec<u8>, String>,
    /// The time the job ran, added up over its replicas (counted against
    /// [`Limits::job_time`]).
    pub time: Duration,
}

/// A job's future, as a [`JobRunner`] returns it.
pub type JobFuture = Pin<Box<dyn Future<Output = JobResult> + Send>>;

/// Runs the jobs of one query: chooses workers, sends, retries, compares replicas.
pub trait JobRunner: Send + Sync {
    /// Run `job` to its end. The future is spawned on the async runtime; it is dropped (and so
    /// cancelled) when the query ends first.
    fn run(&self, job: JobRequest) -> JobFuture;

    /// The query says it will spawn `total` jobs in all (for progress reports).
    fn plan(&self, total: u32) {
        let _ = total;
    }
}

/// The deadline of a query or job: it grows once, when a query starts coordinating jobs.
#[derive(Debug)]
pub(crate) struct Deadline {
    started: Instant,
    limit_ms: AtomicU64,
}

impl Deadline {
    pub(crate) fn new(limit: Duration) -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            limit_ms: AtomicU64::new(millis(limit)),
        })
    }

    fn limit(&self) -> Duration {
        Duration::from_millis(self.limit_ms.load(Ordering::Relaxed))
    }

    /// Give the call at least `limit` from its start.
    pub(crate) fn extend(&self, limit: Duration) {
        self.limit_ms.fetch_max(millis(limit), Ordering::Relaxed);
    }

    pub(crate) fn passed(&self) -> bool {
        self.started.elapsed() >= self.limit()
    }

    /// Run `work` until it ends or the deadline passes (`None`), following extensions.
    ///
    /// Work that ends in its first poll (most queries: they never yield) is given no timer,
    /// so it never touches the runtime's timer wheel. Its first poll is bounded as every
    /// other: a call yields every `YIELD_FUEL` of fuel or at each epoch tick. The work is
    /// always polled before the deadline is looked at, so work that ends in the poll where
    /// the deadline passes gives its output.
    pub(crate) async fn race<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::pin!(work);
        let first = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = first {
            return Some(out);
        }
        loop {
            let until = tokio::time::Instant::from_std(self.started + self.limit());
            tokio::select! {
                biased;
                out = &mut work => return Some(out),
                () = tokio::time::sleep_until(until) => {
                    if self.passed() {
                        return None;
                    }
                }
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The jobs of one call: the runner, the jobs in flight and what they used of the limits.
pub(crate) struct CallJobs {
    runner: Option<Arc<dyn JobRunner>>,
    running: JoinSet<(u32, JobResult)>,
    /// The handle of each task in flight, to name a job whose task panicked.
    handles: HashMap<tokio::task::Id, u32>,
    spawned: usize,
    input_bytes: usize,
    output_bytes: usize,
    time: Duration,
    deadline: Arc<Deadline>,
}

impl CallJobs {
    pub(crate) fn new(runner: Option<Arc<dyn JobRunner>>, deadline: Arc<Deadline>) -> Self {
        Self {
            runner,
            running: JoinSet::new(),
            handles: HashMap::new(),
            spawned: 0,
            input_bytes: 0,
            output_bytes: 0,
            time: Duration::ZERO,
            deadline,
        }
    }

    /// Start `job`; its handle, or why not: `Ok(Err(message))` when this call cannot run
    /// jobs, `Err(limit)` when a limit is passed.
    pub(crate) fn spawn(
        &mut self,
        limits: &Limits,
        job: JobRequest,
    ) -> Result<Result<u32, String>, Limit> {
        let Some(runner) = self.runner.clone() else {
            return Ok(Err("this worker runs no jobs for this call".into()));
        };
        if !(1..=2).contains(&job.replicas) {
            return Ok(Err(format!(
                "replicas must be 1 or 2, not {}",
                job.replicas
            )));
        }
        if self.running.len() >= limits.jobs_in_flight {
            return Err(Limit::JobsInFlight);
        }
        if self.spawned >= limits.jobs {
            return Err(Limit::Jobs);
        }
        let bytes = (job.name.len() + job.input.len()).saturating_mul(usize::from(job.replicas));
        self.input_bytes = self.input_bytes.saturating_add(bytes);
        if self.input_bytes > limits.job_input_bytes {
            return Err(Limit::JobInputBytes);
        }
        if self.time > limits.job_time {
            return Err(Limit::JobTime);
        }
        let handle = u32::try_from(self.spawned).map_err(|_| Limit::Jobs)?;
        self.spawned += 1;
        self.deadline.extend(limits.coordinated_deadline);
        let run = runner.run(job);
        let task = self.running.spawn(async move { (handle, run.await) });
        self.handles.insert(task.id(), handle);
        Ok(Ok(handle))
    }

    /// Pass the query's plan on to the runner.
    pub(crate) fn plan(&self, total: u32) {
        if let Some(runner) = &self.runner {
            runner.plan(total);
        }
    }

    /// The next job to end, or `None` when none is in flight; `Err` when its output or time
    /// passes the call's budget.
    pub(crate) async fn next(
        &mut self,
        limits: &Limits,
    ) -> Result<Option<(u32, Result<Vec<u8>, String>)>, Limit> {
        let Some(joined) = self.running.join_next_with_id().await else {
            return Ok(None);
        };
        let (handle, result) = match joined {
            Ok((id, done)) => {
                self.handles.remove(&id);
                done
            }
            // The runner's task panicked (it is never aborted while the call lives): that
            // job failed, the query goes on.
            Err(e) => {
                let handle = self.handles.remove(&e.id()).unwrap_or(u32::MAX);
                let failed = JobResult {
                    output: Err(format!("the job's runner failed: {e}")),
                    time: Duration::ZERO,
                };
                (handle, failed)
            }
        };
        self.time = self.time.saturating_add(result.time);
        if self.time > limits.job_time {
            return Err(Limit::JobTime);
        }
        if let Ok(output) = &result.output {
            self.output_bytes = self.output_bytes.saturating_add(output.len());
            if self.output_bytes > limits.job_output_bytes {
                return Err(Limit::JobOutputBytes);
            }
        }
        Ok(Some((handle, result.output)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work that ends in its first poll is raced without a timer: on a runtime whose timers
    /// are off (where making one panics) it still gives its output. Work that waits still
    /// meets the deadline.
    #[test]
    fn work_done_in_its_first_poll_needs_no_timer() {
        let no_timers = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let deadline = Deadline::new(Duration::from_secs(5));
        assert_eq!(no_timers.block_on(deadline.race(async { 7 })), Some(7));

        let timers = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let deadline = Deadline::new(Duration::from_millis(20));
        let waits = timers.block_on(deadline.race(std::future::pending::<()>()));
        assert_eq!(waits, None);
        assert!(deadline.passed());
    }
}
