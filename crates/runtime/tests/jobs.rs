//! Jobs a query spawns: they run through the call's runner while the query goes on, their
//! results come back as they end, and every limit on them ends the query with its name.
//! The runner here runs each job on a runtime of its own, in job mode, as a worker does for
//! the jobs it keeps.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Harness, err, ok};
use fat_runtime::{
    Call, Code, Entry, JobFuture, JobRequest, JobResult, JobRunner, Limit, Limits, MemoryCache,
    MemoryStore, Runtime, RuntimeConfig,
};
use fat_test_programs::PROBE;

/// Runs every job on its own runtime, after `delay`; counts jobs started and finished.
struct LocalRunner {
    runtime: Arc<Runtime>,
    code: Arc<Code>,
    delay: Duration,
    started: AtomicUsize,
    finished: Arc<AtomicUsize>,
}

impl LocalRunner {
    fn new(delay: Duration) -> Arc<Self> {
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
        let code = runtime.load(&fat_test_programs::read(PROBE)).unwrap();
        Arc::new(Self {
            runtime,
            code,
            delay,
            started: AtomicUsize::new(0),
            finished: Arc::new(AtomicUsize::new(0)),
        })
    }
}

impl JobRunner for LocalRunner {
    fn run(&self, job: JobRequest) -> JobFuture {
        self.started.fetch_add(1, Ordering::SeqCst);
        let (runtime, code, delay) = (self.runtime.clone(), self.code.clone(), self.delay);
        let finished = self.finished.clone();
        Box::pin(async move {
            let start = Instant::now();
            tokio::time::sleep(delay).await;
            let call = Call::new(
                Entry::job(job.name, job.input),
                Arc::new(MemoryStore::new()),
                Arc::new(MemoryCache::default()),
            );
            let outcome = runtime.call(&code, call).await;
            finished.fetch_add(1, Ordering::SeqCst);
            JobResult {
                output: outcome.result.map_err(|e| e.to_string()),
                time: start.elapsed(),
            }
        })
    }
}

fn harness(limits: Limits) -> Harness {
    Harness::with_config(
        PROBE,
        RuntimeConfig {
            limits,
            ..RuntimeConfig::default()
        },
    )
}

/// Run probe query `spawn` with `args` through `runner`.
async fn spawn(h: &Harness, runner: &Arc<LocalRunner>, args: &str) -> fat_runtime::Outcome {
    let mut call = h.call(Entry::query("spawn", args));
    call.jobs = Some(runner.clone() as Arc<dyn JobRunner>);
    h.run(call).await
}

#[tokio::test]
async fn a_query_collects_the_results_of_its_jobs() {
    let h = harness(Limits::default());
    let runner = LocalRunner::new(Duration::ZERO);
    assert_eq!(ok(&spawn(&h, &runner, "5 100").await), "5 ok; ");
    assert_eq!(runner.finished.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn spawning_is_refused_in_a_command_and_without_a_runner() {
    let h = harness(Limits::default());
    let runner = LocalRunner::new(Duration::ZERO);
    let mut call = h.call(Entry::command("spawn", "1 1"));
    call.jobs = Some(runner.clone() as Arc<dyn JobRunner>);
    let refused = err(&h.run(call).await);
    assert!(refused.contains("not allowed in a command"), "{refused}");
    assert_eq!(runner.started.load(Ordering::SeqCst), 0);
    let refused = err(&h.query("spawn", "1 1").await);
    assert!(refused.contains("runs no jobs"), "{refused}");
}

#[tokio::test]
async fn each_job_limit_ends_the_query_with_its_name() {
    let cases = [
        (
            Limits {
                jobs_in_flight: 3,
                ..Limits::default()
            },
            "4 1",
            Limit::JobsInFlight,
        ),
        (
            Limits {
                jobs: 2,
                ..Limits::default()
            },
            "3 1",
            Limit::Jobs,
        ),
        (
            Limits {
                job_input_bytes: 1000,
                ..Limits::default()
            },
            "3 400",
            Limit::JobInputBytes,
        ),
        (
            Limits {
                job_output_bytes: 1000,
                ..Limits::default()
            },
            "3 400",
            Limit::JobOutputBytes,
        ),
        (
            Limits {
                job_time: Duration::from_millis(30),
                ..Limits::default()
            },
            "2 1",
            Limit::JobTime,
        ),
    ];
    for (limits, args, limit) in cases {
        let h = harness(limits);
        let runner = LocalRunner::new(Duration::from_millis(20));
        let outcome = spawn(&h, &runner, args).await;
        assert_eq!(outcome.limit(), Some(limit), "{args}: {:?}", outcome.result);
        // The runtime goes on: the next query answers.
        assert_eq!(ok(&h.query("get", "x").await), "none");
    }
}

#[tokio::test]
async fn a_query_waiting_for_jobs_gets_the_coordinated_deadline() {
    let limits = Limits {
        query_deadline: Duration::from_millis(100),
        coordinated_deadline: Duration::from_secs(10),
        ..Limits::default()
    };
    let h = harness(limits.clone());
    // The job takes three plain-query deadlines: the query waits for it all the same.
    let runner = LocalRunner::new(Duration::from_millis(300));
    assert_eq!(ok(&spawn(&h, &runner, "1 8").await), "1 ok; ");
    // A plain query gets no more than its own deadline.
    assert_eq!(h.query("sleep", "300").await.limit(), Some(Limit::Deadline));
    // Nor does one past the coordinated deadline.
    let h = harness(Limits {
        coordinated_deadline: Duration::from_millis(200),
        ..limits
    });
    let runner = LocalRunner::new(Duration::from_secs(5));
    let start = Instant::now();
    assert_eq!(
        spawn(&h, &runner, "1 8").await.limit(),
        Some(Limit::Deadline)
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn jobs_still_running_when_the_query_ends_are_cancelled() {
    let h = harness(Limits {
        query_deadline: Duration::from_millis(100),
        coordinated_deadline: Duration::from_millis(150),
        ..Limits::default()
    });
    let runner = LocalRunner::new(Duration::from_secs(2));
    assert_eq!(
        spawn(&h, &runner, "3 8").await.limit(),
        Some(Limit::Deadline)
    );
    assert_eq!(runner.started.load(Ordering::SeqCst), 3);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        runner.finished.load(Ordering::SeqCst),
        0,
        "the jobs outlived their query"
    );
}
