//! Decide whether a worker may be sent anything: its registration on chain must satisfy the
//! chain's attestation policy, checked here again rather than taken on the chain's word.

use fat_attestation::VerifiedReport;
use fat_types::{AttestationPolicy, WorkerId, WorkerInfo};

use crate::error::{Error, Result};

/// Check the registration `info` the chain holds for `worker` against `policy`: the report
/// verifies as of when the chain accepted it (`attested_at`), is not older than the policy's
/// `max_age_secs` at `now_secs` (Unix seconds), its provider and measurement are accepted and
/// it commits to the worker's identity and ECDH keys.
pub fn check_worker(
    policy: &AttestationPolicy,
    worker: &WorkerId,
    info: &WorkerInfo,
    now_secs: u64,
) -> Result<VerifiedReport> {
    if info.id != *worker {
        return Err(Error::UntrustedWorker {
            worker: worker.to_string(),
            reason: format!("the chain's registration is of worker {}", info.id),
        });
    }
    fat_attestation::check_registered(
        policy,
        &info.id,
        &info.ecdh_public,
        &info.attestation,
        info.attested_at,
        now_secs,
    )
    .map_err(|e| Error::UntrustedWorker {
        worker: worker.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use fat_attestation::dev::DevQuoter;
    use fat_attestation::{DEV_MEASUREMENT, Quoter, WorkerKeys, dev_chain_policy, report_data};
    use fat_crypto::{EcdhSecret, Keypair};
    use fat_types::{AccountId, Hash32};

    use super::*;

    /// A worker registered with a dev report claiming `measurement`.
    fn dev_worker(measurement: &[u8]) -> WorkerInfo {
        let identity = Keypair::from_seed([7; 32]);
        let ecdh = EcdhSecret::from_bytes([9; 32]).public();
        let id = WorkerId(identity.account_id().0);
        let keys = WorkerKeys {
            identity: id.0,
            ecdh: ecdh.0,
        };
        let attestation = DevQuoter::new(identity, measurement.to_vec())
            .quote(&report_data(&keys))
            .unwrap();
        WorkerInfo {
            id,
            ecdh_public: Hash32(ecdh.0),
            operator: AccountId([1; 32]),
            attestation,
            height: 3,
            attested_at: 1_000,
            endpoint: None,
        }
    }

    #[test]
    fn a_registration_the_policy_accepts_is_trusted() {
        let info = dev_worker(DEV_MEASUREMENT);
        let report = check_worker(&dev_chain_policy(), &info.id, &info, 0).unwrap();
        assert!(report.is_insecure());
    }

    #[test]
    fn a_registration_the_policy_refuses_is_not_trusted() {
        let info = dev_worker(DEV_MEASUREMENT);
        // A production policy: no dev reports.
        let strict = AttestationPolicy {
            providers: vec!["sgx-dcap".into()],
            measurements: vec![("sgx-dcap".into(), fat_types::Bytes(vec![1; 32]))],
            tcb_statuses: vec!["UpToDate".into()],
            max_age_secs: 0,
            snp_min_tcb: None,
        };
        let error = check_worker(&strict, &info.id, &info, 0).unwrap_err();
        assert!(
            matches!(&error, Error::UntrustedWorker { worker, .. } if *worker == info.id.to_string()),
            "{error:?}"
        );
        assert!(error.to_string().contains("not accepted"), "{error}");

        // A measurement the policy does not allow.
        let other = dev_worker(b"some other build");
        let error = check_worker(&dev_chain_policy(), &other.id, &other, 0).unwrap_err();
        assert!(matches!(error, Error::UntrustedWorker { .. }), "{error:?}");

        // A report that does not commit to the registered ECDH key.
        let mut swapped = dev_worker(DEV_MEASUREMENT);
        swapped.ecdh_public = Hash32([5; 32]);
        let error = check_worker(&dev_chain_policy(), &swapped.id, &swapped, 0).unwrap_err();
        assert!(matches!(error, Error::UntrustedWorker { .. }), "{error:?}");

        // The chain answered with another worker's registration.
        let error = check_worker(&dev_chain_policy(), &WorkerId([3; 32]), &info, 0).unwrap_err();
        assert!(
            error.to_string().contains("registration is of worker"),
            "{error}"
        );
    }

    /// A report older than the policy's maximum age is refused, naming the way out; the
    /// same report reattested later is trusted again.
    #[test]
    fn a_report_past_the_policys_age_is_not_trusted_until_reattested() {
        let mut info = dev_worker(DEV_MEASUREMENT);
        let policy = AttestationPolicy {
            max_age_secs: 3_600,
            ..dev_chain_policy()
        };
        check_worker(&policy, &info.id, &info, info.attested_at + 3_600).unwrap();
        let error = check_worker(&policy, &info.id, &info, info.attested_at + 3_601).unwrap_err();
        assert!(matches!(error, Error::UntrustedWorker { .. }), "{error:?}");
        assert!(error.to_string().contains("Reattest"), "{error}");
        info.attested_at += 3_000;
        check_worker(&policy, &info.id, &info, info.attested_at + 3_601 - 3_000).unwrap();
        // Without a maximum age, the report stays good.
        check_worker(&dev_chain_policy(), &info.id, &info, u64::MAX).unwrap();
    }
}
