//! Outputs of a run: the live ones fed as intervals close ([`live`]), the
//! terminal summary rendered from the [`RunReport`], and the files rendered
//! from the results ([`json`], [`html`], [`junit`], [`markdown`]) chosen
//! with `--out` ([`outputs`]).

pub mod format;
pub mod html;
pub mod json;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod outputs;
pub mod summary;
pub mod trend_stats;

use std::time::{Duration, SystemTime};

use crate::exit::Outcome;
use crate::metrics::store::MetricStore;
use crate::plan::Plan;
use crate::slo::Verdict;

/// The module a run used.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ModuleInfo {
    /// Path as given.
    pub path: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// WIT package and version it exports, e.g. `wasm-slo:scenario@0.1.0`.
    pub wit: String,
    /// Scenario name from `describe`.
    pub name: String,
}

impl RunReport {
    /// Iterations cut off by a graceful stop or ramp-down.
    pub fn interrupted_iterations(&self) -> u64 {
        self.metrics
            .counter_sum(crate::metrics::catalog::INTERRUPTED_ITERATIONS) as u64
    }
}

/// Everything known at the end of a run.
#[derive(Debug)]
pub struct RunReport {
    /// The module.
    pub module: ModuleInfo,
    /// The resolved plan.
    pub plan: Plan,
    /// Wall-clock start of the load.
    pub started_at: SystemTime,
    /// Length of the load.
    pub duration: Duration,
    /// All metrics.
    pub metrics: MetricStore,
    /// Threshold outcomes.
    pub verdict: Verdict,
    /// The time series.
    pub intervals: Vec<crate::metrics::timeline::IntervalRecord>,
    /// Its interval.
    pub interval: Duration,
    /// VUs that could not start.
    pub vu_init_failures: u64,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
    /// The process outcome.
    pub outcome: Outcome,
}
