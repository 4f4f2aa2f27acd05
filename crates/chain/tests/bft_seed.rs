//! The same seed gives the same blocks: four validators on commonware's simplex engine in its
//! deterministic runtime, run twice on links of fixed latency. (With jitter, the engine's
//! internals draw from the seeded random source in an order that varies from process to
//! process, so the delivery order of concurrent messages, and with it the blocks, can differ;
//! the fault tests in `bft.rs` run with jitter and check safety and liveness, not equality.)

mod sim;

use std::time::Duration;

use commonware_runtime::Runner as _;

use fat_types::Hash32;
use sim::{Sim, VALIDATORS, runner, traffic, users};

fn healthy_network(seed: u64) -> Vec<Hash32> {
    runner(seed).start(|context| async move {
        let users = users();
        let mut sim = Sim::new(context, &format!("healthy-{seed}"), &users).await;
        for i in 0..VALIDATORS {
            sim.start(i).await;
        }
        sim.link_all_with(1.0, Duration::ZERO).await;
        let txs = traffic(&sim, &users, &[0, 1, 2, 3], 5).await;
        sim.until_committed(&txs, Duration::from_secs(10)).await;
        sim.agreed_chain()
    })
}

#[test]
fn four_validators_agree_and_the_same_seed_gives_the_same_blocks() {
    let first = healthy_network(7);
    assert!(first.len() >= 5, "too few blocks: {}", first.len());
    assert_eq!(
        first,
        healthy_network(7),
        "the same seed must give the same blocks"
    );
}
