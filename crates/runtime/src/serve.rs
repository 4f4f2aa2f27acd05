//! Contracts that serve HTTP themselves through `wasi:http/incoming-handler`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::error::{CallError, Limit, engine_error};
use crate::host::HostState;

/// An HTTP request to a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path and query, e.g. `/status?x=1`.
    pub path: String,
    /// Header names and values.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A `GET` of `path` with no headers.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.method.len()
            + self.path.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + self.body.len()
    }
}

/// Status and headers of a contract's HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponseHead {
    /// The status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, Vec<u8>)>,
}

fn invalid(message: impl Into<String>) -> CallError {
    CallError::Reverted {
        message: message.into(),
    }
}

/// Hand `request` to the contract's incoming handler and collect its response, up to
/// `max_output` bytes of body.
pub(crate) async fn handle(
    store: &mut Store<HostState>,
    proxy: &ProxyPre<HostState>,
    request: HttpRequest,
    max_output: usize,
) -> Result<(HttpResponseHead, Vec<u8>), CallError> {
    let mut builder = http::Request::builder()
        .method(request.method.as_str())
        .uri(format!("http://contract{}", request.path));
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    let hyper_request = builder
        .body(
            Full::new(Bytes::from(request.body))
                .map_err(|never| -> wasmtime_wasi_http::Error { match never {} }),
        )
        .map_err(|e| invalid(format!("invalid HTTP request: {e}")))?;

    let (sender, receiver) = tokio::sync::oneshot::channel();
    let (incoming, outparam) = {
        let mut http = store.data_mut().http();
        let incoming = http
            .new_incoming_request(Scheme::Http, hyper_request)
            .map_err(|e| engine_error(&e, false))?;
        let outparam = http
            .new_response_outparam(sender)
            .map_err(|e| engine_error(&e, false))?;
        (incoming, outparam)
    };
    let instance = proxy
        .instantiate_async(&mut *store)
        .await
        .map_err(|e| engine_error(&e, true))?;
    // Collect the body while the handler runs: the guest writes under back-pressure. Past
    // the cap the body is dropped, so the guest's next write fails and its call ends.
    let call = instance
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, incoming, outparam);
    let collect = async move {
        let response = match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                return Err(invalid(format!(
                    "the contract answered with an error: {code:?}"
                )));
            }
            Err(_) => return Err(invalid("the contract returned without setting a response")),
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max_output)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    CallError::LimitExceeded {
                        limit: Limit::OutputSize,
                    }
                } else {
                    invalid(format!("the response body failed: {e}"))
                }
            })?;
        Ok((parts, body))
    };
    let (called, collected) = tokio::join!(call, collect);
    let (parts, body) = collected?;
    called.map_err(|e| engine_error(&e, false))?;
    let head = HttpResponseHead {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect(),
    };
    Ok((head, body.to_bytes().to_vec()))
}
