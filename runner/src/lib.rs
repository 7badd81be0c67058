//! wasm-slo: a load-test and SLO-verification runner for WebAssembly
//! scenario components.
//!
//! Data flows one way, one module per stage: [`plan`] -> [`executors`] ->
//! VUs ([`wasm`]) -> host calls ([`host`]) -> samples and aggregates
//! ([`metrics`]) -> verdicts ([`slo`]) -> outputs ([`report`]). [`merge`]
//! adds the aggregates of a test's segments run as separate processes.
//! [`cli`] ties them together for each command.

pub mod atomic_file;
pub mod baseline;
pub mod cli;
pub mod executors;
pub mod exit;
pub mod host;
pub mod interrupt;
pub mod merge;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod slo;
pub mod wasm;
