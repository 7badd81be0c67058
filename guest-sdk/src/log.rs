//! Lines in the runner's log, prefixed with the VU id.
//!
//! Functions take a message; the macros [`log::debug!`](debug!),
//! [`log::info!`](info!), [`log::warn!`](warn!) and [`log::error!`](error!)
//! take `format!` arguments:
//!
//! ```no_run
//! use wasm_slo_sdk::log;
//!
//! log::info("logged in");
//! log::warn!("slow answer: {} ms", 812);
//! ```

use crate::wit::wasm_slo::scenario::runtime as wit;

#[doc(inline)]
pub use crate::__wasm_slo_log_debug as debug;
#[doc(inline)]
pub use crate::__wasm_slo_log_error as error;
#[doc(inline)]
pub use crate::__wasm_slo_log_info as info;
#[doc(inline)]
pub use crate::__wasm_slo_log_warn as warn;

/// How important a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Details for debugging a scenario.
    Debug,
    /// Normal progress.
    Info,
    /// Something unusual that does not stop the VU.
    Warn,
    /// Something failed.
    Error,
}

/// Writes `message` at `level`.
pub fn log(level: Level, message: &str) {
    let level = match level {
        Level::Debug => wit::LogLevel::Debug,
        Level::Info => wit::LogLevel::Info,
        Level::Warn => wit::LogLevel::Warn,
        Level::Error => wit::LogLevel::Error,
    };
    wit::log(level, message);
}

/// Writes a debug line.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Writes an info line.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Writes a warning.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Writes an error line.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Logs a debug line with `format!` arguments: `log::debug!("got {n}")`.
#[doc(hidden)]
#[macro_export]
macro_rules! __wasm_slo_log_debug {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)+))
    };
}

/// Logs an info line with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __wasm_slo_log_info {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)+))
    };
}

/// Logs a warning with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __wasm_slo_log_warn {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)+))
    };
}

/// Logs an error line with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __wasm_slo_log_error {
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)+))
    };
}
