//! The single sequencer against a small in-memory application: a block as soon as there is
//! work, none when idle, and only with a key that can finalize alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fat_consensus::{Application, Consensus, ConsensusError, Proposal, Sequencer, ValidatorSet};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::block::{receipts_root, tx_root};
use fat_types::{BlockHeader, Certificate, Hash32};
use tokio::sync::Notify;

/// An application whose blocks hold no transactions: `pending` counts work to do, each block
/// consumes one unit.
#[derive(Clone)]
struct Memory {
    validators: ValidatorSet,
    chain: Arc<Mutex<Vec<(BlockHeader, Certificate)>>>,
    pending: Arc<AtomicUsize>,
    work: Arc<Notify>,
}

impl Memory {
    fn new(validators: &[Keypair]) -> Self {
        let genesis = BlockHeader {
            height: 0,
            parent: Hash32::default(),
            timestamp_ms: 0,
            tx_root: tx_root(&[]),
            receipts_root: receipts_root(&[]),
            state_root: Hash32::default(),
        };
        Self {
            validators: ValidatorSet::new(validators.iter().map(Keypair::account_id).collect())
                .unwrap(),
            chain: Arc::new(Mutex::new(vec![(genesis, Certificate::Genesis)])),
            pending: Arc::new(AtomicUsize::new(0)),
            work: Arc::new(Notify::new()),
        }
    }

    fn add_work(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.work.notify_one();
    }

    fn height(&self) -> u64 {
        self.last_finalized().height
    }
}

impl Application for Memory {
    type Error = ConsensusError;

    fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    fn genesis_hash(&self) -> Hash32 {
        self.chain.lock().unwrap()[0].0.hash()
    }

    fn is_invalid_proposal(_: &ConsensusError) -> bool {
        true
    }

    fn submit_from_peer(&self, _: &[u8]) -> bool {
        false
    }

    fn subscribe_admitted(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<u8>>> {
        tokio::sync::broadcast::channel(1).1
    }

    fn last_finalized(&self) -> BlockHeader {
        self.chain.lock().unwrap().last().unwrap().0.clone()
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    fn work_available(&self) -> impl Future<Output = ()> + Send {
        self.work.notified()
    }

    fn propose(&self, parent: &BlockHeader) -> Result<Option<Proposal>, ConsensusError> {
        if self.pending() == 0 {
            return Ok(None);
        }
        let header = BlockHeader {
            height: parent.height + 1,
            parent: parent.hash(),
            timestamp_ms: parent.timestamp_ms + 1,
            ..parent.clone()
        };
        Ok(Some(Proposal {
            header,
            txs: Vec::new(),
        }))
    }

    fn verify(&self, proposal: &Proposal) -> Result<(), ConsensusError> {
        assert_eq!(proposal.header.parent, self.last_finalized().hash());
        Ok(())
    }

    fn pending_proposal(&self, _: &Hash32) -> Option<Proposal> {
        None
    }

    fn final_block(&self, _: u64) -> Result<Option<fat_types::Block>, ConsensusError> {
        Ok(None)
    }

    fn finalize(
        &self,
        proposal: Proposal,
        certificate: Certificate,
    ) -> Result<BlockHeader, ConsensusError> {
        self.validators.verify(&proposal.hash(), &certificate)?;
        self.pending.fetch_sub(1, Ordering::SeqCst);
        self.chain
            .lock()
            .unwrap()
            .push((proposal.header.clone(), certificate));
        Ok(proposal.header)
    }
}

#[tokio::test]
async fn the_sequencer_finalizes_when_there_is_work_and_idles_otherwise() {
    let key = dev_keypair("validator-0");
    let app = Memory::new(std::slice::from_ref(&key));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sequencer = Sequencer {
        key,
        block_time: Duration::ZERO,
    };
    let running = tokio::spawn(sequencer.run(app.clone(), async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(app.height(), 0, "no work, no block");
    for expected in 1..=3 {
        app.add_work();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while app.height() < expected {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no block {expected}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    let chain = app.chain.lock().unwrap();
    assert_eq!(chain.len(), 4);
    for (header, certificate) in &chain[1..] {
        app.validators.verify(&header.hash(), certificate).unwrap();
    }
}

#[tokio::test]
async fn the_sequencer_needs_a_set_it_can_finalize_alone() {
    let keys: Vec<Keypair> = (0..4)
        .map(|i| dev_keypair(&format!("validator-{i}")))
        .collect();
    let app = Memory::new(&keys);
    let alone = Sequencer {
        key: keys[0].clone(),
        block_time: Duration::ZERO,
    };
    assert_eq!(
        alone.run(app.clone(), std::future::pending()).await,
        Err(ConsensusError::NotSoleValidator {
            validators: 4,
            quorum: 3
        })
    );
    let outsider = Sequencer {
        key: dev_keypair("mallory"),
        block_time: Duration::ZERO,
    };
    assert_eq!(
        outsider.run(app, std::future::pending()).await,
        Err(ConsensusError::NotValidator {
            account: dev_keypair("mallory").account_id()
        })
    );
}
