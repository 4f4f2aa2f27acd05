//! A small HTTP/1 client for the chain node's API: JSON reads and the block stream (SSE).
//!
//! Plain `http://` only, which is what a worker next to its node uses.

use bytes::Bytes;
use fat_types::{AccountId, SignedTransaction};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::error::{Result, WorkerError};

/// The chain node's API at a base URL such as `http://127.0.0.1:8545`.
#[derive(Debug, Clone)]
pub struct ChainClient {
    base: String,
    authority: String,
}

impl ChainClient {
    /// A client of the node at `url` (`http://host:port`, optionally with a trailing `/`).
    pub fn new(url: &str) -> Result<Self> {
        let base = url.trim_end_matches('/').to_string();
        let authority = base
            .strip_prefix("http://")
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| WorkerError::Chain {
                url: url.into(),
                message: "expected http://host:port".into(),
            })?
            .to_string();
        Ok(Self { base, authority })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn error(&self, path: &str, message: impl std::fmt::Display) -> WorkerError {
        WorkerError::Chain {
            url: format!("{}{path}", self.base),
            message: message.to_string(),
        }
    }

    async fn request(&self, path: &str) -> Result<hyper::Response<Incoming>> {
        self.send(hyper::Method::GET, path, None).await
    }

    async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<hyper::Response<Incoming>> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| self.error(path, e))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.error(path, e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.authority);
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(hyper::header::CONTENT_TYPE, content_type);
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|e| self.error(path, e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.error(path, e))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.into_body().collect().await.map(|b| b.to_bytes());
            let text = body.map(|b| String::from_utf8_lossy(&b).into_owned());
            return Err(self.error(path, format!("{status}: {}", text.unwrap_or_default())));
        }
        Ok(response)
    }

    /// GET `path` and parse the JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.request(path).await?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.error(path, e))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| self.error(path, e))
    }

    /// POST `body` with a content type to `path` and parse the JSON answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T> {
        let response = self
            .send(hyper::Method::POST, path, Some((content_type, body)))
            .await?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.error(path, e))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| self.error(path, e))
    }

    /// Submit a transaction and wait until it is committed; the node's answer
    /// (`{"id", "status", "height", "index", "receipt"}`).
    pub async fn submit_wait(&self, tx: &SignedTransaction) -> Result<serde_json::Value> {
        self.post_json("/v1/txs?wait=true", "application/octet-stream", tx.encode())
            .await
    }

    /// The nonce an account's next transaction must carry.
    pub async fn next_nonce(&self, account: &AccountId) -> Result<u64> {
        let value: serde_json::Value = self.get_json(&format!("/v1/accounts/{account}")).await?;
        value["next_nonce"]
            .as_u64()
            .ok_or_else(|| self.error("/v1/accounts", "no next_nonce in the answer"))
    }

    /// Open the Server-Sent Events stream at `path`.
    pub async fn events(&self, path: &str) -> Result<EventStream> {
        let response = self.request(path).await?;
        Ok(EventStream {
            body: response.into_body(),
            buf: Vec::new(),
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
    body: Incoming,
    buf: Vec<u8>,
}

impl EventStream {
    /// The next event; `None` when the server ends the stream.
    pub async fn next(&mut self) -> Result<Option<SseEvent>> {
        loop {
            if let Some(end) = find_blank_line(&self.buf) {
                let raw: Vec<u8> = self.buf.drain(..end.1).collect();
                let text = String::from_utf8_lossy(&raw[..end.0]);
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
                if has_data {
                    return Ok(Some(event));
                }
                continue;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    return Err(WorkerError::Chain {
                        url: "event stream".into(),
                        message: e.to_string(),
                    });
                }
                None => return Ok(None),
            }
        }
    }
}

/// The end of the first event in `buf`: (end of its text, end including the blank line).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let text = buf;
    (0..text.len()).find_map(|i| {
        if text[i..].starts_with(b"\n\n") {
            Some((i, i + 2))
        } else if text[i..].starts_with(b"\r\n\r\n") {
            Some((i, i + 4))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::find_blank_line;

    #[test]
    fn finds_event_boundaries() {
        assert_eq!(find_blank_line(b"data: x\n\nrest"), Some((7, 9)));
        assert_eq!(find_blank_line(b"data: x\r\n\r\n"), Some((7, 11)));
        assert_eq!(find_blank_line(b"data: x\n"), None);
    }
}
