//! Benchmark a follower's checks of a block's signatures, and what checking only its own
//! contracts' commands saves.
//!
//! A block of 1,024 transactions: 1,008 commands spread evenly over 16 contracts (as the
//! traffic of 16 clusters) and 16 transfers, from 64 senders, certified by one validator. On
//! a fresh `BlockVerifier` each time (the signers' keys warm in the shared key cache):
//! - `follow_all_ms`: `accept`, every signature checked (as a follower running every
//!   contract, or before session 30 any follower);
//! - `follow_one_of_16_ms`: `accept_for` wanting one of the 16 contracts: its commands and the
//!   transfers checked;
//! - `follow_one_of_16_vs_all_ratio`: the second over the first, side by side in one run;
//! - `follow_no_commands_ms`: `accept_for` wanting none (as the gatekeeper): the transfers'
//!   signatures, and what every follower does whatever it runs (the certificate, the
//!   transactions' root; only the ids of the transactions it checks are hashed);
//! - `follow_own_block_ratio`: `accept_for` wanting every contract over `accept`, on the same
//!   block: the cost of grouping a block's batches by contract, where it saves nothing.
//!
//! And a sparse block of as many transactions from the same senders, its commands spread over
//! 512 contracts (two each), as the traffic of many quiet contracts:
//! - `follow_sparse_all_ms`: `accept`, every signature checked;
//! - `follow_sparse_vs_dense_ratio`: it over `follow_all_ms` (as many signatures), side by
//!   side: what checking many small groups costs over a few large ones;
//! - `follow_sparse_quarter_ms`: `accept_for` wanting 128 of the 512 contracts (a worker whose
//!   clusters run a quarter of them).
//!
//! Medians over rounds; `FAT_BENCH_QUICK=1` runs fewer.

use std::collections::BTreeSet;
use std::time::Instant;

use fat_bench::{median, quick, round, write_figures};
use fat_consensus::{BlockVerifier, ValidatorSet, sign_finalize};
use fat_crypto::{Keypair, dev_keypair};
use fat_types::block::{receipts_root, tx_root};
use fat_types::{
    AccountId, Block, BlockHeader, Bytes, Certificate, ContractId, Hash32, Transaction, TxKind,
};
use serde_json::{Map, Value, json};

const CHAIN: Hash32 = Hash32([0xc1; 32]);
const CONTRACTS: u32 = 16;
const SPARSE_CONTRACTS: u32 = 512;
const SENDERS: usize = 64;
const TXS: u64 = 1_024;

fn main() {
    let rounds = if quick() { 5 } else { 25 };
    let validator = dev_keypair("bench-validator");
    let validators = ValidatorSet::new(vec![validator.account_id()]).unwrap();
    let genesis = BlockHeader {
        height: 0,
        parent: Hash32([1; 32]),
        timestamp_ms: 1_000,
        tx_root: tx_root(&[]),
        receipts_root: receipts_root(&[]),
        state_root: Hash32::default(),
    };
    let block = block_of(&validator, &genesis, CONTRACTS);
    let sparse = block_of(&validator, &genesis, SPARSE_CONTRACTS);
    let fresh = || BlockVerifier::new(CHAIN, genesis.clone(), validators.clone());
    let ours = contract(0);
    let time = |accept: &dyn Fn(&mut BlockVerifier)| {
        let mut verifier = fresh();
        let start = Instant::now();
        accept(&mut verifier);
        start.elapsed().as_secs_f64() * 1e3
    };
    let all = |v: &mut BlockVerifier| {
        v.accept(&block).unwrap();
    };
    let one = |v: &mut BlockVerifier| {
        let accepted = v.accept_for(&block, |_| BTreeSet::from([ours])).unwrap();
        assert!(!accepted.checked.covers(&contract(1)));
    };
    let every = |v: &mut BlockVerifier| {
        v.accept_for(&block, BTreeSet::clone).unwrap();
    };
    let none = |v: &mut BlockVerifier| {
        v.accept_for(&block, |_| BTreeSet::new()).unwrap();
    };
    let sparse_all = |v: &mut BlockVerifier| {
        v.accept(&sparse).unwrap();
    };
    let quarter: BTreeSet<ContractId> =
        (0..SPARSE_CONTRACTS / 4).map(|i| contract(i * 4)).collect();
    let sparse_quarter = |v: &mut BlockVerifier| {
        let accepted = v.accept_for(&sparse, |_| quarter.clone()).unwrap();
        assert!(accepted.checked.covers(&contract(4)) && !accepted.checked.covers(&contract(5)));
    };
    // Warm the key cache and the pool's threads.
    time(&all);
    let (mut all_ms, mut one_ms, mut every_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut none_ms = Vec::new();
    let (mut one_ratio, mut every_ratio) = (Vec::new(), Vec::new());
    let (mut sparse_ms, mut sparse_ratio, mut quarter_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (a, o, e) = (time(&all), time(&one), time(&every));
        all_ms.push(a);
        one_ms.push(o);
        every_ms.push(e);
        none_ms.push(time(&none));
        one_ratio.push(o / a);
        every_ratio.push(e / a);
        let s = time(&sparse_all);
        sparse_ms.push(s);
        sparse_ratio.push(s / a);
        quarter_ms.push(time(&sparse_quarter));
    }
    let figures = [
        ("follow_all_ms", median(&mut all_ms), 3),
        ("follow_one_of_16_ms", median(&mut one_ms), 3),
        ("follow_every_contract_ms", median(&mut every_ms), 3),
        ("follow_no_commands_ms", median(&mut none_ms), 3),
        ("follow_one_of_16_vs_all_ratio", median(&mut one_ratio), 3),
        ("follow_own_block_ratio", median(&mut every_ratio), 3),
        ("follow_sparse_all_ms", median(&mut sparse_ms), 3),
        ("follow_sparse_vs_dense_ratio", median(&mut sparse_ratio), 3),
        ("follow_sparse_quarter_ms", median(&mut quarter_ms), 3),
    ];
    println!("{:<32} {:>10}", "figure", "median");
    let mut json = Map::new();
    for (name, value, decimals) in figures {
        println!("{name:<32} {:>10.3}", value);
        json.insert(name.to_string(), json!(round(value, decimals)));
    }
    json.insert("rounds".to_string(), Value::from(rounds));
    write_figures("follow", json);
}

/// The id of the bench's contract `n`.
fn contract(n: u32) -> ContractId {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_le_bytes());
    ContractId(id)
}

/// The bench's block on `parent`: commands to `contracts` contracts in turn, every 64th
/// transaction a transfer, from 64 senders.
fn block_of(validator: &Keypair, parent: &BlockHeader, contracts: u32) -> Block {
    let senders: Vec<Keypair> = (0..SENDERS)
        .map(|i| dev_keypair(&format!("bench-sender-{i}")))
        .collect();
    let txs: Vec<_> = (0..TXS)
        .map(|n| {
            let sender = &senders[n as usize % SENDERS];
            let kind = if n % 64 == 63 {
                TxKind::Transfer {
                    to: AccountId([9; 32]),
                    amount: 1,
                }
            } else {
                TxKind::Command {
                    contract: contract((n % u64::from(contracts)) as u32),
                    payload: Bytes(vec![n as u8; 120]),
                    gas_limit: 1_000_000,
                }
            };
            sender.sign_tx(Transaction {
                chain: CHAIN,
                signer: sender.account_id(),
                nonce: n / SENDERS as u64,
                fee: 1,
                kind,
            })
        })
        .collect();
    let header = BlockHeader {
        height: parent.height + 1,
        parent: parent.hash(),
        timestamp_ms: parent.timestamp_ms + 10,
        tx_root: tx_root(&txs),
        receipts_root: receipts_root(&[]),
        state_root: Hash32::default(),
    };
    let round = header.height;
    let certificate = Certificate::Ed25519 {
        round,
        signatures: vec![(0, sign_finalize(validator, round, &header.hash()))],
    };
    Block {
        header,
        certificate,
        txs,
    }
}
