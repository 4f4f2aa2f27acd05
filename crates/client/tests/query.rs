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
