//! Cluster and contract keys: who may provision and publish them, and what needs them.

mod common;

use common::{TempDir, alice, bob, gatekeeper, open, produce, register_worker, sign, worker_id};
use fat_chain::Node;
use fat_types::registry::MAX_DEPLOYERS;
use fat_types::tx::{MAX_PUBLISHED_KEYS, cluster_id, code_hash, contract_id};
use fat_types::{
    AccountId, Bytes, ClusterId, CodeHash, ContractId, Deployers, Hash32, Outcome, TxKind,
    TxRejection, WorkerId, key_escrow,
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
    let code = common::component(64);
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
    provision_at(cluster, 0, key, workers)
}

fn provision_at(cluster: ClusterId, epoch: u32, key: Hash32, workers: &[WorkerId]) -> TxKind {
    TxKind::ProvisionKey {
        cluster,
        epoch,
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

/// Init arguments sealed to `key` (as a cluster's x25519 public key).
fn sealed_args(key: Hash32) -> Bytes {
    let (envelope, _) = fat_crypto::envelope::seal(
        &alice(),
        &fat_crypto::envelope::EcdhPublic(key.0),
        ContractId([0; 32]),
        fat_crypto::envelope::Direction::InitArgs,
        b"{}",
        1,
        fat_crypto::envelope::SealRandomness::generate().unwrap(),
    )
    .unwrap();
    Bytes(envelope.to_bytes())
}

/// Removing a member moves the cluster to its next key epoch: its key is unpublished until
/// the gatekeeper provisions the new epoch (to the members that stay), provisions and init
/// arguments of the old epoch are refused, and contracts take the epoch they are created in.
#[test]
fn a_removal_rotates_the_cluster_key() {
    let (_dir, node, cluster, hash) = setup("rotate");
    let (a, g) = (alice(), gatekeeper());
    let (w1, w2) = (worker_id(1), worker_id(2));
    let epoch_1_key = Hash32([0xc3; 32]);
    node.submit_tx(&sign(&g, 0, provision(cluster, CLUSTER_KEY, &[w1, w2])))
        .unwrap();
    node.submit_tx(&sign(&a, 5, instantiate(hash, cluster, 0)))
        .unwrap();
    let c0 = contract_id(&a.account_id(), &hash, &cluster, &[0]);
    assert_eq!(produce(&node), [Outcome::Ok, Outcome::ContractCreated(c0)]);

    let remove = TxKind::RemoveClusterWorker {
        cluster,
        worker: w2,
    };
    node.submit_tx(&sign(&a, 6, remove)).unwrap();
    assert_eq!(produce(&node), [Outcome::Ok]);
    node.with_state(|s| {
        let info = &s.clusters[&cluster];
        assert_eq!((info.key_epoch, info.public_key), (1, None));
        assert_eq!(
            info.key_deposits, 1,
            "the removal pays for the new epoch's provisioning"
        );
        assert_eq!(s.contracts[&c0].key_epoch, 0);
    });
    assert_eq!(
        node.submit_tx(&sign(&a, 7, instantiate(hash, cluster, 1))),
        Err(TxRejection::ClusterKeyMissing { cluster })
    );
    assert_eq!(
        node.submit_tx(&sign(&g, 1, provision(cluster, CLUSTER_KEY, &[w1]))),
        Err(TxRejection::StaleKeyEpoch {
            cluster,
            what: "the key provisioning of epoch 0".into(),
            current: 1,
        })
    );
    node.submit_tx(&sign(&g, 1, provision_at(cluster, 1, epoch_1_key, &[w1])))
        .unwrap();
    assert_eq!(produce(&node), [Outcome::Ok]);
    node.with_state(|s| {
        assert_eq!(s.clusters[&cluster].public_key, Some(epoch_1_key));
        assert_eq!(s.provisions[&(w1, cluster)].epoch, 1);
        assert_eq!(s.provisions[&(w2, cluster)].epoch, 0);
    });

    let with_args = |salt: u8, key: Hash32| TxKind::Instantiate {
        code_hash: hash,
        cluster,
        salt: Bytes(vec![salt]),
        args: sealed_args(key),
        gas_limit: 1,
    };
    assert_eq!(
        node.submit_tx(&sign(&a, 7, with_args(1, CLUSTER_KEY))),
        Err(TxRejection::StaleKeyEpoch {
            cluster,
            what: "the envelope of the init arguments".into(),
            current: 1,
        })
    );
    node.submit_tx(&sign(&a, 7, with_args(1, epoch_1_key)))
        .unwrap();
    let c1 = contract_id(&a.account_id(), &hash, &cluster, &[1]);
    assert_eq!(produce(&node), [Outcome::ContractCreated(c1)]);
    node.with_state(|s| assert_eq!(s.contracts[&c1].key_epoch, 1));
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

/// `id`'s balance in the committed state.
fn balance(node: &Node, id: &AccountId) -> u64 {
    node.with_state(|s| s.accounts.get(id).map_or(0, |a| a.balance))
}

fn publish_many(keys: &[(ContractId, Hash32)]) -> TxKind {
    TxKind::PublishContractKeys {
        keys: keys.to_vec(),
    }
}

#[test]
fn deploys_pay_the_gatekeeper_for_their_keys_and_it_publishes_many_at_once() {
    let (_dir, node, cluster, hash) = setup("deposits");
    let (a, g) = (alice(), gatekeeper());
    let (alice_id, gk, escrow) = (a.account_id(), g.account_id(), key_escrow());
    let key_fee = node.with_state(|s| s.params.key_fee);
    assert!(key_fee > 1, "a deposit worth more than a fee: {key_fee}");
    // The cluster's creation deposited one key fee.
    assert_eq!(balance(&node, &escrow), key_fee);
    assert_eq!(node.with_state(|s| s.clusters[&cluster].key_deposits), 1);

    // Provisioning the cluster earns the gatekeeper the deposit, less its fee.
    let before = balance(&node, &gk);
    let tx = sign(
        &g,
        0,
        provision(cluster, CLUSTER_KEY, &[worker_id(1), worker_id(2)]),
    );
    assert!(tx.tx.fee < key_fee, "the deposit pays for the provisioning");
    node.submit_tx(&tx).unwrap();
    assert_eq!(produce(&node), [Outcome::Ok]);
    assert_eq!(balance(&node, &gk), before - tx.tx.fee + key_fee);
    assert_eq!(balance(&node, &escrow), 0);
    assert_eq!(node.with_state(|s| s.clusters[&cluster].key_deposits), 0);

    // Three deploys each pay their fee and a deposit.
    let before = balance(&node, &alice_id);
    let mut fees = 0;
    for salt in 0..3 {
        let tx = sign(&a, 5 + u64::from(salt), instantiate(hash, cluster, salt));
        fees += tx.tx.fee;
        node.submit_tx(&tx).unwrap();
    }
    produce(&node);
    assert_eq!(balance(&node, &alice_id), before - fees - 3 * key_fee);
    assert_eq!(balance(&node, &escrow), 3 * key_fee);
    let contracts: Vec<ContractId> = (0..3)
        .map(|salt| contract_id(&alice_id, &hash, &cluster, &[salt]))
        .collect();
    let keys: Vec<(ContractId, Hash32)> = contracts
        .iter()
        .zip(1u8..)
        .map(|(c, n)| (*c, Hash32([n; 32])))
        .collect();

    // What a publication may not be.
    assert_eq!(
        node.submit_tx(&sign(&bob(), 0, publish_many(&keys))),
        Err(TxRejection::NotGatekeeper)
    );
    for bad in [
        Vec::new(),
        vec![keys[0], keys[1], keys[0]],
        vec![keys[0]; MAX_PUBLISHED_KEYS + 1],
    ] {
        let err = node
            .submit_tx(&sign(&g, 1, publish_many(&bad)))
            .unwrap_err();
        assert!(matches!(err, TxRejection::Malformed { .. }), "{err:?}");
    }
    let stranger = ContractId([0xee; 32]);
    assert_eq!(
        node.submit_tx(&sign(
            &g,
            1,
            publish_many(&[keys[0], (stranger, CONTRACT_KEY)])
        )),
        Err(TxRejection::UnknownContract { contract: stranger })
    );

    // One transaction publishes the three keys and earns the three deposits.
    let before = balance(&node, &gk);
    let tx = sign(&g, 1, publish_many(&keys));
    node.submit_tx(&tx).unwrap();
    assert_eq!(produce(&node), [Outcome::Ok]);
    node.with_state(|s| {
        for (contract, key) in &keys {
            assert_eq!(s.contracts[contract].public_key, Some(*key));
        }
    });
    assert_eq!(balance(&node, &gk), before - tx.tx.fee + 3 * key_fee);
    assert_eq!(balance(&node, &escrow), 0);

    // Published again, the same keys earn nothing; another key is refused.
    let before = balance(&node, &gk);
    let tx = sign(&g, 2, publish_many(&keys[..2]));
    node.submit_tx(&tx).unwrap();
    assert_eq!(produce(&node), [Outcome::Ok]);
    assert_eq!(balance(&node, &gk), before - tx.tx.fee);
    assert_eq!(
        node.submit_tx(&sign(&g, 3, publish_many(&[(contracts[0], CONTRACT_KEY)]))),
        Err(TxRejection::KeyMismatch {
            what: format!("contract {}", contracts[0])
        })
    );

    // A member added later deposits for its provisioning too.
    node.submit_tx(&sign(
        &a,
        8,
        TxKind::AddClusterWorker {
            cluster,
            worker: worker_id(3),
        },
    ))
    .unwrap();
    produce(&node);
    assert_eq!(balance(&node, &escrow), key_fee);
    let before = balance(&node, &gk);
    let tx = sign(&g, 3, provision(cluster, CLUSTER_KEY, &[worker_id(3)]));
    node.submit_tx(&tx).unwrap();
    assert_eq!(produce(&node), [Outcome::Ok]);
    assert_eq!(balance(&node, &gk), before - tx.tx.fee + key_fee);
    assert_eq!(balance(&node, &escrow), 0);
}

#[test]
fn a_deploy_that_cannot_pay_its_deposit_is_refused() {
    let (_dir, node, cluster, hash) = setup("poor");
    let g = gatekeeper();
    node.submit_tx(&sign(
        &g,
        0,
        provision(cluster, CLUSTER_KEY, &[worker_id(1)]),
    ))
    .unwrap();
    produce(&node);
    let key_fee = node.with_state(|s| s.params.key_fee);
    // Carol holds enough for a fee, not for a fee and a deposit.
    let carol = fat_crypto::dev_keypair("carol-poor");
    let deploy = sign(&carol, 0, instantiate(hash, cluster, 0));
    node.submit_tx(&sign(
        &alice(),
        5,
        TxKind::Transfer {
            to: carol.account_id(),
            amount: deploy.tx.fee,
        },
    ))
    .unwrap();
    produce(&node);
    assert_eq!(
        node.submit_tx(&deploy),
        Err(TxRejection::InsufficientBalance {
            needed: deploy.tx.fee + key_fee,
            available: deploy.tx.fee
        })
    );
    assert_eq!(balance(&node, &key_escrow()), 0);
}

#[test]
fn a_clusters_owner_decides_who_deploys_into_it() {
    let (_dir, node, cluster, hash) = setup("deployers");
    let (a, b, g) = (alice(), bob(), gatekeeper());
    node.submit_tx(&sign(
        &g,
        0,
        provision(cluster, CLUSTER_KEY, &[worker_id(1)]),
    ))
    .unwrap();
    produce(&node);
    let set = |deployers| TxKind::SetClusterDeployers { cluster, deployers };

    // Anyone may deploy into a new cluster; only its owner changes that.
    assert_eq!(
        node.with_state(|s| s.clusters[&cluster].deployers.clone()),
        Deployers::Anyone
    );
    assert_eq!(
        node.submit_tx(&sign(&b, 0, set(Deployers::Owner))),
        Err(TxRejection::NotClusterOwner { cluster })
    );
    let err = node
        .submit_tx(&sign(
            &a,
            5,
            set(Deployers::Accounts(vec![b.account_id(); MAX_DEPLOYERS + 1])),
        ))
        .unwrap_err();
    assert!(matches!(err, TxRejection::Malformed { .. }), "{err:?}");

    // Bob's deploy reached the mempool before the owner closed the cluster, in the same
    // block: it fails when executed, paying its fee and no deposit.
    let bob_before = balance(&node, &b.account_id());
    node.submit_tx(&sign(&a, 5, set(Deployers::Owner))).unwrap();
    let deploy = sign(&b, 0, instantiate(hash, cluster, 0));
    node.submit_tx(&deploy).unwrap();
    assert_eq!(
        produce(&node),
        [
            Outcome::Ok,
            Outcome::Failed(TxRejection::NotDeployer { cluster })
        ]
    );
    assert_eq!(balance(&node, &b.account_id()), bob_before - deploy.tx.fee);
    // Now the mempool turns him away, and takes the owner's.
    assert_eq!(
        node.submit_tx(&sign(&b, 1, instantiate(hash, cluster, 1))),
        Err(TxRejection::NotDeployer { cluster })
    );
    node.submit_tx(&sign(&a, 6, instantiate(hash, cluster, 2)))
        .unwrap();
    let mine = contract_id(&a.account_id(), &hash, &cluster, &[2]);
    assert_eq!(produce(&node), [Outcome::ContractCreated(mine)]);

    // Named in a list, bob deploys; a stranger still may not.
    node.submit_tx(&sign(&a, 7, set(Deployers::Accounts(vec![b.account_id()]))))
        .unwrap();
    produce(&node);
    node.submit_tx(&sign(&b, 1, instantiate(hash, cluster, 3)))
        .unwrap();
    let his = contract_id(&b.account_id(), &hash, &cluster, &[3]);
    assert_eq!(produce(&node), [Outcome::ContractCreated(his)]);
    let charlie = fat_crypto::dev_keypair("charlie");
    assert_eq!(
        node.submit_tx(&sign(&charlie, 0, instantiate(hash, cluster, 4))),
        Err(TxRejection::NotDeployer { cluster })
    );
}

#[test]
fn only_the_chains_cluster_admins_create_clusters() {
    // The dev chain names alice; bob's cluster is refused at admission, alice's made.
    let (_dir, node, _, _) = setup("cluster-admins");
    let create = TxKind::CreateCluster {
        workers: vec![worker_id(3)],
    };
    assert_eq!(
        node.submit_tx(&sign(&bob(), 0, create.clone())),
        Err(TxRejection::NotClusterAdmin)
    );
    node.submit_tx(&sign(&alice(), 5, create.clone())).unwrap();
    let outcomes = produce(&node);
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Failed(_))),
        "{outcomes:?}"
    );
    assert!(node.with_state(|s| {
        s.clusters
            .contains_key(&cluster_id(&alice().account_id(), 5))
    }));

    // A chain that names no admin lets anyone create clusters.
    let dir = TempDir::new("cluster-admins-none");
    let mut genesis = fat_chain::genesis::dev();
    genesis.params.cluster_admins.clear();
    let open = common::open_with(&dir, genesis.clone(), 1000);
    let chain = fat_chain::genesis::chain_id(&genesis);
    let bob = bob();
    open.submit_tx(&common::sign_for(chain, &alice(), 0, register_worker(1)))
        .unwrap();
    open.submit_tx(&common::sign_for(
        chain,
        &bob,
        0,
        TxKind::CreateCluster { workers: vec![] },
    ))
    .unwrap();
    let outcomes = produce(&open);
    assert!(
        outcomes.iter().all(|o| !matches!(o, Outcome::Failed(_))),
        "{outcomes:?}"
    );
}

#[test]
fn key_publications_pay_no_byte_fee_however_many_keys() {
    let params = fat_chain::genesis::dev().params;
    assert!(params.byte_fee > 0);
    let g = gatekeeper();
    // A provisioning of a hundred members, each key as long as a sealed one (277 bytes): what
    // a removal from a large cluster makes the gatekeeper send for one deposit.
    let members: Vec<WorkerId> = (0..100u8).map(|n| WorkerId([n; 32])).collect();
    let provisioning = TxKind::ProvisionKey {
        cluster: ClusterId([9; 32]),
        epoch: 1,
        cluster_public: CLUSTER_KEY,
        keys: members.iter().map(|w| (*w, Bytes(vec![7; 277]))).collect(),
    };
    let publication = TxKind::PublishContractKeys {
        keys: (0..1024u16)
            .map(|n| (ContractId([n as u8; 32]), Hash32([1; 32])))
            .collect(),
    };
    for kind in [provisioning, publication] {
        let tx = sign(&g, 0, kind);
        assert!(tx.encode().len() > 30_000);
        assert_eq!(
            tx.tx.fee, params.base_fee,
            "a key publication pays the base fee"
        );
        assert!(tx.tx.fee <= params.key_fee, "one deposit pays for it");
    }
    // Everything else pays for its bytes, a deposit-paying kind included.
    let deploy = sign(
        &alice(),
        0,
        instantiate(CodeHash([1; 32]), ClusterId([9; 32]), 0),
    );
    let size = deploy.encode().len() as u64;
    assert_eq!(
        deploy.tx.fee,
        params.min_fee(size, deploy.tx.kind.gas_limit())
    );
    assert!(deploy.tx.fee > params.base_fee + size - 1);
}
