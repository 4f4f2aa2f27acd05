//! Every reason the mempool refuses a transaction, and the registry flow end to end.

mod common;

use common::{
    TempDir, alice, bob, dev_chain, gatekeeper, open, open_with, produce, register_worker, sign,
    sign_for, worker_id,
};
use fat_chain::mempool::MAX_NONCE_AHEAD;
use fat_crypto::dev_keypair;
use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{
    AccountId, Attestation, Bytes, ClusterId, ContractId, Hash32, Outcome, Transaction, TxKind,
    TxRejection,
};

fn transfer(amount: u64) -> TxKind {
    TxKind::Transfer {
        to: AccountId([9; 32]),
        amount,
    }
}

#[test]
fn refuses_malformed_bad_signature_duplicate_nonce_fee_and_balance() {
    let dir = TempDir::new("refusals");
    let node = open(&dir);
    let a = alice();

    let err = node.submit(b"not a transaction").unwrap_err();
    assert!(matches!(err, TxRejection::Malformed { .. }), "{err}");

    // Signed properly, but for another network (same accounts, another genesis).
    let mut elsewhere = fat_chain::genesis::dev();
    elsewhere.chain_id = "elsewhere".into();
    let elsewhere = fat_chain::genesis::chain_id(&elsewhere);
    assert_eq!(
        node.submit_tx(&sign_for(elsewhere, &a, 0, transfer(1))),
        Err(TxRejection::WrongChain {
            expected: dev_chain(),
            got: elsewhere
        })
    );
    assert_eq!(node.genesis_hash(), dev_chain());

    let mut forged = sign(&a, 0, transfer(1));
    forged.tx.fee = 2;
    assert_eq!(node.submit_tx(&forged), Err(TxRejection::BadSignature));

    let first = sign(&a, 0, transfer(1));
    node.submit_tx(&first).unwrap();
    assert_eq!(node.submit_tx(&first), Err(TxRejection::AlreadyKnown));
    assert_eq!(
        node.submit_tx(&sign(&a, 0, transfer(2))),
        Err(TxRejection::StaleNonce {
            expected: 1,
            got: 0
        })
    );
    let far = 2 + MAX_NONCE_AHEAD;
    assert_eq!(
        node.submit_tx(&sign(&a, far, transfer(2))),
        Err(TxRejection::NonceGap {
            expected: 1,
            got: far
        })
    );
    let free = a.sign_tx(Transaction {
        chain: dev_chain(),
        signer: a.account_id(),
        nonce: 1,
        fee: 0,
        kind: transfer(1),
    });
    let min = fat_chain::genesis::dev().params.min_fee_of(&free.tx);
    assert!(min > 1, "the fee grows with the bytes: {min}");
    assert_eq!(
        node.submit_tx(&free),
        Err(TxRejection::FeeTooLow { fee: 0, min })
    );

    // Pending spending counts: alice holds DEV_BALANCE, and a transfer of 1 with its fee is
    // pending (every transfer encodes to the same size, so pays the same fee).
    let balance = fat_chain::genesis::DEV_BALANCE;
    let all = sign(&a, 1, transfer(balance));
    let fee = all.tx.fee;
    assert_eq!(
        node.submit_tx(&all),
        Err(TxRejection::InsufficientBalance {
            needed: balance + fee,
            available: balance - 1 - fee
        })
    );
    let nobody = dev_keypair("nobody");
    assert_eq!(
        node.submit_tx(&sign(&nobody, 0, transfer(0))),
        Err(TxRejection::InsufficientBalance {
            needed: fee,
            available: 0
        })
    );

    // Once committed, the nonce is stale for good.
    node.produce_block().unwrap().unwrap();
    assert_eq!(
        node.submit_tx(&sign(&a, 0, transfer(3))),
        Err(TxRejection::StaleNonce {
            expected: 1,
            got: 0
        })
    );
    node.submit_tx(&sign(&a, 1, transfer(3))).unwrap();
}

#[test]
fn a_transaction_ahead_of_its_nonce_waits_for_the_ones_before_it() {
    let dir = TempDir::new("ahead");
    let node = open(&dir);
    let a = alice();
    // Nonces 2 and 1 come before 0 (sent through other validators, say).
    let second = sign(&a, 2, transfer(1));
    let first = sign(&a, 1, transfer(1));
    node.submit_tx(&second).unwrap();
    node.submit_tx(&first).unwrap();
    assert_eq!(node.submit_tx(&second), Err(TxRejection::AlreadyKnown));
    assert_eq!(
        node.submit_tx(&sign(&a, 2, transfer(5))),
        Err(TxRejection::NonceGap {
            expected: 0,
            got: 2
        }),
        "one transaction waits per nonce"
    );
    assert_eq!(node.pending(), 0, "nothing is ready for a block");
    assert_eq!(node.next_nonce(&a.account_id()), 0);
    assert!(
        node.produce_block().unwrap().is_none(),
        "no block without ready transactions"
    );

    node.submit_tx(&sign(&a, 0, transfer(1))).unwrap();
    assert_eq!(node.pending(), 3, "all three are queued in order");
    assert_eq!(node.next_nonce(&a.account_id()), 3);
    assert_eq!(produce(&node).len(), 3);
    assert_eq!(node.with_state(|s| s.accounts[&a.account_id()].nonce), 3);

    // Only what the signer can pay waits: beside what it has pending and waiting.
    let balance = node.with_state(|s| s.accounts[&a.account_id()].balance);
    let waiting = sign(&a, 5, transfer(1));
    node.submit_tx(&waiting).unwrap();
    let everything = sign(&a, 4, transfer(balance - 1));
    assert_eq!(
        node.submit_tx(&everything),
        Err(TxRejection::InsufficientBalance {
            needed: balance - 1 + everything.tx.fee,
            available: balance - 1 - waiting.tx.fee
        })
    );
    let nobody = dev_keypair("nobody");
    assert_eq!(
        node.submit_tx(&sign(&nobody, 1, transfer(0))),
        Err(TxRejection::InsufficientBalance {
            needed: waiting.tx.fee,
            available: 0
        }),
        "an unfunded account has nothing waiting"
    );
    // A waiting transaction that can no longer pay when its turn comes is dropped, and the
    // ones after it wait for a replacement.
    let fee = waiting.tx.fee;
    node.submit_tx(&sign(&a, 4, transfer(balance - 2 * fee - 11)))
        .unwrap();
    node.submit_tx(&sign(&a, 3, transfer(20))).unwrap();
    assert_eq!(node.pending(), 1, "nonce 4 cannot pay on top of nonce 3");
    assert_eq!(node.next_nonce(&a.account_id()), 4);
    node.submit_tx(&sign(&a, 4, transfer(2))).unwrap();
    assert_eq!(node.pending(), 3, "its replacement lets nonce 5 follow");
    assert_eq!(produce(&node).len(), 3);
}

#[test]
fn waiting_transactions_have_room_of_their_own() {
    let dir = TempDir::new("ahead-room");
    let node = open_with(&dir, fat_chain::genesis::dev(), 16);
    let (a, b) = (alice(), bob());
    // An eighth of 16: two may wait, the third is refused, and ready ones still come in.
    node.submit_tx(&sign(&a, 1, transfer(1))).unwrap();
    node.submit_tx(&sign(&a, 2, transfer(1))).unwrap();
    assert_eq!(
        node.submit_tx(&sign(&b, 1, transfer(1))),
        Err(TxRejection::MempoolFull { limit: 2 })
    );
    node.submit_tx(&sign(&b, 0, transfer(1))).unwrap();
    assert_eq!(node.pending(), 1);
    // A committed transaction does not come back, even once its nonce is free again.
    let first = sign(&a, 0, transfer(1));
    node.submit_tx(&first).unwrap();
    assert_eq!(produce(&node).len(), 4);
    assert_eq!(node.submit_tx(&first), Err(TxRejection::AlreadyKnown));
}

#[test]
fn refuses_too_large_size_fees_and_a_full_mempool() {
    let dir = TempDir::new("limits");
    let mut genesis = fat_chain::genesis::dev();
    genesis.params.max_tx_bytes = 300;
    genesis.params.byte_fee = 2;
    let node = open_with(&dir, genesis, 2);
    let a = alice();
    let chain = node.genesis_hash();
    let big = a.sign_tx(Transaction {
        chain,
        signer: a.account_id(),
        nonce: 0,
        fee: 10_000,
        kind: TxKind::UploadCode {
            code: common::component(400),
        },
    });
    let size = big.encode().len() as u64;
    assert_eq!(
        node.submit_tx(&big),
        Err(TxRejection::TooLarge { size, max: 300 })
    );

    let tx = sign_for(chain, &a, 0, transfer(1));
    let min = 1 + 2 * tx.encode().len() as u64;
    assert_eq!(
        node.submit_tx(&tx),
        Err(TxRejection::FeeTooLow {
            fee: min / 2 + 1,
            min
        })
    );

    for (i, name) in ["alice", "bob", "charlie"].into_iter().enumerate() {
        let key = dev_keypair(name);
        let tx = key.sign_tx(Transaction {
            chain,
            signer: key.account_id(),
            nonce: 0,
            fee: 1000,
            kind: transfer(1),
        });
        let result = node.submit_tx(&tx);
        if i < 2 {
            result.unwrap();
        } else {
            assert_eq!(result, Err(TxRejection::MempoolFull { limit: 2 }));
        }
    }
}

#[test]
fn large_cheap_uploads_fill_the_mempools_bytes_and_a_block_holds_a_bounded_few() {
    use fat_chain::mempool::MAX_QUEUE_BYTES;
    use fat_types::genesis::MAX_BLOCK_BYTES;
    let dir = TempDir::new("bytes");
    let node = open(&dir);
    let a = alice();
    // Uploads just under the largest transaction, with the smallest fee: the count limit
    // (1,000) would let them hold 4 GiB.
    let code = common::component((4 << 20) - 1024).0;
    let mut admitted = 0u64;
    let mut queued_bytes = 0u64;
    let refusal = loop {
        let tx = sign(
            &a,
            admitted,
            TxKind::UploadCode {
                code: Bytes(code.clone()),
            },
        );
        let size = tx.encode().len() as u64;
        match node.submit_tx(&tx) {
            Ok(_) => {
                admitted += 1;
                queued_bytes += size;
            }
            Err(refusal) => break refusal,
        }
        assert!(admitted <= 100, "the mempool takes them without end");
    };
    assert_eq!(
        refusal,
        TxRejection::MempoolBytesFull {
            limit: MAX_QUEUE_BYTES
        }
    );
    assert!(queued_bytes <= MAX_QUEUE_BYTES);
    assert_eq!(refusal.code(), "mempool_bytes_full");
    // A block takes what fits in its bytes, in order; the rest waits for the next ones.
    node.produce_block().unwrap().unwrap();
    let block = node.store().block(1).unwrap().unwrap();
    let bytes: u64 = block.txs.iter().map(|tx| tx.encode().len() as u64).sum();
    assert!(bytes <= MAX_BLOCK_BYTES, "{bytes} bytes in one block");
    assert_eq!(block.txs.len(), 8, "eight uploads of 4 MiB fit in 32 MiB");
    assert_eq!(node.pending() as u64, admitted - 8);
}

#[test]
fn registry_flow_and_its_refusals() {
    let dir = TempDir::new("registry");
    let node = open(&dir);
    let (a, b, g) = (alice(), bob(), gatekeeper());
    let code = common::component(64);
    let hash = code_hash(&code.0);
    let unknown_cluster = ClusterId([1; 32]);
    let (w1, w2) = (worker_id(1), worker_id(2));

    let sgx = TxKind::RegisterWorker {
        worker: w1,
        ecdh_public: Hash32([1; 32]),
        attestation: Attestation {
            provider: "sgx-dcap".into(),
            report: Bytes(vec![1]),
        },
    };
    let err = node.submit_tx(&sign(&a, 0, sgx)).unwrap_err();
    assert!(
        matches!(&err, TxRejection::AttestationRejected { provider, reason }
            if provider == "sgx-dcap" && reason.contains("not accepted")),
        "{err:?}"
    );
    assert_eq!(
        node.submit_tx(&sign(&a, 0, TxKind::CreateCluster { workers: vec![w1] })),
        Err(TxRejection::UnknownWorker { worker: w1 })
    );
    let instantiate = |cluster, salt: u8| TxKind::Instantiate {
        code_hash: hash,
        cluster,
        salt: Bytes(vec![salt]),
        args: Bytes::default(),
        gas_limit: 1,
    };
    assert_eq!(
        node.submit_tx(&sign(&a, 0, instantiate(unknown_cluster, 0))),
        Err(TxRejection::UnknownCode { code_hash: hash })
    );
    let command = |contract| TxKind::Command {
        contract,
        payload: Bytes(vec![1]),
        gas_limit: 10,
    };
    assert_eq!(
        node.submit_tx(&sign(&a, 0, command(ContractId([2; 32])))),
        Err(TxRejection::UnknownContract {
            contract: ContractId([2; 32])
        })
    );

    // Pending transactions count: the worker, cluster, code and contract exist for what follows.
    node.submit_tx(&sign(&a, 0, register_worker(1))).unwrap();
    assert_eq!(
        node.submit_tx(&sign(&b, 0, register_worker(1))),
        Err(TxRejection::WorkerExists { worker: w1 })
    );
    node.submit_tx(&sign(&a, 1, register_worker(2))).unwrap();
    node.submit_tx(&sign(&a, 2, TxKind::CreateCluster { workers: vec![w1] }))
        .unwrap();
    let cluster = cluster_id(&a.account_id(), 2);
    node.submit_tx(&sign(&a, 3, TxKind::UploadCode { code: code.clone() }))
        .unwrap();
    assert_eq!(
        node.submit_tx(&sign(&a, 4, instantiate(unknown_cluster, 0))),
        Err(TxRejection::UnknownCluster {
            cluster: unknown_cluster
        })
    );
    let provision = |worker| TxKind::ProvisionKey {
        cluster,
        epoch: 0,
        cluster_public: Hash32([0xc1; 32]),
        keys: vec![(worker, Bytes(vec![7]))],
    };
    assert_eq!(
        node.submit_tx(&sign(&b, 0, provision(w1))),
        Err(TxRejection::NotGatekeeper)
    );
    node.submit_tx(&sign(&g, 0, provision(w1))).unwrap();
    // Membership of a pending cluster is only known when executed: this one fails in its receipt.
    node.submit_tx(&sign(&g, 1, provision(w2))).unwrap();
    node.submit_tx(&sign(&a, 4, instantiate(cluster, 0)))
        .unwrap();
    let contract = contract_id(&a.account_id(), &hash, &cluster, &[0]);
    assert_eq!(
        node.submit_tx(&sign(&a, 5, instantiate(cluster, 0))),
        Err(TxRejection::ContractExists { contract })
    );
    // The contract is pending, so its key is not known yet: this command fails when executed.
    node.submit_tx(&sign(&a, 5, command(contract))).unwrap();
    let publish = TxKind::PublishContractKey {
        contract,
        public_key: Hash32([0xc2; 32]),
    };
    node.submit_tx(&sign(&g, 2, publish)).unwrap();
    node.submit_tx(&sign(&a, 6, command(contract))).unwrap();

    assert_eq!(
        produce(&node),
        vec![
            Outcome::Ok,
            Outcome::Ok,
            Outcome::ClusterCreated(cluster),
            Outcome::CodeStored(hash),
            Outcome::Ok,
            Outcome::Failed(TxRejection::Membership {
                worker: w2,
                cluster
            }),
            Outcome::ContractCreated(contract),
            Outcome::Failed(TxRejection::ContractKeyMissing { contract }),
            Outcome::Ok,
            Outcome::Ok,
        ]
    );
    node.with_state(|s| {
        assert_eq!(s.contracts[&contract].code_hash, hash);
        assert_eq!(s.contracts[&contract].public_key, Some(Hash32([0xc2; 32])));
        assert_eq!(s.clusters[&cluster].workers, vec![w1]);
        assert_eq!(s.clusters[&cluster].public_key, Some(Hash32([0xc1; 32])));
        assert_eq!(s.provisions[&(w1, cluster)].sealed_key, Bytes(vec![7]));
        assert!(!s.provisions.contains_key(&(w2, cluster)));
        assert_eq!(
            s.accounts[&g.account_id()].nonce,
            3,
            "a failed transaction still uses its nonce"
        );
    });
    assert_eq!(node.store().code(&hash).unwrap().unwrap(), code.0);

    // Committed cluster: ownership and membership are checked at admission.
    let add = |worker| TxKind::AddClusterWorker { cluster, worker };
    assert_eq!(
        node.submit_tx(&sign(&b, 0, add(w2))),
        Err(TxRejection::NotClusterOwner { cluster })
    );
    assert_eq!(
        node.submit_tx(&sign(&a, 7, add(w1))),
        Err(TxRejection::Membership {
            worker: w1,
            cluster
        })
    );
    node.submit_tx(&sign(&a, 7, add(w2))).unwrap();
    // A second pending add of the same worker is only caught when executed.
    node.submit_tx(&sign(&a, 8, add(w2))).unwrap();
    assert_eq!(
        produce(&node),
        vec![
            Outcome::Ok,
            Outcome::Failed(TxRejection::Membership {
                worker: w2,
                cluster
            })
        ]
    );
}

#[test]
fn only_a_workers_operator_sets_its_endpoint_and_only_to_a_url() {
    let dir = TempDir::new("endpoint");
    let node = open(&dir);
    let (a, b) = (alice(), bob());
    let w1 = worker_id(1);
    let endpoint = |url: &str| TxKind::SetWorkerEndpoint {
        worker: w1,
        endpoint: url.into(),
    };
    assert_eq!(
        node.submit_tx(&sign(&a, 0, endpoint("http://10.1.2.3:8546"))),
        Err(TxRejection::UnknownWorker { worker: w1 })
    );
    node.submit_tx(&sign(&a, 0, register_worker(1))).unwrap();
    assert_eq!(
        node.submit_tx(&sign(&a, 1, endpoint("http://10.1.2.3:8546"))),
        Err(TxRejection::UnknownWorker { worker: w1 }),
        "its operator is known once the registration is committed"
    );
    produce(&node);
    for bad in [
        "ftp://x",
        "http://",
        "http://a b",
        &format!("http://{}", "a".repeat(300)),
    ] {
        let err = node.submit_tx(&sign(&a, 1, endpoint(bad))).unwrap_err();
        assert!(
            matches!(&err, TxRejection::Malformed { reason } if reason.contains("worker endpoint")),
            "{bad}: {err:?}"
        );
    }
    assert_eq!(
        node.submit_tx(&sign(&b, 0, endpoint("http://10.1.2.3:8546"))),
        Err(TxRejection::NotOperator { worker: w1 })
    );
    node.submit_tx(&sign(&a, 1, endpoint("https://w1.example:8546")))
        .unwrap();
    produce(&node);
    let info = node.with_state(|s| s.workers[&w1].clone());
    assert_eq!(info.endpoint.as_deref(), Some("https://w1.example:8546"));
    assert_eq!(info.operator, a.account_id());
}

/// Uploaded code must be a WebAssembly component that validates: junk, a core module or a
/// component that does not validate would be stored for ever and run by no worker. And one
/// that calls itself through the engine's copying adapters would copy without gas.
#[test]
fn uploads_that_are_not_components_are_refused() {
    let dir = TempDir::new("not-components");
    let node = open(&dir);
    let a = alice();
    let mut broken = common::component(64).0;
    broken[8] = 0x7f;
    for (code, why) in [
        (b"#!/bin/sh\necho hi\n".to_vec(), "not WebAssembly"),
        (b"\0asm\x01\0\0\0".to_vec(), "core WebAssembly module"),
        (broken, "does not validate"),
        (fat_test_programs::copy_bomb(), "which it provides itself"),
    ] {
        let refused = node.submit_tx(&sign(&a, 0, TxKind::UploadCode { code: Bytes(code) }));
        assert!(
            matches!(&refused, Err(TxRejection::Malformed { reason }) if reason.contains(why)),
            "{why}: {refused:?}"
        );
    }
    node.submit_tx(&sign(
        &a,
        0,
        TxKind::UploadCode {
            code: common::component(64),
        },
    ))
    .unwrap();
}
