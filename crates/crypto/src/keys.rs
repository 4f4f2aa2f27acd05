//! Key pairs, signing and verification.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use curve25519_dalek::Scalar;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use fat_types::{AccountId, Signature, SignedTransaction, Transaction, TxId};
use sha2::{Digest, Sha512};

use crate::{CryptoError, Result};

/// The BLAKE3 `derive_key` context of dev account seeds.
pub const DEV_SEED_CONTEXT: &str = "fat dev account seed v1";

/// An ed25519 key pair.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.account_id())
    }
}

impl Keypair {
    /// The key pair of a 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The secret seed.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key as an account id.
    pub fn account_id(&self) -> AccountId {
        AccountId(self.signing.verifying_key().to_bytes())
    }

    /// Sign a message.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }

    /// Sign a transaction: the signature covers its id.
    pub fn sign_tx(&self, tx: Transaction) -> SignedTransaction {
        let signature = self.sign(tx.id().as_bytes());
        SignedTransaction { tx, signature }
    }
}

/// The well-known key pair of a dev account.
///
/// The seed is `blake3::derive_key(DEV_SEED_CONTEXT, name)`, so anyone can sign as `alice`,
/// `bob`, `charlie`, `gatekeeper` or `sequencer` on a dev chain. Never fund these on a real one.
pub fn dev_keypair(name: &str) -> Keypair {
    Keypair::from_seed(blake3::derive_key(DEV_SEED_CONTEXT, name.as_bytes()))
}

/// Check `signature` is `signer`'s over `message` (strictly: no malleable or weak-key forms).
pub fn verify(signer: &AccountId, message: &[u8], signature: &Signature) -> Result<()> {
    let key = verifying_key(signer).ok_or(CryptoError::BadPublicKey(*signer))?;
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature)
        .map_err(|_| CryptoError::BadSignature(*signer))
}

/// How many decompressed public keys [`verifying_key`] keeps.
const KEY_CACHE: usize = 16_384;

/// The verifying key of `account`: its point decompressed, which costs about as much as a
/// quarter of a signature check, so the most recently used keys are kept (senders sign many
/// transactions). `None` if the bytes are not a point.
fn verifying_key(account: &AccountId) -> Option<VerifyingKey> {
    use std::num::NonZeroUsize;
    use std::sync::{LazyLock, Mutex};
    static KEYS: LazyLock<Mutex<lru::LruCache<[u8; 32], VerifyingKey>>> = LazyLock::new(|| {
        Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(KEY_CACHE).expect("not zero"),
        ))
    });
    let bytes = account.as_bytes();
    if let Some(key) = KEYS.lock().expect("key cache lock").get(bytes) {
        return Some(*key);
    }
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    KEYS.lock().expect("key cache lock").put(*bytes, key);
    Some(key)
}

/// Whether `r` (a signature's commitment) could pass [`verify_strict`]'s checks of its form:
/// a canonical encoding (`y` below the field's prime) of no point of small order. Decided from
/// the bytes alone, without decompressing: the points of small order are those whose `y` is
/// one of the eight torsion points' (`x` and `-x` have the same order), and the only other
/// non-canonical encodings, `x = 0` with the sign bit set, have `y = ±1`, which is among them.
/// Bytes that are not a point at all pass here and fail the equation.
///
/// [`verify_strict`]: VerifyingKey::verify_strict
fn commitment_form_ok(r: &[u8; 32]) -> bool {
    use std::sync::LazyLock;
    static SMALL_ORDER_Y: LazyLock<Vec<[u8; 32]>> = LazyLock::new(|| {
        curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|point| {
                let mut y = point.compress().to_bytes();
                y[31] &= 0x7f;
                y
            })
            .collect()
    });
    let mut y = *r;
    y[31] &= 0x7f;
    below_prime(&y) && !SMALL_ORDER_Y.contains(&y)
}

/// Whether the little-endian 255-bit number `y` is below 2^255 - 19.
fn below_prime(y: &[u8; 32]) -> bool {
    // 2^255 - 19: 0xed, thirty 0xff, 0x7f (little-endian). Compare from the top byte down.
    let mut prime = [0xffu8; 32];
    prime[0] = 0xed;
    prime[31] = 0x7f;
    for i in (0..32).rev() {
        if y[i] != prime[i] {
            return y[i] < prime[i];
        }
    }
    false
}

/// Check a transaction is signed by its signer.
pub fn verify_tx(tx: &SignedTransaction) -> Result<()> {
    verify(&tx.tx.signer, tx.id().as_bytes(), &tx.signature)
}

/// Whether every transaction of `txs` is signed by its signer under the follower's rule
/// ([`check_tx_signature`]), checked together by ed25519's batch verification ([`verify_tx_batch`]).
/// `false` says only that one is refused; [`check_tx_signature`] tells which.
pub fn verify_txs(txs: &[SignedTransaction]) -> bool {
    let ids: Vec<TxId> = txs.iter().map(SignedTransaction::id).collect();
    verify_txs_with_ids(txs, &ids)
}

/// [`verify_txs`] of transactions whose ids the caller has computed already: `ids[i]` must
/// be `txs[i].id()`, the message each signature covers (a follower hashes each transaction
/// once, and hands the ids on to the executor). `false` if the lengths differ.
pub fn verify_txs_with_ids(txs: &[SignedTransaction], ids: &[TxId]) -> bool {
    if ids.len() != txs.len() {
        return false;
    }
    let batch: Vec<_> = txs.iter().zip(ids).collect();
    verify_tx_batch(&batch)
}

/// One signature taken apart, its form checked: what the single and the batch check share.
struct Parsed {
    /// The signer's key as signed (the bytes that are hashed), and its point.
    key: [u8; 32],
    a: EdwardsPoint,
    /// The commitment, as signed and as a point.
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    /// The response, reduced.
    s: Scalar,
    /// The challenge `H(R || A || M)`.
    k: Scalar,
}

/// `signed`'s signature over `id` taken apart, or `None` if its form is refused: a key that
/// is not a point or is of small order, a commitment that is not a canonical encoding of a
/// point of large order, a response not reduced. The forms [`verify`] refuses, it refuses.
fn parse(signed: &SignedTransaction, id: &TxId) -> Option<Parsed> {
    let key = verifying_key(&signed.tx.signer)?;
    if key.is_weak() {
        return None;
    }
    let (r_bytes, s_bytes) = signed.signature.0.split_at(32);
    let r_bytes: [u8; 32] = r_bytes.try_into().expect("32 bytes");
    if !commitment_form_ok(&r_bytes) {
        return None;
    }
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(
        s_bytes.try_into().expect("32 bytes"),
    ))?;
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let mut challenge = Sha512::new();
    challenge.update(r_bytes);
    challenge.update(signed.tx.signer.as_bytes());
    challenge.update(id.as_bytes());
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&challenge.finalize());
    Some(Parsed {
        key: signed.tx.signer.0,
        a: key.to_edwards(),
        r_bytes,
        r,
        s,
        k: Scalar::from_bytes_mod_order_wide(&wide),
    })
}

/// Whether `signed` is signed by its signer over `id` (which must be `signed.id()`) under the
/// rule every follower of the chain applies, alone or in a batch: the forms [`verify`]
/// refuses are refused, and the equation is ed25519's cofactored one, `[8](s·B - R - k·A)` the
/// identity. That accepts everything [`verify`] accepts, and also a signature whose points
/// carry a small-order component (which only its signer can make, and which validators, who
/// check with [`verify`], never admit to a block). Unlike [`verify`]'s exact equation, the
/// cofactored one gives each signature the same answer alone as in any batch, so which
/// signatures pass does not depend on how a checker groups them.
pub fn check_tx_signature(signed: &SignedTransaction, id: &TxId) -> bool {
    let Some(p) = parse(signed, id) else {
        return false;
    };
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &-p.a, &p.s);
    (sb_minus_ka - p.r).mul_by_cofactor().is_identity()
}

/// The BLAKE3 `derive_key` context of a batch's coefficients.
const BATCH_CONTEXT: &str = "fat signature batch coefficients v1";

/// [`verify_txs_with_ids`] of transactions that need not lie side by side: each with its id
/// (`batch[i].1` must be `batch[i].0.id()`). `true` exactly when [`check_tx_signature`]
/// accepts each (but for a chance of 2^-128 per batch that a refused one passes).
///
/// One multi-scalar multiplication checks them all: the cofactored equations of the
/// signatures, each weighed by a 128-bit coefficient drawn from a hash of the whole batch,
/// summed. The terms of one signer's key are summed into one, so a batch of `n` signatures by
/// `m` signers costs a multiplication of `n + m + 1` points (`2n + 1` without), and a sender's
/// many commands in a block cost about half as much each as as many senders' commands.
pub fn verify_tx_batch(batch: &[(&SignedTransaction, &TxId)]) -> bool {
    // Below this a batch costs more than checking each (one double multiplication by a
    // key and the base point each). The answer is the same either way.
    const SMALLEST_BATCH: usize = 4;
    if batch.len() < SMALLEST_BATCH {
        return batch.iter().all(|(tx, id)| check_tx_signature(tx, id));
    }
    let mut parsed = Vec::with_capacity(batch.len());
    for (signed, id) in batch {
        let Some(p) = parse(signed, id) else {
            return false;
        };
        parsed.push(p);
    }
    let mut hasher = blake3::Hasher::new_derive_key(BATCH_CONTEXT);
    for (p, (_, id)) in parsed.iter().zip(batch) {
        let mut fields = [0u8; 128];
        fields[..32].copy_from_slice(&p.key);
        fields[32..64].copy_from_slice(&p.r_bytes);
        fields[64..96].copy_from_slice(p.s.as_bytes());
        fields[96..].copy_from_slice(id.as_bytes());
        hasher.update(&fields);
    }
    let mut coefficients = vec![0u8; 16 * parsed.len()];
    hasher.finalize_xof().fill(&mut coefficients);

    // -(sum z·s)·B + sum z·R + sum over signers (sum z·k)·A: zero (times the cofactor) when
    // every s·B = R + k·A holds up to a small-order component.
    let mut scalars = Vec::with_capacity(batch.len() + 2);
    let mut points = Vec::with_capacity(batch.len() + 2);
    scalars.push(Scalar::ZERO);
    points.push(ED25519_BASEPOINT_POINT);
    let mut base = Scalar::ZERO;
    let mut signers: HashMap<[u8; 32], usize> = HashMap::with_capacity(batch.len());
    let mut keys: Vec<(Scalar, EdwardsPoint)> = Vec::new();
    for (p, z) in parsed.iter().zip(coefficients.chunks_exact(16)) {
        let z = Scalar::from(u128::from_le_bytes(z.try_into().expect("16 bytes")));
        base += z * p.s;
        scalars.push(z);
        points.push(p.r);
        let zk = z * p.k;
        match signers.entry(p.key) {
            Entry::Occupied(at) => keys[*at.get()].0 += zk,
            Entry::Vacant(at) => {
                at.insert(keys.len());
                keys.push((zk, p.a));
            }
        }
    }
    scalars[0] = -base;
    for (scalar, point) in keys {
        scalars.push(scalar);
        points.push(point);
    }
    EdwardsPoint::vartime_multiscalar_mul(&scalars, &points)
        .mul_by_cofactor()
        .is_identity()
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;

    use super::*;

    /// What `verify_strict` decides about a commitment's form, by decompressing it: `None`
    /// when the bytes are not a point.
    fn strict_form(r: &[u8; 32]) -> Option<bool> {
        let point = CompressedEdwardsY(*r).decompress()?;
        Some(!point.is_small_order() && point.compress().to_bytes() == *r)
    }

    /// Every encoding that is a point gets the same answer from the bytes as from the point:
    /// the torsion points with either sign bit, every non-canonical `y` (from p to 2^255 - 1)
    /// with either sign bit, points of large order, and 20,000 random strings.
    #[test]
    fn the_commitment_check_on_bytes_agrees_with_the_decompressed_point() {
        let mut cases: Vec<[u8; 32]> = Vec::new();
        for point in EIGHT_TORSION {
            let bytes = point.compress().to_bytes();
            cases.push(bytes);
            let mut other = bytes;
            other[31] ^= 0x80;
            cases.push(other);
            cases.push((point + ED25519_BASEPOINT_POINT).compress().to_bytes());
        }
        for k in 0u8..19 {
            // p + k = 2^255 - 19 + k, little-endian.
            let mut y = [0xffu8; 32];
            y[0] = 0xed + k;
            y[31] = 0x7f;
            cases.push(y);
            y[31] |= 0x80;
            cases.push(y);
        }
        for i in 1u64..200 {
            let point = ED25519_BASEPOINT_POINT * Scalar::from(i * 7919);
            let bytes = point.compress().to_bytes();
            cases.push(bytes);
            let mut flipped = bytes;
            flipped[31] ^= 0x80;
            cases.push(flipped);
        }
        let mut seed = [0u8; 32];
        for i in 0u32..20_000 {
            seed[..4].copy_from_slice(&i.to_le_bytes());
            cases.push(*blake3::hash(&seed).as_bytes());
        }
        let mut points = 0;
        for r in &cases {
            if let Some(strict) = strict_form(r) {
                points += 1;
                assert_eq!(commitment_form_ok(r), strict, "{}", hex_of(r));
            }
        }
        assert!(points > 10_000, "only {points} of the cases are points");
        // The refusals the test must see: small order, and each non-canonical form.
        assert!(!commitment_form_ok(&EIGHT_TORSION[0].compress().to_bytes()));
        let mut identity_signed = EIGHT_TORSION[0].compress().to_bytes();
        identity_signed[31] |= 0x80;
        assert_eq!(strict_form(&identity_signed), Some(false));
        assert!(!commitment_form_ok(&identity_signed));
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key is decompressed once and then served from the cache; bytes that are not a point
    /// are refused each time and not cached.
    #[test]
    fn verifying_keys_are_cached_and_bad_keys_refused() {
        let alice = crate::dev_keypair("alice");
        let account = alice.account_id();
        let first = verifying_key(&account).unwrap();
        let second = verifying_key(&account).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.to_bytes(), account.0);
        let not_a_point = (0u8..=255)
            .map(|b| AccountId([b; 32]))
            .find(|a| VerifyingKey::from_bytes(a.as_bytes()).is_err())
            .unwrap();
        assert!(verifying_key(&not_a_point).is_none());
        assert!(verifying_key(&not_a_point).is_none());
        assert_eq!(
            verify(&not_a_point, b"m", &alice.sign(b"m")),
            Err(CryptoError::BadPublicKey(not_a_point))
        );
    }
}
