//! Run an [`Application`] under commonware's simplex BFT engine: every validator of the
//! genesis runs one engine; a block is final when a quorum signs simplex's finalize vote for
//! it.
//!
//! Everything that names commonware's API lives in this module. The engine agrees on block
//! hashes; the blocks themselves, the transactions clients submit, and the final blocks a
//! validator that fell behind asks for travel on one more p2p channel of ours ([`wire`]). The
//! glue ([`glue`]) answers the engine's calls:
//!
//! - *propose*: when this validator leads a view, build a block on the parent the engine names
//!   (the last final block or a block not final yet) as soon as transactions wait, and send it
//!   to every peer. With nothing to order the leader proposes nothing and the view times out:
//!   an idle chain makes no empty blocks.
//! - *verify*: fetch the leader's block if it has not arrived, wait for its parent, and check
//!   it against every rule ([`Application::verify`]).
//! - *report*: a finalization commits the block and any ancestor not final yet, each with a
//!   [`Certificate::Simplex`](fat_types::Certificate::Simplex) a follower can check.
//!
//! A validator that missed blocks (restarted, partitioned) learns its peers' heights and asks
//! them for the final blocks it lacks, checking each certificate before it commits.

mod glue;
mod network;
mod wire;

use std::num::NonZeroUsize;
use std::time::Duration;

use commonware_consensus::simplex::{self, ForwardPolicy, SkipBudget, SkipPolicy};
use commonware_consensus::types::{Epoch, ViewDelta};
use commonware_cryptography::{ed25519, sha256};
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
use commonware_utils::ordered::Set;
use commonware_utils::{NZDuration, NZU16, NZUsize, TryCollect};
use fat_crypto::Keypair;
use fat_types::{AccountId, Hash32};
use rand_core::CryptoRng;

use crate::application::Application;
use crate::error::ConsensusError;

pub use glue::{Glue, SERVE_BYTES_PER_SECOND, SERVES_PER_SECOND};
pub use network::{NetworkConfig, RunningValidator, spawn_validator};
pub use wire::Wire;

/// The scheme validators sign with: simplex's ed25519 scheme.
pub type Scheme = simplex::scheme::ed25519::Scheme;

/// The digest the engine agrees on: a block hash.
pub type Digest = sha256::Digest;

/// A validator's identity on the p2p network and in the engine.
pub type PublicKey = ed25519::PublicKey;

/// The p2p channel numbers a validator registers, in order: votes, certificates, the engine's
/// resolver, and ours (blocks, transactions, catch-up).
pub const CHANNELS: [u64; 4] = [0, 1, 2, 3];

/// The largest message on our channel: a block of the largest size the proposer builds, and
/// some room.
pub const MAX_APP_MESSAGE: u32 = 40 << 20;

/// How a validator runs the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The least time between a block and the next (zero: as fast as the network goes).
    pub block_time: Duration,
    /// How long a view waits for its leader's proposal before validators move on.
    pub leader_timeout: Duration,
    /// How long a view waits, after its proposal, to be notarized before validators move on.
    pub certification_timeout: Duration,
    /// How often a validator repeats its vote to move on from a view that does not end.
    pub timeout_retry: Duration,
    /// The storage partition prefix for the engine's journal (one per validator per store).
    pub partition: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            block_time: Duration::ZERO,
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(3),
            partition: "fat-simplex".into(),
        }
    }
}

/// The engine's key for a validator's consensus key (the same ed25519 key).
pub fn private_key(key: &Keypair) -> ed25519::PrivateKey {
    use commonware_codec::DecodeExt as _;
    ed25519::PrivateKey::decode(key.seed().to_vec()).expect("an ed25519 seed is 32 bytes")
}

/// The engine's public key of a validator.
pub fn public_key(account: &AccountId) -> Result<PublicKey, ConsensusError> {
    use commonware_codec::DecodeExt as _;
    PublicKey::decode(account.as_bytes().to_vec()).map_err(|_| ConsensusError::BadValidatorKey {
        validator: *account,
    })
}

/// The validators as the engine orders them (sorted by key).
pub fn participants(validators: &[AccountId]) -> Result<Set<PublicKey>, ConsensusError> {
    validators
        .iter()
        .map(public_key)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .try_collect()
        .map_err(|_| ConsensusError::NoValidators)
}

/// A block hash as the engine's digest.
pub fn digest(hash: &Hash32) -> Digest {
    Digest::from(*hash.as_bytes())
}

/// The engine's digest as a block hash.
pub fn hash(digest: &Digest) -> Hash32 {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    Hash32(bytes)
}

/// The most bytes one consensus message takes for `validators` validators.
pub fn max_consensus_message(validators: usize) -> u32 {
    simplex::max_payload_size::<Scheme, Digest>(validators as u32) as u32
}

/// A (sender, receiver) pair of one p2p channel.
pub type Channel<S, R> = (S, R);

/// Start validator `key`'s engine over `app` on `context`: the engine, the glue and our
/// channel's task. `channels` are the four registered channels of [`CHANNELS`], in order;
/// `blocker` is the p2p network's handle to block a peer that misbehaves. Runs until the
/// context stops; the handle ends the engine.
#[allow(clippy::too_many_arguments)]
pub fn start<E, A, B, S, R>(
    context: E,
    app: A,
    key: &Keypair,
    blocker: B,
    channels: [Channel<S, R>; 4],
    config: EngineConfig,
) -> Result<Handle<()>, ConsensusError>
where
    E: Clock + CryptoRng + Spawner + Storage + Metrics,
    A: Application,
    B: Blocker<PublicKey = PublicKey>,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let validators = app.validators().validators().to_vec();
    let participants = participants(&validators)?;
    let signer = private_key(key);
    let scheme = Scheme::signer(crate::SIMPLEX_NAMESPACE, participants.clone(), signer).ok_or(
        ConsensusError::NotValidator {
            account: key.account_id(),
        },
    )?;
    let genesis_hash = app.genesis_hash();
    let [votes, certificates, resolver, ours] = channels;
    let glue = Glue::start(
        context.child("glue"),
        app,
        participants,
        config.block_time,
        ours,
    );
    let engine_config = simplex::Config {
        scheme,
        elector: simplex::elector::RoundRobin::<commonware_cryptography::Sha256>::default(),
        blocker,
        automaton: glue.clone(),
        relay: glue.clone(),
        reporter: glue,
        partition: config.partition,
        mailbox_size: NZUsize!(1024),
        epoch: Epoch::zero(),
        floor: simplex::Floor::Genesis(digest(&genesis_hash)),
        replay_buffer: NZUsize!(1 << 20),
        write_buffer: NZUsize!(1 << 20),
        leader_timeout: config.leader_timeout,
        certification_timeout: config.certification_timeout,
        timeout_retry: config.timeout_retry,
        fetch_timeout: NZDuration!(Duration::from_secs(1)),
        fetch_retry_delay: Duration::from_millis(100),
        view_retention: ViewDelta::new(64),
        skip: SkipPolicy::Enabled {
            timeout: config.certification_timeout + config.timeout_retry + Duration::from_secs(1),
            budget: SkipBudget::Participants,
        },
        page_cache: CacheRef::new(NZU16!(16_384), page_cache_pages()),
        strategy: Sequential,
        forward: ForwardPolicy::Disabled,
        track_historical_votes: false,
    };
    let engine = simplex::Engine::new(context.child("engine"), engine_config);
    Ok(engine.start(votes, certificates, resolver))
}

fn page_cache_pages() -> NonZeroUsize {
    NZUsize!(1_000)
}

#[cfg(test)]
mod tests {
    use commonware_consensus::simplex::types::{Proposal, Subject};
    use commonware_consensus::types::{Round, View};
    use commonware_cryptography::certificate::Scheme as _;
    use fat_crypto::dev_keypair;
    use fat_types::{Certificate, Signature};

    use super::*;
    use crate::ValidatorSet;

    /// What the engine's own signer signs for a finalize vote is what
    /// [`crate::simplex_finalize_message`] rebuilds, so followers that never link commonware
    /// check real certificates; and a certificate of those votes verifies.
    #[test]
    fn followers_check_the_engines_own_finalize_signatures() {
        let keys: Vec<Keypair> = (0..4).map(|i| dev_keypair(&format!("v{i}"))).collect();
        let accounts: Vec<AccountId> = keys.iter().map(Keypair::account_id).collect();
        let set = ValidatorSet::new(accounts.clone()).unwrap();
        let block = Hash32([7; 32]);
        for (view, parent_view) in [(1u64, 0u64), (300, 299), (1 << 40, 5)] {
            let proposal = Proposal::new(
                Round::new(Epoch::zero(), View::new(view)),
                View::new(parent_view),
                digest(&block),
            );
            let mut signatures = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                let scheme = Scheme::signer(
                    crate::SIMPLEX_NAMESPACE,
                    participants(&accounts).unwrap(),
                    private_key(key),
                )
                .unwrap();
                let vote = scheme
                    .sign::<Digest>(Subject::Finalize {
                        proposal: &proposal,
                    })
                    .unwrap();
                let bytes: [u8; 64] = vote.signature.get().unwrap().as_ref().try_into().unwrap();
                let message = crate::simplex_finalize_message(view, parent_view, &block);
                fat_crypto::verify(&accounts[i], &message, &Signature(bytes))
                    .expect("our message is the one the engine signs");
                signatures.push((i as u32, Signature(bytes)));
            }
            signatures.truncate(set.quorum());
            let certificate = Certificate::Simplex {
                view,
                parent_view,
                signatures,
                descendants: Vec::new(),
            };
            set.verify(&block, &certificate).unwrap();
            let mut wrong_view = certificate.clone();
            if let Certificate::Simplex { view, .. } = &mut wrong_view {
                *view += 1;
            }
            let refused = set.verify(&block, &wrong_view);
            assert!(
                matches!(refused, Err(crate::CertificateError::BadSignature { .. })),
                "{refused:?}"
            );
        }
    }
}
