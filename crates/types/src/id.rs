//! 32-byte identifiers.

use std::fmt;
use std::str::FromStr;

/// Why a text is not a 32-byte id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// The text is not hexadecimal.
    #[error("not hexadecimal: {0}")]
    NotHex(String),
    /// The text decodes to the wrong number of bytes.
    #[error("expected 32 bytes (64 hex characters), got {0} bytes")]
    WrongLength(usize),
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The id as bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The id from a byte slice that must be 32 bytes long.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, ParseIdError> {
                let array: [u8; 32] =
                    bytes.try_into().map_err(|_| ParseIdError::WrongLength(bytes.len()))?;
                Ok(Self(array))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(const_hex::Buffer::<32>::new().format(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), $crate::encoding::to_hex(&self.0[..8]))
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let bytes = $crate::encoding::from_hex(text)
                    .map_err(|e| ParseIdError::NotHex(e.to_string()))?;
                Self::from_slice(&bytes)
            }
        }

        impl From<[u8; 32]> for $name {
            fn from(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A 32-byte hash.
    Hash32
);
id_type!(
    /// An account: the bytes of its ed25519 public key.
    AccountId
);
id_type!(
    /// The id of a contract instance: H(deployer, code hash, cluster, salt).
    ContractId
);
id_type!(
    /// The hash of a contract's code.
    CodeHash
);
id_type!(
    /// The id of a transaction: the hash its signer signs.
    TxId
);
id_type!(
    /// The id of a cluster: H(creator, nonce of the creating transaction).
    ClusterId
);
id_type!(
    /// A worker: the bytes of its ed25519 identity key.
    WorkerId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_errors() {
        let id = ContractId([7; 32]);
        let text = id.to_string();
        assert_eq!(text, "07".repeat(32));
        assert_eq!(text.parse::<ContractId>().unwrap(), id);
        assert_eq!(format!("0x{text}").parse::<ContractId>().unwrap(), id);
        assert_eq!(
            "abcd".parse::<ContractId>(),
            Err(ParseIdError::WrongLength(2))
        );
        assert!(matches!(
            "zz".parse::<ContractId>(),
            Err(ParseIdError::NotHex(_))
        ));
    }

    #[test]
    fn json_is_hex_text() {
        let id = AccountId([0xab; 32]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
    }
}
