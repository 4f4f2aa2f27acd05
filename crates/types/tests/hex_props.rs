//! The hex that JSON carries bytes, ids and signatures in (`fat_types::encoding::from_hex`,
//! `to_hex`) accepts and refuses exactly what the `hex` crate did before it (with one
//! optional `0x`), and writes the same text: the switch to a faster decoder changed no answer.

use fat_types::encoding::{from_hex, to_hex};
use fat_types::{ContractId, Hash32};
use proptest::prelude::*;

/// What the JSON forms accepted before: one optional `0x`, then `hex::decode`.
fn before(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
}

/// Texts near hex: digits of both cases, prefixes, and characters that are not digits.
fn near_hex() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()).prop_map(char::from),
        1 => proptest::sample::select(b"xXgG -\n\0".to_vec()).prop_map(char::from),
        1 => any::<char>(),
    ];
    let body = proptest::collection::vec(piece, 0..80).prop_map(String::from_iter);
    let prefix = proptest::sample::select(vec!["", "", "0x", "0X", "0x0x", "0x0X", "x"]);
    (prefix, body).prop_map(|(p, b)| format!("{p}{b}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn decoding_accepts_and_refuses_what_it_did(text in near_hex()) {
        match (from_hex(&text), before(&text)) {
            (Ok(now), Ok(then)) => prop_assert_eq!(now, then),
            (Err(now), Err(then)) => {
                // The same fault at the same place (the messages' wording differs).
                prop_assert_eq!(format!("{now:?}"), format!("{then:?}"), "{:?}", text);
            }
            (now, then) => prop_assert!(false, "{text:?}: now {now:?}, before {then:?}"),
        }
    }

    #[test]
    fn encoding_writes_what_it_did(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(to_hex(&bytes), hex::encode(&bytes));
        let text = to_hex(&bytes);
        prop_assert_eq!(from_hex(&text).unwrap(), bytes);
        prop_assert_eq!(from_hex(&text.to_uppercase()).unwrap(), from_hex(&text).unwrap());
    }

    #[test]
    fn ids_print_and_parse_as_they_did(raw in any::<[u8; 32]>()) {
        let id = ContractId(raw);
        prop_assert_eq!(id.to_string(), hex::encode(raw));
        prop_assert_eq!(id.to_string().parse::<ContractId>().unwrap(), id);
        prop_assert_eq!(format!("0x{id}").parse::<Hash32>().unwrap(), Hash32(raw));
        let (upper_prefix, two_prefixes) = (format!("0X{id}"), format!("0x0x{id}"));
        prop_assert!(upper_prefix.parse::<Hash32>().is_err());
        prop_assert!(two_prefixes.parse::<Hash32>().is_err());
    }
}

#[test]
fn the_edges_are_refused_as_before() {
    for text in [
        "0", "0x0", "0X", "0X00", "0x0x00", "0x0X00", "x0", "zz", "0xzz", "00 ",
    ] {
        assert!(from_hex(text).is_err(), "{text:?} accepted");
        assert!(before(text).is_err(), "{text:?} was accepted before");
    }
    assert_eq!(from_hex("").unwrap(), Vec::<u8>::new());
    assert_eq!(from_hex("0x").unwrap(), Vec::<u8>::new());
    assert_eq!(from_hex("0xAbCd").unwrap(), vec![0xab, 0xcd]);
}
