//! The client library against a dev network in the process: it opens a query session once and
//! reuses it (for queries sent at once too), replaces one the worker no longer keeps, and the
//! answers stay right.

use fat_client::Client;
use fat_crypto::dev_keypair;
use fat_devnet::Devnet;
use fat_devnet::testing::TempDir;

/// The network `builder` makes, a client of its worker 0, and `counter` deployed by alice.
async fn counter_on(builder: fat_devnet::DevnetBuilder) -> (Devnet, Client, fat_types::ContractId) {
    let devnet = builder.build().await.unwrap();
    let client = Client::new(devnet.url())
        .unwrap()
        .with_worker(&devnet.worker_url(0))
        .unwrap();
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let counter = client
        .deploy(&dev_keypair("alice"), wasm, "", &[], None, &mut |_| {})
        .await
        .unwrap()
        .contract;
    (devnet, client, counter)
}

/// `get` of the counter, as `who`: its output.
async fn get(
    client: &Client,
    who: &fat_crypto::Keypair,
    counter: &fat_types::ContractId,
) -> serde_json::Value {
    client
        .query(who, counter, "get", None)
        .await
        .unwrap()
        .output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_sessions_are_reused() {
    let dir = TempDir::new("client-sessions");
    let (devnet, client, counter) = counter_on(Devnet::builder(dir.path())).await;
    let alice = dev_keypair("alice");
    let result = client
        .command(&alice, &counter, "increment", r#"{"by":3}"#, true)
        .await
        .unwrap();
    assert_eq!(result.output, 3);

    // The client library opens a session once and reuses it; answers stay right.
    for _ in 0..3 {
        let answer = client.query(&alice, &counter, "get", None).await.unwrap();
        assert_eq!(answer.output, 3);
    }
    devnet.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_sent_at_once_share_a_session_and_an_expired_one_is_replaced() {
    use std::sync::Arc;

    use fat_proto::windows::{ENVELOPE_WINDOW_MS, SESSION_TTL_MS};
    use fat_types::{Clock, ManualClock};

    let dir = TempDir::new("client-session-counter");
    // The network's clock and the client's, each moved by hand.
    let network = Arc::new(ManualClock::new(fat_types::SystemClock.now_ms()));
    let (devnet, client, counter) =
        counter_on(Devnet::builder(dir.path()).clock(network.clone())).await;
    let mine = Arc::new(ManualClock::new(network.now_ms()));
    let client = client.with_clock(mine.clone());
    let alice = dev_keypair("alice");

    // The first query opens a session; 32 sent at once all ride it, numbered by the one
    // counter its clones share, each admitted once by the worker however they interleave.
    // (Numbered alike, all but one would be refused as replays.)
    assert_eq!(get(&client, &alice, &counter).await, 0);
    let answers =
        futures_util::future::join_all((0..32).map(|_| get(&client, &alice, &counter))).await;
    assert_eq!(answers, vec![serde_json::json!(0); 32]);

    // A session the worker no longer keeps (410) is replaced without surfacing the refusal.
    // Bob's client clock runs 4 minutes ahead of the worker's when he opens his session...
    let bob = dev_keypair("bob");
    let opened = network.now_ms();
    mine.set(opened + 4 * 60_000);
    assert_eq!(get(&client, &bob, &counter).await, 0);
    // ...and 4 and a half behind when, 2 minutes later on his clock, he reuses it: the
    // worker's clock has moved past the session's end, and the two clocks are still within
    // the envelope window of each other.
    mine.advance(2 * 60_000);
    network.set(mine.now_ms() + 4 * 60_000 + 30_000);
    assert!(network.now_ms() > opened + SESSION_TTL_MS);
    assert!(network.now_ms() - mine.now_ms() < ENVELOPE_WINDOW_MS);
    assert_eq!(get(&client, &bob, &counter).await, 0);
    devnet.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senders_commands_to_a_contract_share_one_session() {
    use fat_crypto::envelope::Envelope;
    use fat_types::TxKind;

    let dir = TempDir::new("client-command-sessions");
    let (devnet, client, counter) = counter_on(Devnet::builder(dir.path())).await;
    let (alice, bob) = (dev_keypair("alice"), dev_keypair("bob"));
    let mut sent = Vec::new();
    for (key, by, want) in [
        (&alice, 3, 3),
        (&alice, 2, 5),
        (&bob, 1, 6),
        (&alice, 4, 10),
    ] {
        let result = client
            .command(
                key,
                &counter,
                "increment",
                &format!(r#"{{"by":{by}}}"#),
                true,
            )
            .await
            .unwrap();
        // Each output opens with the session it was sealed under.
        assert_eq!(result.output, want);
        sent.push((key.account_id(), result.tx, result.block.unwrap()));
    }
    // The envelopes the chain carries: alice's three share her session's ephemeral key,
    // bob's has its own; every envelope has its own nonce.
    let chain = fat_proto::ChainApi::new(devnet.url()).unwrap();
    let mut headers = Vec::new();
    for (sender, tx, height) in &sent {
        let block = chain.block(*height).await.unwrap();
        let signed = block
            .txs
            .iter()
            .find(|t| t.id().to_string() == *tx)
            .expect("the command in its block");
        let TxKind::Command { payload, .. } = &signed.tx.kind else {
            panic!("not a command: {signed:?}")
        };
        let header = Envelope::from_bytes(&payload.0).unwrap().header;
        assert_eq!(header.sender, *sender);
        headers.push(header);
    }
    assert_eq!(headers[0].ephemeral, headers[1].ephemeral);
    assert_eq!(headers[0].ephemeral, headers[3].ephemeral);
    assert_ne!(headers[0].ephemeral, headers[2].ephemeral);
    let nonces: std::collections::HashSet<_> = headers.iter().map(|h| h.nonce).collect();
    assert_eq!(nonces.len(), 4);
    devnet.stop().await.unwrap();
}
