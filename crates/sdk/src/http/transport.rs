//! The requests on the wire, through `wasi:http` (the `wasi` crate's bindings).
//!
//! Resources are dropped child first (pollables, header fields, streams, bodies), as the
//! component model requires.

use std::time::Duration;

use wasi::http::outgoing_handler;
use wasi::http::types::{
    self as wasi_http, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::poll::{self, Pollable};
use wasi::io::streams::StreamError;

use super::{Hop, MAX_REDIRECTS, Method, Request, Response, is_redirect};
use crate::{Error, Result};

/// The largest write `blocking-write-and-flush` accepts.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 64 * 1024;

/// A request waiting for its response head.
struct InFlight {
    hop: Hop,
    first_origin: String,
    redirects: u8,
    timeout: Option<Duration>,
    body_limit: usize,
    future: FutureIncomingResponse,
}

enum Step {
    Done(Result<Response>),
    Next(Box<InFlight>),
}

pub(super) fn send_all(requests: Vec<Request>) -> Vec<Result<Response>> {
    let mut results: Vec<Option<Result<Response>>> = requests.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, Box<InFlight>)> = Vec::new();
    for (index, request) in requests.into_iter().enumerate() {
        match start_request(request) {
            Ok(flight) => pending.push((index, flight)),
            Err(error) => results[index] = Some(Err(error)),
        }
    }
    while !pending.is_empty() {
        let pollables: Vec<Pollable> = pending
            .iter()
            .map(|(_, flight)| flight.future.subscribe())
            .collect();
        let mut ready: Vec<usize> = {
            let refs: Vec<&Pollable> = pollables.iter().collect();
            poll::poll(&refs).into_iter().map(|i| i as usize).collect()
        };
        drop(pollables);
        ready.sort_unstable();
        ready.dedup();
        // Highest first, so that `swap_remove` leaves the lower ready positions in place.
        for position in ready.into_iter().rev() {
            let (index, flight) = pending.swap_remove(position);
            match advance(flight) {
                Step::Done(result) => results[index] = Some(result),
                Step::Next(flight) => pending.push((index, flight)),
            }
        }
    }
    results
        .into_iter()
        .map(|result| result.expect("every request ends with a result"))
        .collect()
}

fn start_request(request: Request) -> Result<Box<InFlight>> {
    let url = super::Url::parse(&request.url)?;
    let hop = Hop {
        method: request.method,
        url,
        headers: request.headers,
        body: request.body,
    };
    let future = start(&hop, request.timeout)?;
    Ok(Box::new(InFlight {
        first_origin: hop.url.origin(),
        hop,
        redirects: 0,
        timeout: request.timeout,
        body_limit: request.body_limit,
        future,
    }))
}

fn advance(flight: Box<InFlight>) -> Step {
    let origin = flight.hop.url.origin();
    let fail = |message: String| Error::Http {
        origin: origin.clone(),
        message,
    };
    let response = match flight.future.get() {
        None => return Step::Next(flight),
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Step::Done(Err(fail(code.to_string()))),
        Some(Err(())) => return Step::Done(Err(fail("the response was already taken".to_owned()))),
    };
    let status = response.status();
    let headers = {
        let fields = response.headers();
        fields.entries()
    };
    if is_redirect(status)
        && let Some(location) = header(&headers, "location")
    {
        drop(response);
        if flight.redirects >= MAX_REDIRECTS {
            return Step::Done(Err(Error::TooManyRedirects {
                origin: flight.first_origin,
                max: MAX_REDIRECTS,
            }));
        }
        let next = match flight.hop.redirect(status, &location) {
            Ok(next) => next,
            Err(error) => return Step::Done(Err(error)),
        };
        return match start(&next, flight.timeout) {
            Ok(future) => Step::Next(Box::new(InFlight {
                hop: next,
                redirects: flight.redirects + 1,
                future,
                ..*flight
            })),
            Err(error) => Step::Done(Err(error)),
        };
    }
    let body = read_body(&response, flight.body_limit, &origin);
    drop(response);
    Step::Done(body.map(|body| Response {
        status,
        headers,
        body,
        origin,
    }))
}

fn header(headers: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| String::from_utf8(value.clone()).ok())
}

/// Send one hop: build the request, hand it to the host, then write its body.
fn start(hop: &Hop, timeout: Option<Duration>) -> Result<FutureIncomingResponse> {
    let origin = hop.url.origin();
    let fail = |message: String| Error::Http {
        origin: origin.clone(),
        message,
    };
    let mut headers = hop.headers.clone();
    let sends_body =
        !hop.body.is_empty() || matches!(hop.method, Method::Post | Method::Put | Method::Patch);
    if sends_body && !headers.iter().any(|(name, _)| name == "content-length") {
        // A known length instead of chunked encoding: some servers want it.
        headers.push((
            "content-length".to_owned(),
            hop.body.len().to_string().into_bytes(),
        ));
    }
    let fields =
        Fields::from_list(&headers).map_err(|e| fail(format!("invalid request header: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let scheme = if hop.url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_method(&wasi_method(hop.method))
        .map_err(|()| fail("invalid method".to_owned()))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| fail("invalid scheme".to_owned()))?;
    request
        .set_authority(Some(&hop.url.authority))
        .map_err(|()| Error::InvalidUrl {
            reason: "invalid host".to_owned(),
        })?;
    request
        .set_path_with_query(Some(&hop.url.path_and_query))
        .map_err(|()| Error::InvalidUrl {
            reason: "invalid path or query".to_owned(),
        })?;
    let options = timeout.map(|timeout| {
        let options = RequestOptions::new();
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        // A host that does not support a timeout refuses it; the request still goes.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        options
    });
    let body = request
        .body()
        .map_err(|()| fail("the request body was already taken".to_owned()))?;
    let future =
        outgoing_handler::handle(request, options).map_err(|code| fail(code.to_string()))?;
    write_body(body, &hop.body)
        .map_err(|message| fail(format!("sending the request body: {message}")))?;
    Ok(future)
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> std::result::Result<(), String> {
    if !bytes.is_empty() {
        let stream = body
            .write()
            .map_err(|()| "the body stream was already taken".to_owned())?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(stream_error)?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| code.to_string())
}

fn read_body(response: &IncomingResponse, limit: usize, origin: &str) -> Result<Vec<u8>> {
    let fail = |message: String| Error::Http {
        origin: origin.to_owned(),
        message,
    };
    let body = response
        .consume()
        .map_err(|()| fail("the response body was already taken".to_owned()))?;
    let stream = body
        .stream()
        .map_err(|()| fail("the body stream was already taken".to_owned()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                if bytes.len() + chunk.len() > limit {
                    return Err(Error::BodyTooLarge {
                        origin: origin.to_owned(),
                        limit,
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(error) => {
                return Err(fail(format!(
                    "reading the response body: {}",
                    stream_error(error)
                )));
            }
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

fn stream_error(error: StreamError) -> String {
    match error {
        StreamError::Closed => "the stream is closed".to_owned(),
        StreamError::LastOperationFailed(error) => match wasi_http::http_error_code(&error) {
            Some(code) => code.to_string(),
            None => error.to_debug_string(),
        },
    }
}

fn wasi_method(method: Method) -> wasi_http::Method {
    match method {
        Method::Get => wasi_http::Method::Get,
        Method::Head => wasi_http::Method::Head,
        Method::Post => wasi_http::Method::Post,
        Method::Put => wasi_http::Method::Put,
        Method::Patch => wasi_http::Method::Patch,
        Method::Delete => wasi_http::Method::Delete,
        Method::Options => wasi_http::Method::Options,
    }
}
