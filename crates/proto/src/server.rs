//! Serve an HTTP API to peers that may be hostile: the chain's RPC and the worker's API both
//! listen through [`serve`].
//!
//! A peer that opens connections and never finishes a request (slowloris) would otherwise
//! hold a task and a socket each for as long as it likes. Here a request's head must arrive
//! within [`ServerLimits::header_read_timeout`] (an idle kept-alive connection is closed after
//! the same time), the server holds at most [`ServerLimits::max_connections`] connections,
//! and one remote address at most [`ServerLimits::max_connections_per_ip`] (loopback excepted:
//! a development network's processes all share it). A connection past a cap is closed at
//! once; the listener never stops accepting. A request's body must arrive whole within
//! [`ServerLimits::body_read_timeout`] of the handler's first read (every route reads at
//! once): a body that stops, or is sent a byte at a time, fails to read
//! (the handler answers 400 and the connection closes) instead of holding its place for ever.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::windows::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT};

/// Caps on what the peers of one server may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time for a request's head to arrive, and for an idle connection to send its next one.
    pub header_read_timeout: Duration,
    /// Time for a request's whole body to arrive once its handler starts reading it.
    pub body_read_timeout: Duration,
    /// Connections open at once, from all peers.
    pub max_connections: usize,
    /// Connections open at once from one non-loopback address.
    pub max_connections_per_ip: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            max_connections: 768,
            max_connections_per_ip: 64,
        }
    }
}

/// Open connections, in all and per remote address.
#[derive(Default)]
struct Connections {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; it leaves the count when dropped.
struct Admitted {
    connections: Arc<Mutex<Connections>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.lock().expect("connection count lock");
        open.total -= 1;
        if let Some(count) = open.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Count a new connection from `ip`, or refuse it when a cap is reached.
fn admit(
    connections: &Arc<Mutex<Connections>>,
    limits: &ServerLimits,
    ip: IpAddr,
) -> Option<Admitted> {
    let mut open = connections.lock().expect("connection count lock");
    let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
    if open.total >= limits.max_connections
        || (!ip.is_loopback() && from_ip >= limits.max_connections_per_ip)
    {
        return None;
    }
    open.total += 1;
    *open.per_ip.entry(ip).or_default() += 1;
    Some(Admitted {
        connections: connections.clone(),
        ip,
    })
}

/// A request's body that must arrive whole within a time of its first read (a handler may
/// wait for its turn before reading); past it, reading fails.
pub struct RequestBody {
    body: Incoming,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timeout: Duration,
}

/// A request body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

impl Body for RequestBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let timeout = self.timeout;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut(self.timeout).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// `inner`, given each request's body with its deadline.
#[derive(Clone)]
struct WithBodyDeadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S> tower_service::Service<hyper::Request<Incoming>> for WithBodyDeadline<S>
where
    S: tower_service::Service<hyper::Request<RequestBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: hyper::Request<Incoming>) -> Self::Future {
        let timeout = self.timeout;
        self.inner.call(request.map(|body| RequestBody {
            body,
            deadline: None,
            timeout,
        }))
    }
}

/// Serve `service` (an axum `Router`, for one) on `listener` over HTTP/1 within `limits`,
/// until `shutdown` completes; then stop accepting and let open requests finish.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    S: tower_service::Service<
            hyper::Request<RequestBody>,
            Response = hyper::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connections = Arc::new(Mutex::new(Connections::default()));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it was accepted: the
                // listener itself is fine, so wait a moment and go on.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = admit(&connections, &limits, peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many open");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = WithBodyDeadline {
            inner: service.clone(),
            timeout: limits.body_read_timeout,
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(admitted);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_in_all_and_free_on_drop() {
        let limits = ServerLimits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..ServerLimits::default()
        };
        let open = Arc::new(Mutex::new(Connections::default()));
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let first = admit(&open, &limits, remote).expect("first");
        let _second = admit(&open, &limits, remote).expect("second");
        assert!(admit(&open, &limits, remote).is_none(), "per address");
        let _third = admit(&open, &limits, other).expect("another address");
        assert!(admit(&open, &limits, other).is_none(), "in all");
        drop(first);
        assert!(admit(&open, &limits, remote).is_some(), "freed on drop");
    }

    #[test]
    fn loopback_is_capped_only_in_all() {
        let limits = ServerLimits {
            max_connections: 5,
            max_connections_per_ip: 1,
            ..ServerLimits::default()
        };
        let open = Arc::new(Mutex::new(Connections::default()));
        let held: Vec<_> = (0..5)
            .map(|_| admit(&open, &limits, IpAddr::from([127, 0, 0, 1])).expect("loopback"))
            .collect();
        assert!(admit(&open, &limits, IpAddr::from([127, 0, 0, 1])).is_none());
        drop(held);
        assert_eq!(open.lock().unwrap().total, 0);
    }
}
