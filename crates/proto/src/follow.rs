//! Follow a chain: a source of blocks (the node's event stream, or an in-memory twin), checked
//! block by block, reconnecting when the source breaks.
//!
//! [`genesis_of`] reads a source's genesis block and configuration and checks that they agree
//! (the configuration's hash is block 0's parent), giving the validator set named there. A
//! [`Follower`] starts from a header its user trusts (that genesis, or the last block it
//! committed) and hands out [`FollowedBlock`]s in order: each extends the last, carries a
//! certificate of a quorum of those validators ([`fat_consensus::BlockVerifier`]) and comes
//! with the receipts its header commits to. A source that fails or ends is reopened after a backoff
//! from the next height, so only a block that does not verify ends following.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use fat_consensus::{BlockVerifier, CheckedCommands, ValidatorSet};
use fat_types::block::receipts_root;
use fat_types::{Block, BlockHeader, ChainReceipt, ContractId, Genesis, Hash32};

use crate::chain_api::{BlockEvents, ChainApi};
use crate::error::Result;

/// Where blocks come from.
pub trait BlockSource: Send + Sync {
    /// The stream [`BlockSource::blocks`] opens.
    type Stream: BlockStream;

    /// The genesis block (height 0).
    fn genesis(&self) -> impl Future<Output = Result<Block>> + Send;

    /// The genesis configuration the chain says it started from.
    fn genesis_config(&self) -> impl Future<Output = Result<Genesis>> + Send;

    /// The committed blocks from height `from` on, in order, each with its receipts.
    fn blocks(&self, from: u64) -> impl Future<Output = Result<Self::Stream>> + Send;

    /// Where the blocks come from, for logs.
    fn describe(&self) -> String;
}

/// An open stream of blocks.
pub trait BlockStream: Send {
    /// The next block and its receipts, `None` when the source ends the stream. Cancelling
    /// the future loses no block.
    fn next(&mut self) -> impl Future<Output = Result<Option<(Block, Vec<ChainReceipt>)>>> + Send;
}

impl BlockSource for ChainApi {
    type Stream = BlockEvents;

    async fn genesis(&self) -> Result<Block> {
        self.block(0).await
    }

    async fn genesis_config(&self) -> Result<Genesis> {
        ChainApi::genesis(self).await
    }

    async fn blocks(&self, from: u64) -> Result<BlockEvents> {
        ChainApi::blocks(self, from).await
    }

    fn describe(&self) -> String {
        self.url().to_string()
    }
}

impl BlockStream for BlockEvents {
    async fn next(&mut self) -> Result<Option<(Block, Vec<ChainReceipt>)>> {
        BlockEvents::next(self).await
    }
}

/// Why following stopped: a genesis that does not hold together, or a block that does not
/// extend the chain as it must.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// The genesis configuration is not the one block 0 commits to.
    #[error("the chain's genesis configuration hashes to {config}, but block 0 links to {parent}")]
    ForeignGenesis {
        /// The configuration's hash.
        config: Hash32,
        /// Block 0's parent.
        parent: Hash32,
    },
    /// The genesis names no usable validator set.
    #[error("the genesis validator set")]
    Validators(#[source] fat_consensus::ConsensusError),
    /// The block does not extend the last one, or no quorum of validators finalized it.
    #[error("block does not verify")]
    Block(#[from] fat_consensus::FollowError),
    /// The receipts that came with the block are not the ones its header commits to.
    #[error("receipts of block {height} do not match its receipts root")]
    ReceiptsMismatch {
        /// The block height.
        height: u64,
    },
}

/// A verified block and the receipts its header commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedBlock {
    /// The block.
    pub block: Block,
    /// Its receipts, in the order of its transactions.
    pub receipts: Vec<ChainReceipt>,
    /// The ids of its transactions, those hashed to check their signatures.
    pub ids: fat_consensus::TxIds,
    /// What the signatures of the commands checked came to, by contract (every other
    /// transaction's passed).
    pub checked: CheckedCommands,
}

/// Which contracts' commands a [`Follower`] checks the signatures of, of those a block has
/// commands to.
type Wants = Box<dyn Fn(&BTreeSet<ContractId>) -> BTreeSet<ContractId> + Send + Sync>;

/// Waits between attempts, doubling from 50 ms up to 2 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MOST: Duration = Duration::from_secs(2);

    /// Sleep for the current delay, then double it.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MOST);
    }

    /// Start again from the shortest delay.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// A chain's genesis, checked: block 0, the configuration it commits to, and the validators
/// that configuration names.
#[derive(Debug, Clone)]
pub struct ChainGenesis {
    /// Block 0.
    pub block: Block,
    /// The configuration, whose hash is block 0's parent.
    pub config: Genesis,
    /// The validators whose quorum finalizes every later block.
    pub validators: ValidatorSet,
}

/// Fetch the source's genesis block and configuration, retrying until it answers, and check
/// that they agree.
pub async fn genesis_of<S: BlockSource>(source: &S) -> Result<ChainGenesis, FollowerError> {
    let mut backoff = Backoff::default();
    let (block, config) = loop {
        match (source.genesis().await, source.genesis_config().await) {
            (Ok(block), Ok(config)) => break (block, config),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(source = %source.describe(), error = %e, "no genesis yet; retrying");
                backoff.wait().await;
            }
        }
    };
    if config.config_hash() != block.header.parent {
        return Err(FollowerError::ForeignGenesis {
            config: config.config_hash(),
            parent: block.header.parent,
        });
    }
    let validators =
        ValidatorSet::new(config.validators.clone()).map_err(FollowerError::Validators)?;
    Ok(ChainGenesis {
        block,
        config,
        validators,
    })
}

/// Hands out verified blocks from a source, in order, reconnecting when it breaks.
pub struct Follower<S: BlockSource> {
    source: S,
    verifier: BlockVerifier,
    stream: Option<S::Stream>,
    backoff: Backoff,
    wants: Option<Wants>,
}

impl<S: BlockSource> std::fmt::Debug for Follower<S>
where
    S: std::fmt::Debug,
    S::Stream: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("source", &self.source)
            .field("verifier", &self.verifier)
            .field("stream", &self.stream)
            .field("backoff", &self.backoff)
            .field("every_command", &self.wants.is_none())
            .finish()
    }
}

impl<S: BlockSource> Follower<S>
where
    S::Stream: std::fmt::Debug,
{
    /// Follow `source`, the chain `chain` (its genesis block hash), from `trusted` (the
    /// genesis header, or the last block the user committed), accepting blocks finalized by a
    /// quorum of `validators`.
    pub fn new(source: S, chain: Hash32, trusted: BlockHeader, validators: ValidatorSet) -> Self {
        Self {
            source,
            verifier: BlockVerifier::new(chain, trusted, validators),
            stream: None,
            backoff: Backoff::default(),
            wants: None,
        }
    }

    /// Check the signatures of commands only to the contracts `wants` picks of those a block
    /// has commands to (asked once a block, as it is checked), and every other transaction's
    /// (`fat_consensus::BlockVerifier::accept_for`): each [`FollowedBlock`] says what the
    /// commands checked came to, and whoever runs a command that was not checked checks it
    /// first (`fat_consensus::check_commands`). Without it, every signature is checked and
    /// any refused refuses the block.
    pub fn checking_commands_of(
        mut self,
        wants: impl Fn(&BTreeSet<ContractId>) -> BTreeSet<ContractId> + Send + Sync + 'static,
    ) -> Self {
        self.wants = Some(Box::new(wants));
        self
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The last block handed out (or the trusted header).
    pub fn last(&self) -> &BlockHeader {
        self.verifier.last()
    }

    /// The next block, once it verifies. Waits while there is none; reconnects, after a
    /// backoff, when the source fails or ends. Cancelling the future loses no block.
    pub async fn next(&mut self) -> Result<FollowedBlock, FollowerError> {
        loop {
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => {
                    let from = self.verifier.last().height + 1;
                    match self.source.blocks(from).await {
                        Ok(stream) => self.stream.insert(stream),
                        Err(e) => {
                            tracing::debug!(source = %self.source.describe(), error = %e, "cannot open the block stream; retrying");
                            self.backoff.wait().await;
                            continue;
                        }
                    }
                }
            };
            let (block, receipts) = match stream.next().await {
                Ok(Some(next)) => next,
                Ok(None) => {
                    tracing::debug!(source = %self.source.describe(), "the block stream ended; reconnecting");
                    self.stream = None;
                    self.backoff.wait().await;
                    continue;
                }
                Err(e) => {
                    tracing::debug!(source = %self.source.describe(), error = %e, "the block stream broke; reconnecting");
                    self.stream = None;
                    self.backoff.wait().await;
                    continue;
                }
            };
            let height = block.header.height;
            if block.txs.len() != receipts.len()
                || receipts_root(&receipts) != block.header.receipts_root
            {
                return Err(FollowerError::ReceiptsMismatch { height });
            }
            let accepted = match &self.wants {
                Some(wants) => self.verifier.accept_for(&block, wants)?,
                None => {
                    let (hash, ids) = self.verifier.accept_with_ids(&block)?;
                    let checked = CheckedCommands::every();
                    fat_consensus::Accepted { hash, ids, checked }
                }
            };
            self.backoff.reset();
            return Ok(FollowedBlock {
                block,
                receipts,
                ids: accepted.ids,
                checked: accepted.checked,
            });
        }
    }
}

#[cfg(any(test, feature = "test-utils"))]
pub use memory::MemoryChain;

#[cfg(any(test, feature = "test-utils"))]
mod memory {
    use std::sync::{Arc, Mutex};

    use fat_types::{Block, ChainReceipt, Genesis};
    use tokio::sync::watch;

    use super::{BlockSource, BlockStream};
    use crate::error::{Error, Result};

    #[derive(Debug)]
    struct Blocks {
        config: Genesis,
        blocks: Vec<(Block, Vec<ChainReceipt>)>,
        /// Bumped to break every open stream once.
        breaks: u64,
    }

    /// An in-memory twin of a node's block stream, for tests: blocks are pushed in, streams
    /// see them as they come, and every open stream can be broken at once.
    #[derive(Debug, Clone)]
    pub struct MemoryChain {
        blocks: Arc<Mutex<Blocks>>,
        changed: watch::Sender<u64>,
    }

    impl MemoryChain {
        /// A chain of `genesis` alone, started from `config`.
        pub fn new(genesis: Block, config: Genesis) -> Self {
            let blocks = Blocks {
                config,
                blocks: vec![(genesis, Vec::new())],
                breaks: 0,
            };
            Self {
                blocks: Arc::new(Mutex::new(blocks)),
                changed: watch::channel(0).0,
            }
        }

        /// Append a block (the twin checks nothing: that is the follower's job).
        pub fn push(&self, block: Block, receipts: Vec<ChainReceipt>) {
            self.blocks
                .lock()
                .expect("memory chain lock")
                .blocks
                .push((block, receipts));
            self.changed.send_modify(|n| *n += 1);
        }

        /// Make every open stream fail once, as a dropped connection would.
        pub fn break_streams(&self) {
            self.blocks.lock().expect("memory chain lock").breaks += 1;
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// A stream of a [`MemoryChain`].
    #[derive(Debug)]
    pub struct MemoryStream {
        chain: MemoryChain,
        next: u64,
        breaks: u64,
        changed: watch::Receiver<u64>,
    }

    impl BlockSource for MemoryChain {
        type Stream = MemoryStream;

        async fn genesis(&self) -> Result<Block> {
            Ok(self.blocks.lock().expect("memory chain lock").blocks[0]
                .0
                .clone())
        }

        async fn genesis_config(&self) -> Result<Genesis> {
            Ok(self
                .blocks
                .lock()
                .expect("memory chain lock")
                .config
                .clone())
        }

        async fn blocks(&self, from: u64) -> Result<MemoryStream> {
            let breaks = self.blocks.lock().expect("memory chain lock").breaks;
            Ok(MemoryStream {
                chain: self.clone(),
                next: from,
                breaks,
                changed: self.changed.subscribe(),
            })
        }

        fn describe(&self) -> String {
            "memory chain".into()
        }
    }

    impl BlockStream for MemoryStream {
        async fn next(&mut self) -> Result<Option<(Block, Vec<ChainReceipt>)>> {
            loop {
                self.changed.borrow_and_update();
                {
                    let blocks = self.chain.blocks.lock().expect("memory chain lock");
                    if blocks.breaks != self.breaks {
                        return Err(Error::Transport {
                            url: "memory chain".into(),
                            message: "stream broken".into(),
                        });
                    }
                    if let Some(found) = blocks.blocks.get(self.next as usize) {
                        self.next += 1;
                        return Ok(Some(found.clone()));
                    }
                }
                if self.changed.changed().await.is_err() {
                    return Ok(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fat_consensus::{FollowError, sign_finalize};
    use fat_crypto::{Keypair, dev_keypair};
    use fat_types::block::{receipts_root, tx_root};
    use fat_types::{Certificate, ChainParams, Outcome, Transaction, TxKind};

    /// A genesis naming `validator` alone, and its block 0.
    fn genesis(validator: &Keypair) -> (Block, Genesis) {
        let config = Genesis {
            chain_id: "test".into(),
            timestamp_ms: 1_000,
            validators: vec![validator.account_id()],
            params: ChainParams::default(),
            accounts: Vec::new(),
            gatekeepers: Vec::new(),
        };
        let block = Block {
            header: BlockHeader {
                height: 0,
                parent: config.config_hash(),
                timestamp_ms: 1_000,
                tx_root: tx_root(&[]),
                receipts_root: receipts_root(&[]),
                state_root: Hash32::default(),
            },
            certificate: Certificate::Genesis,
            txs: Vec::new(),
        };
        (block, config)
    }

    /// A block on `parent` with one transfer, finalized by `signer`, and its receipts.
    fn child(parent: &BlockHeader, signer: &Keypair) -> (Block, Vec<ChainReceipt>) {
        let alice = dev_keypair("alice");
        let tx = alice.sign_tx(Transaction {
            chain: genesis(signer).0.hash(),
            signer: alice.account_id(),
            nonce: parent.height,
            fee: 10,
            kind: TxKind::Transfer {
                to: dev_keypair("bob").account_id(),
                amount: 1,
            },
        });
        let receipts = vec![ChainReceipt {
            tx: tx.id(),
            fee: 10,
            outcome: Outcome::Ok,
        }];
        let header = BlockHeader {
            height: parent.height + 1,
            parent: parent.hash(),
            timestamp_ms: parent.timestamp_ms + 1,
            tx_root: tx_root(std::slice::from_ref(&tx)),
            receipts_root: receipts_root(&receipts),
            state_root: Hash32::default(),
        };
        let round = header.height;
        let certificate = Certificate::Ed25519 {
            round,
            signatures: vec![(0, sign_finalize(signer, round, &header.hash()))],
        };
        let block = Block {
            header,
            certificate,
            txs: vec![tx],
        };
        (block, receipts)
    }

    async fn next<S: BlockSource>(
        follower: &mut Follower<S>,
    ) -> Result<FollowedBlock, FollowerError>
    where
        S::Stream: std::fmt::Debug,
    {
        tokio::time::timeout(Duration::from_secs(10), follower.next())
            .await
            .expect("a block within 10 s")
    }

    async fn start(chain: &MemoryChain) -> Follower<MemoryChain> {
        let genesis = genesis_of(chain).await.unwrap();
        Follower::new(
            chain.clone(),
            genesis.block.hash(),
            genesis.block.header,
            genesis.validators,
        )
    }

    #[tokio::test]
    async fn follows_in_order_and_across_a_broken_stream() {
        let validator = dev_keypair("sequencer");
        let (block0, config) = genesis(&validator);
        let chain = MemoryChain::new(block0.clone(), config);
        let (b1, r1) = child(&block0.header, &validator);
        let (b2, r2) = child(&b1.header, &validator);
        chain.push(b1.clone(), r1.clone());
        let mut follower = start(&chain).await;
        assert_eq!(next(&mut follower).await.unwrap().block, b1);
        chain.break_streams();
        chain.push(b2.clone(), r2.clone());
        let followed = next(&mut follower).await.unwrap();
        assert_eq!((followed.block, followed.receipts), (b2.clone(), r2));
        assert_eq!(follower.last(), &b2.header);
    }

    #[tokio::test]
    async fn a_genesis_configuration_block_0_does_not_commit_to_is_refused() {
        let validator = dev_keypair("sequencer");
        let (block0, mut config) = genesis(&validator);
        config.validators.push(dev_keypair("mallory").account_id());
        let chain = MemoryChain::new(block0, config);
        let err = genesis_of(&chain).await.unwrap_err();
        assert!(
            matches!(err, FollowerError::ForeignGenesis { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_block_finalized_by_a_key_outside_the_set_stops_following_and_keeps_the_last() {
        let validator = dev_keypair("sequencer");
        let (block0, config) = genesis(&validator);
        let chain = MemoryChain::new(block0.clone(), config);
        let (forged, receipts) = child(&block0.header, &dev_keypair("mallory"));
        chain.push(forged, receipts);
        let mut follower = start(&chain).await;
        let err = next(&mut follower).await.unwrap_err();
        assert!(
            matches!(
                err,
                FollowerError::Block(FollowError::Certificate { height: 1, .. })
            ),
            "{err:?}"
        );
        assert_eq!(follower.last(), &block0.header);
    }

    #[tokio::test]
    async fn receipts_that_the_header_does_not_commit_to_are_refused() {
        let validator = dev_keypair("sequencer");
        let (block0, config) = genesis(&validator);
        let chain = MemoryChain::new(block0.clone(), config);
        let (block, mut receipts) = child(&block0.header, &validator);
        receipts[0].fee = 11;
        chain.push(block, receipts);
        let mut follower = start(&chain).await;
        let err = next(&mut follower).await.unwrap_err();
        assert!(
            matches!(err, FollowerError::ReceiptsMismatch { height: 1 }),
            "{err:?}"
        );
        assert_eq!(follower.last(), &block0.header);
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_no_block() {
        let validator = dev_keypair("sequencer");
        let (block0, config) = genesis(&validator);
        let chain = MemoryChain::new(block0.clone(), config);
        let mut follower = start(&chain).await;
        // Nothing to follow yet: the wait is cancelled, as a worker's idle flush does.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), follower.next())
                .await
                .is_err()
        );
        let (b1, r1) = child(&block0.header, &validator);
        chain.push(b1.clone(), r1);
        assert_eq!(next(&mut follower).await.unwrap().block, b1);
    }
}
