//! Property tests of the canonical decoders of what parties send each other: signed
//! transactions (`POST /v1/txs`, peers' gossip), blocks and their certificates (peers,
//! followers), chain and execution receipts, command payloads (workers, from a block).
//!
//! For each: arbitrary bytes never panic and either decode canonically or name what failed;
//! a valid value round-trips; a valid encoding cut, extended or with a byte changed is
//! refused or decodes to another value.

use fat_types::encoding::{decode, encode};
use fat_types::strategies::{self, Codec};
use fat_types::{
    Block, BlockHeader, Certificate, ChainReceipt, CommandPayload, DecodeError,
    SignedExecutionReceipt, SignedTransaction,
};
use proptest::collection::vec;
use proptest::prelude::*;

const SIGNED_TX: Codec<SignedTransaction, DecodeError> = Codec {
    what: "signed transaction",
    decode: |b| decode("signed transaction", b),
    encode: |v| v.encode(),
};

const BLOCK: Codec<Block, DecodeError> = Codec {
    what: "block",
    decode: |b| decode("block", b),
    encode,
};

const HEADER: Codec<BlockHeader, DecodeError> = Codec {
    what: "block header",
    decode: |b| decode("block header", b),
    encode,
};

const CERTIFICATE: Codec<Certificate, DecodeError> = Codec {
    what: "certificate",
    decode: |b| decode("certificate", b),
    encode,
};

const RECEIPTS: Codec<Vec<ChainReceipt>, DecodeError> = Codec {
    what: "receipts",
    decode: |b| decode("receipts", b),
    encode,
};

const EXEC_RECEIPT: Codec<SignedExecutionReceipt, DecodeError> = Codec {
    what: "execution receipt",
    decode: |b| decode("execution receipt", b),
    encode,
};

const PAYLOAD: Codec<CommandPayload, DecodeError> = Codec {
    what: "command payload",
    decode: CommandPayload::decode,
    encode: CommandPayload::encode,
};

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn signed_transactions(
        bytes in any_bytes(),
        tx in strategies::signed_transaction(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        SIGNED_TX.arbitrary(&bytes)?;
        SIGNED_TX.round_trip(&tx)?;
        SIGNED_TX.tampered(&tx, at, flip, extra)?;
    }

    #[test]
    fn blocks(
        bytes in any_bytes(),
        block in strategies::block(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        BLOCK.arbitrary(&bytes)?;
        BLOCK.round_trip(&block)?;
        BLOCK.tampered(&block, at, flip, extra)?;
    }

    #[test]
    fn headers(
        bytes in any_bytes(),
        header in strategies::header(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        HEADER.arbitrary(&bytes)?;
        HEADER.round_trip(&header)?;
        HEADER.tampered(&header, at, flip, extra)?;
    }

    #[test]
    fn certificates(
        bytes in any_bytes(),
        certificate in strategies::certificate(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        CERTIFICATE.arbitrary(&bytes)?;
        CERTIFICATE.round_trip(&certificate)?;
        CERTIFICATE.tampered(&certificate, at, flip, extra)?;
    }

    #[test]
    fn chain_receipts(
        bytes in any_bytes(),
        receipts in vec(strategies::chain_receipt(), 0..4),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        RECEIPTS.arbitrary(&bytes)?;
        RECEIPTS.round_trip(&receipts)?;
        RECEIPTS.tampered(&receipts, at, flip, extra)?;
    }

    #[test]
    fn execution_receipts(
        bytes in any_bytes(),
        receipt in strategies::signed_execution_receipt(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        EXEC_RECEIPT.arbitrary(&bytes)?;
        EXEC_RECEIPT.round_trip(&receipt)?;
        EXEC_RECEIPT.tampered(&receipt, at, flip, extra)?;
    }

    #[test]
    fn command_payloads(
        bytes in any_bytes(),
        payload in strategies::command_payload(),
        at in any::<prop::sample::Index>(),
        flip in any::<u8>(),
        extra in any::<u8>(),
    ) {
        PAYLOAD.arbitrary(&bytes)?;
        PAYLOAD.round_trip(&payload)?;
        PAYLOAD.tampered(&payload, at, flip, extra)?;
    }

    /// The JSON forms (what the chain's API and its block stream carry) round-trip too, and
    /// arbitrary text never panics their parsers.
    #[test]
    fn json_forms(
        text in ".{0,64}",
        tx in strategies::signed_transaction(),
        block in strategies::block(),
        receipt in strategies::chain_receipt(),
    ) {
        let _ = serde_json::from_str::<SignedTransaction>(&text);
        let _ = serde_json::from_str::<Block>(&text);
        let json = serde_json::to_string(&tx).unwrap();
        prop_assert_eq!(serde_json::from_str::<SignedTransaction>(&json).unwrap(), tx);
        let json = serde_json::to_string(&block).unwrap();
        prop_assert_eq!(serde_json::from_str::<Block>(&json).unwrap(), block);
        let json = serde_json::to_string(&receipt).unwrap();
        prop_assert_eq!(serde_json::from_str::<ChainReceipt>(&json).unwrap(), receipt);
    }
}
