//! Count: the smallest fat contract, a number that commands increase and queries read.
//!
//! - `init`: nothing, or `{"start": n}`;
//! - command `increment`: optional `{"by": n}` (default 1), returns the new value; overflow is
//!   an error and changes nothing;
//! - query `get`: the value.

use fat_sdk::prelude::*;

/// The contract state: one number.
#[contract]
#[derive(Serialize, Deserialize, Default)]
pub struct Counter {
    value: u64,
}

#[contract]
impl Counter {
    /// Start at `start`, or at zero.
    #[init]
    pub fn new(start: Option<u64>) -> Self {
        Self {
            value: start.unwrap_or(0),
        }
    }

    /// Add `by` (default 1) and return the new value.
    #[command]
    pub fn increment(&mut self, by: Option<u64>) -> Result<u64, String> {
        let by = by.unwrap_or(1);
        self.value = self
            .value
            .checked_add(by)
            .ok_or_else(|| format!("overflow: {} + {by} does not fit in 64 bits", self.value))?;
        Ok(self.value)
    }

    /// The current value.
    #[query]
    pub fn get(&self) -> u64 {
        self.value
    }
}
