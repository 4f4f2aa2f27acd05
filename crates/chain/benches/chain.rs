//! Benchmark the chain: admitting signed transactions, and committing them to disk in blocks.
//!
//! `ingest_tx_per_s`: signed transfers checked (decode, signature, nonce, balance) and admitted
//! into the mempool by one thread. `commit_tx_per_s`: the same transactions executed, written
//! and fsynced in blocks of up to `max_block_txs`. `block_commit_p50_ms`: the median time to
//! build and durably commit one full block. Figures are medians over rounds, each on a fresh
//! data directory in the target directory (on disk, not tmpfs). `FAT_BENCH_QUICK=1` runs less.

use std::sync::Arc;
use std::time::Instant;

use fat_bench::{median, quick, round, target_dir, write_figures};
use fat_chain::genesis::{self, DEV_SEQUENCER};
use fat_chain::{Node, NodeConfig, SystemClock};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::{AccountId, Transaction, TxKind};

fn main() {
    let (accounts, per_account, rounds) = if quick() {
        (500, 40, 3)
    } else {
        (1000, 100, 5)
    };
    let keys: Vec<Keypair> = (0..accounts)
        .map(|i| dev_keypair(&format!("bench-{i}")))
        .collect();
    let mut genesis = genesis::dev();
    genesis
        .accounts
        .extend(keys.iter().map(|k| (k.account_id(), 1_000_000_000)));
    let chain = genesis::chain_id(&genesis);
    let mut txs = Vec::with_capacity(accounts * per_account);
    for nonce in 0..per_account as u64 {
        for key in &keys {
            let kind = TxKind::Transfer {
                to: AccountId([7; 32]),
                amount: 1,
            };
            let tx = fat_types::ChainParams::default().priced(Transaction {
                chain,
                signer: key.account_id(),
                nonce,
                fee: 0,
                kind,
            });
            txs.push(key.sign_tx(tx).encode());
        }
    }
    let n = txs.len() as f64;
    let bench_dir = target_dir().join("bench");
    let (mut ingest, mut commit, mut blocks) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let dir = bench_dir.join(format!("chain-data-{round}"));
        let _ = std::fs::remove_dir_all(&dir);
        let config = NodeConfig {
            data_dir: dir.clone(),
            genesis: genesis.clone(),
            mempool_limit: txs.len(),
        };
        let node = Node::open(
            config,
            Some(dev_keypair(DEV_SEQUENCER)),
            Arc::new(SystemClock),
        )
        .unwrap();

        let start = Instant::now();
        for tx in &txs {
            node.submit(tx).unwrap();
        }
        ingest.push(n / start.elapsed().as_secs_f64());

        let start = Instant::now();
        loop {
            let block_start = Instant::now();
            if node.produce_block().unwrap().is_none() {
                break;
            }
            blocks.push(block_start.elapsed().as_secs_f64() * 1000.0);
        }
        commit.push(n / start.elapsed().as_secs_f64());
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let figures = [
        ("ingest_tx_per_s", median(&mut ingest)),
        ("commit_tx_per_s", median(&mut commit)),
        ("block_commit_p50_ms", median(&mut blocks)),
    ];
    println!(
        "chain: {} transfers per round, {rounds} rounds, blocks of up to {}",
        txs.len(),
        genesis.params.max_block_txs
    );
    println!("{:<24} {:>14}", "figure", "median");
    for (name, value) in figures {
        println!("{name:<24} {value:>14.1}");
    }
    let json: serde_json::Map<String, serde_json::Value> = figures
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(round(*v, 1))))
        .collect();
    write_figures("chain", json);
}
