//! Proptest strategies for the values that travel between parties: transactions, blocks,
//! certificates, receipts. Property tests of the decoders (in this crate and the ones built
//! on it) draw from them. Sizes stay small so that a few hundred cases run in milliseconds.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::execution::{ExecEvent, ExecStatus};
use crate::{
    AccountId, Attestation, Block, BlockHeader, Bytes, Certificate, ChainReceipt, ClusterId,
    CodeHash, CommandPayload, ContractId, Deployers, ExecutionReceipt, Hash32, Outcome, Signature,
    SignedExecutionReceipt, SignedTransaction, Transaction, TxId, TxKind, TxRejection, WorkerId,
};

/// 32 arbitrary bytes.
pub fn bytes32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

/// Any hash.
pub fn hash() -> impl Strategy<Value = Hash32> {
    bytes32().prop_map(Hash32)
}

/// Opaque bytes, at most 64 of them.
pub fn bytes() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..64).prop_map(Bytes)
}

/// Any 64 bytes as a signature (not a valid one).
pub fn signature() -> impl Strategy<Value = Signature> {
    vec(any::<u8>(), 64).prop_map(|b| Signature(b.try_into().expect("64 bytes")))
}

/// A short string of any characters.
pub fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..12).prop_map(|c| c.into_iter().collect())
}

/// Any attestation (provider names and reports are opaque here).
pub fn attestation() -> impl Strategy<Value = Attestation> {
    (text(), bytes()).prop_map(|(provider, report)| Attestation { provider, report })
}

/// Every kind of transaction.
pub fn tx_kind() -> impl Strategy<Value = TxKind> {
    prop_oneof![
        (bytes32(), any::<u64>()).prop_map(|(to, amount)| TxKind::Transfer {
            to: AccountId(to),
            amount
        }),
        bytes().prop_map(|code| TxKind::UploadCode { code }),
        (bytes32(), bytes32(), bytes(), bytes(), any::<u64>()).prop_map(
            |(code, cluster, salt, args, gas_limit)| TxKind::Instantiate {
                code_hash: CodeHash(code),
                cluster: ClusterId(cluster),
                salt,
                args,
                gas_limit,
            }
        ),
        (bytes32(), bytes(), any::<u64>()).prop_map(|(contract, payload, gas_limit)| {
            TxKind::Command {
                contract: ContractId(contract),
                payload,
                gas_limit,
            }
        }),
        vec(bytes32().prop_map(WorkerId), 0..4)
            .prop_map(|workers| TxKind::CreateCluster { workers }),
        (bytes32(), bytes32()).prop_map(|(c, w)| TxKind::AddClusterWorker {
            cluster: ClusterId(c),
            worker: WorkerId(w),
        }),
        (bytes32(), hash(), attestation()).prop_map(|(worker, ecdh_public, attestation)| {
            TxKind::RegisterWorker {
                worker: WorkerId(worker),
                ecdh_public,
                attestation,
            }
        }),
        (
            bytes32(),
            any::<u32>(),
            hash(),
            vec((bytes32().prop_map(WorkerId), bytes()), 0..3)
        )
            .prop_map(|(c, epoch, cluster_public, keys)| TxKind::ProvisionKey {
                cluster: ClusterId(c),
                epoch,
                cluster_public,
                keys,
            }),
        (bytes32(), hash()).prop_map(|(c, public_key)| TxKind::PublishContractKey {
            contract: ContractId(c),
            public_key,
        }),
        (bytes32(), bytes32()).prop_map(|(c, w)| TxKind::RemoveClusterWorker {
            cluster: ClusterId(c),
            worker: WorkerId(w),
        }),
        (bytes32(), text()).prop_map(|(w, endpoint)| TxKind::SetWorkerEndpoint {
            worker: WorkerId(w),
            endpoint,
        }),
        vec((bytes32(), hash()), 0..4).prop_map(|keys| TxKind::PublishContractKeys {
            keys: keys.into_iter().map(|(c, k)| (ContractId(c), k)).collect(),
        }),
        (bytes32(), deployers()).prop_map(|(c, deployers)| TxKind::SetClusterDeployers {
            cluster: ClusterId(c),
            deployers,
        }),
        (bytes32(), attestation()).prop_map(|(w, attestation)| TxKind::Reattest {
            worker: WorkerId(w),
            attestation,
        }),
    ]
}

/// Who may deploy into a cluster.
pub fn deployers() -> impl Strategy<Value = Deployers> {
    prop_oneof![
        Just(Deployers::Anyone),
        Just(Deployers::Owner),
        vec(bytes32(), 0..4)
            .prop_map(|list| Deployers::Accounts(list.into_iter().map(AccountId).collect())),
    ]
}

/// Any transaction, unsigned.
pub fn transaction() -> impl Strategy<Value = Transaction> {
    (hash(), bytes32(), any::<u64>(), any::<u64>(), tx_kind()).prop_map(
        |(chain, signer, nonce, fee, kind)| Transaction {
            chain,
            signer: AccountId(signer),
            nonce,
            fee,
            kind,
        },
    )
}

/// Any signed transaction (the signature is not checked by decoding, so it is arbitrary).
pub fn signed_transaction() -> impl Strategy<Value = SignedTransaction> {
    (transaction(), signature()).prop_map(|(tx, signature)| SignedTransaction { tx, signature })
}

/// Any block header.
pub fn header() -> impl Strategy<Value = BlockHeader> {
    (any::<u64>(), hash(), any::<u64>(), hash(), hash(), hash()).prop_map(
        |(height, parent, timestamp_ms, tx_root, receipts_root, state_root)| BlockHeader {
            height,
            parent,
            timestamp_ms,
            tx_root,
            receipts_root,
            state_root,
        },
    )
}

/// Signatures as certificates carry them: (signer index, signature).
pub fn signatures() -> impl Strategy<Value = Vec<(u32, Signature)>> {
    vec((any::<u32>(), signature()), 0..4)
}

/// Every kind of certificate.
pub fn certificate() -> impl Strategy<Value = Certificate> {
    prop_oneof![
        Just(Certificate::Genesis),
        (any::<u64>(), signatures())
            .prop_map(|(round, signatures)| Certificate::Ed25519 { round, signatures }),
        (
            any::<u64>(),
            any::<u64>(),
            signatures(),
            vec(header(), 0..3)
        )
            .prop_map(|(view, parent_view, signatures, descendants)| {
                Certificate::Simplex {
                    view,
                    parent_view,
                    signatures,
                    descendants,
                }
            }),
    ]
}

/// Any block: a header, a certificate and up to three transactions.
pub fn block() -> impl Strategy<Value = Block> {
    (header(), certificate(), vec(signed_transaction(), 0..3)).prop_map(
        |(header, certificate, txs)| Block {
            header,
            certificate,
            txs,
        },
    )
}

/// A sample of the reasons a transaction is refused (unit, string and number fields).
pub fn rejection() -> impl Strategy<Value = TxRejection> {
    prop_oneof![
        text().prop_map(|reason| TxRejection::Malformed { reason }),
        (any::<u64>(), any::<u64>()).prop_map(|(size, max)| TxRejection::TooLarge { size, max }),
        Just(TxRejection::BadSignature),
        Just(TxRejection::AlreadyKnown),
        Just(TxRejection::NotGatekeeper),
        (hash(), hash()).prop_map(|(expected, got)| TxRejection::WrongChain { expected, got }),
        bytes32().prop_map(|c| TxRejection::NotDeployer {
            cluster: ClusterId(c)
        }),
        Just(TxRejection::NotClusterAdmin),
        (bytes32(), text(), any::<u32>()).prop_map(|(c, what, current)| {
            TxRejection::StaleKeyEpoch {
                cluster: ClusterId(c),
                what,
                current,
            }
        }),
        bytes32().prop_map(|c| TxRejection::KeyEpochsExhausted {
            cluster: ClusterId(c)
        }),
    ]
}

/// Every outcome of a committed transaction.
pub fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Ok),
        bytes32().prop_map(|b| Outcome::CodeStored(CodeHash(b))),
        bytes32().prop_map(|b| Outcome::ContractCreated(ContractId(b))),
        bytes32().prop_map(|b| Outcome::ClusterCreated(ClusterId(b))),
        rejection().prop_map(Outcome::Failed),
    ]
}

/// Any chain receipt.
pub fn chain_receipt() -> impl Strategy<Value = ChainReceipt> {
    (bytes32(), any::<u64>(), outcome()).prop_map(|(tx, fee, outcome)| ChainReceipt {
        tx: TxId(tx),
        fee,
        outcome,
    })
}

/// Any command payload.
pub fn command_payload() -> impl Strategy<Value = CommandPayload> {
    (text(), text(), any::<u64>())
        .prop_map(|(method, args, nonce)| CommandPayload::new(method, args, nonce))
}

/// Any execution receipt, signed by an arbitrary signature.
pub fn signed_execution_receipt() -> impl Strategy<Value = SignedExecutionReceipt> {
    let status = prop_oneof![
        Just(ExecStatus::Ok),
        text().prop_map(|error| ExecStatus::Failed { error }),
    ];
    let events = vec(
        (text(), bytes()).prop_map(|(topic, data)| ExecEvent { topic, data }),
        0..3,
    );
    (
        (bytes32(), bytes32(), any::<u64>(), any::<u32>(), status),
        (text(), proptest::option::of(bytes()), events, any::<u64>()),
        (hash(), bytes32(), signature()),
    )
        .prop_map(
            |(
                (tx, contract, height, index, status),
                (output, sealed_output, events, gas_used),
                (state_root, worker, signature),
            )| SignedExecutionReceipt {
                receipt: ExecutionReceipt {
                    tx: TxId(tx),
                    contract: ContractId(contract),
                    height,
                    index,
                    status,
                    output,
                    sealed_output,
                    events,
                    gas_used,
                    state_root,
                },
                worker: WorkerId(worker),
                signature,
            },
        )
}

/// A canonical decoder under test: what its errors name, how it decodes and how it encodes.
///
/// Its three properties hold for every borsh encoding of the platform, whatever wraps it:
/// [`Codec::arbitrary`] for bytes from anyone, [`Codec::round_trip`] for a valid value and
/// [`Codec::tampered`] for a valid encoding damaged on the way.
pub struct Codec<T, E> {
    /// A word every error message of the decoder contains.
    pub what: &'static str,
    /// The decoder.
    pub decode: fn(&[u8]) -> Result<T, E>,
    /// The encoder it inverts.
    pub encode: fn(&T) -> Vec<u8>,
}

impl<T: PartialEq + std::fmt::Debug, E: std::fmt::Display> Codec<T, E> {
    /// Arbitrary bytes decode without panicking; either to a value whose encoding is exactly
    /// those bytes (the encoding is canonical: no two byte strings mean one value), or to an
    /// error that says what was being decoded.
    pub fn arbitrary(&self, bytes: &[u8]) -> Result<(), TestCaseError> {
        match (self.decode)(bytes) {
            Ok(value) => prop_assert_eq!(
                (self.encode)(&value),
                bytes,
                "decoded {:?} from bytes that are not its encoding",
                value
            ),
            Err(error) => {
                let message = error.to_string();
                prop_assert!(
                    message.contains(self.what),
                    "the error {:?} does not name the {}",
                    message,
                    self.what
                );
            }
        }
        Ok(())
    }

    /// A value's encoding decodes to the value.
    pub fn round_trip(&self, value: &T) -> Result<(), TestCaseError> {
        let bytes = (self.encode)(value);
        match (self.decode)(&bytes) {
            Ok(back) => prop_assert_eq!(&back, value),
            Err(error) => prop_assert!(false, "{:?} does not decode back: {}", value, error),
        }
        Ok(())
    }

    /// A value's encoding cut short or with a byte added is refused; with one byte changed it
    /// is refused or decodes to another value (canonically, so never back to `value`).
    pub fn tampered(
        &self,
        value: &T,
        at: prop::sample::Index,
        flip: u8,
        extra: u8,
    ) -> Result<(), TestCaseError> {
        let bytes = (self.encode)(value);
        prop_assert!(!bytes.is_empty(), "an empty encoding");
        let cut = at.index(bytes.len());
        prop_assert!(
            (self.decode)(&bytes[..cut]).is_err(),
            "{} of {} bytes decoded",
            cut,
            bytes.len()
        );
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert!(
            (self.decode)(&longer).is_err(),
            "a trailing byte was accepted"
        );
        let mut flipped = bytes;
        flipped[cut] ^= flip.max(1);
        if let Ok(other) = (self.decode)(&flipped) {
            prop_assert_ne!(&other, value, "a changed byte {} went unnoticed", cut);
            self.arbitrary(&flipped)?;
        }
        Ok(())
    }
}
