//! The contract's persistent key-value storage, raw and typed.
//!
//! Commands (and the constructor) read and write it; queries and jobs read a snapshot and
//! get [`Error::NotAllowed`](crate::Error::NotAllowed) when they write. Keys starting with
//! `\0fat/` are reserved for the SDK (the contract state lives at [`STATE_KEY`](crate::STATE_KEY)).

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::fat::contract::storage as host;
use crate::{Error, Result};

/// The value stored under `key`, if any.
pub fn get(key: &[u8]) -> Option<Vec<u8>> {
    host::get(key)
}

/// Store `value` under `key`.
pub fn set(key: &[u8], value: &[u8]) -> Result<()> {
    Ok(host::set(key, value)?)
}

/// Remove `key` (removing a missing key is not an error).
pub fn remove(key: &[u8]) -> Result<()> {
    Ok(host::remove(key)?)
}

/// Up to `limit` entries whose key starts with `prefix`, in key order, starting after `after`.
pub fn scan(prefix: &[u8], after: Option<&[u8]>, limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    host::scan(prefix, after, limit)
}

/// The JSON value stored under `key`, decoded.
pub fn get_json<T: DeserializeOwned>(key: &[u8]) -> Result<Option<T>> {
    get(key).map(|bytes| decode(key, &bytes)).transpose()
}

/// Store `value` as JSON under `key`.
pub fn set_json<T: Serialize + ?Sized>(key: &[u8], value: &T) -> Result<()> {
    set(key, &encode(key, value)?)
}

fn encode<T: Serialize + ?Sized>(key: &[u8], value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| Error::Encode {
        what: format!("the value for key {}", String::from_utf8_lossy(key)),
        source,
    })
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        what: format!(
            "the value stored under key {}",
            String::from_utf8_lossy(key)
        ),
        source,
    })
}

/// One JSON value under a fixed key.
///
/// ```
/// # use fat_sdk::storage::Item;
/// const OWNER: Item<String> = Item::new("owner");
/// ```
pub struct Item<T> {
    key: &'static str,
    value: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Item<T> {
    /// An item stored under `key`.
    pub const fn new(key: &'static str) -> Self {
        Self {
            key,
            value: PhantomData,
        }
    }

    /// The stored value, if any.
    pub fn get(&self) -> Result<Option<T>> {
        get_json(self.key.as_bytes())
    }

    /// The stored value, or `T::default()` when nothing is stored.
    pub fn load(&self) -> Result<T>
    where
        T: Default,
    {
        Ok(self.get()?.unwrap_or_default())
    }

    /// Store `value`.
    pub fn save(&self, value: &T) -> Result<()> {
        set_json(self.key.as_bytes(), value)
    }

    /// Remove the value.
    pub fn remove(&self) -> Result<()> {
        remove(self.key.as_bytes())
    }
}

/// How a [`Map`] key is written into a storage key: order-preserving where it matters.
pub trait MapKey: Sized {
    /// The key's bytes.
    fn to_key(&self) -> Vec<u8>;
    /// The key back from its bytes; `None` when they are not a key of this type.
    fn from_key(bytes: &[u8]) -> Option<Self>;
}

impl MapKey for String {
    fn to_key(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn from_key(bytes: &[u8]) -> Option<Self> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

impl MapKey for Vec<u8> {
    fn to_key(&self) -> Vec<u8> {
        self.clone()
    }
    fn from_key(bytes: &[u8]) -> Option<Self> {
        Some(bytes.to_vec())
    }
}

impl<const N: usize> MapKey for [u8; N] {
    fn to_key(&self) -> Vec<u8> {
        self.to_vec()
    }
    fn from_key(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok()
    }
}

macro_rules! big_endian_keys {
    ($($int:ty),*) => {$(
        impl MapKey for $int {
            fn to_key(&self) -> Vec<u8> {
                self.to_be_bytes().to_vec()
            }
            fn from_key(bytes: &[u8]) -> Option<Self> {
                Some(<$int>::from_be_bytes(bytes.try_into().ok()?))
            }
        }
    )*};
}
big_endian_keys!(u8, u16, u32, u64, u128);

/// JSON values under keys `prefix \0 key`, scanned in key order.
///
/// ```
/// # use fat_sdk::storage::Map;
/// const BALANCES: Map<String, u64> = Map::new("balances");
/// ```
pub struct Map<K, V> {
    prefix: &'static str,
    entries: PhantomData<fn() -> (K, V)>,
}

impl<K: MapKey, V: Serialize + DeserializeOwned> Map<K, V> {
    /// A map whose entries are stored under `prefix`.
    pub const fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            entries: PhantomData,
        }
    }

    fn prefix_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.prefix.len() + 1);
        bytes.extend_from_slice(self.prefix.as_bytes());
        bytes.push(0);
        bytes
    }

    fn storage_key(&self, key: &K) -> Vec<u8> {
        let mut bytes = self.prefix_bytes();
        bytes.extend_from_slice(&key.to_key());
        bytes
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        get_json(&self.storage_key(key))
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &K) -> bool {
        get(&self.storage_key(key)).is_some()
    }

    /// Store `value` under `key`.
    pub fn insert(&self, key: &K, value: &V) -> Result<()> {
        set_json(&self.storage_key(key), value)
    }

    /// Remove `key`.
    pub fn remove(&self, key: &K) -> Result<()> {
        remove(&self.storage_key(key))
    }

    /// Up to `limit` entries in key order, starting after `after`.
    pub fn page(&self, after: Option<&K>, limit: u32) -> Result<Vec<(K, V)>> {
        let prefix = self.prefix_bytes();
        let after = after.map(|key| self.storage_key(key));
        scan(&prefix, after.as_deref(), limit)
            .into_iter()
            .map(|(key, value)| {
                let entry_key = K::from_key(&key[prefix.len()..]).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "storage key {} is not a key of map {}",
                        String::from_utf8_lossy(&key),
                        self.prefix
                    ))
                })?;
                Ok((entry_key, decode(&key, &value)?))
            })
            .collect()
    }

    /// Every entry, in key order (read page by page).
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        const PAGE: u32 = 256;
        let mut all: Vec<(K, V)> = Vec::new();
        loop {
            let page = self.page(all.last().map(|(key, _)| key), PAGE)?;
            let done = page.len() < PAGE as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }
}
