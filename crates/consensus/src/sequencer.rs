//! The single sequencer: one validator that proposes and finalizes every block alone.

use std::future::Future;
use std::time::Duration;

use fat_crypto::Keypair;
use fat_types::{BlockHeader, Certificate};

use crate::application::Application;
use crate::error::ConsensusError;
use crate::validators::sign_finalize;

/// Orders an application's pending transactions into final blocks.
///
/// The single [`Sequencer`] is the first implementation; a BFT engine is the next, driving
/// the same [`Application`].
pub trait Consensus<A: Application>: Send + 'static {
    /// Run until `shutdown` completes or the application fails.
    fn run(
        self,
        app: A,
        shutdown: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = Result<(), A::Error>> + Send;
}

/// One validator finalizes every block: at most one every `block_time` when there is work, at
/// once when `block_time` is zero, none when idle. Its key must be the only validator's.
#[derive(Debug, Clone)]
pub struct Sequencer {
    /// The validator's consensus key.
    pub key: Keypair,
    /// The least time between two blocks.
    pub block_time: Duration,
}

impl Sequencer {
    /// Propose a block on the last final one, verify it, sign it and finalize it. Returns the
    /// new header, or `None` when nothing was pending.
    pub fn step<A: Application>(&self, app: &A) -> Result<Option<BlockHeader>, A::Error> {
        let index = self.index(app)?;
        let parent = app.last_finalized();
        let Some(proposal) = app.propose(&parent)? else {
            return Ok(None);
        };
        app.verify(&proposal)?;
        let round = proposal.header.height;
        let signature = sign_finalize(&self.key, round, &proposal.hash());
        let certificate = Certificate::Ed25519 {
            round,
            signatures: vec![(index, signature)],
        };
        app.finalize(proposal, certificate).map(Some)
    }

    /// This sequencer's index in the validator set, which it must be able to finalize alone.
    fn index<A: Application>(&self, app: &A) -> Result<u32, ConsensusError> {
        let validators = app.validators();
        let account = self.key.account_id();
        let index = validators
            .index_of(&account)
            .ok_or(ConsensusError::NotValidator { account })?;
        if validators.quorum() > 1 {
            return Err(ConsensusError::NotSoleValidator {
                validators: validators.len(),
                quorum: validators.quorum(),
            });
        }
        Ok(index)
    }
}

impl<A: Application> Consensus<A> for Sequencer {
    async fn run(self, app: A, shutdown: impl Future<Output = ()> + Send) -> Result<(), A::Error> {
        self.index(&app)?;
        tokio::pin!(shutdown);
        let mut last = tokio::time::Instant::now() - self.block_time;
        loop {
            if app.pending() == 0 {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = app.work_available() => {}
                }
            }
            if !self.block_time.is_zero() {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep_until(last + self.block_time) => {}
                }
            }
            last = tokio::time::Instant::now();
            let (sequencer, app) = (self.clone(), app.clone());
            tokio::task::spawn_blocking(move || sequencer.step(&app))
                .await
                .map_err(|e| ConsensusError::Task(e.to_string()))??;
        }
    }
}
