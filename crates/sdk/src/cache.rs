//! The worker-local cache with expiry: the fast path for writes from queries.
//!
//! In a command, reads return nothing and writes are recorded and applied after the block.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::fat::contract::cache as host;
use crate::{Error, Result};

/// The cached value, if present and not expired.
pub fn get(key: &[u8]) -> Option<Vec<u8>> {
    host::get(key)
}

/// Cache `value` for `ttl` (rounded down to milliseconds).
pub fn set(key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    Ok(host::set(key, value, ttl_ms)?)
}

/// Remove a cached value.
pub fn remove(key: &[u8]) -> Result<()> {
    Ok(host::remove(key)?)
}

/// The cached JSON value, decoded; `None` when absent or expired.
pub fn get_json<T: DeserializeOwned>(key: &[u8]) -> Result<Option<T>> {
    get(key)
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
                what: format!("the cached value {}", String::from_utf8_lossy(key)),
                source,
            })
        })
        .transpose()
}

/// Cache `value` as JSON for `ttl`.
pub fn set_json<T: Serialize + ?Sized>(key: &[u8], value: &T, ttl: Duration) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|source| Error::Encode {
        what: format!("the cached value {}", String::from_utf8_lossy(key)),
        source,
    })?;
    set(key, &bytes, ttl)
}
