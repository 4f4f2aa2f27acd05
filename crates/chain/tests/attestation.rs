//! Workers register only with a report the chain's attestation policy accepts.

mod common;

use borsh::BorshDeserialize;
use common::{
    TempDir, alice, attestation_reason, dev_report, open, open_with, produce, register_worker,
    sign, sign_for, worker_ecdh, worker_id, worker_key,
};
use fat_attestation::dev::{DEV_REPORT_TAG, DevReport};
use fat_attestation::{DEV_MEASUREMENT, WorkerKeys};
use fat_chain::ChainParams;
use fat_crypto::dev_keypair;
use fat_types::encoding::{encode, tagged_hash};
use fat_types::{AttestationPolicy, Bytes, Outcome, TxKind};

/// Worker `n`'s registration with `attestation` in place of its valid report.
fn register_with_report(n: u8, attestation: fat_types::Attestation) -> TxKind {
    TxKind::RegisterWorker {
        worker: worker_id(n),
        ecdh_public: worker_ecdh(n),
        attestation,
    }
}

fn keys(n: u8) -> WorkerKeys {
    WorkerKeys {
        identity: worker_id(n).0,
        ecdh: worker_ecdh(n).0,
    }
}

#[test]
fn dev_chain_accepts_a_valid_dev_report() {
    let dir = TempDir::new("attest-ok");
    let node = open(&dir);
    assert!(node.params().attestation.accepts_dev());
    node.submit_tx(&sign(&alice(), 0, register_worker(1)))
        .unwrap();
    assert_eq!(produce(&node), vec![Outcome::Ok]);
    node.with_state(|s| {
        let info = &s.workers[&worker_id(1)];
        assert_eq!(info.ecdh_public, worker_ecdh(1));
        assert_eq!(info.operator, alice().account_id());
        assert_eq!(info.attestation.provider, "dev");
    });
}

#[test]
fn chains_without_dev_in_their_policy_refuse_dev_reports() {
    let policies = [
        ChainParams::default().attestation,
        AttestationPolicy {
            providers: vec!["sgx-dcap".into(), "tdx-dcap".into()],
            measurements: vec![("sgx-dcap".into(), Bytes(vec![0xaa; 32]))],
            tcb_statuses: vec!["UpToDate".into()],
            max_age_secs: 0,
            snp_min_tcb: None,
        },
    ];
    for (i, policy) in policies.into_iter().enumerate() {
        let dir = TempDir::new(&format!("attest-nodev-{i}"));
        let mut genesis = fat_chain::genesis::dev();
        genesis.params.attestation = policy;
        let node = open_with(&dir, genesis, 10);
        assert!(!node.params().attestation.accepts_dev());
        let reason = attestation_reason(node.submit_tx(&sign_for(
            node.genesis_hash(),
            &alice(),
            0,
            register_worker(1),
        )));
        assert!(reason.contains("not accepted"), "{reason}");
    }
}

#[test]
fn dev_chain_refuses_a_report_that_does_not_commit_to_the_keys() {
    let dir = TempDir::new("attest-data");
    let node = open(&dir);
    // Committing to another ECDH key than the one registered.
    let mut other = keys(1);
    other.ecdh = [0xee; 32];
    let report = dev_report(&worker_key(1), &other, DEV_MEASUREMENT);
    let reason =
        attestation_reason(node.submit_tx(&sign(&alice(), 0, register_with_report(1, report))));
    assert!(
        reason.contains("report data does not commit to the worker's keys"),
        "{reason}"
    );
    // Another worker's valid report, replayed for this worker's keys.
    let theirs = match register_worker(2) {
        TxKind::RegisterWorker { attestation, .. } => attestation,
        other => unreachable!("{other:?}"),
    };
    let reason =
        attestation_reason(node.submit_tx(&sign(&alice(), 0, register_with_report(1, theirs))));
    assert!(reason.contains("does not commit"), "{reason}");
}

#[test]
fn dev_chain_refuses_a_measurement_not_on_the_allow_list() {
    let dir = TempDir::new("attest-measurement");
    let node = open(&dir);
    let report = dev_report(&worker_key(1), &keys(1), b"some other build");
    let reason =
        attestation_reason(node.submit_tx(&sign(&alice(), 0, register_with_report(1, report))));
    assert!(reason.contains("not on the allow-list"), "{reason}");
    assert!(
        reason.contains(&hex::encode(b"some other build")),
        "{reason}"
    );
}

#[test]
fn dev_chain_refuses_a_forged_signature() {
    let dir = TempDir::new("attest-forged");
    let node = open(&dir);
    let valid = dev_report(&worker_key(1), &keys(1), DEV_MEASUREMENT);
    let mut report = DevReport::try_from_slice(&valid.report.0).unwrap();
    // Signed by someone else than the identity the body claims.
    let forger = dev_keypair("mallory");
    report.signature = forger.sign(tagged_hash(DEV_REPORT_TAG, &report.body).as_bytes());
    let mut forged = valid.clone();
    forged.report = Bytes(encode(&report));
    let reason =
        attestation_reason(node.submit_tx(&sign(&alice(), 0, register_with_report(1, forged))));
    assert!(reason.contains("does not verify"), "{reason}");

    // A body changed after signing.
    let mut report = DevReport::try_from_slice(&valid.report.0).unwrap();
    report.body.measurement = Bytes(b"patched".to_vec());
    let mut tampered = valid;
    tampered.report = Bytes(encode(&report));
    let reason =
        attestation_reason(node.submit_tx(&sign(&alice(), 0, register_with_report(1, tampered))));
    assert!(reason.contains("does not verify"), "{reason}");

    // Garbage is malformed, and says so.
    let junk = fat_types::Attestation {
        provider: "dev".into(),
        report: Bytes(vec![1, 2, 3]),
    };
    let reason =
        attestation_reason(node.submit_tx(&sign(&alice(), 0, register_with_report(1, junk))));
    assert!(reason.contains("malformed"), "{reason}");
}

#[test]
fn dev_chain_refuses_a_dev_report_signed_by_another_identity() {
    let dir = TempDir::new("attest-identity");
    let node = open(&dir);
    // A well-formed report committing to worker 1's keys, but signed by (and naming) mallory.
    let report = dev_report(&dev_keypair("mallory"), &keys(1), DEV_MEASUREMENT);
    let reason =
        attestation_reason(node.submit_tx(&sign(&alice(), 0, register_with_report(1, report))));
    assert!(reason.contains("signed by"), "{reason}");
}

/// A registered worker's operator replaces its report with a fresh one binding the same
/// keys (`Reattest`): nobody else may, and a report of other keys or measurement is refused.
#[test]
fn an_operator_reattests_its_worker_with_a_fresh_report() {
    let dir = TempDir::new("attest-again");
    let clock = std::sync::Arc::new(fat_chain::ManualClock::new(1_767_225_700_000));
    let config = fat_chain::NodeConfig {
        data_dir: dir.0.clone(),
        genesis: fat_chain::genesis::dev(),
        mempool_limit: 1000,
    };
    let node = fat_chain::Node::open(
        config,
        Some(dev_keypair(fat_chain::genesis::DEV_SEQUENCER)),
        clock.clone(),
    )
    .unwrap();
    let fresh = |n: u8, measurement: &[u8]| TxKind::Reattest {
        worker: worker_id(n),
        attestation: dev_report(&worker_key(n), &keys(n), measurement),
    };
    assert_eq!(
        node.submit_tx(&sign(&alice(), 0, fresh(1, DEV_MEASUREMENT))),
        Err(fat_types::TxRejection::UnknownWorker {
            worker: worker_id(1)
        })
    );
    node.submit_tx(&sign(&alice(), 0, register_worker(1)))
        .unwrap();
    assert_eq!(produce(&node), vec![Outcome::Ok]);
    let (registered, first) = node.with_state(|s| {
        let info = &s.workers[&worker_id(1)];
        (info.attested_at, info.attestation.clone())
    });
    assert_eq!(registered, 1_767_225_700, "the block's time");

    assert_eq!(
        node.submit_tx(&sign(&dev_keypair("bob"), 0, fresh(1, DEV_MEASUREMENT))),
        Err(fat_types::TxRejection::NotOperator {
            worker: worker_id(1)
        })
    );
    let reason = attestation_reason(node.submit_tx(&sign(&alice(), 1, fresh(1, b"another build"))));
    assert!(reason.contains("not on the allow-list"), "{reason}");
    let mut other = keys(1);
    other.ecdh = [0xee; 32];
    let other_keys = TxKind::Reattest {
        worker: worker_id(1),
        attestation: dev_report(&worker_key(1), &other, DEV_MEASUREMENT),
    };
    let reason = attestation_reason(node.submit_tx(&sign(&alice(), 1, other_keys)));
    assert!(reason.contains("does not commit"), "{reason}");

    clock.advance(86_400_000);
    let again = fresh(1, DEV_MEASUREMENT);
    node.submit_tx(&sign(&alice(), 1, again.clone())).unwrap();
    assert_eq!(produce(&node), vec![Outcome::Ok]);
    node.with_state(|s| {
        let info = &s.workers[&worker_id(1)];
        let TxKind::Reattest { attestation, .. } = &again else {
            unreachable!()
        };
        assert_eq!(&info.attestation, attestation);
        assert_eq!(
            info.attestation, first,
            "a dev report of the same keys is the same"
        );
        assert_eq!(info.attested_at, registered + 86_400);
        assert_eq!(info.ecdh_public, worker_ecdh(1), "the keys stay");
    });
}
