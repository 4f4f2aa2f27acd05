//! Same blocks, same state: commands are deterministic by construction.

mod common;

use common::{Harness, ok};
use fat_runtime::Entry;
use fat_test_programs::PROBE;

/// A command sequence touching storage, randomness, clocks, floats and crypto.
async fn replay(h: &Harness) -> (fat_types::Hash32, Vec<String>) {
    let mut outputs = Vec::new();
    for (i, (method, args)) in [
        ("set", "a=1"),
        ("random", ""),
        ("clock", ""),
        ("floats", "9221120237041090561"),
        ("sign", "m"),
        ("fill", "20"),
        ("remove", "fill/3"),
        ("set-then-fail", "b=2"),
        ("emit", "2"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut call = h.call(Entry::command(method, args));
        call.tx_index = i as u32;
        let outcome = h.run(call).await;
        if let Ok(text) = outcome.output_str() {
            // Store the outputs in state so that the root covers them too.
            let mut record = h.call(Entry::command("set", format!("out/{i}={text}")));
            record.tx_index = i as u32;
            ok(&h.run(record).await);
        }
        outputs.push(format!("{:?} gas={}", outcome.result, outcome.gas_used));
    }
    (h.store.state_root(&h.contract), outputs)
}

#[tokio::test]
async fn two_runs_of_the_same_commands_give_the_same_state_root() {
    let first = Harness::new(PROBE);
    let second = Harness::new(PROBE);
    let (root_a, outputs_a) = replay(&first).await;
    let (root_b, outputs_b) = replay(&second).await;
    assert_eq!(outputs_a, outputs_b);
    assert_eq!(root_a, root_b);
    // And a different block gives a different root (randomness and time depend on it).
    let mut third = Harness::new(PROBE);
    third.block.hash = fat_types::Hash32([0x01; 32]);
    let (root_c, _) = replay(&third).await;
    assert_ne!(root_a, root_c);
}

#[tokio::test]
async fn nans_are_canonical_in_commands() {
    let h = Harness::new(PROBE);
    // A signalling NaN payload in, computed NaNs out: the command engine canonicalises.
    let text = ok(&h.command("floats", "9221120237041090561").await);
    let parts: Vec<&str> = text.split(' ').collect();
    assert_eq!(parts[0], "7ff8000000000000", "canonical f64 NaN");
    assert_eq!(parts[1], "7fc00000", "canonical f32 NaN");
    // Ordinary arithmetic is unaffected and equal in both modes.
    let query = ok(&h.query("floats", "9221120237041090561").await);
    assert_eq!(parts[2], query.split(' ').nth(2).unwrap());
}
