//! The per-command work of a block that does not depend on the order of execution, done on
//! every core: opening command envelopes before the block runs, sealing outputs after.
//!
//! Opening a command's envelope (an x25519 key agreement, then the AEAD) depends only on the
//! envelope, the block's time and the contract's ECDH key (and a sender's later commands
//! reuse the key agreement of its first, see `fat_crypto::envelope::Agreements`); sealing a
//! receipt's output (an AEAD) only on the output, the command's session and the worker. Neither
//! depends on what earlier transactions of the block did, so both may run in parallel (with
//! [`rayon`]) and their results are taken in block order: the changes a block leaves are the
//! same, byte for byte, as when each is done in turn. They run in parallel only when the work
//! is heavy enough to pay for it (key agreements to make, large outputs): see
//! [`PARALLEL_AGREEMENTS`] and [`PARALLEL_BYTES`].

use std::collections::{BTreeMap, HashSet};

use fat_crypto::envelope::{Direction, EcdhPublic, Envelope, Session};
use fat_crypto::{ContractKeys, EnvelopeError};
use fat_types::{AccountId, ChainReceipt, ExecutionReceipt, Outcome, SignedTransaction, TxKind};
use rayon::prelude::*;

use crate::inputs::{Keys, StateView};
use crate::open;

/// Envelopes open on every core when a block's commands hold at least this many sessions
/// whose key agreement (an x25519, tens of microseconds) is still to make, or carry at least
/// [`PARALLEL_BYTES`] of envelopes; otherwise in turn, on the thread applying the block.
/// Opening under a session already agreed costs about a microsecond, and the pool's threads
/// may be busy checking the signatures of the blocks that follow, which the thread applying
/// this block would wait for. In session 29's
/// `commands` profile of the worker bench (blocks of 100 commands under one session),
/// opening the envelopes and sealing the outputs took 0.74 ms a block on average on the
/// pool, and 0.19 ms in turn.
const PARALLEL_AGREEMENTS: usize = 4;

/// Envelopes are opened, and outputs sealed, on every core when a block's add up to at least
/// this many bytes (about a tenth of a millisecond of AEAD); otherwise in turn (for outputs,
/// whatever their sessions), for the same reason.
const PARALLEL_BYTES: usize = 256 * 1024;

/// A command's envelope to open: its transaction's index, the transaction, its contract, the
/// envelope as parsed, and the contract's keys.
type Job<'a> = (
    u32,
    &'a SignedTransaction,
    fat_types::ContractId,
    Result<Envelope, EnvelopeError>,
    ContractKeys,
);

/// What opening a command's envelope gives: its plaintext and session, or why it was refused.
pub(crate) type OpenResult = Result<(Vec<u8>, Session), EnvelopeError>;

/// A command envelope opened ahead of the run: the ECDH key it was opened with and what that
/// gave.
struct Opened {
    with: EcdhPublic,
    result: OpenResult,
}

/// The command envelopes of a block, opened ahead of the run with the contract keys held
/// when the block begins, by transaction index.
#[derive(Default)]
pub(crate) struct Prepared {
    opened: BTreeMap<u32, Opened>,
}

impl Prepared {
    /// Open, in parallel, the envelopes of the block's commands (of transactions the chain
    /// did not fail) to contracts this worker runs as of `state` with the keys it holds.
    /// Fewer than two such commands are left to the run.
    pub(crate) fn open<S: StateView>(
        state: &S,
        keys: Keys<'_>,
        height: u64,
        block_ms: u64,
        txs: &[SignedTransaction],
        receipts: &[ChainReceipt],
    ) -> Self {
        let mut contract_keys = BTreeMap::new();
        let mut jobs = Vec::new();
        let mut bytes = 0;
        for (index, (signed, receipt)) in txs.iter().zip(receipts).enumerate() {
            if matches!(receipt.outcome, Outcome::Failed(_)) {
                continue;
            }
            let TxKind::Command {
                contract, payload, ..
            } = &signed.tx.kind
            else {
                continue;
            };
            let held = contract_keys
                .entry(*contract)
                .or_insert_with(|| held_keys(state, keys, contract, height));
            if let Some(held) = held {
                bytes += payload.0.len();
                let envelope = Envelope::from_bytes(&payload.0);
                jobs.push((index as u32, signed, *contract, envelope, held.clone()));
            }
        }
        if jobs.len() < 2 {
            return Self::default();
        }
        let open = |(index, signed, contract, envelope, held): Job<'_>| {
            let result = envelope.and_then(|envelope| {
                open::tx_envelope(
                    &envelope,
                    held.ecdh(),
                    keys.agreements,
                    &contract,
                    Direction::Command,
                    &signed.tx.signer,
                    block_ms,
                )
            });
            let with = held.ecdh().public();
            (index, Opened { with, result })
        };
        // The sessions whose key agreement is still to make (an x25519 each).
        let agreements: HashSet<_> = jobs
            .iter()
            .filter_map(|(_, _, contract, envelope, held)| {
                let ephemeral = envelope.as_ref().ok()?.header.ephemeral;
                let recipient = held.ecdh().public();
                (!keys.agreements.holds(&recipient, &ephemeral, contract))
                    .then_some((recipient, ephemeral, *contract))
            })
            .collect();
        let opened = if agreements.len() >= PARALLEL_AGREEMENTS || bytes >= PARALLEL_BYTES {
            jobs.into_par_iter().map(open).collect()
        } else {
            jobs.into_iter().map(open).collect()
        };
        Self { opened }
    }

    /// The envelope of the transaction at `index`, if it was opened ahead with the ECDH key
    /// of `keys` (the one the run opens it with).
    pub(crate) fn take(&mut self, index: u32, keys: &ContractKeys) -> Option<OpenResult> {
        let opened = self.opened.remove(&index);
        let opened = opened?;
        (opened.with == keys.ecdh().public()).then_some(opened.result)
    }
}

/// The keys of `contract` if, as of `state`, this worker runs it in a cluster whose key it
/// holds (the run decides again, in order; this only saves it work).
fn held_keys<S: StateView>(
    state: &S,
    keys: Keys<'_>,
    contract: &fat_types::ContractId,
    height: u64,
) -> Option<ContractKeys> {
    let record = state.contract(contract);
    let record = record.ok()??;
    if record.synced_through >= height || !state.is_member(&record.info.cluster).ok()? {
        return None;
    }
    keys.clusters
        .contract_keys(&record.info.cluster, record.info.key_epoch, contract)
}

/// A receipt's output to seal to the session of its command.
pub(crate) struct ToSeal {
    /// The receipt's index in the block's receipts.
    pub(crate) receipt: usize,
    /// Who sent the command (or the init args): the session's requester.
    pub(crate) requester: AccountId,
    pub(crate) session: Session,
}

/// Seal, in parallel, the outputs of the receipts of `pending` to their sessions, as
/// `worker`, at the block's time: each receipt then carries its sealed output, and an empty
/// output in the clear.
pub(crate) fn seal_outputs(
    receipts: &mut [ExecutionReceipt],
    pending: Vec<ToSeal>,
    worker: &AccountId,
    block_ms: u64,
) {
    let mut sessions: Vec<Option<(AccountId, Session)>> = vec![None; receipts.len()];
    for one in pending {
        sessions[one.receipt] = Some((one.requester, one.session));
    }
    let seal = |(receipt, session): (&mut ExecutionReceipt, Option<(AccountId, Session)>)| {
        if let Some((requester, session)) = session {
            seal_output(receipt, requester, &session, worker, block_ms);
        }
    };
    let bytes: usize = receipts.iter().map(|r| r.output.len()).sum();
    if receipts.len() < 2 || bytes < PARALLEL_BYTES {
        receipts.iter_mut().zip(sessions).for_each(seal);
    } else {
        receipts.par_iter_mut().zip(sessions).for_each(seal);
    }
}

/// Seal a receipt's output as a message of its command's session in the `response`
/// direction. It carries no signature of its own: the worker signs the whole receipt, sealed
/// output included, and only the requester and the cluster's members hold the session's keys.
fn seal_output(
    receipt: &mut ExecutionReceipt,
    requester: AccountId,
    session: &Session,
    worker: &AccountId,
    block_ms: u64,
) {
    // The nonce derives from the transaction, the worker and the output itself: a re-run
    // that seals the same output seals the same bytes (a restarted worker agrees with
    // itself), and one that seals another output (another code, a bug, a diverging state)
    // never reuses a nonce under the session's key. Commands of one session are distinct
    // transactions, so their outputs never share a nonce either.
    let mut material = receipt.tx.as_bytes().to_vec();
    material.extend_from_slice(worker.as_bytes());
    material.extend_from_slice(blake3::hash(receipt.output.as_bytes()).as_bytes());
    let digest = blake3::derive_key("fat/worker/receipt-nonce/v4", &material);
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&digest[..24]);
    let sealed = session.seal_message_with_nonce(
        requester,
        Direction::Response,
        receipt.output.as_bytes(),
        block_ms,
        nonce,
    );
    receipt.output = String::new();
    receipt.sealed_output = Some(fat_types::Bytes(sealed.to_bytes()));
}
