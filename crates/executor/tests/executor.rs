//! The executor on an in-memory state: the counter contract uploaded, instantiated and
//! incremented over two blocks; determinism; clusters this worker is not in; a cluster key
//! provisioned and used in one block.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fat_consensus::{CheckedCommands, TxIds};
use fat_crypto::envelope::{
    Agreements, Direction, EcdhPublic, EcdhSecret, Envelope, ReplayGuard, SealRandomness, Session,
    SessionMessage, seal,
};
use fat_crypto::{ClusterKey, ContractKeys, Keypair, dev_keypair};
use fat_executor::{BlockChanges, ClusterKeys, ContractRecord, Executor, Keys, StateView};
use fat_runtime::{Call, Entry, MemoryCache, MemoryStore, Runtime, RuntimeConfig, StateStore};
use fat_types::block::{receipts_root, tx_root};
use fat_types::genesis::ChainParams;
use fat_types::tx::{cluster_id, code_hash, contract_id};
use fat_types::{
    BlockHeader, Bytes, ChainReceipt, ClusterId, CodeHash, CommandPayload, ContractId, ExecStatus,
    ExecutionReceipt, Hash32, SignedTransaction, Transaction, TxKind, WorkerId,
};

const T0: u64 = 1_700_000_000_000;

/// The committed state of a worker, in memory.
#[derive(Clone, Default)]
struct Memory {
    state: MemoryStore,
    clusters: BTreeSet<ClusterId>,
    contracts: BTreeMap<ContractId, ContractRecord>,
    codes: BTreeMap<CodeHash, Vec<u8>>,
    epochs: BTreeMap<ClusterId, u32>,
}

impl StateStore for Memory {
    fn get(&self, contract: &ContractId, key: &[u8]) -> fat_runtime::Result<Option<Vec<u8>>> {
        self.state.get(contract, key)
    }

    fn scan(
        &self,
        contract: &ContractId,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> fat_runtime::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.state.scan(contract, prefix, after, limit)
    }

    fn entry_count(&self, contract: &ContractId) -> fat_runtime::Result<u64> {
        self.state.entry_count(contract)
    }
}

impl StateView for Memory {
    fn is_member(&self, cluster: &ClusterId) -> fat_runtime::Result<bool> {
        Ok(self.clusters.contains(cluster))
    }

    fn key_epoch(&self, cluster: &ClusterId) -> fat_runtime::Result<u32> {
        Ok(self.epochs.get(cluster).copied().unwrap_or(0))
    }

    fn contract(&self, id: &ContractId) -> fat_runtime::Result<Option<ContractRecord>> {
        Ok(self.contracts.get(id).cloned())
    }

    fn code(&self, hash: &CodeHash) -> fat_runtime::Result<Option<Vec<u8>>> {
        Ok(self.codes.get(hash).cloned())
    }
}

impl Memory {
    /// A copy with `changes` committed (the state entries are a new store).
    fn commit(&self, changes: &BlockChanges) -> Self {
        let state = MemoryStore::new();
        for contract in self.contracts.keys() {
            let entries = self.state.scan(contract, b"", None, usize::MAX).unwrap();
            state.apply(
                contract,
                &entries.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            );
        }
        for (contract, writes) in &changes.writes {
            state.apply(contract, writes);
        }
        let mut next = Self {
            state,
            ..self.clone()
        };
        next.codes.extend(changes.codes.iter().cloned());
        next.clusters.extend(changes.clusters.iter().copied());
        next.epochs
            .extend(changes.key_epochs.iter().map(|(c, e)| (*c, *e)));
        next.contracts.extend(
            changes
                .contracts
                .iter()
                .map(|(id, record)| (*id, record.clone())),
        );
        next
    }
}

/// The worker under test and the keys around it.
struct World {
    runtime: Runtime,
    worker: Keypair,
    ecdh: EcdhSecret,
    /// Kept across the blocks a world applies, as a worker keeps them.
    agreements: Agreements,
    alice: Keypair,
    gatekeeper: Keypair,
    cluster_key: ClusterKey,
    wasm: Vec<u8>,
}

impl World {
    fn new() -> Self {
        Self::with_contract(fat_test_programs::COUNTER)
    }

    /// The world with the contract built at `path` in place of the counter.
    fn with_contract(path: &str) -> Self {
        let config = RuntimeConfig {
            pool_instances: 4,
            ..RuntimeConfig::default()
        };
        Self {
            runtime: Runtime::new(config).unwrap(),
            worker: Keypair::from_seed([1; 32]),
            ecdh: EcdhSecret::from_bytes([2; 32]),
            agreements: Agreements::default(),
            alice: dev_keypair("alice"),
            gatekeeper: dev_keypair("gatekeeper"),
            cluster_key: ClusterKey::from_bytes(0, [5; 32]),
            wasm: fat_test_programs::read(path),
        }
    }

    fn me(&self) -> WorkerId {
        WorkerId(self.worker.account_id().0)
    }

    /// Apply a block of `txs` at `height` (every receipt a success), holding `held` keys.
    async fn apply(
        &self,
        state: &Memory,
        held: &BTreeMap<ClusterId, ClusterKey>,
        height: u64,
        txs: &[SignedTransaction],
    ) -> BlockChanges {
        self.apply_with(&ChainParams::default(), state, held, height, txs)
            .await
    }

    /// [`World::apply`] on a chain of `params`.
    async fn apply_with(
        &self,
        params: &ChainParams,
        state: &Memory,
        held: &BTreeMap<ClusterId, ClusterKey>,
        height: u64,
        txs: &[SignedTransaction],
    ) -> BlockChanges {
        self.try_apply_with(params, state, held, height, txs)
            .await
            .unwrap()
    }

    /// [`World::apply_with`], returning the executor's error.
    async fn try_apply_with(
        &self,
        params: &ChainParams,
        state: &Memory,
        held: &BTreeMap<ClusterId, ClusterKey>,
        height: u64,
        txs: &[SignedTransaction],
    ) -> fat_executor::Result<BlockChanges> {
        self.try_apply_ids(params, state, held, height, txs, None)
            .await
    }

    /// [`World::try_apply_with`], the block given whole with its transactions' `ids` when
    /// there are some (as a follower gives them), or as header and transactions.
    async fn try_apply_ids(
        &self,
        params: &ChainParams,
        state: &Memory,
        held: &dyn ClusterKeys,
        height: u64,
        txs: &[SignedTransaction],
        ids: Option<(&TxIds, CheckedCommands)>,
    ) -> fat_executor::Result<BlockChanges> {
        let receipts: Vec<ChainReceipt> = txs
            .iter()
            .map(|tx| ChainReceipt {
                tx: tx.id(),
                fee: 10,
                outcome: fat_types::Outcome::Ok,
            })
            .collect();
        let header = BlockHeader {
            height,
            parent: Hash32([height as u8; 32]),
            timestamp_ms: block_ms(height),
            tx_root: tx_root(txs),
            receipts_root: receipts_root(&receipts),
            state_root: Hash32::default(),
        };
        let keys = Keys {
            identity: &self.worker,
            ecdh: &self.ecdh,
            clusters: held,
            agreements: &self.agreements,
        };
        let executor = Executor::new(&self.runtime, &self.runtime, keys).with_params(params);
        let Some((ids, checked)) = ids else {
            return executor
                .apply(Arc::new(state.clone()), &header, txs, &receipts)
                .await;
        };
        let block = fat_types::Block {
            header,
            certificate: fat_types::Certificate::Genesis,
            txs: txs.to_vec(),
        };
        executor
            .apply_block_with_ids(Arc::new(state.clone()), &block, &receipts, ids, checked)
            .await
    }

    fn contract(&self, cluster: ClusterId) -> ContractId {
        self.contract_salted(cluster, b"salt")
    }

    fn contract_salted(&self, cluster: ClusterId, salt: &[u8]) -> ContractId {
        contract_id(
            &self.alice.account_id(),
            &code_hash(&self.wasm),
            &cluster,
            salt,
        )
    }

    fn upload(&self, nonce: u64) -> SignedTransaction {
        tx(
            &self.alice,
            nonce,
            TxKind::UploadCode {
                code: Bytes(self.wasm.clone()),
            },
        )
    }

    /// Instantiate the counter in `cluster` with `args`, sealed to `cluster_key`.
    fn instantiate(
        &self,
        nonce: u64,
        cluster: ClusterId,
        args: &str,
        height: u64,
    ) -> (SignedTransaction, Session) {
        self.instantiate_salted(nonce, cluster, args, height, b"salt")
    }

    /// [`World::instantiate`] with another salt (another contract).
    fn instantiate_salted(
        &self,
        nonce: u64,
        cluster: ClusterId,
        args: &str,
        height: u64,
        salt: &[u8],
    ) -> (SignedTransaction, Session) {
        let contract = self.contract_salted(cluster, salt);
        let (envelope, session) = sealed(
            &self.alice,
            &self.cluster_key.ecdh_public(),
            contract,
            Direction::InitArgs,
            args.as_bytes(),
            block_ms(height),
        );
        let kind = TxKind::Instantiate {
            code_hash: code_hash(&self.wasm),
            cluster,
            salt: Bytes(salt.to_vec()),
            args: Bytes(envelope.to_bytes()),
            gas_limit: 10_000_000_000,
        };
        (tx(&self.alice, nonce, kind), session)
    }

    /// A command to `contract`, sealed to its key.
    fn command(
        &self,
        nonce: u64,
        contract: ContractId,
        method: &str,
        args: &str,
        height: u64,
    ) -> (SignedTransaction, Session) {
        self.command_with_gas(nonce, contract, method, args, height, 10_000_000_000)
    }

    /// [`World::command`] asking for `gas_limit`.
    fn command_with_gas(
        &self,
        nonce: u64,
        contract: ContractId,
        method: &str,
        args: &str,
        height: u64,
        gas_limit: u64,
    ) -> (SignedTransaction, Session) {
        let payload = CommandPayload::new(method, args, nonce);
        let (envelope, session) = sealed(
            &self.alice,
            &self.cluster_key.contract(&contract).ecdh().public(),
            contract,
            Direction::Command,
            &payload.encode(),
            block_ms(height),
        );
        let kind = TxKind::Command {
            contract,
            payload: Bytes(envelope.to_bytes()),
            gas_limit,
        };
        (tx(&self.alice, nonce, kind), session)
    }

    /// The gatekeeper's provision of the cluster key to this worker.
    fn provision(&self, nonce: u64, cluster: ClusterId, height: u64) -> SignedTransaction {
        let (envelope, _) = sealed(
            &self.gatekeeper,
            &self.ecdh.public(),
            ContractId(cluster.0),
            Direction::ClusterKey,
            &self.cluster_key.to_bytes(),
            block_ms(height),
        );
        let kind = TxKind::ProvisionKey {
            cluster,
            epoch: 0,
            cluster_public: Hash32(self.cluster_key.ecdh_public().0),
            keys: vec![(self.me(), Bytes(envelope.to_bytes()))],
        };
        tx(&self.gatekeeper, nonce, kind)
    }

    /// The counter's value in `state`, by a query.
    async fn value(&self, state: &Memory, contract: ContractId) -> String {
        let code = self.runtime.load(&self.wasm).unwrap();
        let mut call = Call::new(
            Entry::query("get", "{}"),
            Arc::new(state.clone()),
            Arc::new(MemoryCache::new(1 << 20)),
        );
        call.contract = contract;
        let outcome = self.runtime.call(&code, call).await;
        outcome.output_str().unwrap().to_owned()
    }

    /// The output of `receipt`, opened with the session of its transaction.
    fn open(&self, receipt: &ExecutionReceipt, session: &Session) -> String {
        assert_eq!(receipt.status, ExecStatus::Ok, "{receipt:?}");
        assert!(receipt.output.is_empty(), "the output is sealed");
        let sealed = receipt.sealed_output.as_ref().expect("a sealed output");
        let message = SessionMessage::from_bytes(&sealed.0).unwrap();
        let mut guard = ReplayGuard::new(u64::MAX / 4, 16);
        let plain = session
            .open_message(
                &message,
                &message.header.sender,
                Direction::Response,
                &mut guard,
                message.header.timestamp_ms,
            )
            .unwrap();
        String::from_utf8(plain).unwrap()
    }
}

fn block_ms(height: u64) -> u64 {
    T0 + height * 1000
}

fn tx(signer: &Keypair, nonce: u64, kind: TxKind) -> SignedTransaction {
    signer.sign_tx(Transaction {
        chain: Hash32([0xc1; 32]),
        signer: signer.account_id(),
        nonce,
        fee: 10,
        kind,
    })
}

fn sealed(
    sender: &Keypair,
    recipient: &EcdhPublic,
    contract: ContractId,
    direction: Direction,
    plaintext: &[u8],
    timestamp_ms: u64,
) -> (Envelope, Session) {
    let randomness = SealRandomness::generate().unwrap();
    seal(
        sender,
        recipient,
        contract,
        direction,
        plaintext,
        timestamp_ms,
        randomness,
    )
    .unwrap()
}

/// The first block: a cluster of this worker is created, the counter uploaded, instantiated
/// at 10 and incremented. Returns the transactions, the sessions of the init and the command,
/// the cluster and the contract.
fn first_block(world: &World) -> (Vec<SignedTransaction>, [Session; 2], ClusterId, ContractId) {
    let create = tx(
        &world.alice,
        0,
        TxKind::CreateCluster {
            workers: vec![WorkerId([3; 32]), world.me()],
        },
    );
    let cluster = cluster_id(&world.alice.account_id(), 0);
    let contract = world.contract(cluster);
    let (init, init_session) = world.instantiate(2, cluster, r#"{"start": 10}"#, 1);
    let (inc, inc_session) = world.command(3, contract, "increment", "", 1);
    let txs = vec![create, world.upload(1), init, inc];
    (txs, [init_session, inc_session], cluster, contract)
}

#[tokio::test]
async fn the_counter_runs_over_two_blocks() {
    let world = World::new();
    let (txs, [init_session, inc_session], cluster, contract) = first_block(&world);
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let genesis = Memory::default();

    let one = world.apply(&genesis, &held, 1, &txs).await;
    assert_eq!(one.clusters, [cluster]);
    assert_eq!(one.codes, [(code_hash(&world.wasm), world.wasm.clone())]);
    assert!(one.cluster_keys.is_empty());
    assert_eq!(one.receipts.len(), 2, "{:?}", one.receipts);
    let (init, inc) = (&one.receipts[0], &one.receipts[1]);
    assert_eq!((init.tx, init.index, init.height), (txs[2].id(), 2, 1));
    assert_eq!(
        (inc.tx, inc.index, inc.contract),
        (txs[3].id(), 3, contract)
    );
    world.open(init, &init_session);
    assert_eq!(world.open(inc, &inc_session), "11");
    let record = &one.contracts[&contract];
    assert_eq!(record.info.cluster, cluster);
    assert_eq!(record.info.deployer, world.alice.account_id());
    assert_eq!(
        record.info.public_key,
        Some(Hash32(
            world.cluster_key.contract(&contract).ecdh().public().0
        ))
    );
    assert!(record.entries > 0);
    assert_eq!(
        one.writes.keys().copied().collect::<Vec<_>>(),
        [contract],
        "only the counter writes"
    );
    assert_eq!(one.cache_ops.len(), 2);

    let after_one = genesis.commit(&one);
    assert_eq!(world.value(&after_one, contract).await, "11");
    let (inc, session) = world.command(4, contract, "increment", r#"{"by": 2}"#, 2);
    let two = world
        .apply(&after_one, &held, 2, std::slice::from_ref(&inc))
        .await;
    assert!(two.codes.is_empty() && two.clusters.is_empty());
    assert_eq!(two.receipts.len(), 1);
    assert_eq!((two.receipts[0].tx, two.receipts[0].height), (inc.id(), 2));
    assert_eq!(world.open(&two.receipts[0], &session), "13");
    assert_eq!(two.contracts[&contract].entries, record.entries);
    assert_ne!(two.writes[&contract], one.writes[&contract]);
    assert_eq!(world.value(&after_one.commit(&two), contract).await, "13");
}

#[tokio::test]
async fn the_same_blocks_give_the_same_changes() {
    let world = World::new();
    let (txs, _, cluster, contract) = first_block(&world);
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let genesis = Memory::default();
    let one = world.apply(&genesis, &held, 1, &txs).await;
    let (inc, _) = world.command(4, contract, "increment", "", 2);
    let two = world
        .apply(&genesis.commit(&one), &held, 2, std::slice::from_ref(&inc))
        .await;

    let again = world.apply(&Memory::default(), &held, 1, &txs).await;
    assert_eq!(again, one);
    assert_eq!(format!("{again:?}"), format!("{one:?}"));
    let two_again = world.apply(&genesis.commit(&again), &held, 2, &[inc]).await;
    assert_eq!(two_again, two);
    let encoded = |c: &BlockChanges| fat_types::encoding::encode(&c.receipts);
    assert_eq!(encoded(&two_again), encoded(&two));
}

/// Contract keys kept by contract, as the worker's keyring keeps them, and no cluster key.
#[derive(Default)]
struct KeptKeys {
    contracts: BTreeMap<ContractId, ContractKeys>,
    asked: std::sync::Mutex<Vec<(ClusterId, u32, ContractId)>>,
}

impl ClusterKeys for KeptKeys {
    fn cluster_key(&self, _: &ClusterId) -> Option<ClusterKey> {
        None
    }

    fn contract_keys(
        &self,
        cluster: &ClusterId,
        epoch: u32,
        contract: &ContractId,
    ) -> Option<ContractKeys> {
        self.asked
            .lock()
            .unwrap()
            .push((*cluster, epoch, *contract));
        self.contracts.get(contract).cloned()
    }
}

/// The commands of a contract whose cluster key the block did not provision run with the
/// contract keys the worker's keys give (which the worker keeps), not with keys the executor
/// derives from the cluster key for every block: given only the contract's keys, a block of
/// commands leaves the same changes as with the cluster key; given neither, the block stops
/// as for a member that lacks its cluster's key.
#[tokio::test]
async fn commands_run_with_the_contract_keys_the_worker_keeps() {
    let world = World::new();
    let (txs, _, cluster, contract) = first_block(&world);
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let after_one =
        Memory::default().commit(&world.apply(&Memory::default(), &held, 1, &txs).await);
    let block: Vec<_> = (0..3)
        .map(|i| {
            world
                .command(4 + i, contract, "increment", r#"{"by": 1}"#, 2)
                .0
        })
        .collect();
    let params = ChainParams::default();
    let derived = world
        .try_apply_ids(&params, &after_one, &held, 2, &block, None)
        .await
        .unwrap();
    assert_eq!(derived.receipts.len(), 3);

    let kept = KeptKeys {
        contracts: BTreeMap::from([(contract, world.cluster_key.contract(&contract))]),
        ..KeptKeys::default()
    };
    let from_kept = world
        .try_apply_ids(&params, &after_one, &kept, 2, &block, None)
        .await
        .unwrap();
    assert_eq!(from_kept, derived);
    let asked = kept.asked.lock().unwrap().clone();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|a| *a == (cluster, 0, contract)),
        "{asked:?}"
    );

    let none = world
        .try_apply_ids(&params, &after_one, &KeptKeys::default(), 2, &block, None)
        .await;
    assert!(
        matches!(none, Err(fat_executor::ExecutorError::NoClusterKey(c)) if c == cluster),
        "{none:?}"
    );
}

/// A block applied with the ids its follower computed gives the changes it gives when the
/// executor hashes the ids it needs itself; ids that are not one per transaction stop it.
#[tokio::test]
async fn a_block_with_its_ids_gives_the_same_changes() {
    let world = World::new();
    let (txs, _, cluster, _) = first_block(&world);
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let params = ChainParams::default();
    let genesis = Memory::default();
    let ids = TxIds::of(&txs);
    let hashed = world.apply(&genesis, &held, 1, &txs).await;
    let given = world
        .try_apply_ids(
            &params,
            &genesis,
            &held,
            1,
            &txs,
            Some((&ids, CheckedCommands::every())),
        )
        .await
        .unwrap();
    assert_eq!(given, hashed);
    assert_eq!(
        fat_types::encoding::encode(&given.receipts),
        fat_types::encoding::encode(&hashed.receipts)
    );
    let short = world
        .try_apply_ids(
            &params,
            &genesis,
            &held,
            1,
            &txs,
            Some((&TxIds::of(&txs[1..]), CheckedCommands::every())),
        )
        .await;
    assert!(
        matches!(
            short,
            Err(fat_executor::ExecutorError::IdsMismatch { height: 1, ids, txs: n })
                if ids == txs.len() - 1 && n == txs.len()
        ),
        "{short:?}"
    );
}

#[tokio::test]
async fn commands_of_other_clusters_are_skipped() {
    let world = World::new();
    // Alice's cluster without this worker; the worker holds its key even so.
    let create = tx(
        &world.alice,
        0,
        TxKind::CreateCluster {
            workers: vec![WorkerId([3; 32])],
        },
    );
    let cluster = cluster_id(&world.alice.account_id(), 0);
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let contract = world.contract(cluster);
    let (init, _) = world.instantiate(2, cluster, "{}", 1);
    let (inc, _) = world.command(3, contract, "increment", "", 1);
    let txs = [create, world.upload(1), init, inc];

    let changes = world.apply(&Memory::default(), &held, 1, &txs).await;
    assert!(changes.clusters.is_empty());
    assert!(changes.contracts.is_empty());
    assert!(changes.writes.is_empty());
    assert!(changes.receipts.is_empty());
    assert!(changes.logs.is_empty());
    assert_eq!(changes.codes.len(), 1, "code is recorded whoever runs it");
}

#[tokio::test]
async fn a_key_provisioned_in_a_block_runs_the_init_that_follows() {
    let world = World::new();
    let cluster = ClusterId([7; 32]);
    let genesis = Memory {
        clusters: BTreeSet::from([cluster]),
        ..Memory::default()
    };
    let contract = world.contract(cluster);
    let (init, session) = world.instantiate(1, cluster, r#"{"start": 5}"#, 1);
    let (inc, inc_session) = world.command(2, contract, "increment", "", 1);
    let txs = [world.provision(0, cluster, 1), world.upload(0), init, inc];
    let no_keys = BTreeMap::new();

    let changes = world.apply(&genesis, &no_keys, 1, &txs).await;
    assert_eq!(changes.cluster_keys, [(cluster, world.cluster_key.clone())]);
    assert_eq!(changes.receipts.len(), 2, "{:?}", changes.receipts);
    world.open(&changes.receipts[0], &session);
    assert_eq!(world.open(&changes.receipts[1], &inc_session), "6");
    assert!(changes.contracts.contains_key(&contract));

    // Without the provision, the worker holds no key: the contract does not run here.
    let without = world.apply(&genesis, &no_keys, 1, &txs[1..3]).await;
    assert!(without.receipts.is_empty() && without.contracts.is_empty());
    assert!(without.cluster_keys.is_empty());
}

/// A removal moves the cluster's key epoch on every worker. A contract created after it takes
/// the new epoch: a member holding only the old epoch's key (as the removed one does) cannot
/// run it, while the new key still runs the contracts of the old epoch.
#[tokio::test]
async fn a_removal_moves_the_key_epoch_out_of_the_old_keys_reach() {
    let mut world = World::new();
    let new = ClusterKey::from_bytes(1, [5; 32]);
    let old = new.at_epoch(0).unwrap();
    world.cluster_key = old.clone();
    let (txs, _, cluster, a) = first_block(&world);
    let held_old = BTreeMap::from([(cluster, old.clone())]);
    let held_new = BTreeMap::from([(cluster, new.clone())]);
    let one = world.apply(&Memory::default(), &held_old, 1, &txs).await;
    assert_eq!(one.contracts[&a].info.key_epoch, 0);
    assert!(one.key_epochs.is_empty());
    let after_one = Memory::default().commit(&one);

    let remove = tx(
        &world.alice,
        4,
        TxKind::RemoveClusterWorker {
            cluster,
            worker: WorkerId([3; 32]),
        },
    );
    let two = world.apply(&after_one, &held_old, 2, &[remove]).await;
    assert_eq!(two.key_epochs, BTreeMap::from([(cluster, 1)]));
    let after_two = after_one.commit(&two);

    // Block 3: a contract of epoch 1, and a command to each.
    let (inc_a, inc_a_session) = world.command(5, a, "increment", "", 3);
    world.cluster_key = new.clone();
    let b = world.contract_salted(cluster, b"b");
    let (init_b, _) = world.instantiate_salted(6, cluster, r#"{"start": 40}"#, 3, b"b");
    let (inc_b, inc_b_session) = world.command(7, b, "increment", "", 3);
    let three = [inc_a, init_b, inc_b];

    let stale = world.apply(&after_two, &held_old, 3, &three).await;
    assert!(
        !stale.contracts.contains_key(&b),
        "the old key reaches no later contract"
    );
    assert_eq!(stale.receipts.len(), 1, "{:?}", stale.receipts);
    assert_eq!(world.open(&stale.receipts[0], &inc_a_session), "12");

    let current = world.apply(&after_two, &held_new, 3, &three).await;
    assert_eq!(current.receipts.len(), 3, "{:?}", current.receipts);
    assert_eq!(world.open(&current.receipts[0], &inc_a_session), "12");
    assert_eq!(world.open(&current.receipts[2], &inc_b_session), "41");
    let record = &current.contracts[&b];
    assert_eq!(record.info.key_epoch, 1);
    assert_eq!(
        record.info.public_key,
        Some(Hash32(new.contract(&b).ecdh().public().0))
    );
    assert_ne!(new.contract(&b).secret(), old.contract(&b).secret());
}

/// Run `future` on a runtime of its own, in a thread, and panic if it takes longer than
/// `seconds` (a call that never yields cannot be stopped by a timer on its own thread).
fn within<T: Send + 'static>(
    seconds: u64,
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = send.send(runtime.block_on(future));
    });
    receive
        .recv_timeout(std::time::Duration::from_secs(seconds))
        .unwrap_or_else(|_| panic!("still running after {seconds} s: the call was not bounded"))
}

/// The probe's contract instantiated in a cluster of this worker, committed.
async fn probe_world() -> (World, BTreeMap<ClusterId, ClusterKey>, Memory, ContractId) {
    let world = World::with_contract(fat_test_programs::PROBE);
    let cluster = ClusterId([7; 32]);
    let genesis = Memory {
        clusters: BTreeSet::from([cluster]),
        ..Memory::default()
    };
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let (init, _) = world.instantiate(1, cluster, "ready", 1);
    let changes = world
        .apply(&genesis, &held, 1, &[world.upload(0), init])
        .await;
    assert_eq!(changes.receipts[0].status, ExecStatus::Ok, "{changes:?}");
    let state = genesis.commit(&changes);
    let contract = world.contract(cluster);
    (world, held, state, contract)
}

/// A chain whose transactions may ask for little gas, so the tests run in milliseconds.
fn small_gas() -> ChainParams {
    ChainParams {
        max_tx_gas: 20_000_000,
        max_block_gas: 30_000_000,
        ..ChainParams::default()
    }
}

#[test]
fn a_block_asking_for_all_the_gas_runs_within_the_chain_cap() {
    let receipts = within(60, async {
        let (world, held, state, contract) = probe_world().await;
        // A block no honest chain would make: endless loops asking for all the gas there is.
        let txs: Vec<_> = (0..3)
            .map(|i| {
                world
                    .command_with_gas(2 + i, contract, "loop", "", 2, u64::MAX)
                    .0
            })
            .collect();
        let changes = world.apply_with(&small_gas(), &state, &held, 2, &txs).await;
        changes.receipts
    });
    let spent: Vec<_> = receipts.iter().map(|r| r.gas_used).collect();
    // Each call gets at most max_tx_gas, the block at most max_block_gas together.
    assert_eq!(spent, [20_000_000, 10_000_000, 0], "{receipts:?}");
    for receipt in &receipts {
        assert_eq!(
            receipt.status,
            ExecStatus::Failed {
                error: "limit exceeded: gas".into()
            }
        );
    }
}

#[tokio::test]
async fn the_output_nonce_is_bound_to_the_output() {
    let world = World::new();
    let (txs, _, cluster, contract) = first_block(&world);
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let genesis = Memory::default();
    let after_one = genesis.commit(&world.apply(&genesis, &held, 1, &txs).await);
    let (inc, session) = world.command(4, contract, "increment", "", 2);
    let nonce = |changes: &BlockChanges| {
        let sealed = changes.receipts[0].sealed_output.as_ref().unwrap();
        SessionMessage::from_bytes(&sealed.0).unwrap().header.nonce
    };
    // The same transaction by the same worker, on two states: two outputs.
    let two = world
        .apply(&after_one, &held, 2, std::slice::from_ref(&inc))
        .await;
    let (other_txs, _, _, _) = first_block(&world);
    let mut other_state = genesis.commit(&world.apply(&genesis, &held, 1, &other_txs).await);
    other_state = other_state.commit(&two);
    let again = world
        .apply(&other_state, &held, 2, std::slice::from_ref(&inc))
        .await;
    assert_eq!(world.open(&two.receipts[0], &session), "12");
    assert_eq!(world.open(&again.receipts[0], &session), "13");
    assert_ne!(
        nonce(&two),
        nonce(&again),
        "a nonce reused for another output"
    );
    // The same output seals the same bytes.
    let replay = world
        .apply(&after_one, &held, 2, std::slice::from_ref(&inc))
        .await;
    assert_eq!(nonce(&replay), nonce(&two));
}

#[tokio::test]
async fn code_swapped_on_disk_is_refused_not_run() {
    let (world, held, mut state, contract) = probe_world().await;
    // The operator puts other code (the counter) under the probe's hash.
    let probe = code_hash(&world.wasm);
    let other = fat_test_programs::read(fat_test_programs::COUNTER);
    state.codes.insert(probe, other.clone());
    let (set, _) = world.command(2, contract, "set", "k=v", 2);
    let error = world
        .try_apply_with(
            &ChainParams::default(),
            &state,
            &held,
            2,
            std::slice::from_ref(&set),
        )
        .await
        .unwrap_err();
    match &error {
        fat_executor::ExecutorError::CodeTampered { expected, found } => {
            assert_eq!((*expected, *found), (probe, code_hash(&other)));
        }
        other => panic!("expected CodeTampered, got {other:?}"),
    }
    assert!(
        error.to_string().contains("the store was altered"),
        "{error}"
    );
    // With the right bytes back, the same block runs.
    state.codes.insert(probe, world.wasm.clone());
    let changes = world.apply(&state, &held, 2, &[set]).await;
    assert_eq!(changes.receipts[0].status, ExecStatus::Ok);
}

/// What each receipt of `changes` says: its status, and its output opened with the session
/// of its command.
fn outcomes(world: &World, changes: &BlockChanges, sessions: &[Session]) -> Vec<String> {
    changes
        .receipts
        .iter()
        .zip(sessions)
        .map(|(receipt, session)| match &receipt.status {
            ExecStatus::Ok => format!("ok {}", world.open(receipt, session)),
            ExecStatus::Failed { error } => format!("failed {error}"),
        })
        .collect()
}

#[tokio::test]
async fn commands_opened_ahead_on_every_core_run_as_one_at_a_time() {
    // Within the block's gas for twelve.
    const GAS: u64 = 100_000_000;
    let world = World::new();
    let (txs, _, cluster, contract) = first_block(&world);
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let after_one =
        Memory::default().commit(&world.apply(&Memory::default(), &held, 1, &txs).await);
    // Twelve commands: increments, one sealed to a key that is not the contract's, one whose
    // sealed nonce is another transaction's (a replay), one that is not an envelope at all.
    // `increment` carried by the transaction of `nonce`, sealed for `payload_nonce` to `to`.
    let sealed_command = |nonce: u64, payload_nonce: u64, to: &EcdhPublic| {
        let payload = CommandPayload::new("increment", "", payload_nonce);
        let (envelope, _) = sealed(
            &world.alice,
            to,
            contract,
            Direction::Command,
            &payload.encode(),
            block_ms(2),
        );
        let kind = TxKind::Command {
            contract,
            payload: Bytes(envelope.to_bytes()),
            gas_limit: GAS,
        };
        tx(&world.alice, nonce, kind)
    };
    let mut block = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..12u64 {
        let nonce = 4 + i;
        let (tx_, session) =
            world.command_with_gas(nonce, contract, "increment", r#"{"by": 1}"#, 2, GAS);
        let tx_ = match i {
            3 => {
                let stranger = fat_crypto::envelope::EcdhSecret::from_bytes([7; 32]);
                sealed_command(nonce, nonce, &stranger.public())
            }
            6 => sealed_command(
                nonce,
                nonce - 1,
                &world.cluster_key.contract(&contract).ecdh().public(),
            ),
            9 => tx(
                &world.alice,
                nonce,
                TxKind::Command {
                    contract,
                    payload: Bytes(b"not an envelope".to_vec()),
                    gas_limit: GAS,
                },
            ),
            _ => tx_,
        };
        block.push(tx_);
        sessions.push(session);
    }
    // All in one block: their envelopes are opened ahead, side by side.
    let together = world.apply(&after_one, &held, 2, &block).await;
    let together_outcomes = outcomes(&world, &together, &sessions);
    // The same commands a block each: every envelope is opened in turn.
    let mut state = after_one.clone();
    let mut alone_outcomes = Vec::new();
    for (i, one) in block.iter().enumerate() {
        let changes = world
            .apply(&state, &held, 2 + i as u64, std::slice::from_ref(one))
            .await;
        alone_outcomes.extend(outcomes(&world, &changes, &sessions[i..=i]));
        state = state.commit(&changes);
    }
    assert_eq!(together_outcomes, alone_outcomes);
    // Their sessions' key agreements are all kept now: the same block opens its envelopes in
    // turn (with eleven to make, it opened them on every core), to the same changes.
    assert_eq!(world.apply(&after_one, &held, 2, &block).await, together);
    assert_eq!(together_outcomes.len(), 12);
    assert_eq!(together_outcomes[0], "ok 12");
    assert!(
        together_outcomes[3].starts_with("failed command refused"),
        "{together_outcomes:?}"
    );
    assert!(
        together_outcomes[6].contains("a replay"),
        "{together_outcomes:?}"
    );
    assert!(
        together_outcomes[9].starts_with("failed command refused"),
        "{together_outcomes:?}"
    );
    assert_eq!(together_outcomes[11], "ok 20", "nine increments from 11");
    assert_eq!(
        world.value(&after_one.commit(&together), contract).await,
        "20"
    );
    assert_eq!(world.value(&state, contract).await, "20");
}

#[tokio::test]
async fn commands_of_one_session_give_the_same_changes_with_the_agreement_kept_or_not() {
    const GAS: u64 = 100_000_000;
    let warm = World::new();
    let (txs, _, cluster, contract) = first_block(&warm);
    let held = BTreeMap::from([(cluster, warm.cluster_key.clone())]);
    let after_one = Memory::default().commit(&warm.apply(&Memory::default(), &held, 1, &txs).await);
    let kept_before = warm.agreements.len();
    // One session, as the client seals a sender's commands: one ephemeral key, six commands.
    let contract_key = warm.cluster_key.contract(&contract).ecdh().public();
    let session = Session::start(&contract_key, contract, [3; 32]).unwrap();
    let commands: Vec<SignedTransaction> = (4..10u64)
        .map(|nonce| {
            let payload = CommandPayload::new("increment", r#"{"by": 2}"#, nonce);
            let envelope = session
                .seal_envelope(
                    &warm.alice,
                    Direction::Command,
                    &payload.encode(),
                    block_ms(2),
                )
                .unwrap();
            let kind = TxKind::Command {
                contract,
                payload: Bytes(envelope.to_bytes()),
                gas_limit: GAS,
            };
            tx(&warm.alice, nonce, kind)
        })
        .collect();
    // The first three in one block (opened ahead, side by side), the others a block each
    // (opened in turn): one key agreement for all six.
    let mut state = after_one.clone();
    let mut blocks = vec![warm.apply(&state, &held, 2, &commands[..3]).await];
    state = state.commit(&blocks[0]);
    for (i, one) in commands[3..].iter().enumerate() {
        let changes = warm
            .apply(&state, &held, 3 + i as u64, std::slice::from_ref(one))
            .await;
        state = state.commit(&changes);
        blocks.push(changes);
    }
    assert_eq!(warm.agreements.len(), kept_before + 1);
    let sessions = vec![session.clone(); 3];
    let mut seen = outcomes(&warm, &blocks[0], &sessions);
    for changes in &blocks[1..] {
        seen.extend(outcomes(&warm, changes, &sessions[..1]));
    }
    assert_eq!(seen, ["ok 13", "ok 15", "ok 17", "ok 19", "ok 21", "ok 23"]);

    // A worker that never saw the session (a restart, another member) leaves the same
    // changes, byte for byte, block by block.
    let cold = World::new();
    let mut state = after_one.clone();
    let replayed = cold.apply(&state, &held, 2, &commands[..3]).await;
    assert_eq!(replayed, blocks[0]);
    state = state.commit(&replayed);
    for (i, one) in commands[3..].iter().enumerate() {
        let changes = cold
            .apply(&state, &held, 3 + i as u64, std::slice::from_ref(one))
            .await;
        assert_eq!(changes, blocks[1 + i]);
        state = state.commit(&changes);
    }

    // Another sender cannot carry the session's envelopes as its own.
    let bob = dev_keypair("bob");
    let Bytes(payload) = match &commands[0].tx.kind {
        TxKind::Command { payload, .. } => payload.clone(),
        _ => unreachable!(),
    };
    let stolen = tx(
        &bob,
        0,
        TxKind::Command {
            contract,
            payload: Bytes(payload),
            gas_limit: GAS,
        },
    );
    let refused = warm.apply(&state, &held, 10, &[stolen]).await;
    let seen = outcomes(&warm, &refused, &sessions[..1]);
    assert!(seen[0].contains("command refused"), "{seen:?}");
}

/// The executor checks the signature of a command it runs unless the follower did: a made-up
/// command to a contract it runs (here instantiated in the same block, which no follower
/// could have known) stops the block; one the follower says it checked, or one to a contract
/// of a cluster this worker is not in, is not checked again.
#[tokio::test]
async fn a_command_it_runs_is_checked_unless_the_follower_did() {
    use fat_consensus::FollowError;
    use fat_executor::ExecutorError;
    let world = World::new();
    let (mut txs, _, cluster, contract) = first_block(&world);
    let held = BTreeMap::from([(cluster, world.cluster_key.clone())]);
    let params = ChainParams::default();
    let genesis = Memory::default();
    // The increment carries the instantiation's signature.
    txs[3].signature = txs[2].signature;
    let ids = TxIds::unhashed(&txs);
    let refused = |result: fat_executor::Result<BlockChanges>| {
        assert!(
            matches!(
                result,
                Err(ExecutorError::Signature(ref e)) if matches!(**e, FollowError::Transaction {
                    height: 1,
                    index: 3,
                    rejection: fat_types::TxRejection::BadSignature,
                    ..
                })
            ),
            "{result:?}"
        );
    };
    refused(
        world
            .try_apply_with(&params, &genesis, &held, 1, &txs)
            .await,
    );
    let mut others = CheckedCommands::default();
    others.record(ContractId([7; 32]), Ok(()));
    refused(
        world
            .try_apply_ids(&params, &genesis, &held, 1, &txs, Some((&ids, others)))
            .await,
    );
    // A follower that checked this contract's commands is taken at its word.
    let mut ours = CheckedCommands::default();
    ours.record(contract, Ok(()));
    let trusted = world
        .try_apply_ids(&params, &genesis, &held, 1, &txs, Some((&ids, ours)))
        .await
        .unwrap();
    assert_eq!(trusted.receipts.len(), 2);
    // So is one that found a command to it refused: the block stops where one runs.
    let mut found = CheckedCommands::default();
    let refusal = FollowError::Transaction {
        height: 1,
        index: 3,
        tx: ids.get(&txs, 3),
        rejection: fat_types::TxRejection::BadSignature,
    };
    found.record(contract, Err(refusal));
    let (honest, _, _, _) = first_block(&world);
    let ids = TxIds::of(&honest);
    refused(
        world
            .try_apply_ids(&params, &genesis, &held, 1, &honest, Some((&ids, found)))
            .await,
    );

    // A made-up command to a contract of another cluster is none of its business.
    let (mut txs, _, _, _) = first_block(&world);
    let elsewhere = world.contract(ClusterId([7; 32]));
    let (mut theirs, _) = world.command(4, elsewhere, "increment", "", 1);
    theirs.signature = txs[0].signature;
    txs.push(theirs);
    let changes = world
        .try_apply_with(&params, &genesis, &held, 1, &txs)
        .await
        .unwrap();
    assert_eq!(changes.receipts.len(), 2);
}
