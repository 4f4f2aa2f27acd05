//! Events, recorded in a command's receipt.

use serde::Serialize;

use crate::bindings::fat::contract::events as host;
use crate::{Error, Result};

/// Emit an event; commands only ([`Error::NotAllowed`] elsewhere).
pub fn emit(topic: &str, data: &[u8]) -> Result<()> {
    Ok(host::emit(topic, data)?)
}

/// Emit an event whose data is `value` as JSON.
pub fn emit_json<T: Serialize + ?Sized>(topic: &str, value: &T) -> Result<()> {
    let data = serde_json::to_vec(value).map_err(|source| Error::Encode {
        what: format!("the data of event {topic}"),
        source,
    })?;
    emit(topic, &data)
}
