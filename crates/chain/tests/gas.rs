//! Gas is bounded by the chain: a transaction asks for at most `max_tx_gas`, a block for at
//! most `max_block_gas`, and the fee grows with the gas asked; the mempool refuses what breaks
//! this, and so does every node verifying a proposal.

mod common;

use common::{TempDir, alice, dev_chain, open, open_with};
use fat_chain::{ChainError, InvalidProposal};
use fat_consensus::{Application, Proposal};
use fat_crypto::Keypair;
use fat_types::block::tx_root;
use fat_types::{Bytes, ContractId, Hash32, SignedTransaction, Transaction, TxKind, TxRejection};

fn command(key: &Keypair, nonce: u64, fee: u64, gas_limit: u64) -> SignedTransaction {
    command_for(dev_chain(), key, nonce, fee, gas_limit)
}

fn command_for(
    chain: Hash32,
    key: &Keypair,
    nonce: u64,
    fee: u64,
    gas_limit: u64,
) -> SignedTransaction {
    key.sign_tx(Transaction {
        chain,
        signer: key.account_id(),
        nonce,
        fee,
        kind: TxKind::Command {
            contract: ContractId([2; 32]),
            payload: Bytes(vec![1]),
            gas_limit,
        },
    })
}

#[test]
fn the_mempool_refuses_gas_above_the_cap_and_gas_not_paid_for() {
    let dir = TempDir::new("gas-admission");
    let node = open(&dir);
    let params = node.params().clone();
    assert!(params.max_tx_gas <= params.max_block_gas && params.gas_fee > 0);
    let a = alice();

    // An endless `init` or command asking for all the gas there is never reaches a block.
    for kind in [
        TxKind::Command {
            contract: ContractId([2; 32]),
            payload: Bytes(vec![1]),
            gas_limit: u64::MAX,
        },
        TxKind::Instantiate {
            code_hash: fat_types::CodeHash([3; 32]),
            cluster: fat_types::ClusterId([4; 32]),
            salt: Bytes::default(),
            args: Bytes::default(),
            gas_limit: u64::MAX,
        },
    ] {
        let tx = a.sign_tx(Transaction {
            chain: dev_chain(),
            signer: a.account_id(),
            nonce: 0,
            fee: u64::MAX / 2,
            kind,
        });
        let refused = node.submit_tx(&tx).unwrap_err();
        assert_eq!(
            refused,
            TxRejection::GasLimitTooHigh {
                gas: u64::MAX,
                max: params.max_tx_gas
            }
        );
        assert_eq!(refused.code(), "gas_limit_too_high");
        assert!(refused.to_string().contains("max_tx_gas"), "{refused}");
    }

    // The fee grows with the gas asked: the largest gas at the smallest fee is refused.
    let cheap = command(&a, 0, 1, params.max_tx_gas);
    let size = cheap.encode().len() as u64;
    let min = params.min_fee(size, params.max_tx_gas);
    assert!(min > params.min_fee(size, 0), "gas costs a fee");
    assert_eq!(
        node.submit_tx(&cheap),
        Err(TxRejection::FeeTooLow { fee: 1, min })
    );
    // Paid for, it passes the limits (and is refused only for its unknown contract).
    assert_eq!(
        node.submit_tx(&command(&a, 0, min, params.max_tx_gas)),
        Err(TxRejection::UnknownContract {
            contract: ContractId([2; 32])
        })
    );
}

#[test]
fn a_peer_refuses_a_proposal_asking_for_too_much_gas() {
    let dir = TempDir::new("gas-proposal");
    let mut genesis = fat_chain::genesis::dev();
    genesis.params.max_tx_gas = 1_000_000;
    genesis.params.max_block_gas = 1_500_000;
    let node = open_with(&dir, genesis, 1000);
    let chain = node.genesis_hash();
    let a = alice();
    let proposal = |txs: Vec<SignedTransaction>| {
        let tip = node.tip();
        let mut header = tip.clone();
        header.height = tip.height + 1;
        header.parent = tip.hash();
        header.tx_root = tx_root(&txs);
        Proposal { header, txs }
    };
    let reason = |proposal: &Proposal| match node.verify(proposal) {
        Err(ChainError::Proposal { reason, .. }) => reason,
        other => panic!("expected an invalid proposal, got {other:?}"),
    };

    // One transaction over the cap, as a proposer that skipped the mempool would build it.
    let greedy = command_for(chain, &a, 0, u64::MAX / 2, u64::MAX);
    assert!(matches!(
        reason(&proposal(vec![greedy])),
        InvalidProposal::Tx {
            index: 0,
            rejection: TxRejection::GasLimitTooHigh {
                gas: u64::MAX,
                max: 1_000_000
            },
            ..
        }
    ));
    // Each within the cap, too much together.
    let txs = vec![
        command_for(chain, &a, 0, 1_000, 1_000_000),
        command_for(chain, &a, 1, 1_000, 1_000_000),
    ];
    assert_eq!(
        reason(&proposal(txs)),
        InvalidProposal::TooMuchGas {
            gas: 2_000_000,
            max: 1_500_000
        }
    );
}
