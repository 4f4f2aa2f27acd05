//! Someone on the path between a client and its chain node rewrites the key the registry
//! gives for a cluster or a contract, so that secrets get sealed to a key the attacker
//! holds. The client confirms each key with an attested member of the cluster first, so it
//! refuses, and nothing reaches the chain sealed to the attacker.

use fat_client::{Client, Error};
use fat_crypto::dev_keypair;
use fat_devnet::Devnet;
use fat_devnet::testing::{TempDir, rewriting_proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rewritten_on_the_path_to_the_node_are_refused_before_sealing() {
    let dir = TempDir::new("client-registry");
    let devnet = Devnet::builder(dir.path()).build().await.unwrap();
    let worker = devnet.worker_url(0);
    let node = devnet.url().trim_start_matches("http://").to_string();
    let honest = Client::new(devnet.url())
        .unwrap()
        .with_worker(&worker)
        .unwrap();
    let alice = dev_keypair("alice");
    let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
    let cluster = honest.dev_cluster().await.unwrap();
    let counter = honest
        .deploy(&alice, wasm.clone(), "", b"a", Some(cluster), &mut |_| {})
        .await
        .unwrap()
        .contract;
    let attacker = fat_crypto::EcdhSecret::from_bytes([0xa7; 32]).public();
    let forged = hex::encode(attacker.0);
    let contracts_before = devnet.node().with_state(|s| s.contracts.len());

    // The cluster's key rewritten: the deploy stops before sealing the init arguments.
    let real = honest.clusters().await.unwrap().clusters[0]
        .info
        .public_key
        .unwrap()
        .to_string();
    let proxy = rewriting_proxy(node.clone(), real, forged.clone()).await;
    let fooled = Client::new(&proxy).unwrap().with_worker(&worker).unwrap();
    let err = fooled
        .deploy(
            &alice,
            wasm,
            "{\"secret\":1}",
            b"b",
            Some(cluster),
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyNotConfirmed { .. }), "{err:?}");
    assert!(err.to_string().contains(&forged), "{err}");
    assert_eq!(
        devnet.node().with_state(|s| s.contracts.len()),
        contracts_before,
        "an instantiation went out"
    );

    // The contract's key rewritten: the command is refused, nothing is submitted.
    let nonce = devnet
        .node()
        .with_state(|s| s.accounts[&alice.account_id()].nonce);
    let real = devnet
        .node()
        .with_state(|s| s.contracts[&counter].public_key.unwrap())
        .to_string();
    let proxy = rewriting_proxy(node, real, forged.clone()).await;
    let fooled = Client::new(&proxy).unwrap().with_worker(&worker).unwrap();
    let err = fooled
        .command(&alice, &counter, "increment", "", true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyNotConfirmed { .. }), "{err:?}");
    assert!(err.to_string().contains("derives"), "{err}");
    assert_eq!(
        devnet
            .node()
            .with_state(|s| s.accounts[&alice.account_id()].nonce),
        nonce,
        "a command went out"
    );

    // Without the attacker, the same client code commands as before.
    let done = honest
        .command(&alice, &counter, "increment", "", true)
        .await
        .unwrap();
    assert_eq!(done.output, 1);
    devnet.stop().await.unwrap();
}
