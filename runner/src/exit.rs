//! Exit codes (the verdict CI gates on) and the error kinds that choose them.
//!
//! Errors travel as `anyhow::Error`; an error caused by what the user gave us
//! (module, config, flags) carries a [`BadInput`] somewhere in its chain, so
//! the top level can tell "fix your input" from "the runner failed".

use std::fmt;
use std::process::ExitCode;

/// How a `wasm-slo` process ends. The numbers are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every SLO met (warnings allowed).
    Passed,
    /// The test ran and at least one SLO failed (k6 uses the same 99).
    SlosFailed,
    /// The scenario aborted the test (`runtime.abort`).
    AbortedByScenario,
    /// An abort-on-fail threshold stopped the test.
    AbortedByThreshold,
    /// SIGINT (Ctrl-C) or SIGTERM stopped the test (k6's "external abort").
    Interrupted,
    /// Module, configuration or flags were invalid; nothing was run.
    BadInput,
    /// The runner itself failed (I/O, engine, every VU failing to start).
    RuntimeFailure,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::RuntimeFailure => 1,
            Outcome::BadInput => 2,
            Outcome::AbortedByScenario => 108,
            Outcome::AbortedByThreshold => 98,
            Outcome::Interrupted => 105,
            Outcome::SlosFailed => 99,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        ExitCode::from(o.code())
    }
}

/// Marks an error as the user's input being wrong. Put it at the root of the
/// chain with [`bad_input`] and add context as usual.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// An `anyhow::Error` classified as bad input. Line breaks quoted from the
/// user's input are shown escaped, so the message stays one line.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    let msg: String = msg.into();
    let msg = if msg.contains(['\n', '\r']) {
        msg.replace('\n', "\\n").replace('\r', "\\r")
    } else {
        msg
    };
    anyhow::Error::new(BadInput(msg))
}

/// Extension to classify any error as bad input while keeping its message.
pub trait BadInputExt<T> {
    /// Wraps the error as [`BadInput`] with `context` in front of it.
    fn bad_input(self, context: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E: fmt::Display> BadInputExt<T> for Result<T, E> {
    fn bad_input(self, context: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| bad_input(format!("{}: {e}", context())))
    }
}

/// Whether `err` was caused by bad input.
pub fn is_bad_input(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<BadInput>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn bad_input_survives_context() {
        let err = Err::<(), _>(bad_input("no such flow \"x\""))
            .context("resolving the plan")
            .unwrap_err();
        assert!(is_bad_input(&err));
        assert_eq!(format!("{err:#}"), "resolving the plan: no such flow \"x\"");
        assert!(!is_bad_input(&anyhow::anyhow!("disk full")));
    }

    #[test]
    fn bad_input_is_one_line() {
        let err = bad_input("unknown kind \"a\nb\r\"");
        assert_eq!(err.to_string(), r#"unknown kind "a\nb\r""#);
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            Outcome::Passed,
            Outcome::SlosFailed,
            Outcome::AbortedByScenario,
            Outcome::AbortedByThreshold,
            Outcome::Interrupted,
            Outcome::BadInput,
            Outcome::RuntimeFailure,
        ];
        let mut codes: Vec<u8> = all.iter().map(|o| o.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
