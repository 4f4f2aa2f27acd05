//! Log lines, captured per contract by the host; use the [`info!`](crate::info)-style macros.

use crate::bindings::fat::contract::log as host;

pub use host::Level;

/// Log `message` at `level`.
pub fn write(level: Level, message: &str) {
    host::log(level, message);
}

/// Log a line at a level: `log!(Level::Info, "x = {x}")`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::log::write($level, &::std::format!($($arg)+))
    };
}

/// Log a line at level `error`, format-args style.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Error, $($arg)+) };
}

/// Log a line at level `warn`, format-args style.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Warn, $($arg)+) };
}

/// Log a line at level `info`, format-args style.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Info, $($arg)+) };
}

/// Log a line at level `debug`, format-args style.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Debug, $($arg)+) };
}

/// Log a line at level `trace`, format-args style.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::log::Level::Trace, $($arg)+) };
}
