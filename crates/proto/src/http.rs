//! A small HTTP/1 transport: JSON reads and writes and Server-Sent Event streams.
//!
//! Plain `http://` only: a node and its workers on the same host or network. Requests reuse
//! idle connections (kept at most [`IDLE_FOR`], [`POOL_SIZE`] of them per base URL);
//! event streams get their own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::windows::{ANSWER_TIMEOUT, STREAM_IDLE};

/// How long an idle connection is kept for reuse (servers close idle ones after a while).
pub const IDLE_FOR: Duration = Duration::from_secs(5);
/// How many idle connections are kept.
pub const POOL_SIZE: usize = 64;
/// The longest Server-Sent Event read (a block of the largest transactions fits).
pub const MAX_EVENT_BYTES: usize = 256 << 20;
/// The largest response body read: a server (a node, a worker, another member of a
/// cluster) that sends more is cut off with an error instead of filling the reader's memory.
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle connections, with when each went idle.
#[derive(Default)]
struct Pool(Mutex<Vec<(Sender, Instant)>>);

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.0.lock().map_or(0, |p| p.len());
        write!(f, "Pool({idle} idle)")
    }
}

/// An HTTP API at a base URL such as `http://127.0.0.1:8545`.
#[derive(Debug, Clone)]
pub struct Http {
    base: String,
    authority: String,
    pool: Arc<Pool>,
    max_response: usize,
}

impl Http {
    /// A transport to `url` (`http://host:port`, optionally with a path prefix and a trailing
    /// `/`).
    pub fn new(url: &str) -> Result<Self> {
        let base = url.trim_end_matches('/').to_string();
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| Error::BadUrl { url: url.into() })?;
        let authority = rest.split('/').next().unwrap_or_default().to_string();
        if authority.is_empty() || !authority.contains(':') {
            return Err(Error::BadUrl { url: url.into() });
        }
        Ok(Self {
            base,
            authority,
            pool: Arc::default(),
            max_response: MAX_RESPONSE_BYTES,
        })
    }

    /// The same transport reading response bodies of at most `bytes` (tests use small ones).
    pub fn with_max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The same host with `suffix` appended to the base URL (`/workers/0`).
    pub fn join(&self, suffix: &str) -> Self {
        Self {
            base: format!("{}{suffix}", self.base),
            authority: self.authority.clone(),
            pool: self.pool.clone(),
            max_response: self.max_response,
        }
    }

    fn path_of(&self, path: &str) -> String {
        let prefix = self.base["http://".len() + self.authority.len()..].to_string();
        format!("{prefix}{path}")
    }

    fn transport(&self, path: &str, message: impl std::fmt::Display) -> Error {
        Error::Transport {
            url: format!("{}{path}", self.base),
            message: message.to_string(),
        }
    }

    async fn connect(&self, path: &str) -> Result<Sender> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|source| Error::NoNode {
                url: self.base.clone(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(path, e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// An idle connection that is still open, if any.
    fn idle(&self) -> Option<Sender> {
        let mut pool = self.pool.0.lock().expect("connection pool lock");
        while let Some((sender, since)) = pool.pop() {
            if since.elapsed() < IDLE_FOR && sender.is_ready() && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn request(
        &self,
        method: &hyper::Method,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<hyper::Request<Full<Bytes>>> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(self.path_of(path))
            .header(hyper::header::HOST, &self.authority);
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(hyper::header::CONTENT_TYPE, content_type);
                Full::new(Bytes::copy_from_slice(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        request.body(body).map_err(|e| self.transport(path, e))
    }

    /// Send a request on a new connection and return the response as it streams.
    async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<hyper::Response<Incoming>> {
        let mut sender = self.connect(path).await?;
        let request = self.request(
            &method,
            path,
            body.as_ref().map(|(c, b)| (*c, b.as_slice())),
        )?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.transport(path, e))?;
        self.check(path, response).await
    }

    /// Send a request, on an idle connection when there is one, and read the whole answer
    /// within [`ANSWER_TIMEOUT`].
    async fn exchange(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Bytes> {
        tokio::time::timeout(ANSWER_TIMEOUT, self.exchange_untimed(method, path, body))
            .await
            .unwrap_or_else(|_| {
                Err(self.transport(
                    path,
                    format!("no whole answer within {} s", ANSWER_TIMEOUT.as_secs()),
                ))
            })
    }

    async fn exchange_untimed(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Bytes> {
        let body = body.as_ref().map(|(c, b)| (*c, b.as_slice()));
        let pooled = match self.idle() {
            Some(mut sender) => match sender
                .send_request(self.request(&method, path, body)?)
                .await
            {
                Ok(response) => Some((sender, response)),
                // The server closed the idle connection before it took the request (hyper
                // says so only when nothing was sent): try once more on a new connection.
                Err(e) if e.is_canceled() => None,
                Err(e) => return Err(self.transport(path, e)),
            },
            None => None,
        };
        let (mut sender, response) = match pooled {
            Some(exchanged) => exchanged,
            None => {
                let mut sender = self.connect(path).await?;
                let request = self.request(&method, path, body)?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| self.transport(path, e))?;
                (sender, response)
            }
        };
        let response = self.check(path, response).await?;
        let limit = self.max_response;
        let bytes = http_body_util::Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    self.transport(path, format!("the answer is longer than {limit} bytes"))
                } else {
                    self.transport(path, e)
                }
            })?
            .to_bytes();
        if sender.ready().await.is_ok() {
            let mut pool = self.pool.0.lock().expect("connection pool lock");
            if pool.len() < POOL_SIZE {
                pool.push((sender, Instant::now()));
            }
        }
        Ok(bytes)
    }

    /// Turn a response that is not a success into [`Error::Api`].
    async fn check(
        &self,
        path: &str,
        response: hyper::Response<Incoming>,
    ) -> Result<hyper::Response<Incoming>> {
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into())
            });
            let code = body["code"].as_str().map(str::to_string);
            let message = body["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| body.as_str().unwrap_or_default().to_string());
            return Err(Error::Api {
                url: format!("{}{path}", self.base),
                status,
                code,
                message,
                body: Box::new(body),
            });
        }
        Ok(response)
    }

    fn json<T: DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            url: format!("{}{path}", self.base),
            message: e.to_string(),
        })
    }

    /// GET `path` and parse the JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let body = self.exchange(hyper::Method::GET, path, None).await?;
        self.json(path, &body)
    }

    /// GET `path` and return the answer's bytes as they are.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        Ok(self
            .exchange(hyper::Method::GET, path, None)
            .await?
            .to_vec())
    }

    /// POST `body` with a content type to `path` and parse the JSON answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T> {
        let body = self
            .exchange(hyper::Method::POST, path, Some((content_type, body)))
            .await?;
        self.json(path, &body)
    }

    /// POST `body` with a content type to `path` and return the answer's bytes as they are.
    pub async fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let body = self
            .exchange(hyper::Method::POST, path, Some((content_type, body)))
            .await?;
        Ok(body.to_vec())
    }

    /// Open the Server-Sent Events stream at `path`.
    pub async fn events(&self, path: &str) -> Result<EventStream> {
        let response =
            tokio::time::timeout(ANSWER_TIMEOUT, self.send(hyper::Method::GET, path, None))
                .await
                .map_err(|_| self.transport(path, "the event stream did not open"))??;
        Ok(EventStream {
            url: format!("{}{path}", self.base),
            body: response.into_body(),
            decoder: SseDecoder::default(),
        })
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

/// A stream of Server-Sent Events.
#[derive(Debug)]
pub struct EventStream {
    url: String,
    body: Incoming,
    decoder: SseDecoder,
}

impl EventStream {
    /// The next event; `None` when the server ends the stream.
    ///
    /// Each byte is scanned for the end of an event once, however the event is split into
    /// chunks, and an event longer than [`MAX_EVENT_BYTES`] ends the stream with an error;
    /// so does a stream that sends nothing at all, not even a keep-alive, for [`STREAM_IDLE`]
    /// (a half-open connection would otherwise be waited on for ever).
    pub async fn next(&mut self) -> Result<Option<SseEvent>> {
        loop {
            if let Some(event) = self.decoder.next_event() {
                return Ok(Some(event));
            }
            if self.decoder.pending() > MAX_EVENT_BYTES {
                return Err(Error::Transport {
                    url: self.url.clone(),
                    message: format!("an event is longer than {MAX_EVENT_BYTES} bytes"),
                });
            }
            let frame = tokio::time::timeout(STREAM_IDLE, self.body.frame())
                .await
                .map_err(|_| Error::Transport {
                    url: self.url.clone(),
                    message: format!("nothing received for {} s", STREAM_IDLE.as_secs()),
                })?;
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.decoder.push(&data);
                    }
                }
                Some(Err(e)) => {
                    return Err(Error::Transport {
                        url: self.url.clone(),
                        message: e.to_string(),
                    });
                }
                None => return Ok(None),
            }
        }
    }
}

/// Splits the bytes of a Server-Sent Events stream into events, however they arrive in
/// chunks: [`EventStream`] feeds it what it reads.
///
/// Each byte is scanned for the end of an event once (a blank line: `\n\n` or `\r\n\r\n`);
/// an event's text is read as UTF-8, invalid sequences replaced. Events without data (comments,
/// keep-alives) are skipped.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no event boundary.
    scanned: usize,
}

impl SseDecoder {
    /// Add bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole event among the bytes pushed so far, if there is one.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        while let Some(end) = find_blank_line(&self.buf, self.scanned) {
            let raw = &self.buf[..end.0];
            // Checked whole (fast), and read lossily only if it is not UTF-8.
            let event = match std::str::from_utf8(raw) {
                Ok(text) => parse_event(text),
                Err(_) => parse_event(&String::from_utf8_lossy(raw)),
            };
            self.buf.drain(..end.1);
            self.scanned = 0;
            if event.is_some() {
                return event;
            }
        }
        // A blank line may straddle the next chunk: rescan only the last three bytes.
        self.scanned = self.buf.len().saturating_sub(3);
        None
    }

    /// How many bytes wait for the end of their event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// One event's text; `None` when it has no data (a comment or keep-alive).
fn parse_event(text: &str) -> Option<SseEvent> {
    let mut event = SseEvent {
        event: "message".into(),
        data: String::new(),
    };
    let mut has_data = false;
    for line in text.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event.event = value.into(),
            "data" => {
                if has_data {
                    event.data.push('\n');
                }
                event.data.push_str(value);
                has_data = true;
            }
            _ => {}
        }
    }
    has_data.then_some(event)
}

/// The end of the first event in `buf`, looking from `from` on: (end of its text, end
/// including the blank line).
fn find_blank_line(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    // Each blank line holds a line feed: look only at those (`memchr` finds them many bytes
    // at a time), the first `\r\n\r\n` or `\n\n` that starts at `from` or later.
    let from = from.min(buf.len());
    memchr::memchr_iter(b'\n', &buf[from..]).find_map(|at| {
        let j = from + at;
        if j > from && buf[j - 1] == b'\r' && buf[j + 1..].starts_with(b"\r\n") {
            Some((j - 1, j + 3))
        } else if buf[j + 1..].starts_with(b"\n") {
            Some((j, j + 2))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_event_boundaries() {
        assert_eq!(find_blank_line(b"data: x\n\nrest", 0), Some((7, 9)));
        assert_eq!(find_blank_line(b"data: x\r\n\r\n", 0), Some((7, 11)));
        assert_eq!(find_blank_line(b"data: x\r\n\r\n", 5), Some((7, 11)));
        assert_eq!(find_blank_line(b"data: x\n", 0), None);
        assert_eq!(find_blank_line(b"\n\n", 0), Some((0, 2)));
        assert_eq!(
            find_blank_line(b"a\r\n\r\n", 2),
            None,
            "starts before `from`"
        );
        assert_eq!(find_blank_line(b"a\r\n\r\n", 1), Some((1, 5)));
        assert_eq!(find_blank_line(b"a\r\n\n", 0), Some((2, 4)));
        assert_eq!(find_blank_line(b"a\n\r\n\r\n", 0), Some((2, 6)));
        assert_eq!(find_blank_line(b"a", 5), None);
    }

    /// The line-feed search finds what a scan of every position finds, wherever it starts.
    #[test]
    fn finds_the_boundaries_a_scan_of_every_position_finds() {
        fn scan(buf: &[u8], from: usize) -> Option<(usize, usize)> {
            (from..buf.len()).find_map(|i| {
                if buf[i..].starts_with(b"\n\n") {
                    Some((i, i + 2))
                } else if buf[i..].starts_with(b"\r\n\r\n") {
                    Some((i, i + 4))
                } else {
                    None
                }
            })
        }
        // Every text of up to 7 bytes from {a, \r, \n}, from every start.
        for len in 0..=7u32 {
            for code in 0..3usize.pow(len) {
                let buf: Vec<u8> = (0..len)
                    .map(|k| b"a\r\n"[code / 3usize.pow(k) % 3])
                    .collect();
                for from in 0..=buf.len() {
                    assert_eq!(
                        find_blank_line(&buf, from),
                        scan(&buf, from),
                        "{buf:?} from {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn events_cut_anywhere_decode_the_same() {
        let bytes: &[u8] = b"data: {\"a\":1}\n\n: keep-alive\n\nevent: log\r\ndata: x\r\ndata: y\r\n\r\ndata: \xc3\xa9\xff\n\n";
        let whole = {
            let mut d = SseDecoder::default();
            d.push(bytes);
            std::iter::from_fn(|| d.next_event()).collect::<Vec<_>>()
        };
        assert_eq!(whole.len(), 3, "{whole:?}");
        assert_eq!(whole[1].data, "x\ny");
        assert_eq!(
            whole[2].data, "\u{e9}\u{fffd}",
            "what is not UTF-8 is read lossily"
        );
        for cut in 0..bytes.len() {
            let mut d = SseDecoder::default();
            d.push(&bytes[..cut]);
            let mut events: Vec<_> = std::iter::from_fn(|| d.next_event()).collect();
            d.push(&bytes[cut..]);
            events.extend(std::iter::from_fn(|| d.next_event()));
            assert_eq!(events, whole, "cut at {cut}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn parses_events() {
        let event = parse_event("event: log\nid: 3\ndata: {\"a\":1}").unwrap();
        assert_eq!(event.event, "log");
        assert_eq!(event.data, "{\"a\":1}");
        assert_eq!(parse_event(": keep-alive"), None);
    }

    #[tokio::test]
    async fn an_answer_longer_than_the_limit_is_cut_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            // Two requests: one answered within the limit, one past it.
            for size in [1000, 5000] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await.unwrap();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
                );
                socket.write_all(head.as_bytes()).await.unwrap();
                let _ = socket.write_all(&vec![7u8; size]).await;
            }
        });
        let http = Http::new(&format!("http://{addr}"))
            .unwrap()
            .with_max_response(4096);
        assert_eq!(http.get_bytes("/small").await.unwrap().len(), 1000);
        let error = http.get_bytes("/large").await.unwrap_err().to_string();
        assert!(error.contains("longer than 4096 bytes"), "{error}");
        server.await.unwrap();
    }

    /// A server that answers `head` to the first request, then sends nothing more and keeps
    /// the connection open (a half-open connection, as far as the reader can tell).
    async fn silent_server(head: &'static str) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            socket.write_all(head.as_bytes()).await.unwrap();
            std::future::pending::<()>().await;
            drop(socket);
        });
        addr
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_event_stream_ends_with_an_error_instead_of_waiting_for_ever() {
        let addr = silent_server(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .await;
        let http = Http::new(&format!("http://{addr}")).unwrap();
        let mut stream = http.events("/v1/blocks").await.unwrap();
        let started = tokio::time::Instant::now();
        let error = stream.next().await.unwrap_err().to_string();
        assert!(error.contains("nothing received for 60 s"), "{error}");
        assert!(started.elapsed() >= STREAM_IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_never_comes_ends_with_an_error() {
        let addr = silent_server("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc").await;
        let http = Http::new(&format!("http://{addr}")).unwrap();
        let error = http.get_bytes("/v1/status").await.unwrap_err().to_string();
        assert!(error.contains("no whole answer within 180 s"), "{error}");
    }

    #[test]
    fn urls() {
        let http = Http::new("http://127.0.0.1:8545/").unwrap();
        assert_eq!(http.url(), "http://127.0.0.1:8545");
        assert_eq!(
            http.join("/workers/0").path_of("/v1/status"),
            "/workers/0/v1/status"
        );
        assert!(matches!(
            Http::new("https://x:1"),
            Err(Error::BadUrl { .. })
        ));
        assert!(matches!(
            Http::new("127.0.0.1:8545"),
            Err(Error::BadUrl { .. })
        ));
    }
}
