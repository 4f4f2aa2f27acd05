//! One stop signal for a whole network, serving an API until it fires, and joining the tasks it
//! stopped.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A stop signal: cloneable, fired once with [`Shutdown::trigger`], awaited with
/// [`Shutdown::wait`] by every server, follower, gatekeeper and sequencer it stops.
///
/// Dropping the last handle of a signal counts as firing it, so nothing outlives a network
/// that was dropped without [`crate::Devnet::stop`]. A [`Shutdown::child`] fires with its
/// parent, or on its own (one worker of a network).
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fired: watch::Sender<bool>,
    children: Mutex<Vec<Weak<Inner>>>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            fired: watch::channel(false).0,
            children: Mutex::default(),
        }
    }
}

impl Inner {
    fn trigger(&self) {
        self.fired.send_replace(true);
        self.trigger_children();
    }

    fn trigger_children(&self) {
        let children = std::mem::take(&mut *self.children.lock().expect("not poisoned"));
        for child in children.iter().filter_map(Weak::upgrade) {
            child.trigger();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.trigger_children();
    }
}

impl Shutdown {
    /// A signal not fired yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fire the signal: every [`Shutdown::wait`] of it and of its children completes.
    pub fn trigger(&self) {
        self.inner.trigger();
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        *self.inner.fired.borrow()
    }

    /// A future that completes once the signal fires (at once if it has): what
    /// `axum::serve(..).with_graceful_shutdown`, `Worker::follow`, `Gatekeeper::run` and
    /// `Consensus::run` take as their shutdown.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut fired = self.inner.fired.subscribe();
        async move {
            // An error means every handle is gone: that stops too.
            let _ = fired.wait_for(|fired| *fired).await;
        }
    }

    /// A signal that fires when this one does, and can also be fired on its own.
    pub fn child(&self) -> Shutdown {
        let child = Shutdown::new();
        {
            let mut children = self.inner.children.lock().expect("not poisoned");
            children.retain(|c| c.strong_count() > 0);
            children.push(Arc::downgrade(&child.inner));
        }
        // Fired meanwhile (before or after the push): fire the child too.
        if self.is_triggered() {
            child.trigger();
        }
        child
    }
}

/// Serve `router` on `listener` until `shutdown` fires, then finish the open requests.
pub fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: &Shutdown,
) -> JoinHandle<std::io::Result<()>> {
    let stop = shutdown.wait();
    tokio::spawn(async move {
        fat_proto::serve(listener, router, fat_proto::ServerLimits::default(), stop).await
    })
}

/// An error of any task, boxed.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A task that ended badly when its network stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// Which task: `RPC server`, `sequencer`, `gatekeeper`, `worker 0`.
    pub task: String,
    /// What happened, with its causes.
    pub error: String,
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} stopped: {}", self.task, self.error)
    }
}

/// An error and its sources, `outer: inner: cause`.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Join `handle` for at most `grace` (aborting it then); a failure if it failed, panicked or
/// had to be aborted.
pub(crate) async fn join<E>(
    task: &str,
    mut handle: JoinHandle<Result<(), E>>,
    grace: Duration,
) -> Option<TaskFailure>
where
    E: Into<BoxError>,
{
    let error = match tokio::time::timeout(grace, &mut handle).await {
        Ok(Ok(Ok(()))) => return None,
        Ok(Ok(Err(e))) => describe(&*e.into()),
        Ok(Err(e)) if e.is_panic() => format!("panicked: {e}"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => {
            handle.abort();
            format!("still running {grace:?} after the stop; aborted")
        }
    };
    Some(TaskFailure {
        task: task.to_string(),
        error,
    })
}

/// Joining one task, for at most a grace period.
type Joining =
    Box<dyn FnOnce(Duration) -> Pin<Box<dyn Future<Output = Option<TaskFailure>> + Send>> + Send>;

/// Named tasks a network stops together.
#[derive(Default)]
pub(crate) struct Tasks {
    tasks: Vec<Joining>,
}

impl Tasks {
    /// Run `task` as `name`.
    pub(crate) fn spawn<E>(
        &mut self,
        name: impl Into<String>,
        task: impl Future<Output = Result<(), E>> + Send + 'static,
    ) where
        E: Into<BoxError> + Send + 'static,
    {
        self.add(name, tokio::spawn(task));
    }

    /// Join `handle` with the others, as `name`.
    pub(crate) fn add<E>(&mut self, name: impl Into<String>, handle: JoinHandle<Result<(), E>>)
    where
        E: Into<BoxError> + Send + 'static,
    {
        let name = name.into();
        self.tasks.push(Box::new(move |grace| {
            Box::pin(async move { join(&name, handle, grace).await })
        }));
    }

    /// Join every task in the order they were added, each for at most `grace`.
    pub(crate) async fn join(&mut self, grace: Duration) -> Vec<TaskFailure> {
        let mut failures = Vec::new();
        for joining in self.tasks.drain(..) {
            failures.extend(joining(grace).await);
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_stops_its_children_and_a_child_stops_alone() {
        let parent = Shutdown::new();
        let (a, b) = (parent.child(), parent.child());
        a.trigger();
        a.wait().await;
        assert!(!parent.is_triggered() && !b.is_triggered());
        let waiting = tokio::spawn(b.wait());
        parent.trigger();
        waiting.await.unwrap();
        assert!(b.is_triggered());
        // A child made after the signal fired has fired too.
        assert!(parent.child().is_triggered());
    }

    #[tokio::test]
    async fn dropping_every_handle_stops() {
        let shutdown = Shutdown::new();
        let child = shutdown.child();
        let (waiting, waiting_child) = (shutdown.wait(), child.wait());
        drop(shutdown);
        waiting.await;
        waiting_child.await;
        assert!(child.is_triggered());
    }

    #[tokio::test]
    async fn serve_stops_on_the_signal() {
        let shutdown = Shutdown::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = serve(listener, Router::new(), &shutdown);
        shutdown.trigger();
        server.await.unwrap().unwrap();
    }
}
