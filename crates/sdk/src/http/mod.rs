//! A small HTTP client over `wasi:http/outgoing-handler`, for queries and jobs.
//!
//! ```no_run
//! # fn demo() -> fat_sdk::Result<()> {
//! use fat_sdk::http;
//!
//! let price: serde_json::Value = http::get("https://api.example.com/price")?.error_for_status()?.json()?;
//! http::Request::post("https://hooks.example.com/notify")
//!     .header("authorization", "Bearer ...")
//!     .json(&serde_json::json!({ "price": price }))?
//!     .send()?
//!     .error_for_status()?;
//! # Ok(())
//! # }
//! ```
//!
//! The client follows up to [`MAX_REDIRECTS`] redirects itself, each as a new request so the
//! host checks its address policy again; [`send_all`] sends several requests concurrently.
//! Commands cannot use the network: there, every `wasi:http` call traps, ending the command
//! with "the network is not available in a command".
//! Errors name the origin only, never the path or the query.

mod transport;
mod url;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};
use url::Url;

/// How many redirects a request follows before it fails with [`Error::TooManyRedirects`].
pub const MAX_REDIRECTS: u8 = 5;

/// The largest response body the client reads unless a request says otherwise: 16 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 << 20;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

/// A request to build and [`send`](Request::send).
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    body_limit: usize,
}

impl Request {
    /// A request with `method` to `url` (absolute, `http` or `https`).
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// Add a header (names are case-insensitive; repeat to send several values).
    pub fn header(mut self, name: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Set the body to `value` as JSON, with `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value).map_err(|source| Error::Encode {
            what: "the request body".to_owned(),
            source,
        })?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Give up connecting, and waiting for the first byte, after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Refuse response bodies longer than `bytes` (default [`DEFAULT_BODY_LIMIT`]).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Send the request and read the whole response, following redirects.
    pub fn send(self) -> Result<Response> {
        send_all(vec![self])
            .pop()
            .expect("one request gives one response")
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    origin: String,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The response itself if its status is 2xx, else [`Error::Status`].
    pub fn error_for_status(self) -> Result<Self> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(Error::Status {
                origin: self.origin,
                status: self.status,
            })
        }
    }

    /// All headers, names in lower case, in the order received.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, consuming the response.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as UTF-8 text (invalid sequences replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|source| Error::Decode {
            what: format!("the response from {}", self.origin),
            source,
        })
    }

    /// `scheme://authority` of the server that answered (after redirects).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// `GET url`.
pub fn get(url: impl Into<String>) -> Result<Response> {
    Request::get(url).send()
}

/// `POST url` with `body` as JSON.
pub fn post_json<T: Serialize + ?Sized>(url: impl Into<String>, body: &T) -> Result<Response> {
    Request::post(url).json(body)?.send()
}

/// Send all `requests` concurrently and return their responses in the same order.
///
/// All requests are started at once, then their responses are awaited together; a redirect
/// starts the next hop without waiting for the others.
pub fn send_all(requests: Vec<Request>) -> Vec<Result<Response>> {
    transport::send_all(requests)
}

/// One hop of a request: what goes on the wire.
#[derive(Debug, Clone)]
struct Hop {
    method: Method,
    url: Url,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Hop {
    /// The hop that follows a `status` redirect to `location`, as browsers do it: 303, and
    /// 301/302 after a POST, become a GET without a body; credentials stay with their origin.
    fn redirect(&self, status: u16, location: &str) -> Result<Hop> {
        let url = self.url.join(location)?;
        let mut next = Hop {
            method: self.method,
            url,
            headers: self.headers.clone(),
            body: self.body.clone(),
        };
        let to_get = status == 303 && self.method != Method::Head
            || matches!(status, 301 | 302) && self.method == Method::Post;
        if to_get {
            next.method = Method::Get;
            next.body.clear();
            next.headers
                .retain(|(name, _)| !name.starts_with("content-"));
        }
        if next.url.origin() != self.url.origin() {
            next.headers.retain(|(name, _)| {
                !matches!(
                    name.as_str(),
                    "authorization" | "cookie" | "proxy-authorization"
                )
            });
        }
        Ok(next)
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(method: Method, url: &str) -> Hop {
        Hop {
            method,
            url: Url::parse(url).unwrap(),
            headers: vec![
                ("authorization".into(), b"x".to_vec()),
                ("content-type".into(), b"a/b".to_vec()),
            ],
            body: b"body".to_vec(),
        }
    }

    #[test]
    fn see_other_and_post_redirects_become_gets() {
        let next = hop(Method::Post, "http://a.io/x")
            .redirect(303, "/y")
            .unwrap();
        assert_eq!(
            (next.method, next.body.len(), next.headers.len()),
            (Method::Get, 0, 1)
        );
        let next = hop(Method::Post, "http://a.io/x")
            .redirect(302, "/y")
            .unwrap();
        assert_eq!(next.method, Method::Get);
        let next = hop(Method::Post, "http://a.io/x")
            .redirect(307, "/y")
            .unwrap();
        assert_eq!(
            (next.method, next.body.as_slice()),
            (Method::Post, &b"body"[..])
        );
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let next = hop(Method::Get, "http://a.io/x")
            .redirect(301, "http://b.io/")
            .unwrap();
        assert!(next.headers.iter().all(|(name, _)| name != "authorization"));
        let next = hop(Method::Get, "http://a.io/x")
            .redirect(301, "/z")
            .unwrap();
        assert!(next.headers.iter().any(|(name, _)| name == "authorization"));
    }

    #[test]
    fn status_errors_name_the_origin_only() {
        let response = Response {
            status: 404,
            headers: vec![],
            body: vec![],
            origin: "https://a.io".into(),
        };
        assert_eq!(
            response.error_for_status().unwrap_err().to_string(),
            "https://a.io answered HTTP 404"
        );
    }

    #[test]
    fn json_bodies_decode_with_context() {
        let response = Response {
            status: 200,
            headers: vec![],
            body: b"nope".to_vec(),
            origin: "http://p.io".into(),
        };
        let err = response
            .json::<serde_json::Value>()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("malformed JSON in the response from http://p.io: "),
            "{err}"
        );
    }
}
