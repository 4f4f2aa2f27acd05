//! Exercise every host capability and every limit, one method each.
//!
//! Built on the raw bindings (no SDK) so that runtime tests depend on the contract world
//! alone. Every method takes its arguments as plain text (not JSON) and is reachable both as
//! a command and as a query: the host decides what each capability does by mode.

#![allow(unsafe_code, missing_docs)] // the generated bindings and their export glue

wit_bindgen::generate!({
    world: "contract",
    path: "../../../../wit",
});

use fat::contract::{cache, crypto, env, events, jobs, log, storage};

struct Probe;

export!(Probe);

impl exports::fat::contract::entry::Guest for Probe {
    fn init(args: String) -> Result<String, String> {
        if args == "fail" {
            storage::set(b"init", b"written").map_err(|e| format!("{e:?}"))?;
            return Err("init refused".into());
        }
        storage::set(b"init", args.as_bytes()).map_err(|e| format!("{e:?}"))?;
        Ok("initialised".into())
    }

    fn command(method: String, args: String) -> Result<String, String> {
        dispatch(&method, &args)
    }

    fn query(method: String, args: String) -> Result<String, String> {
        dispatch(&method, &args)
    }
}

impl exports::fat::contract::job::Guest for Probe {
    fn run(name: String, input: Vec<u8>) -> Result<Vec<u8>, String> {
        match name.as_str() {
            "reverse" => Ok(input.into_iter().rev().collect()),
            other => Err(format!("no job {other}")),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn split(args: &str) -> (&str, &str) {
    args.split_once('=').unwrap_or((args, ""))
}

/// `args` without the quotes of a JSON string, as a worker's query API passes a string
/// argument; other text as it is.
fn unquoted(args: &str) -> &str {
    args.strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .unwrap_or(args)
}

fn number(args: &str) -> u64 {
    args.trim().parse().unwrap_or(0)
}

fn dispatch(method: &str, args: &str) -> Result<String, String> {
    match method {
        "set" => {
            let (key, value) = split(args);
            storage::set(key.as_bytes(), value.as_bytes()).map_err(|e| format!("{e:?}"))?;
            Ok("ok".into())
        }
        "get" => Ok(storage::get(args.as_bytes())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_else(|| "none".into())),
        "remove" => {
            storage::remove(args.as_bytes()).map_err(|e| format!("{e:?}"))?;
            Ok("ok".into())
        }
        "set-then-fail" => {
            let (key, value) = split(args);
            storage::set(key.as_bytes(), value.as_bytes()).map_err(|e| format!("{e:?}"))?;
            events::emit("lost", b"event").map_err(|e| format!("{e:?}"))?;
            Err("changed my mind".into())
        }
        "scan" => {
            let entries = storage::scan(args.as_bytes(), None, 100);
            let keys: Vec<String> = entries
                .iter()
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .collect();
            Ok(keys.join(","))
        }
        "fill" => {
            for i in 0..number(args) {
                storage::set(format!("fill/{i}").as_bytes(), b"x").map_err(|e| format!("{e:?}"))?;
            }
            Ok("ok".into())
        }
        "big-value" => {
            storage::set(b"big", &vec![7u8; number(args) as usize])
                .map_err(|e| format!("{e:?}"))?;
            Ok("ok".into())
        }
        "loop" => {
            let mut x: u64 = 1;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        "spin-until" => {
            // Busy in wasm until the worker's clock reads `args` milliseconds: a loop the host
            // can watch (each turn reads the clock) and end (by moving the clock).
            let until = number(args);
            loop {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_err(|e| e.to_string())?
                    .as_millis() as u64;
                if now >= until {
                    return Ok(now.to_string());
                }
            }
        }
        // "N": hold N MiB, then write one entry: it commits only where calls may use that
        // much memory.
        "hoard-then-set" => {
            let hoard: Vec<Vec<u8>> = (0..number(args)).map(|_| vec![1u8; 1 << 20]).collect();
            std::hint::black_box(&hoard);
            storage::set(b"hoard", args.as_bytes()).map_err(|e| format!("{e:?}"))?;
            Ok("ok".into())
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "recurse" => Ok(recurse(number(args)).to_string()),
        // "N SIZE": spawn N `reverse` jobs of SIZE bytes each, then wait for every one.
        "spawn" => {
            let mut parts = args.trim_matches('"').split_whitespace().map(number);
            let (n, size) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            let input = vec![7u8; size as usize];
            for _ in 0..n {
                jobs::spawn("reverse", &input, jobs::JobOptions { replicas: 1 })
                    .map_err(|e| format!("{e:?}"))?;
            }
            let (mut ok, mut failed) = (0, Vec::new());
            while let Some((_, result)) = jobs::wait_next() {
                match result {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e),
                }
            }
            Ok(format!("{ok} ok; {}", failed.join("; ")))
        }
        "output" => Ok("x".repeat(number(args) as usize)),
        "panic" => panic!("the probe panics on purpose"),
        "set-then-panic" => {
            let (key, value) = split(args);
            storage::set(key.as_bytes(), value.as_bytes()).map_err(|e| format!("{e:?}"))?;
            events::emit("lost", b"event").map_err(|e| format!("{e:?}"))?;
            log::log(log::Level::Info, "wrote, now panicking");
            panic!("the probe panics on purpose after writing")
        }
        "floats" => {
            // NaN payloads differ between platforms unless the engine canonicalises them.
            let x = f64::from_bits(number(args).max(1));
            let nan = std::hint::black_box(x) * f64::INFINITY - f64::INFINITY;
            let nan32 = std::hint::black_box(x as f32) * f32::INFINITY - f32::INFINITY;
            let sum: f64 = (1..1000).map(|i| (i as f64).sqrt() / 3.0).sum();
            Ok(format!(
                "{:016x} {:08x} {:016x}",
                nan.to_bits(),
                nan32.to_bits(),
                sum.to_bits()
            ))
        }
        "env" => {
            let block = env::block();
            Ok(format!(
                "{:?} caller={} contract={} block={} time={} hash={} worker={}",
                env::execution_mode(),
                hex(&env::caller()),
                hex(&env::contract_id()),
                block.number,
                block.timestamp_ms,
                hex(&block.hash),
                hex(&env::worker_public_key())
            ))
        }
        "clock" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?;
            Ok(now.as_millis().to_string())
        }
        "monotonic" => {
            // The monotonic clock before and after waiting `args` milliseconds on it.
            use wasi::clocks::monotonic_clock;
            let before = monotonic_clock::now();
            monotonic_clock::subscribe_duration(number(args) * 1_000_000).block();
            Ok(format!("{before} {}", monotonic_clock::now()))
        }
        "random" => Ok(hex(&wasi::random::random::get_random_bytes(16))),
        "sleep" => {
            wasi::clocks::monotonic_clock::subscribe_duration(number(args) * 1_000_000).block();
            Ok("slept".into())
        }
        "emit" => {
            for i in 0..number(args).max(1) {
                events::emit("probe", format!("event {i}").as_bytes())
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok("ok".into())
        }
        "log" => {
            for i in 0..number(args) {
                log::log(log::Level::Info, &format!("line {i} {}", "-".repeat(100)));
            }
            Ok("ok".into())
        }
        "print" => {
            for i in 0..number(args) {
                println!("printed {i} {}", "-".repeat(100));
            }
            Ok("ok".into())
        }
        "cache-set" => {
            let (key, value) = split(args);
            cache::set(key.as_bytes(), value.as_bytes(), 60_000).map_err(|e| format!("{e:?}"))?;
            Ok("ok".into())
        }
        "cache-get" => Ok(cache::get(args.as_bytes())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_else(|| "none".into())),
        "derive" => Ok(hex(&crypto::derive_key(args.as_bytes()))),
        "sign" => {
            let scheme = crypto::SignatureScheme::Ed25519;
            let signature = crypto::sign(scheme, args.as_bytes());
            let key = crypto::contract_public_key(scheme);
            let ok = crypto::verify(scheme, &key, args.as_bytes(), &signature);
            Ok(format!("{} {} {ok}", hex(&key), hex(&signature)))
        }
        "hash" => Ok(hex(&crypto::hash(
            crypto::HashAlgorithm::Sha256,
            args.as_bytes(),
        ))),
        "hash-bomb" => {
            // Hash a mebibyte over and over: work done by the host, not by wasm.
            let data = vec![3u8; 1 << 20];
            for _ in 0..number(args) {
                std::hint::black_box(crypto::hash(crypto::HashAlgorithm::Sha256, &data));
            }
            Ok("hashed".into())
        }
        "sign-bomb" => {
            let data = vec![5u8; 1 << 20];
            for _ in 0..number(args) {
                std::hint::black_box(crypto::sign(crypto::SignatureScheme::Ed25519, &data));
            }
            Ok("signed".into())
        }
        "write-bomb" => {
            // Values of 256 KiB under fresh keys, piling up in the host until the call ends.
            let value = vec![9u8; 256 << 10];
            for i in 0..number(args) {
                storage::set(format!("bomb/{i}").as_bytes(), &value)
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok("written".into())
        }
        "cache-bomb" => {
            for i in 0..number(args) {
                cache::set(format!("bomb/{i}").as_bytes(), b"x", 60_000)
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok("cached".into())
        }
        "random-bomb" => {
            // A mebibyte of randomness over and over: made by the host, not by wasm.
            for _ in 0..number(args) {
                std::hint::black_box(wasi::random::random::get_random_bytes(1 << 20));
            }
            Ok("drawn".into())
        }
        "resource-bomb" => {
            // Host resources (pollables) kept until the call ends.
            for _ in 0..number(args) {
                std::mem::forget(wasi::clocks::monotonic_clock::subscribe_duration(0));
            }
            Ok("held".into())
        }
        "poll-bomb" => {
            // One pollable listed ten thousand times, polled over and over.
            let ready = wasi::clocks::monotonic_clock::subscribe_duration(0);
            let many = vec![&ready; 10_000];
            for _ in 0..number(args) {
                std::hint::black_box(wasi::io::poll::poll(&many));
            }
            Ok("polled".into())
        }
        "resolve-bomb" => {
            // A name of a mebibyte to resolve, refused, over and over.
            let network = wasi::sockets::instance_network::instance_network();
            let name = "n".repeat(1 << 20);
            for _ in 0..number(args) {
                let _ = std::hint::black_box(wasi::sockets::ip_name_lookup::resolve_addresses(
                    &network, &name,
                ));
            }
            Ok("refused".into())
        }
        "cache-get-bomb" => {
            // A key of a mebibyte looked up over and over (a command reads no cache).
            let key = vec![b'k'; 1 << 20];
            for _ in 0..number(args) {
                std::hint::black_box(cache::get(&key));
            }
            Ok("missed".into())
        }
        "header-bomb" => {
            // A header of a mebibyte under a name that is not one, refused, over and over (the
            // host copies the value out of the guest before it can refuse the name).
            let fields = wasi::http::types::Fields::new();
            let value = vec![b'v'; 1 << 20];
            for _ in 0..number(args) {
                let _ = std::hint::black_box(fields.append("not a name", &value));
            }
            Ok("refused".into())
        }
        "http-get" => http_get(unquoted(args)),
        "http-many" => {
            let (count, url) = split(unquoted(args));
            Ok(http_many(number(count), url))
        }
        other => Err(format!("unknown method {other}")),
    }
}

/// Recursion on wasm's own stack: no locals in linear memory, and a result that is not
/// an accumulator, so the compiler cannot turn it into a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    recurse(depth - 1).wrapping_mul(3) ^ depth
}

use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, FutureIncomingResponse, OutgoingRequest, Scheme};

fn start(url: &str) -> Result<FutureIncomingResponse, String> {
    let (scheme, rest) = url.split_once("://").ok_or("url without a scheme")?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    outgoing_handler::handle(request, None).map_err(|e| format!("refused: {e:?}"))
}

fn finish(future: FutureIncomingResponse) -> Result<String, String> {
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("failed: {e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| "no stream")?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend(chunk),
                Err(wasi::io::streams::StreamError::Closed) => break,
                Err(wasi::io::streams::StreamError::LastOperationFailed(e)) => {
                    return Err(format!("body failed: {}", e.to_debug_string()));
                }
            }
        }
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

fn http_get(url: &str) -> Result<String, String> {
    finish(start(url)?)
}

/// Start `count` requests before waiting on any; report each outcome in order.
fn http_many(count: u64, url: &str) -> String {
    let started: Vec<_> = (0..count).map(|_| start(url)).collect();
    let results: Vec<String> = started
        .into_iter()
        .map(|s| match s.and_then(finish) {
            Ok(text) => text.split(' ').next().unwrap_or("").to_string(),
            Err(e) => e,
        })
        .collect();
    results.join("|")
}

// Serving HTTP itself: the standard `wasi:http/incoming-handler` export, through the `wasi`
// crate, beside the contract world. It runs as a query: state is readable, not writable.
wasi::http::proxy::export!(Probe);

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(
        request: wasi::http::types::IncomingRequest,
        out: wasi::http::types::ResponseOutparam,
    ) {
        use wasi::http::types::{Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
        let path = request.path_with_query().unwrap_or_default();
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Post => "POST".to_string(),
            other => format!("{other:?}"),
        };
        let (status, text) = match path.strip_prefix("/big?") {
            Some(size) => (200, "y".repeat(number(size) as usize)),
            None if path == "/missing" => (404, "not here".to_string()),
            None => {
                let stored = storage::get(b"colour")
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_else(|| "none".into());
                (200, format!("{method} {path} colour={stored}"))
            }
        };
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("a valid status");
        let body = response.body().expect("the body, once");
        ResponseOutparam::set(out, Ok(response));
        {
            let stream = body.write().expect("the body stream, once");
            for chunk in text.as_bytes().chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .expect("write the body");
            }
        }
        OutgoingBody::finish(body, None).expect("finish the body");
    }
}
