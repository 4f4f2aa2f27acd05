//! The network builder: a devnet of two workers serves them at `/workers`, provisions its dev
//! cluster, stops with one signal and, restarted on the same directory, adopts the same
//! cluster.

use std::time::Duration;

use fat_crypto::dev_keypair;
use fat_devnet::bootstrap::submit;
use fat_devnet::testing::{TempDir, rewriting_proxy};
use fat_devnet::{Devnet, DevnetError, Shutdown};
use fat_proto::{ChainApi, paths};
use fat_types::TxKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_serve_provision_stop_and_resume() {
    let dir = TempDir::new("devnet-builder");
    let devnet = Devnet::builder(dir.path())
        .workers(2)
        .build()
        .await
        .unwrap();
    let cluster = devnet.cluster().expect("the dev cluster is bootstrapped");
    let chain = devnet.chain();

    let listed = chain.dev_workers().await.unwrap();
    assert_eq!(listed.cluster, Some(cluster));
    let ids: Vec<_> = devnet.workers().iter().map(|w| w.id()).collect();
    assert_eq!(listed.workers.iter().map(|w| w.id).collect::<Vec<_>>(), ids);
    for (i, worker) in listed.workers.iter().enumerate() {
        assert_eq!(worker.path, paths::dev::worker_prefix(i));
    }
    let info = chain.cluster(&cluster).await.unwrap();
    assert!(info.public_key.is_some(), "{info:?}");
    assert_eq!(info.workers, ids);

    // Each worker's API, nested under its prefix.
    for (i, id) in ids.iter().enumerate() {
        let api = fat_proto::WorkerApi::new(&devnet.worker_url(i)).unwrap();
        assert_eq!(api.status().await.unwrap().worker, *id);
    }
    devnet.stop().await.unwrap();

    // The same directory: the same workers and the same cluster, not a new one.
    let devnet = Devnet::builder(dir.path())
        .workers(2)
        .build()
        .await
        .unwrap();
    assert_eq!(devnet.cluster(), Some(cluster));
    assert_eq!(
        devnet.workers().iter().map(|w| w.id()).collect::<Vec<_>>(),
        ids
    );
    assert_eq!(
        devnet.chain().dev_workers().await.unwrap().cluster,
        Some(cluster)
    );
    devnet.stop().await.unwrap();

    // Another number of workers is refused.
    let refused = Devnet::builder(dir.path()).workers(3).build().await;
    assert!(
        matches!(refused, Err(DevnetError::WorkerCount { created: 2, .. })),
        "{:?}",
        refused.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_worker_catches_up_and_a_signal_interrupts_the_build() {
    let dir = TempDir::new("devnet-pause");
    let mut devnet = Devnet::builder(dir.path())
        .workers(1)
        .bootstrap(false)
        .build()
        .await
        .unwrap();
    assert_eq!(devnet.cluster(), None);
    assert_eq!(devnet.chain().dev_workers().await.unwrap().cluster, None);
    devnet.pause_worker(0).await.unwrap();
    let cluster = fat_devnet::bootstrap::create_dev_cluster(&devnet.chain(), devnet.workers())
        .await
        .unwrap();
    fat_devnet::bootstrap::wait_for_cluster_key(&devnet.chain(), &cluster, Duration::from_secs(30))
        .await
        .unwrap();
    devnet.resume_worker(0);
    devnet
        .wait_caught_up(Duration::from_secs(30))
        .await
        .unwrap();
    devnet.stop().await.unwrap();

    // A signal fired before the network is ready stops the build.
    let other = TempDir::new("devnet-interrupted");
    let shutdown = Shutdown::new();
    shutdown.trigger();
    let built = Devnet::builder(other.path())
        .shutdown(shutdown)
        .build()
        .await;
    assert!(
        matches!(built, Err(DevnetError::Interrupted)),
        "{:?}",
        built.err()
    );
}

/// Four validators on the simplex engine in one process: the dev cluster is bootstrapped
/// through them (registrations, the cluster, its key), so the gatekeeper and the worker follow
/// a chain whose blocks carry simplex certificates, and a restart resumes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_run_the_dev_network() {
    let dir = TempDir::new("devnet-validators");
    let devnet = Devnet::builder(dir.path())
        .validators(4)
        .build()
        .await
        .unwrap();
    let cluster = devnet.cluster().expect("the dev cluster is bootstrapped");
    let chain = devnet.chain();
    let genesis = chain.genesis().await.unwrap();
    assert_eq!(genesis.validators.len(), 4);
    let tip = devnet.node().tip().height;
    assert!(tip > 0);
    let block = devnet.node().store().block(tip).unwrap().unwrap();
    assert!(
        matches!(block.certificate, fat_types::Certificate::Simplex { .. }),
        "{:?}",
        block.certificate
    );
    devnet.stop().await.unwrap();

    let devnet = Devnet::builder(dir.path())
        .validators(4)
        .build()
        .await
        .unwrap();
    assert_eq!(devnet.cluster(), Some(cluster));
    devnet.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_spread_over_clusters_each_runs_its_own_contracts() {
    let dir = TempDir::new("devnet-clusters");
    let devnet = Devnet::builder(dir.path())
        .workers(3)
        .clusters(2)
        .build()
        .await
        .unwrap();
    let clusters = devnet.clusters().to_vec();
    assert_eq!(clusters.len(), 2);
    assert_eq!(devnet.cluster(), Some(clusters[0]));
    let ids: Vec<_> = devnet.workers().iter().map(|w| w.id()).collect();
    let chain = devnet.chain();
    for (j, cluster) in clusters.iter().enumerate() {
        let info = chain.cluster(cluster).await.unwrap();
        let members: Vec<_> = (0..3).filter(|i| i % 2 == j).map(|i| ids[i]).collect();
        assert_eq!(info.workers, members, "worker i joins cluster i % 2");
        assert!(info.public_key.is_some(), "cluster {j} is provisioned");
    }

    // A contract in each cluster runs on that cluster's members, and the client finds one.
    let client = fat_client::Client::new(devnet.url()).unwrap();
    let alice = fat_crypto::dev_keypair("alice");
    for (j, cluster) in clusters.iter().enumerate() {
        let wasm = fat_test_programs::read(fat_test_programs::COUNTER);
        let contract = client
            .deploy(&alice, wasm, "", &[j as u8], Some(*cluster), &mut |_| {})
            .await
            .unwrap()
            .contract;
        let by = format!(r#"{{"by":{}}}"#, j + 1);
        let done = client
            .command(&alice, &contract, "increment", &by, true)
            .await
            .unwrap();
        assert_eq!(done.confirmed_by.len(), 1);
        assert_eq!(done.confirmed_by[0], ids[j].to_string());
        let answer = client.query(&alice, &contract, "get", None).await.unwrap();
        assert_eq!(answer.output, j as u64 + 1);
        let block = done.block.expect("a committed command has a block");
        for (i, worker) in devnet.workers().iter().enumerate() {
            // Every worker has applied the command's block (the other member of the
            // contract's cluster may trail the one that confirmed it).
            assert!(
                worker.wait_for_height(block, Duration::from_secs(10)).await,
                "worker {i} reaches block {block}"
            );
            let runs = worker
                .snapshot()
                .unwrap()
                .contract(&contract)
                .unwrap()
                .is_some();
            assert_eq!(runs, i % 2 == j, "contract {j} on worker {i}");
        }
    }
    devnet.stop().await.unwrap();

    // The data directory keeps its clusters: the same again, another number refused.
    let err = Devnet::builder(dir.path())
        .workers(3)
        .build()
        .await
        .err()
        .expect("one cluster where two were made");
    assert!(
        matches!(err, DevnetError::ClusterCount { created: 2, .. }),
        "{err}"
    );
    let again = Devnet::builder(dir.path())
        .workers(3)
        .clusters(2)
        .build()
        .await
        .unwrap();
    assert_eq!(again.clusters(), clusters.as_slice());
    again.stop().await.unwrap();
}

/// Forty deploys sent at once: the gatekeeper publishes their keys in a few transactions
/// (never more than the blocks that held the deploys), each key once, and ends up richer,
/// not poorer: the deploys' deposits pay for its work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_deploys_cost_the_gatekeeper_a_few_transactions_that_they_pay_for() {
    use fat_types::tx::{code_hash, contract_id};
    use fat_types::{Bytes, ContractId, Transaction, TxKind};

    const DEPLOYS: u8 = 40;
    let dir = TempDir::new("devnet-deploys");
    let devnet = Devnet::builder(dir.path())
        .workers(1)
        .block_time(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let cluster = devnet.cluster().unwrap();
    let chain = devnet.chain();
    let alice = fat_crypto::dev_keypair("alice");
    let gatekeeper = fat_crypto::dev_keypair(fat_chain::genesis::DEV_GATEKEEPER).account_id();
    let chain_id = chain.status().await.unwrap().genesis;
    let sign = |nonce, kind| {
        alice.sign_tx(fat_types::ChainParams::default().priced(Transaction {
            chain: chain_id,
            signer: alice.account_id(),
            nonce,
            fee: 0,
            kind,
        }))
    };
    let code = fat_test_programs::read(fat_test_programs::COUNTER);
    let hash = code_hash(&code);
    let mut nonce = chain.next_nonce(&alice.account_id()).await.unwrap();
    chain
        .submit_committed(&sign(nonce, TxKind::UploadCode { code: Bytes(code) }))
        .await
        .unwrap();
    nonce += 1;
    let start_height = chain.status().await.unwrap().height;
    let balance_before = chain.account(&gatekeeper).await.unwrap().balance;

    let mut contracts = Vec::new();
    for salt in 0..DEPLOYS {
        let kind = TxKind::Instantiate {
            code_hash: hash,
            cluster,
            salt: Bytes(vec![salt]),
            args: Bytes::default(),
            gas_limit: 1_000_000,
        };
        chain.submit(&sign(nonce, kind), false).await.unwrap();
        nonce += 1;
        contracts.push(contract_id(&alice.account_id(), &hash, &cluster, &[salt]));
    }
    // Every key is published.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for contract in &contracts {
        while chain
            .contract(contract)
            .await
            .map_or(true, |c| c.public_key.is_none())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{contract} unpublished"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Read back what the blocks hold.
    let tip = chain.status().await.unwrap().height;
    let (mut deploy_blocks, mut publications, mut largest) = (0, 0, 0);
    let mut published: Vec<ContractId> = Vec::new();
    for height in start_height + 1..=tip {
        let block = chain.block(height).await.unwrap();
        let mut deploys = false;
        for signed in &block.txs {
            match &signed.tx.kind {
                TxKind::Instantiate { .. } => deploys = true,
                TxKind::PublishContractKeys { keys } => {
                    assert_eq!(signed.tx.signer, gatekeeper);
                    publications += 1;
                    largest = largest.max(keys.len());
                    published.extend(keys.iter().map(|(c, _)| *c));
                }
                TxKind::PublishContractKey { .. } => panic!("a key published alone"),
                _ => {}
            }
        }
        deploy_blocks += usize::from(deploys);
    }
    published.sort();
    contracts.sort();
    assert_eq!(published, contracts, "each key published once");
    assert!(
        publications <= deploy_blocks,
        "{publications} publications for deploys in {deploy_blocks} blocks"
    );
    assert!(largest > 1, "no publication carried more than one key");
    let balance_after = chain.account(&gatekeeper).await.unwrap().balance;
    assert!(
        balance_after > balance_before,
        "the gatekeeper paid for the deploys: {balance_before} -> {balance_after}"
    );
    devnet.stop().await.unwrap();
}

/// A node on the path states a fee per byte nine times the chain's, in its parameters and in
/// the genesis configuration it serves. The bootstrap checks the configuration against block
/// 0, which it is not, so it signs nothing; through the honest node the same transfer pays
/// the least fee.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stating_higher_fees_cannot_make_the_bootstrap_overpay() {
    let dir = TempDir::new("devnet-fees");
    let devnet = Devnet::builder(dir.path())
        .workers(1)
        .bootstrap(false)
        .build()
        .await
        .unwrap();
    let node = devnet.url().trim_start_matches("http://").to_string();
    let (real, forged) = ("\"byte_fee\":1,", "\"byte_fee\":9,");
    let proxy = rewriting_proxy(node, real.into(), forged.into()).await;
    let lying = ChainApi::new(&proxy).unwrap();
    assert_eq!(lying.params().await.unwrap().byte_fee, 9, "the lie is told");
    assert_eq!(lying.genesis().await.unwrap().params.byte_fee, 9);

    let bob = dev_keypair("bob");
    let account = |devnet: &Devnet| devnet.node().with_state(|s| s.accounts[&bob.account_id()]);
    let before = account(&devnet);
    let kind = TxKind::Transfer {
        to: dev_keypair("charlie").account_id(),
        amount: 1,
    };
    let err = submit(&lying, &bob, kind.clone()).await.unwrap_err();
    match &err {
        DevnetError::Chain(fat_proto::Error::ForgedGenesis { chain, .. }) => {
            assert_eq!(
                *chain,
                devnet.chain().status().await.unwrap().genesis.to_string()
            );
        }
        other => panic!("not refused as untrusted: {other:?}"),
    }
    let after = account(&devnet);
    assert_eq!(after.nonce, before.nonce, "a transaction went out");

    submit(&devnet.chain(), &bob, kind.clone()).await.unwrap();
    let paid = before.balance - account(&devnet).balance - 1;
    let (chain, params) = devnet.chain().checked_params().await.unwrap();
    let least = params.min_fee_of(&fat_types::Transaction {
        chain,
        signer: bob.account_id(),
        nonce: before.nonce,
        fee: 0,
        kind,
    });
    assert!(
        least > 10,
        "the bootstrap's floor of 10 is below a transfer's least fee"
    );
    assert_eq!(paid, least, "a transfer pays its least fee");
    devnet.stop().await.unwrap();
}
