//! `fat_crypto::XChaCha` is XChaCha20-Poly1305 byte for byte: it seals what RustCrypto's
//! implementation seals, opens what it opens, and refuses every altered message.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use fat_crypto::XChaCha;
use fat_crypto::aead::{OpenError, TAG_LEN};
use proptest::collection::vec;
use proptest::prelude::*;

fn reference(key: [u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Key::from(key))
}

/// The test vector of draft-irtf-cfrg-xchacha-03, appendix A.3.1.
#[test]
fn the_drafts_test_vector() {
    let key: [u8; 32] =
        hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .unwrap()
            .try_into()
            .unwrap();
    let nonce: [u8; 24] = hex::decode("404142434445464748494a4b4c4d4e4f5051525354555657")
        .unwrap()
        .try_into()
        .unwrap();
    let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let sealed = XChaCha::new(key).seal(&nonce, &aad, plaintext);
    let (ciphertext, tag) = sealed.split_at(plaintext.len());
    assert_eq!(
        hex::encode(ciphertext),
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb\
         731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452\
         2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9\
         21f9664c97637da9768812f615c68b13b52e"
    );
    assert_eq!(hex::encode(tag), "c0875924c1c7987947deafd8780acf49");
    assert_eq!(
        XChaCha::new(key).open(&nonce, &aad, &sealed).unwrap(),
        plaintext
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any key, nonce, associated data and message (empty, short, and past several ChaCha
    /// blocks): the same bytes as the reference, and the reference's bytes open.
    #[test]
    fn seals_and_opens_as_the_reference_does(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        aad in vec(any::<u8>(), 0..200),
        plaintext in vec(any::<u8>(), 0..2_000),
    ) {
        let ours = XChaCha::new(key).seal(&nonce, &aad, &plaintext);
        let theirs = reference(key)
            .encrypt(&XNonce::from(nonce), Payload { msg: &plaintext, aad: &aad })
            .unwrap();
        prop_assert_eq!(&ours, &theirs);
        prop_assert_eq!(ours.len(), plaintext.len() + TAG_LEN);
        prop_assert_eq!(XChaCha::new(key).open(&nonce, &aad, &theirs).unwrap(), plaintext);
    }

    /// A flipped bit anywhere, another nonce, other associated data, another key or a cut
    /// message: refused.
    #[test]
    fn refuses_what_was_altered(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        aad in vec(any::<u8>(), 0..64),
        plaintext in vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let cipher = XChaCha::new(key);
        let sealed = cipher.seal(&nonce, &aad, &plaintext);
        let mut altered = sealed.clone();
        let at = flip.index(altered.len());
        altered[at] ^= 1 << bit;
        prop_assert_eq!(cipher.open(&nonce, &aad, &altered), Err(OpenError));

        let mut other_nonce = nonce;
        other_nonce[at % 24] ^= 1 << bit;
        prop_assert_eq!(cipher.open(&other_nonce, &aad, &sealed), Err(OpenError));

        let mut other_aad = aad.clone();
        other_aad.push(bit);
        prop_assert_eq!(cipher.open(&nonce, &other_aad, &sealed), Err(OpenError));

        let mut other_key = key;
        other_key[at % 32] ^= 1 << bit;
        prop_assert_eq!(XChaCha::new(other_key).open(&nonce, &aad, &sealed), Err(OpenError));

        prop_assert_eq!(cipher.open(&nonce, &aad, &sealed[..sealed.len() - 1]), Err(OpenError));
        prop_assert_eq!(cipher.open(&nonce, &aad, &sealed[..at.min(TAG_LEN - 1)]), Err(OpenError));
    }
}
