//! Who a worker is: its identity and ECDH keys, the report that binds them, its cluster keys.

use fat_attestation::{Quoter, WorkerKeys, report_data};
use fat_crypto::Keypair;
use fat_proto::worker::{KeyConfirmation, KeySubject};
use fat_types::{ClusterId, ContractId, Hash32, TxKind, WorkerId};

use crate::error::{Result, WorkerError};
use crate::shared::worker_id;
use crate::worker::Worker;

impl Worker {
    /// The worker id of an identity key.
    pub fn id_of(key: &Keypair) -> WorkerId {
        worker_id(key)
    }

    /// The worker's identity.
    pub fn id(&self) -> WorkerId {
        self.inner.worker_id()
    }

    /// The chain the worker follows (its genesis hash): the one it is pinned to
    /// ([`crate::WorkerConfig::genesis`]), else the one its store has followed since its
    /// first start; `None` before either.
    pub fn chain(&self) -> Result<Option<Hash32>> {
        match self.inner.genesis {
            Some(pinned) => Ok(Some(pinned)),
            None => self.inner.store.snapshot()?.genesis(),
        }
    }

    /// The worker's ECDH public key: queries and its cluster keys are sealed to it.
    pub fn ecdh_public(&self) -> Hash32 {
        Hash32(self.inner.secrets.ecdh_public().0)
    }

    /// The public keys an attestation report of this worker must commit to.
    pub fn attested_keys(&self) -> WorkerKeys {
        WorkerKeys {
            identity: self.id().0,
            ecdh: self.ecdh_public().0,
        }
    }

    /// The `RegisterWorker` transaction kind of this worker, with a report from `quoter`
    /// committing to its identity and ECDH keys.
    pub fn registration(&self, quoter: &dyn Quoter) -> Result<TxKind> {
        Ok(TxKind::RegisterWorker {
            worker: self.id(),
            ecdh_public: self.ecdh_public(),
            attestation: self.report(quoter)?,
        })
    }

    /// A report from `quoter` committing to this worker's identity and ECDH keys.
    fn report(&self, quoter: &dyn Quoter) -> Result<fat_types::Attestation> {
        quoter
            .quote(&report_data(&self.attested_keys()))
            .map_err(|e| WorkerError::Keys(format!("cannot make an attestation report: {e}")))
    }

    /// The registration with a `dev` report (insecure: for dev networks only).
    pub fn dev_registration(&self) -> Result<TxKind> {
        self.registration(&self.dev_quoter())
    }

    /// The `Reattest` transaction kind of this worker: a fresh report from `quoter`
    /// committing to the same keys as its registration.
    pub fn reattestation(&self, quoter: &dyn Quoter) -> Result<TxKind> {
        Ok(TxKind::Reattest {
            worker: self.id(),
            attestation: self.report(quoter)?,
        })
    }

    /// The reattestation with a `dev` report (insecure: for dev networks only).
    pub fn dev_reattestation(&self) -> Result<TxKind> {
        self.reattestation(&self.dev_quoter())
    }

    fn dev_quoter(&self) -> fat_attestation::dev::DevQuoter {
        fat_attestation::dev::DevQuoter::new(
            self.inner.key.clone(),
            fat_attestation::DEV_MEASUREMENT.to_vec(),
        )
    }

    /// The key of `cluster`'s current epoch as this worker derives it, signed by its
    /// identity: [`WorkerError::NoClusterKey`] unless it holds that epoch's key (not a
    /// member, or not provisioned with the epoch yet).
    pub fn confirm_cluster_key(&self, cluster: &ClusterId) -> Result<KeyConfirmation> {
        let snapshot = self.snapshot()?;
        let epoch = snapshot.key_epoch(cluster)?;
        let key = self
            .inner
            .keyring
            .cluster(cluster)
            .and_then(|key| key.at_epoch(epoch))
            .ok_or(WorkerError::NoClusterKey(*cluster))?;
        Ok(KeyConfirmation::sign(
            &self.inner.key,
            KeySubject::Cluster {
                id: *cluster,
                epoch,
            },
            Hash32(key.ecdh_public().0),
            snapshot.head()?.height,
        ))
    }

    /// The key of a contract this worker runs, as it derives it, signed by its identity.
    pub fn confirm_contract_key(&self, contract: &ContractId) -> Result<KeyConfirmation> {
        let snapshot = self.snapshot()?;
        let record = snapshot
            .contract(contract)?
            .ok_or(WorkerError::UnknownContract(*contract))?;
        let key = self
            .inner
            .keyring
            .contract(&record.info)
            .ok_or(WorkerError::NoClusterKey(record.info.cluster))?;
        Ok(KeyConfirmation::sign(
            &self.inner.key,
            KeySubject::Contract { id: *contract },
            Hash32(key.keys.ecdh().public().0),
            snapshot.head()?.height,
        ))
    }

    /// Whether this worker holds the key of `cluster`.
    pub fn has_cluster_key(&self, cluster: &ClusterId) -> bool {
        self.inner.keyring.cluster(cluster).is_some()
    }
}
