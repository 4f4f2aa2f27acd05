//! The client library against a dev network in the process: it opens a query session once and
//! reuses it, and the answers stay right.

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
async fn a_session_at_its_quota_is_replaced_by_a_new_one() {
    let dir = TempDir::new("client-session-quota");
    // Each session may hold 3 recent nonces in the worker's guard.
    let (devnet, client, counter) = counter_on(Devnet::builder(dir.path()).session_quota(3)).await;
    let alice = dev_keypair("alice");
    // Ten queries within the nonce window: the session reaches its quota after three and
    // the client goes on with a fresh session each time, never surfacing the refusal.
    for _ in 0..10 {
        let answer = client.query(&alice, &counter, "get", None).await.unwrap();
        assert_eq!(answer.output, 0);
    }
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
