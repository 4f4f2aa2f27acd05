//! Restart recovery, determinism, and refusing data directories that are not ours.

mod common;

use common::{TempDir, alice, bob, open, open_with, sign};
use fat_chain::store::DB_FILE;
use fat_chain::{ChainError, Genesis};
use fat_consensus::{BlockVerifier, ValidatorSet};
use fat_crypto::dev_keypair;
use fat_types::{AccountId, TxKind};

fn transfer(amount: u64) -> TxKind {
    TxKind::Transfer {
        to: AccountId([9; 32]),
        amount,
    }
}

#[test]
fn restart_resumes_from_the_last_committed_block() {
    let dir = TempDir::new("restart");
    let (tip, alice_state, ids) = {
        let node = open(&dir);
        let mut ids = Vec::new();
        for nonce in 0..3 {
            ids.push(
                node.submit_tx(&sign(&alice(), nonce, transfer(10)))
                    .unwrap(),
            );
            node.produce_block().unwrap().unwrap();
        }
        // Admitted but never committed: gone after a restart, as a mempool should be.
        node.submit_tx(&sign(&bob(), 0, transfer(1))).unwrap();
        let alice_state = node.with_state(|s| s.accounts[&alice().account_id()]);
        (node.tip(), alice_state, ids)
    };
    let node = open(&dir);
    assert_eq!(node.tip(), tip);
    assert_eq!(node.pending(), 0);
    assert_eq!(
        node.with_state(|s| s.accounts[&alice().account_id()]),
        alice_state
    );
    assert_eq!(alice_state.nonce, 3);
    assert_eq!(
        node.with_state(|s| s.accounts[&AccountId([9; 32])].balance),
        30
    );
    for (i, id) in ids.iter().enumerate() {
        let (location, ..) = node.committed_tx(id).unwrap().unwrap();
        assert_eq!((location.height, location.index), (i as u64 + 1, 0));
    }
    node.submit_tx(&sign(&bob(), 0, transfer(1))).unwrap();
    let next = node.produce_block().unwrap().unwrap();
    assert_eq!(next.parent, tip.hash());
    assert_eq!(next.height, 4);

    let genesis = node.store().block(0).unwrap().unwrap();
    let validators = ValidatorSet::new(node.genesis().validators.clone()).unwrap();
    let mut follower = BlockVerifier::new(genesis.hash(), genesis.header, validators);
    for h in 1..=4 {
        follower
            .accept(&node.store().block(h).unwrap().unwrap())
            .unwrap();
    }
}

#[test]
fn same_transactions_same_clock_same_chain() {
    let run = |name| {
        let dir = TempDir::new(name);
        let node = open(&dir);
        for nonce in 0..5 {
            node.submit_tx(&sign(&alice(), nonce, transfer(nonce)))
                .unwrap();
        }
        node.produce_block().unwrap();
        node.tip()
    };
    assert_eq!(run("det-a"), run("det-b"));
}

fn open_err(dir: &TempDir, genesis: Genesis) -> ChainError {
    let config = fat_chain::NodeConfig {
        data_dir: dir.0.clone(),
        genesis,
        mempool_limit: 10,
    };
    fat_chain::Node::open(config, None, std::sync::Arc::new(fat_chain::SystemClock)).unwrap_err()
}

#[test]
fn refuses_corrupt_foreign_and_other_chains_directories() {
    let dir = TempDir::new("garbage");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(
        dir.0.join(DB_FILE),
        b"this is not a database at all, just some bytes",
    )
    .unwrap();
    let err = open_err(&dir, fat_chain::genesis::dev());
    assert!(matches!(err, ChainError::OpenStore { .. }), "{err}");
    assert_eq!(
        std::fs::read(dir.0.join(DB_FILE)).unwrap(),
        b"this is not a database at all, just some bytes"
    );

    let dir = TempDir::new("foreign");
    std::fs::create_dir_all(&dir.0).unwrap();
    {
        let db = redb::Database::create(dir.0.join(DB_FILE)).unwrap();
        let wtx = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<&str, u64> =
                redb::TableDefinition::new("something_else");
            wtx.open_table(table).unwrap().insert("x", 1).unwrap();
        }
        wtx.commit().unwrap();
    }
    let err = open_err(&dir, fat_chain::genesis::dev());
    assert!(matches!(err, ChainError::ForeignStore { .. }), "{err}");

    let dir = TempDir::new("other-chain");
    drop(open(&dir));
    let mut other = fat_chain::genesis::dev();
    other.chain_id = "other".into();
    let err = open_err(&dir, other);
    assert!(matches!(err, ChainError::ForeignChain { .. }), "{err}");
    assert!(err.to_string().contains("use another data directory"));
    // The directory still opens for its own chain.
    drop(open_with(&dir, fat_chain::genesis::dev(), 10));
}

// On tokio's paused clock, which moves only when every task waits on a timer: the block time
// is counted in virtual milliseconds, whatever the machine's load.
#[tokio::test(start_paused = true)]
async fn sequencer_batches_by_block_time_and_idles() {
    use fat_chain::{Consensus, Sequencer};
    use std::time::Duration;
    use tokio::time::Instant;
    let block_time = Duration::from_secs(1);
    let dir = TempDir::new("block-time");
    let node = open(&dir);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sequencer = Sequencer {
        key: dev_keypair(fat_chain::genesis::DEV_SEQUENCER),
        block_time,
    };
    let running = tokio::spawn(sequencer.run(node.clone(), async {
        let _ = stopped.await;
    }));
    let waiter = &node;
    let height_of = |id| async move {
        waiter
            .wait_committed(&id, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} not committed"))
            .height
    };
    // Idle: an hour without transactions, no blocks.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(node.tip().height, 0);
    // After idling, the first transaction is sealed at once, in a block of its own.
    let start = Instant::now();
    let first = node.submit_tx(&sign(&alice(), 0, transfer(1))).unwrap();
    assert_eq!(height_of(first).await, 1);
    assert!(start.elapsed() < block_time, "{:?}", start.elapsed());
    // The next ones wait for the next slot, and go in one block.
    let mut ids = Vec::new();
    for nonce in 1..5 {
        ids.push(node.submit_tx(&sign(&alice(), nonce, transfer(1))).unwrap());
    }
    for id in ids {
        assert_eq!(height_of(id).await, 2);
    }
    assert!(start.elapsed() >= block_time, "{:?}", start.elapsed());
    assert_eq!(node.tip().height, 2);
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

/// The data directory a node creates and its database are its user's alone.
#[cfg(unix)]
#[test]
fn the_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = TempDir::new("modes");
    drop(open(&dir));
    assert_eq!(mode(&dir.0), 0o700);
    assert_eq!(mode(&dir.0.join(DB_FILE)), 0o600);
    // Left readable by others, it is tightened when the node opens it again.
    std::fs::set_permissions(dir.0.join(DB_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(open(&dir));
    assert_eq!(mode(&dir.0.join(DB_FILE)), 0o600);
}
