//! Who and where this VU is: its id, iteration, scenario name and the
//! variables given with `-e KEY=VALUE`; and [`abort`] to stop the whole test.
//!
//! Variables come only from the runner's `-e` flags, never from the host's
//! environment.

use crate::wit::wasm_slo::scenario::runtime as wit;

/// This VU's id, unique in the test, from 1; 0 in `describe`, `setup` and
/// `teardown` (k6's `__VU`).
pub fn vu_id() -> u64 {
    wit::vu_id()
}

/// This VU's iteration number, from 0 (k6's `__ITER`).
pub fn iteration() -> u64 {
    wit::iteration()
}

/// The name of the scenario this VU runs in.
pub fn scenario_name() -> String {
    wit::scenario_name()
}

/// A variable given with `-e KEY=VALUE` (k6's `__ENV`).
pub fn env(key: &str) -> Option<String> {
    wit::env(key)
}

/// A variable given with `-e`, or `default`:
/// `env_or("BASE_URL", "http://127.0.0.1:8080")`.
pub fn env_or(key: &str, default: &str) -> String {
    env(key).unwrap_or_else(|| default.to_owned())
}

/// All variables given with `-e`.
pub fn env_vars() -> Vec<(String, String)> {
    wit::env_vars()
}

/// Stops the whole test with `reason` (k6's `exec.test.abort`). Never
/// returns: the runner ends this instance.
pub fn abort(reason: &str) -> ! {
    wit::abort(reason);
    // The runner does not return from `abort`; trap if one ever does.
    std::process::abort()
}
