//! The worker's view of the chain node's API: JSON reads, submissions and the block stream.
//!
//! A thin layer over [`fat_client::Http`] that turns its errors into
//! [`WorkerError::Chain`], the variant the follower retries on.

use fat_types::{AccountId, SignedTransaction};
use serde::de::DeserializeOwned;

pub use fat_client::SseEvent;

use crate::error::{Result, WorkerError};

/// The chain node's API at a base URL such as `http://127.0.0.1:8545`.
#[derive(Debug, Clone)]
pub struct ChainClient {
    http: fat_client::Http,
}

fn chain_error(url: &str, error: impl std::fmt::Display) -> WorkerError {
    WorkerError::Chain {
        url: url.to_string(),
        message: error.to_string(),
    }
}

impl ChainClient {
    /// A client of the node at `url` (`http://host:port`, optionally with a trailing `/`).
    pub fn new(url: &str) -> Result<Self> {
        let http = fat_client::Http::new(url).map_err(|e| chain_error(url, e))?;
        Ok(Self { http })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.http.url()
    }

    fn error(&self, path: &str, error: impl std::fmt::Display) -> WorkerError {
        chain_error(&format!("{}{path}", self.url()), error)
    }

    /// GET `path` and parse the JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.http
            .get_json(path)
            .await
            .map_err(|e| self.error(path, e))
    }

    /// POST `body` with a content type to `path` and parse the JSON answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T> {
        self.http
            .post_json(path, content_type, body)
            .await
            .map_err(|e| self.error(path, e))
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
        let inner = self
            .http
            .events(path)
            .await
            .map_err(|e| self.error(path, e))?;
        Ok(EventStream {
            inner,
            url: format!("{}{path}", self.url()),
        })
    }
}

/// A stream of Server-Sent Events from the node.
#[derive(Debug)]
pub struct EventStream {
    inner: fat_client::EventStream,
    url: String,
}

impl EventStream {
    /// The next event; `None` when the server ends the stream.
    pub async fn next(&mut self) -> Result<Option<SseEvent>> {
        self.inner
            .next()
            .await
            .map_err(|e| chain_error(&self.url, e))
    }
}
