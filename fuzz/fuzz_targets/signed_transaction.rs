//! `POST /v1/txs` and peers' gossip: a signed transaction's canonical encoding.
#![no_main]

use fat_types::SignedTransaction;
use fat_types::encoding::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = decode::<SignedTransaction>("signed transaction", data) {
        // Canonical: what decodes is exactly its own encoding.
        assert_eq!(tx.encode(), data);
        let _ = fat_crypto::verify_tx(&tx);
    }
});
