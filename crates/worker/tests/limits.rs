//! Limits at the worker's API: a full session table keeps no new session, nor does one
//! caller's share of it; a query session
//! lives [`SESSION_TTL_MS`] on the worker's own clock, and is forgotten once its messages
//! are stale too; a session carries any number of further queries, each admitted once; one
//! sender or the envelopes of one session over their quota of the replay guard are turned
//! away while others pass, and a full replay guard turns everyone away; plaintext queries are refused unless the worker's mode allows
//! them; and with the default address policy a contract's HTTP call to a private address is
//! refused before any connection, through a network with no route off the machine.

mod common;
// The runtime tests' network with no route off the machine (`Offline`).
#[path = "../../runtime/tests/common/mod.rs"]
mod offline;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use common::{Chain, RunningWorker, deploy_via, now_ms, post_raw, temp_dir};
use fat_crypto::dev_keypair;
use fat_crypto::envelope::{Direction, EcdhPublic, SealRandomness, SessionMessage, seal};
use fat_proto::windows::{ENVELOPE_WINDOW_MS, SESSION_TTL_MS};
use fat_types::{Clock, ContractId, ManualClock};
use serde_json::{Value, json};

/// POST a session message to `w`; the status and the error code (if any).
async fn post_session(
    w: &RunningWorker,
    contract: ContractId,
    message: &SessionMessage,
) -> (u16, Value) {
    let (status, body) = post_raw(
        &w.url,
        &format!("/v1/contracts/{contract}/query"),
        fat_worker::api::SESSION_CONTENT_TYPE,
        message.to_bytes(),
    )
    .await;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, body["code"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_api_keeps_its_limits_sessions_replay_guard_plaintext_mode_and_address_policy() {
    let dir = temp_dir("limits");
    let chain = Chain::start(&dir).await;
    let cluster = chain.dev_cluster(3).await;
    let clock = Arc::new(ManualClock::new(common::now_ms()));
    let w0 = RunningWorker::start_with(&chain.url, &dir, 0, |c| {
        c.clock = clock.clone();
        c.max_sessions = 2;
    })
    .await;
    let private = IpAddr::from([10, 0, 0, 1]);
    let public = IpAddr::from([93, 184, 216, 34]);
    let network =
        offline::Offline::start(&[("private.test", private), ("public.test", public)]).await;
    let w1 = RunningWorker::start_with(&chain.url, &dir, 1, |c| {
        c.plaintext_queries = true;
        c.max_sessions_per_caller = 1;
        c.runtime.http_policy = fat_runtime::HttpPolicy::default();
        c.network = Some(network.clone());
    })
    .await;
    let w2 = RunningWorker::start_with(&chain.url, &dir, 2, |c| {
        c.replay_capacity = 7;
        c.replay_sender_quota = 3;
        c.replay_session_quota = 2;
    })
    .await;
    let counter = chain
        .deploy(
            &fat_test_programs::read(fat_test_programs::COUNTER),
            cluster,
            Value::Null,
        )
        .await;
    for w in [&w0, &w1, &w2] {
        w.wait_for(chain.height()).await;
    }

    // A session opened at the worker's time carries a further query.
    let alice = dev_keypair("alice");
    let me = alice.account_id();
    let body = json!({"method": "get", "args": null}).to_string();
    let (envelope, session) = seal(
        &alice,
        &EcdhPublic(w0.worker.ecdh_public().0),
        counter,
        Direction::Request,
        body.as_bytes(),
        clock.now_ms(),
        SealRandomness::generate().unwrap(),
    )
    .unwrap();
    assert_eq!(w0.post_envelope(counter, &envelope).await.0, 200);
    let further = |session: &fat_crypto::envelope::Session, at: u64| {
        session
            .seal_message(me, Direction::Request, body.as_bytes(), at)
            .unwrap()
    };
    let open = |at: u64| {
        seal(
            &alice,
            &EcdhPublic(w0.worker.ecdh_public().0),
            counter,
            Direction::Request,
            body.as_bytes(),
            at,
            SealRandomness::generate().unwrap(),
        )
        .unwrap()
    };
    // The table (of two) fills: a second sealed query keeps a session, a third is answered
    // but keeps none.
    let (second, kept) = open(clock.now_ms());
    assert_eq!(w0.post_envelope(counter, &second).await.0, 200);
    let (third, crowded) = open(clock.now_ms());
    assert_eq!(w0.post_envelope(counter, &third).await.0, 200);
    assert_eq!(
        post_session(&w0, counter, &further(&crowded, clock.now_ms())).await,
        (410, json!("unknown_session"))
    );
    // Just before its end it still serves: a message stamped now, and one stamped near the
    // end of the freshness window (a client whose clock runs ahead).
    clock.advance(SESSION_TTL_MS - 1_000);
    let (status, code) = post_session(&w0, counter, &further(&session, clock.now_ms())).await;
    assert_eq!(status, 200, "{code}");
    let ahead = further(&session, clock.now_ms() + ENVELOPE_WINDOW_MS - 10_000);
    let (status, code) = post_session(&w0, counter, &ahead).await;
    assert_eq!(status, 200, "{code}");
    // Past its end it serves no more: 410, seal a new envelope.
    clock.advance(2_000);
    assert_eq!(
        post_session(&w0, counter, &further(&session, clock.now_ms())).await,
        (410, json!("unknown_session"))
    );
    // A new session takes the place of the expired one that admitted nothing; the expired
    // session whose message `ahead` is still fresh is kept, window and all.
    let (fourth, fresh) = open(clock.now_ms());
    assert_eq!(w0.post_envelope(counter, &fourth).await.0, 200);
    let (status, code) = post_session(&w0, counter, &further(&fresh, clock.now_ms())).await;
    assert_eq!(status, 200, "{code}");
    assert_eq!(
        post_session(&w0, counter, &further(&kept, clock.now_ms())).await,
        (410, json!("unknown_session"))
    );
    // A new envelope of the expired session keeps it again, with the window it had: the
    // recorded `ahead` is refused as a replay, not answered a second time under the reply
    // nonce of its first answer. (Forgotten and kept anew, the session would have admitted
    // it.) A new message of the session is answered.
    let again = session
        .seal_envelope(&alice, Direction::Request, body.as_bytes(), clock.now_ms())
        .unwrap();
    assert_eq!(w0.post_envelope(counter, &again).await.0, 200);
    assert_eq!(
        post_session(&w0, counter, &ahead).await,
        (409, json!("replayed"))
    );
    let (status, code) = post_session(&w0, counter, &further(&session, clock.now_ms())).await;
    assert_eq!(status, 200, "{code}");
    // Once every session has expired and every message it admitted is stale, a new
    // session finds room.
    clock.advance(SESSION_TTL_MS + ENVELOPE_WINDOW_MS);
    let (fifth, last) = open(clock.now_ms());
    assert_eq!(w0.post_envelope(counter, &fifth).await.0, 200);
    let (status, code) = post_session(&w0, counter, &further(&last, clock.now_ms())).await;
    assert_eq!(status, 200, "{code}");

    // A replay guard of seven nonces, three per sender and two per session. Alice floods:
    // her fourth query is refused for her quota (429), not for a full guard.
    for _ in 0..3 {
        let answer = w2.query(counter, "get", Value::Null).await;
        assert_eq!(answer["output"], 0, "{answer}");
    }
    let refused = w2.query(counter, "get", Value::Null).await;
    assert_eq!(refused["http_status"], 429, "{refused}");
    assert_eq!(refused["code"], "over_quota", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("quota of 3"),
        "{refused}"
    );
    // Bob is still admitted while alice is held. His session's further queries take no
    // nonce of the guard: many more than its quota of two (or the guard's seven) pass, each
    // admitted once by the session's own window. Its envelopes do count: the one that
    // opened it and a second sealed under it take the session's two, and a third is
    // refused; a new session of his passes.
    let bob = dev_keypair("bob");
    let (opening, bobs) = w2.seal_query(&bob, counter, "get", Value::Null).await;
    assert_eq!(w2.post_envelope(counter, &opening).await.0, 200);
    let further_of = |session: &fat_crypto::envelope::Session| {
        session
            .seal_message(
                bob.account_id(),
                Direction::Request,
                body.as_bytes(),
                now_ms(),
            )
            .unwrap()
    };
    let mut sent = Vec::new();
    for _ in 0..20 {
        let message = further_of(&bobs);
        let (status, code) = post_session(&w2, counter, &message).await;
        assert_eq!(status, 200, "{code}");
        sent.push(message);
    }
    for message in [&sent[0], &sent[19]] {
        assert_eq!(
            post_session(&w2, counter, message).await,
            (409, json!("replayed"))
        );
    }
    let under_bobs = || {
        bobs.seal_envelope(&bob, Direction::Request, body.as_bytes(), now_ms())
            .unwrap()
    };
    assert_eq!(w2.post_envelope(counter, &under_bobs()).await.0, 200);
    let (status, refused) = w2.post_envelope(counter, &under_bobs()).await;
    let refused: Value = serde_json::from_slice(&refused).unwrap();
    assert_eq!((status, &refused["code"]), (429, &json!("over_quota")));
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("session holds its quota of 2"),
        "{refused}"
    );
    let answer = w2.query_as(&bob, counter, "get", Value::Null).await;
    assert_eq!(answer["output"], 0, "{answer}");
    // Six nonces held: charlie takes the seventh, then the full guard turns everyone away.
    let answer = w2
        .query_as(&dev_keypair("charlie"), counter, "get", Value::Null)
        .await;
    assert_eq!(answer["output"], 0, "{answer}");
    let refused = w2
        .query_as(&dev_keypair("dave"), counter, "get", Value::Null)
        .await;
    assert_eq!(refused["http_status"], 503, "{refused}");
    assert_eq!(refused["code"], "busy", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("replay guard full"),
        "{refused}"
    );

    // One caller holds one session of w1's at most: alice's second session is answered but
    // not kept, while bob's is kept.
    let kept_by = |who: &fat_crypto::Keypair, session: &fat_crypto::envelope::Session| {
        session
            .seal_message(
                who.account_id(),
                Direction::Request,
                body.as_bytes(),
                now_ms(),
            )
            .unwrap()
    };
    let mut opened = Vec::new();
    for who in [&alice, &alice, &bob] {
        let (envelope, session) = w1.seal_query(who, counter, "get", Value::Null).await;
        assert_eq!(w1.post_envelope(counter, &envelope).await.0, 200);
        opened.push((who, session));
    }
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for (who, session) in &opened {
            statuses.push(post_session(&w1, counter, &kept_by(who, session)).await.0);
        }
        statuses
    };
    assert_eq!(statuses, [200, 410, 200]);

    // Plaintext queries: refused by a worker in the default mode, answered by one that
    // allows them.
    let plain = json!({"method": "get", "args": null}).to_string();
    let path = format!("/v1/contracts/{counter}/query");
    let (status, _) = post_raw(
        &w0.url,
        &path,
        "application/json",
        plain.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 415, "the default mode refuses plaintext queries");
    assert!(!w0.worker.plaintext_queries());
    let (status, answer) = post_raw(&w1.url, &path, "application/json", plain.into_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["output"], 0, "{answer}");

    // The default address policy, end to end: the contract's call to a name that resolves
    // to a private address is refused before any connection; a public one is dialled
    // (the network has no route off the machine: it reaches the test's loopback listener).
    let bot = fat_test_programs::read(fat_test_programs::HTTP_BOT);
    let init = |price: &str| {
        json!({"price_url": price, "bot_url": "http://public.test", "token": "t", "chat_id": 1})
            .to_string()
    };
    let to_private = deploy_via(
        &chain.client,
        &bot,
        cluster,
        b"private",
        &init("http://private.test/price"),
    )
    .await;
    let to_public = deploy_via(
        &chain.client,
        &bot,
        cluster,
        b"public",
        &init("http://public.test/price"),
    )
    .await;
    w1.wait_for(chain.height()).await;
    let refused = w1.query(to_private, "report", Value::Null).await;
    assert!(
        refused.to_string().contains("DestinationIpProhibited"),
        "{refused}"
    );
    assert_eq!(network.dialled(), Vec::<SocketAddr>::new());
    assert_eq!(network.connections(), 0);
    let _ = w1.query(to_public, "report", Value::Null).await;
    assert_eq!(network.dialled(), [SocketAddr::new(public, 80)]);
    assert_eq!(network.connections(), 1);

    w0.stop().await;
    w1.stop().await;
    w2.stop().await;
    chain.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
