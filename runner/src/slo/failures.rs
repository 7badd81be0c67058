//! Run-level failure that overrides the thresholds' verdict: every
//! iteration failed, so what was measured says nothing about the target.

use crate::host::ErrorLog;
use crate::metrics::catalog;
use crate::metrics::store::MetricStore;

/// Why the run failed when it completed iterations and every one of them
/// returned an error or trapped; None otherwise.
pub fn every_iteration_failed(metrics: &MetricStore, errors: &ErrorLog) -> Option<String> {
    let iterations = metrics.counter_sum(catalog::ITERATIONS);
    let failed = metrics.counter_sum(catalog::ITERATION_ERRORS);
    if iterations == 0.0 || failed < iterations {
        return None;
    }
    Some(format!(
        "every iteration failed ({failed} of {iterations}), so the results say nothing about \
         the target; first failure: {}",
        errors.first().unwrap_or("unknown")
    ))
}
