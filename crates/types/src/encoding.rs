//! The canonical binary encoding (borsh) and the hashes taken over it.
//!
//! Everything that is signed, hashed or stored is encoded with [borsh](https://borsh.io): integers
//! little-endian, a `Vec` as a `u32` length then its items, an enum as a one-byte variant index
//! then its fields, a fixed array as its bytes. Golden tests pin the result.
//!
//! Hashes are BLAKE3. A hash that names a kind of object is taken over a domain tag first
//! (`fat/tx/v1`, `fat/block/v1`, ...) so that two kinds of object can never share a hash.

use std::fmt;
use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::{AccountId, ClusterId, CodeHash, ContractId, Hash32, TxId, WorkerId};

macro_rules! borsh_id {
    ($($name:ident),*) => {$(
        impl BorshSerialize for $name {
            fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
                writer.write_all(&self.0)
            }
        }

        impl BorshDeserialize for $name {
            fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
                let mut bytes = [0u8; 32];
                reader.read_exact(&mut bytes)?;
                Ok(Self(bytes))
            }
        }
    )*};
}

borsh_id!(
    Hash32, AccountId, ContractId, CodeHash, TxId, ClusterId, WorkerId
);

/// Why bytes are not a valid canonical encoding.
#[derive(Debug, thiserror::Error)]
#[error("not a canonical {what}: {source}")]
pub struct DecodeError {
    /// What was being decoded.
    pub what: &'static str,
    /// What was wrong.
    #[source]
    pub source: io::Error,
}

/// Encode a value canonically.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("writing to a Vec cannot fail")
}

/// The length of `value`'s canonical encoding, counted without writing it out.
pub fn encoded_len<T: BorshSerialize>(value: &T) -> usize {
    borsh::object_length(value).expect("an encoding's length fits in a usize")
}

/// Decode a value from its canonical encoding; trailing bytes are an error.
pub fn decode<T: BorshDeserialize>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    borsh::from_slice(bytes).map_err(|source| DecodeError { what, source })
}

/// Hash a value's canonical encoding under a domain tag.
pub fn tagged_hash<T: BorshSerialize>(tag: &str, value: &T) -> Hash32 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(tag.as_bytes());
    hasher.update(&[0]);
    let mut writer = HashWriter {
        hasher: &mut hasher,
        buffer: Vec::with_capacity(512),
    };
    value.serialize(&mut writer).expect("hashing cannot fail");
    writer.flush_buffer();
    Hash32(*hasher.finalize().as_bytes())
}

/// How many bytes [`HashWriter`] gathers at most before it hashes them.
const HASH_BUFFER: usize = 64 * 1024;

/// Feeds a value's encoding to the hasher in runs of up to [`HASH_BUFFER`] bytes. Borsh
/// writes field by field, a few bytes at a time, and BLAKE3 hashes a long input several
/// chunks at once (with SIMD) but a short one a chunk at a time: the root of 1,024
/// transactions of about 250 bytes took 494 µs fed field by field, 44 µs encoded first and
/// hashed in one piece. Writes of the buffer's size or more go straight to the hasher. The
/// bytes hashed, and so the hash, are the same.
struct HashWriter<'a> {
    hasher: &'a mut blake3::Hasher,
    buffer: Vec<u8>,
}

impl HashWriter<'_> {
    fn flush_buffer(&mut self) {
        self.hasher.update(&self.buffer);
        self.buffer.clear();
    }
}

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.buffer.len() + buf.len() > HASH_BUFFER {
            self.flush_buffer();
        }
        if buf.len() >= HASH_BUFFER {
            self.hasher.update(buf);
        } else {
            self.buffer.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Opaque bytes: borsh-encoded as a `Vec<u8>`, lower-case hex in JSON.
#[derive(Clone, PartialEq, Eq, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

/// Lower-case hex of `bytes`: how bytes, ids and signatures are written in JSON.
pub fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    const_hex::encode(bytes)
}

/// The bytes that hex `text` spells, optionally after one `0x`; digits of either case. Other
/// prefixes (`0X`, a second `0x`) are refused as the characters they are.
pub fn from_hex(text: &str) -> Result<Vec<u8>, const_hex::FromHexError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    // `const_hex` would strip a prefix of its own: refuse what is left of one here, as the
    // character it is (after the length, which is checked first, as it always was).
    if let [b'0', c @ (b'x' | b'X'), ..] = digits.as_bytes()
        && digits.len().is_multiple_of(2)
    {
        return Err(const_hex::FromHexError::InvalidHexCharacter {
            c: char::from(*c),
            index: 1,
        });
    }
    const_hex::decode(digits)
}

impl serde::Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        from_hex(&text).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature (64 bytes): lower-case hex in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl Default for Signature {
    fn default() -> Self {
        Self([0; 64])
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", to_hex(&self.0[..8]))
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Bytes(bytes) = <Bytes as serde::Deserialize>::deserialize(d)?;
        let array: [u8; 64] = bytes.try_into().map_err(|b: Vec<u8>| {
            serde::de::Error::custom(format!("expected 64 bytes, got {}", b.len()))
        })?;
        Ok(Self(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tagged hash is BLAKE3 over the tag, a zero byte and the encoding, however the writer
    /// cuts the encoding into runs: short values, many small fields, and writes just under,
    /// at and past the buffer's size, after bytes already gathered.
    #[test]
    fn a_tagged_hash_is_the_hash_of_tag_zero_and_encoding() {
        let expected = |bytes: &[u8]| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(b"fat/test/v1");
            hasher.update(&[0]);
            hasher.update(bytes);
            Hash32(*hasher.finalize().as_bytes())
        };
        let lengths = [
            0,
            1,
            511,
            HASH_BUFFER - 13,
            HASH_BUFFER - 12,
            HASH_BUFFER - 1,
            HASH_BUFFER,
            HASH_BUFFER + 1,
            3 * HASH_BUFFER + 7,
        ];
        for len in lengths {
            let fields: Vec<(u32, [u8; 3])> = (0..len as u32 / 50).map(|i| (i, [7; 3])).collect();
            let value = (7u64, Bytes(vec![len as u8; len]), fields, len as u16);
            assert_eq!(
                tagged_hash("fat/test/v1", &value),
                expected(&encode(&value)),
                "{len}"
            );
        }
    }
}
