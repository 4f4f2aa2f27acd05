//! Each row of the mode table in `docs/architecture.md` ("Execution modes"), for commands and
//! for queries.

mod common;

use common::{Harness, Offline, WORKER_CLOCK_MS, err, ok};
use fat_runtime::{CacheOp, CallError, Entry, HttpRequest, Mode};
use fat_test_programs::PROBE;

#[tokio::test]
async fn storage_is_written_by_commands_and_read_only_in_queries() {
    let h = Harness::new(PROBE);
    assert_eq!(ok(&h.command("set", "colour=blue").await), "ok");
    assert_eq!(ok(&h.query("get", "colour").await), "blue");
    let refused = h.query("set", "colour=red").await;
    assert!(err(&refused).contains("NotAllowed"), "{}", err(&refused));
    assert!(refused.changes.is_empty());
    assert_eq!(ok(&h.query("get", "colour").await), "blue");
}

#[tokio::test]
async fn a_failed_command_discards_its_writes_and_events() {
    let h = Harness::new(PROBE);
    let outcome = h.command("set-then-fail", "k=v").await;
    assert_eq!(
        outcome.result,
        Err(CallError::Reverted {
            message: "changed my mind".into()
        })
    );
    assert!(outcome.changes.is_empty() && outcome.events.is_empty());
    assert_eq!(ok(&h.query("get", "k").await), "none");
}

#[tokio::test]
async fn the_constructor_is_a_command() {
    let h = Harness::new(PROBE);
    let outcome = h.run(h.call(Entry::init("hello"))).await;
    assert_eq!(ok(&outcome), "initialised");
    assert_eq!(ok(&h.query("get", "init").await), "hello");
    let refused = h.run(h.call(Entry::init("fail"))).await;
    assert_eq!(
        refused.result,
        Err(CallError::Reverted {
            message: "init refused".into()
        })
    );
    assert_eq!(ok(&h.query("get", "init").await), "hello");
}

#[tokio::test]
async fn scans_see_a_commands_own_writes() {
    let h = Harness::new(PROBE);
    ok(&h.command("set", "a/1=x").await);
    ok(&h.command("set", "a/2=y").await);
    ok(&h.command("set", "b/1=z").await);
    assert_eq!(ok(&h.query("scan", "a/").await), "a/1,a/2");
}

#[tokio::test]
async fn cache_writes_in_commands_are_recorded_and_reads_are_empty() {
    let h = Harness::new(PROBE);
    let outcome = h.command("cache-set", "k=v").await;
    assert_eq!(ok(&outcome), "ok");
    assert_eq!(
        outcome.cache_ops,
        [CacheOp::Set {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            expires_at_ms: h.block.timestamp_ms + 60_000
        }]
    );
    // Not applied by the runtime: the worker applies it after the block.
    assert_eq!(ok(&h.query("cache-get", "k").await), "none");
    assert_eq!(ok(&h.query("cache-set", "k=fast").await), "ok");
    assert_eq!(ok(&h.query("cache-get", "k").await), "fast");
    assert_eq!(
        ok(&h.command("cache-get", "k").await),
        "none",
        "commands never read the cache"
    );
}

// Through a network with no route off the machine (see `Offline`), and under a policy that
// allows every address: a command traps at its first `wasi:http` call (the command engine
// links none), before any name is looked up or address dialled.
#[tokio::test]
async fn outbound_http_is_refused_in_commands() {
    let public = std::net::IpAddr::from([203, 0, 113, 9]);
    let network = Offline::start(&[("public.test", public)]).await;
    let config = fat_runtime::RuntimeConfig {
        http_policy: fat_runtime::HttpPolicy::allow_local(),
        ..Default::default()
    };
    let h = Harness::with_network(PROBE, config, network.clone());
    for url in ["http://203.0.113.9/", "http://public.test/"] {
        let message = err(&h.command("http-get", url).await);
        assert!(
            message.contains("the network is not available in a command"),
            "{url}: {message}"
        );
    }
    assert_eq!(network.dialled(), []);
    assert_eq!(network.connections(), 0);
    // The same request as a query goes out (to the listener).
    assert_eq!(
        ok(&h.query("http-get", "http://public.test/").await),
        "200 reached"
    );
    assert_eq!(network.connections(), 1);
}

#[tokio::test]
async fn clocks_follow_the_mode() {
    let h = Harness::new(PROBE);
    assert_eq!(
        ok(&h.command("clock", "").await),
        h.block.timestamp_ms.to_string()
    );
    assert_eq!(ok(&h.query("clock", "").await), WORKER_CLOCK_MS.to_string());
    // A command's monotonic clock reads zero and does not move, even across a wait (which
    // returns at once).
    assert_eq!(ok(&h.command("monotonic", "60000").await), "0 0");
    // A query's moves with real time: waiting 20 ms on it moves it by 20 ms or more.
    let text = ok(&h.query("monotonic", "20").await);
    let (before, after) = text.split_once(' ').unwrap();
    let (before, after): (u64, u64) = (before.parse().unwrap(), after.parse().unwrap());
    assert!(after - before >= 20_000_000, "{text}");
}

#[tokio::test]
async fn randomness_is_seeded_in_commands_and_fresh_in_queries() {
    let h = Harness::new(PROBE);
    let a = ok(&h.command("random", "").await);
    let b = ok(&h.command("random", "").await);
    assert_eq!(
        a, b,
        "same block, contract and transaction index: same bytes"
    );
    let mut call = h.call(Entry::command("random", ""));
    call.tx_index = 1;
    assert_ne!(
        ok(&h.run(call).await),
        a,
        "another transaction index: other bytes"
    );
    let q1 = ok(&h.query("random", "").await);
    let q2 = ok(&h.query("random", "").await);
    assert_ne!(q1, q2);
}

#[tokio::test]
async fn events_are_recorded_in_commands_and_refused_in_queries() {
    let h = Harness::new(PROBE);
    let outcome = h.command("emit", "2").await;
    assert_eq!(ok(&outcome), "ok");
    assert_eq!(outcome.events.len(), 2);
    assert_eq!(outcome.events[1].topic, "probe");
    assert_eq!(outcome.events[1].data, b"event 1");
    assert!(err(&h.query("emit", "1").await).contains("NotAllowed"));
}

#[tokio::test]
async fn crypto_works_in_both_modes_and_signatures_are_deterministic() {
    let h = Harness::new(PROBE);
    let from_command = ok(&h.command("sign", "message").await);
    let from_query = ok(&h.query("sign", "message").await);
    assert_eq!(from_command, from_query);
    assert!(from_command.ends_with(" true"), "{from_command}");
    assert_eq!(
        ok(&h.command("derive", "salt").await),
        ok(&h.query("derive", "salt").await)
    );
    assert_eq!(
        ok(&h.query("hash", "abc").await),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

/// The runtime's half of `contracts_cannot_reach_each_others_secrets` (in
/// `crates/worker/tests/secure.rs`, where the worker hands each contract its own secret from
/// the key tree): whatever a contract asks `derive-key` for, it gets a one-way function of
/// the secret its call carries, and nothing of another call's secret.
#[tokio::test]
async fn a_contract_derives_from_its_own_secret_alone() {
    let h = Harness::new(PROBE);
    let derive = |secret: [u8; 32], salt: &str| {
        let mut call = h.call(Entry::query("derive", salt));
        call.contract_secret = secret;
        h.run(call)
    };
    // Secrets of ASCII bytes, so that one can be passed whole as a salt.
    let (mine, theirs) = ([0x5e; 32], [b'9'; 32]);
    let shared = ok(&derive(mine, "shared-salt").await);
    // HKDF-SHA256(secret, "fat/contract/derive-key/v1" || u32 LE salt length || salt), as
    // computed with Python's hmac.
    assert_eq!(
        shared,
        "c4c3d7cd8aa3b7feb9c02f0162ff13a2c4328b0aba50d24f5f3e9570b93ab496"
    );
    let forbidden = [
        hex(&theirs),
        hex(&mine),
        ok(&derive(theirs, "shared-salt").await),
        ok(&derive(theirs, "").await),
    ];
    // Salts a contract could try to reach the other's keys with: none gives them.
    let other = String::from_utf8(theirs.to_vec()).unwrap();
    for salt in [
        "shared-salt",
        "",
        &hex(&theirs),
        &other,
        "fat/contract/derive-key/v1",
    ] {
        let derived = ok(&derive(mine, salt).await);
        assert!(
            !forbidden.contains(&derived),
            "salt {salt:?} gave {derived}"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn env_reports_mode_caller_contract_block_and_worker() {
    let h = Harness::new(PROBE);
    let text = ok(&h.command("env", "").await);
    assert!(
        text.starts_with("Mode::Command") || text.starts_with("Command"),
        "{text}"
    );
    assert!(
        text.contains(&format!("caller={}", "aa".repeat(32))),
        "{text}"
    );
    assert!(
        text.contains(&format!("contract={}", "c0".repeat(32))),
        "{text}"
    );
    assert!(text.contains("block=7 time=1700000000123"), "{text}");
    assert!(
        text.ends_with("worker="),
        "no worker key in a command: {text}"
    );
    let mut query = h.call(Entry::query("env", ""));
    query.caller = fat_types::AccountId([0xbb; 32]);
    let text = ok(&h.run(query).await);
    assert!(
        text.contains("Query") && text.contains(&"bb".repeat(32)),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("worker={}", "77".repeat(32))),
        "{text}"
    );
    assert_eq!(Entry::job("x", vec![]).mode(), Mode::Job);
}

#[tokio::test]
async fn jobs_run_with_bytes_in_and_out() {
    let h = Harness::new(PROBE);
    let outcome = h.run(h.call(Entry::job("reverse", b"abc".to_vec()))).await;
    assert_eq!(outcome.result, Ok(b"cba".to_vec()));
    let missing = h.run(h.call(Entry::job("nope", vec![]))).await;
    assert_eq!(
        missing.result,
        Err(CallError::Reverted {
            message: "no job nope".into()
        })
    );
}

#[tokio::test]
async fn logs_and_stdout_are_captured() {
    let h = Harness::new(PROBE);
    let outcome = h.query("log", "2").await;
    assert_eq!(outcome.logs.len(), 2);
    assert!(outcome.logs[0].message.starts_with("line 0"));
    let outcome = h.command("print", "3").await;
    assert_eq!(outcome.logs.len(), 3);
    assert!(outcome.logs[2].message.starts_with("printed 2"));
}

#[tokio::test]
async fn commands_and_queries_are_metered_with_fuel() {
    let h = Harness::new(PROBE);
    let command = h.command("floats", "1").await.gas_used;
    let query = h.query("floats", "1").await.gas_used;
    assert!(command > 0 && query > 0);
    // Fuel counts instructions: the same work costs about the same in both modes.
    assert!(
        command.abs_diff(query) < command / 2,
        "{command} vs {query}"
    );
    let unmetered = fat_runtime::RuntimeConfig {
        limits: fat_runtime::Limits {
            query_fuel: None,
            ..Default::default()
        },
        ..Default::default()
    };
    let h = Harness::with_config(PROBE, unmetered);
    assert_eq!(h.query("floats", "1").await.gas_used, 0);
}

#[tokio::test]
async fn code_is_compiled_once_per_hash() {
    let h = Harness::new(PROBE);
    let wasm = fat_test_programs::read(PROBE);
    let again = h.runtime.load(&wasm).unwrap();
    assert!(std::sync::Arc::ptr_eq(&h.code, &again));
    assert_eq!(again.hash(), fat_types::tx::code_hash(&wasm));
}

#[tokio::test]
async fn a_contract_can_serve_http_itself_as_a_query() {
    let h = Harness::new(PROBE);
    assert!(h.code.serves_http());
    ok(&h.command("set", "colour=green").await);
    let outcome = h
        .run(h.call(Entry::Http(HttpRequest::get("/hello?x=1"))))
        .await;
    assert_eq!(ok(&outcome), "GET /hello?x=1 colour=green");
    let head = outcome.http_response.expect("a response head");
    assert_eq!(head.status, 200);
    assert!(
        head.headers
            .contains(&("content-type".to_string(), b"text/plain".to_vec()))
    );
    let missing = h
        .run(h.call(Entry::Http(HttpRequest::get("/missing"))))
        .await;
    assert_eq!(missing.http_response.unwrap().status, 404);
}

#[tokio::test]
async fn http_responses_are_capped_and_other_contracts_do_not_serve() {
    let limits = fat_runtime::Limits {
        output_bytes: 10_000,
        ..Default::default()
    };
    let config = fat_runtime::RuntimeConfig {
        limits,
        ..Default::default()
    };
    let h = Harness::with_config(PROBE, config);
    let big = h
        .run(h.call(Entry::Http(HttpRequest::get("/big?20000"))))
        .await;
    assert_eq!(big.limit(), Some(fat_runtime::Limit::OutputSize));
    let counter = Harness::new(fat_test_programs::COUNTER);
    assert!(!counter.code.serves_http());
    let refused = counter
        .run(counter.call(Entry::Http(HttpRequest::get("/"))))
        .await;
    assert!(
        err(&refused).contains("does not serve HTTP"),
        "{}",
        err(&refused)
    );
}
