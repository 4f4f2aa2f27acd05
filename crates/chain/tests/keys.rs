//! Cluster and contract keys: who may provision and publish them, and what needs them.

mod common;

use common::{TempDir, alice, bob, gatekeeper, open, produce, register_worker, sign, worker_id};
use fat_chain::Node;
use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{
    Bytes, ClusterId, CodeHash, ContractId, Hash32, Outcome, TxKind, TxRejection, WorkerId,
};

const CLUSTER_KEY: Hash32 = Hash32([0xc1; 32]);
const CONTRACT_KEY: Hash32 = Hash32([0xc2; 32]);

/// Workers 1, 2 and 3 registered, a cluster of workers 1 and 2 (without a key) and code.
fn setup(name: &str) -> (TempDir, Node, ClusterId, CodeHash) {
    let dir = TempDir::new(name);
    let node = open(&dir);
    let a = alice();
    for n in 1..=3 {
        node.submit_tx(&sign(&a, u64::from(n) - 1, register_worker(n)))
            .unwrap();
    }
    let create = TxKind::CreateCluster {
        workers: vec![worker_id(1), worker_id(2)],
    };
    node.submit_tx(&sign(&a, 3, create)).unwrap();
    let code = Bytes(b"\0asm fake component".to_vec());
    let hash = code_hash(&code.0);
    node.submit_tx(&sign(&a, 4, TxKind::UploadCode { code }))
        .unwrap();
    let outcomes = produce(&node);
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Failed(_))),
        "{outcomes:?}"
    );
    (dir, node, cluster_id(&a.account_id(), 3), hash)
}

fn provision(cluster: ClusterId, key: Hash32, workers: &[WorkerId]) -> TxKind {
    TxKind::ProvisionKey {
        cluster,
        cluster_public: key,
        keys: workers
            .iter()
            .map(|w| (*w, Bytes(w.0[..4].to_vec())))
            .collect(),
    }
}

fn instantiate(hash: CodeHash, cluster: ClusterId, salt: u8) -> TxKind {
    TxKind::Instantiate {
        code_hash: hash,
        cluster,
        salt: Bytes(vec![salt]),
        args: Bytes::default(),
        gas_limit: 1,
    }
}

fn command(contract: ContractId) -> TxKind {
    TxKind::Command {
        contract,
        payload: Bytes(vec![1]),
        gas_limit: 10,
    }
}

fn publish(contract: ContractId, key: Hash32) -> TxKind {
    TxKind::PublishContractKey {
        contract,
        public_key: key,
    }
}

#[test]
fn provision_key_rules_and_the_published_cluster_key() {
    let (_dir, node, cluster, hash) = setup("provision");
    let (a, g) = (alice(), gatekeeper());
    let (w1, w2, w3) = (worker_id(1), worker_id(2), worker_id(3));

    assert_eq!(
        node.submit_tx(&sign(&a, 5, instantiate(hash, cluster, 0))),
        Err(TxRejection::ClusterKeyMissing { cluster })
    );
    assert_eq!(
        node.submit_tx(&sign(&bob(), 0, provision(cluster, CLUSTER_KEY, &[w1]))),
        Err(TxRejection::NotGatekeeper)
    );
    let unknown = ClusterId([9; 32]);
    assert_eq!(
        node.submit_tx(&sign(&g, 0, provision(unknown, CLUSTER_KEY, &[w1]))),
        Err(TxRejection::UnknownCluster { cluster: unknown })
    );
    let err = node
        .submit_tx(&sign(&g, 0, provision(cluster, CLUSTER_KEY, &[])))
        .unwrap_err();
    assert!(matches!(err, TxRejection::Malformed { .. }), "{err:?}");
    assert_eq!(
        node.submit_tx(&sign(&g, 0, provision(cluster, CLUSTER_KEY, &[w1, w3]))),
        Err(TxRejection::Membership {
            worker: w3,
            cluster
        })
    );
    let stranger = WorkerId([9; 32]);
    assert_eq!(
        node.submit_tx(&sign(&g, 0, provision(cluster, CLUSTER_KEY, &[stranger]))),
        Err(TxRejection::UnknownWorker { worker: stranger })
    );

    node.submit_tx(&sign(&g, 0, provision(cluster, CLUSTER_KEY, &[w1, w2])))
        .unwrap();
    // Once a key is on its way, instantiation into the cluster is admitted.
    node.submit_tx(&sign(&a, 5, instantiate(hash, cluster, 0)))
        .unwrap();
    // The key is not committed yet, so a different one is caught when executed.
    node.submit_tx(&sign(&g, 1, provision(cluster, Hash32([0xee; 32]), &[w1])))
        .unwrap();
    let contract = contract_id(&a.account_id(), &hash, &cluster, &[0]);
    let what = format!("cluster {cluster}");
    assert_eq!(
        produce(&node),
        vec![
            Outcome::Ok,
            Outcome::ContractCreated(contract),
            Outcome::Failed(TxRejection::KeyMismatch { what: what.clone() }),
        ]
    );
    node.with_state(|s| {
        assert_eq!(s.clusters[&cluster].public_key, Some(CLUSTER_KEY));
        for w in [w1, w2] {
            let p = &s.provisions[&(w, cluster)];
            assert_eq!(
                (p.worker, p.cluster, p.gatekeeper, &p.sealed_key, p.height),
                (w, cluster, g.account_id(), &Bytes(w.0[..4].to_vec()), 2)
            );
        }
        assert_eq!(s.contracts[&contract].public_key, None);
    });

    // Committed: a different key is refused at admission; the same key provisions a new member.
    assert_eq!(
        node.submit_tx(&sign(&g, 2, provision(cluster, Hash32([0xee; 32]), &[w1]))),
        Err(TxRejection::KeyMismatch { what })
    );
    node.submit_tx(&sign(
        &a,
        6,
        TxKind::AddClusterWorker {
            cluster,
            worker: w3,
        },
    ))
    .unwrap();
    // Membership is checked against the committed cluster, so the gatekeeper waits for it.
    assert_eq!(produce(&node), vec![Outcome::Ok]);
    node.submit_tx(&sign(&g, 2, provision(cluster, CLUSTER_KEY, &[w3])))
        .unwrap();
    assert_eq!(produce(&node), vec![Outcome::Ok]);
    node.with_state(|s| {
        assert_eq!(s.clusters[&cluster].public_key, Some(CLUSTER_KEY));
        assert_eq!(s.provisions[&(w3, cluster)].height, 4);
    });
}

#[test]
fn publish_contract_key_rules_and_commands_need_the_key() {
    let (_dir, node, cluster, hash) = setup("publish");
    let (a, g) = (alice(), gatekeeper());
    node.submit_tx(&sign(
        &g,
        0,
        provision(cluster, CLUSTER_KEY, &[worker_id(1)]),
    ))
    .unwrap();
    node.submit_tx(&sign(&a, 5, instantiate(hash, cluster, 0)))
        .unwrap();
    let contract = contract_id(&a.account_id(), &hash, &cluster, &[0]);
    assert_eq!(
        produce(&node),
        vec![Outcome::Ok, Outcome::ContractCreated(contract)]
    );

    assert_eq!(
        node.submit_tx(&sign(&a, 6, command(contract))),
        Err(TxRejection::ContractKeyMissing { contract })
    );
    assert_eq!(
        node.submit_tx(&sign(&bob(), 0, publish(contract, CONTRACT_KEY))),
        Err(TxRejection::NotGatekeeper)
    );
    let unknown = ContractId([9; 32]);
    assert_eq!(
        node.submit_tx(&sign(&g, 1, publish(unknown, CONTRACT_KEY))),
        Err(TxRejection::UnknownContract { contract: unknown })
    );

    node.submit_tx(&sign(&g, 1, publish(contract, CONTRACT_KEY)))
        .unwrap();
    // Once the key is on its way, commands are admitted.
    node.submit_tx(&sign(&a, 6, command(contract))).unwrap();
    // The key is not committed yet, so a different one is caught when executed.
    node.submit_tx(&sign(&g, 2, publish(contract, Hash32([0xee; 32]))))
        .unwrap();
    let what = format!("contract {contract}");
    assert_eq!(
        produce(&node),
        vec![
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Failed(TxRejection::KeyMismatch { what: what.clone() }),
        ]
    );
    node.with_state(|s| assert_eq!(s.contracts[&contract].public_key, Some(CONTRACT_KEY)));

    // Committed: the same key again is fine, a different one is refused at admission.
    assert_eq!(
        node.submit_tx(&sign(&g, 3, publish(contract, Hash32([0xee; 32])))),
        Err(TxRejection::KeyMismatch { what })
    );
    node.submit_tx(&sign(&g, 3, publish(contract, CONTRACT_KEY)))
        .unwrap();
    node.submit_tx(&sign(&a, 7, command(contract))).unwrap();
    assert_eq!(produce(&node), vec![Outcome::Ok, Outcome::Ok]);
    node.with_state(|s| assert_eq!(s.contracts[&contract].public_key, Some(CONTRACT_KEY)));
}

#[test]
fn a_key_published_earlier_in_the_block_counts() {
    // Instantiate, publish and command in one block: each sees what the previous ones did.
    let (_dir, node, cluster, hash) = setup("same-block");
    let (a, g) = (alice(), gatekeeper());
    let contract = contract_id(&a.account_id(), &hash, &cluster, &[0]);
    node.submit_tx(&sign(
        &g,
        0,
        provision(cluster, CLUSTER_KEY, &[worker_id(2)]),
    ))
    .unwrap();
    node.submit_tx(&sign(&a, 5, instantiate(hash, cluster, 0)))
        .unwrap();
    node.submit_tx(&sign(&a, 6, command(contract))).unwrap();
    node.submit_tx(&sign(&g, 1, publish(contract, CONTRACT_KEY)))
        .unwrap();
    node.submit_tx(&sign(&a, 7, command(contract))).unwrap();
    assert_eq!(
        produce(&node),
        vec![
            Outcome::Ok,
            Outcome::ContractCreated(contract),
            Outcome::Failed(TxRejection::ContractKeyMissing { contract }),
            Outcome::Ok,
            Outcome::Ok,
        ]
    );
}
