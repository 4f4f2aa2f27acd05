//! A worker following a chain, and serving its API on its own listener or (in a [`Devnet`])
//! nested in the network's.
//!
//! [`Devnet`]: crate::Devnet

use std::time::Duration;

use fat_worker::{Worker, WorkerConfig, WorkerError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::shutdown::{Shutdown, TaskFailure, join, serve};
use crate::{DevnetError, Result};

/// A worker following the chain at a URL, stopped with its network's signal or on its own.
pub struct RunningWorker {
    worker: Worker,
    url: Option<String>,
    /// Its own signal, a child of the network's.
    shutdown: Shutdown,
    /// The network's: held so that it does not fire (by being dropped) while this runs.
    _network: Shutdown,
    follow: JoinHandle<fat_worker::Result<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningWorker {
    /// Follow the chain at `chain_url` and, with a `listener`, serve the worker's API on it,
    /// until `shutdown` fires or this worker is stopped (a worker on its own can be given a
    /// `Shutdown::new()`).
    pub fn start(
        worker: Worker,
        chain_url: &str,
        listener: Option<TcpListener>,
        shutdown: &Shutdown,
    ) -> Self {
        let (network, shutdown) = (shutdown.clone(), shutdown.child());
        let (url, server) = match listener {
            Some(listener) => {
                let url = listener.local_addr().ok().map(|a| format!("http://{a}"));
                let app = fat_worker::api::app(worker.clone());
                (url, Some(serve(listener, app, &shutdown)))
            }
            None => (None, None),
        };
        let follow = tokio::spawn({
            let (worker, chain_url, stop) =
                (worker.clone(), chain_url.to_string(), shutdown.wait());
            async move { worker.follow(&chain_url, stop).await }
        });
        Self {
            worker,
            url,
            shutdown,
            _network: network,
            follow,
            server,
        }
    }

    /// [`RunningWorker::start`] with the API on a new loopback port.
    pub async fn start_on_loopback(
        worker: Worker,
        chain_url: &str,
        shutdown: &Shutdown,
    ) -> Result<Self> {
        let addr = "127.0.0.1:0";
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| DevnetError::Listen {
                addr: addr.into(),
                source,
            })?;
        Ok(Self::start(worker, chain_url, Some(listener), shutdown))
    }

    /// The worker.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Its API's URL, when it serves on its own listener.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Stop following and serving, keeping the worker (and its compiled code) open; an
    /// error if following had failed.
    pub async fn pause(self) -> Result<Worker> {
        let (worker, failures) = self.finish(None).await;
        match failures.into_iter().next() {
            None => Ok(worker),
            Some(failure) => Err(DevnetError::Stopped(vec![failure])),
        }
    }

    /// Stop following and serving; an error if following had failed.
    pub async fn stop(self) -> Result<()> {
        self.pause().await.map(drop)
    }

    /// Stop as a crash would: the tasks are aborted, nothing not yet durable is flushed.
    pub async fn crash(self) {
        self.follow.abort();
        let _ = self.follow.await;
        if let Some(server) = self.server {
            server.abort();
            let _ = server.await;
        }
    }

    /// Close the worker's streams, fire its signal and join its tasks, each for at most
    /// `grace` (unbounded without one).
    pub(crate) async fn finish(self, grace: Option<Duration>) -> (Worker, Vec<TaskFailure>) {
        self.worker.close_streams();
        self.shutdown.trigger();
        let grace = grace.unwrap_or(Duration::MAX);
        let name = format!("worker {}", self.worker.id());
        let mut failures = Vec::new();
        failures.extend(join(&name, self.follow, grace).await);
        if let Some(server) = self.server {
            failures.extend(join(&format!("{name}'s API"), server, grace).await);
        }
        (self.worker, failures)
    }
}

/// Open a worker again after a crash: tasks still finishing (a commit on a blocking thread,
/// an open connection) may hold its store for a moment, so an open store is retried for up
/// to `timeout`.
pub async fn reopen_worker(
    config: impl Fn() -> WorkerConfig,
    timeout: Duration,
) -> Result<Worker, WorkerError> {
    let start = std::time::Instant::now();
    loop {
        match Worker::open(config()) {
            Err(WorkerError::OpenStore { .. }) if start.elapsed() < timeout => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            opened => return opened,
        }
    }
}
