//! Four validators on commonware's simplex engine under faults: a crash and a restart from
//! disk, a partition that heals, lossy links. Safety: no two validators hold different blocks
//! at one height. Liveness: with three of four reachable, transfers keep committing.

mod sim;

use std::time::Duration;

use commonware_runtime::Runner as _;

use fat_consensus::simplex::{SERVES_PER_SECOND, Wire};
use fat_types::block::{receipts_root, tx_root};
use fat_types::{Block, BlockHeader, Certificate};
use sim::{Sim, VALIDATORS, runner, traffic, users};

#[test]
fn three_of_four_keep_committing_and_a_crashed_validator_restarts_from_its_disk() {
    runner(11).start(|context| async move {
        let users = users();
        let mut sim = Sim::new(context, "crash", &users).await;
        for i in 0..VALIDATORS {
            sim.start(i).await;
        }
        traffic(&sim, &users, &[0, 1, 2, 3], 2).await;
        sim.crash(3);
        let during = traffic(&sim, &users, &[0, 1, 2], 4).await;
        sim.start(3).await;
        let after = traffic(&sim, &users, &[0, 1, 2, 3], 2).await;
        sim.until_committed(&during, Duration::from_secs(30)).await;
        sim.until_committed(&after, Duration::from_secs(30)).await;
        sim.agreed_chain();
    });
}

#[test]
fn a_partitioned_validator_catches_up_after_the_partition_heals() {
    runner(23).start(|context| async move {
        let users = users();
        let mut sim = Sim::new(context, "partition", &users).await;
        for i in 0..VALIDATORS {
            sim.start(i).await;
        }
        traffic(&sim, &users, &[0, 1, 2, 3], 1).await;
        sim.isolate(2).await;
        let during = traffic(&sim, &users, &[0, 1, 3], 4).await;
        assert!(
            sim.node(2).tip().height < sim.node(0).tip().height,
            "the isolated validator must not follow while cut off"
        );
        sim.link_all(1.0).await;
        sim.until_committed(&during, Duration::from_secs(30)).await;
        traffic(&sim, &users, &[0, 1, 2, 3], 2).await;
        sim.agreed_chain();
    });
}

#[test]
fn lossy_links_delay_but_do_not_fork_or_stop_the_chain() {
    runner(31).start(|context| async move {
        let users = users();
        let mut sim = Sim::new(context, "lossy", &users).await;
        sim.link_all(0.8).await;
        for i in 0..VALIDATORS {
            sim.start(i).await;
        }
        let txs = traffic(&sim, &users, &[0, 1, 2, 3], 4).await;
        sim.until_committed(&txs, Duration::from_secs(30)).await;
        sim.agreed_chain();
    });
}

/// A block at the next height that only validator `signer` finalized.
fn forged_block(sim: &Sim, signer: usize, parent: &BlockHeader) -> Block {
    let header = BlockHeader {
        height: parent.height + 1,
        parent: parent.hash(),
        timestamp_ms: parent.timestamp_ms + 1,
        tx_root: tx_root(&[]),
        receipts_root: receipts_root(&[]),
        // What an empty block on `parent` really leaves: only the certificate is false.
        state_root: fat_chain::state::next_root(&parent.state_root, &Vec::new()),
    };
    let message = fat_consensus::simplex_finalize_message(1_000, 999, &header.hash());
    Block {
        certificate: Certificate::Simplex {
            view: 1_000,
            parent_view: 999,
            signatures: vec![(signer as u32, sim.key(signer).sign(&message))],
            descendants: Vec::new(),
        },
        header,
        txs: Vec::new(),
    }
}

#[test]
fn a_byzantine_validator_cannot_forge_final_blocks_or_stop_the_others() {
    runner(41).start(|context| async move {
        let users = users();
        let mut sim = Sim::new(context, "byzantine", &users).await;
        for i in 0..VALIDATORS {
            sim.start(i).await;
        }
        traffic(&sim, &users, &[0, 1, 2, 3], 1).await;
        sim.crash(3);
        let forged = forged_block(&sim, 3, &sim.node(0).tip());
        let mut attack = vec![
            Wire::Final(forged.clone()).encode(),
            vec![0xff; 64],
            Vec::new(),
            vec![1, 0, 0, 0],
        ];
        attack.extend((0..5_000u64).map(|height| Wire::WantFinal(height % 8).encode()));
        attack.extend((0..5_000).map(|i| Wire::Txs(vec![vec![i as u8; 32]]).encode()));
        let answered = sim.byzantine(3, attack).await;
        let txs = traffic(&sim, &users, &[0, 1, 2], 3).await;
        sim.until_committed(&txs, Duration::from_secs(30)).await;
        let chain = sim.agreed_chain();
        assert!(
            !chain.contains(&forged.hash()),
            "a block one validator signed must never be final"
        );
        // 5,000 requests for final blocks, sent at once, are answered within each peer's
        // budget: at most SERVES_PER_SECOND blocks per second from each of the three, not
        // 15,000 (what else the peers send it, tips and gossip, is far less).
        let answered = answered.load(std::sync::atomic::Ordering::SeqCst);
        let budget = 3 * SERVES_PER_SECOND as usize;
        assert!(
            answered <= 2 * budget,
            "{answered} messages answered a flood of 5,000 requests"
        );
    });
}
