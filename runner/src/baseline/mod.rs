//! Baselines and trends: judging a run's results file against an earlier one
//! (seed 001's CI regression gate, seed 003's regression rules) and fitting a
//! trend through a series of them (seed 003's improving / stable /
//! degrading).
//!
//! Everything works on [`Results`] files, per request name (`endpoints`)
//! plus the `all` aggregate; nothing here runs load. The commands `wasm-slo
//! compare` and `wasm-slo trend` are thin wrappers; `wasm-slo run` can gate
//! on a baseline with [`compare_with_file`] and [`Comparison::outcome`].

mod compare;
mod rules;
mod trend;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::report::json::{EndpointSummary, Results};

pub use compare::{Comparison, Row, Verdict, compare, compare_names, render_table};
pub use rules::{Limit, RegressionRules, parse_points_limit, parse_relative_limit};
pub use trend::{Direction, Trend, TrendError, TrendPoint, render_trend, trend};

/// The request name of the aggregate over all requests.
pub const ALL: &str = "all";

/// A figure of an endpoint that can be compared or trended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Median duration (ms).
    P50,
    /// 95th percentile duration (ms).
    P95,
    /// 99th percentile duration (ms).
    P99,
    /// Mean duration (ms).
    Mean,
    /// Requests per second.
    Rps,
    /// Failed share of requests (0..=1).
    ErrorRate,
}

/// The metrics a trend can follow: the same as a comparison's.
pub type TrendMetric = Metric;

impl Metric {
    /// Every metric, in table order.
    pub const ALL: [Metric; 6] = [
        Metric::P50,
        Metric::P95,
        Metric::P99,
        Metric::Mean,
        Metric::Rps,
        Metric::ErrorRate,
    ];

    /// The name used in tables, JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::Mean => "mean",
            Metric::Rps => "rps",
            Metric::ErrorRate => "error_rate",
        }
    }

    /// The figure in an endpoint summary.
    pub fn value(self, e: &EndpointSummary) -> f64 {
        match self {
            Metric::P50 => e.median,
            Metric::P95 => e.p95,
            Metric::P99 => e.p99,
            Metric::Mean => e.mean,
            Metric::Rps => e.rps,
            Metric::ErrorRate => e.error_rate,
        }
    }

    /// Only throughput gets better as it grows.
    pub fn higher_is_better(self) -> bool {
        self == Metric::Rps
    }

    /// Whether the figure is a duration in milliseconds.
    pub fn is_latency(self) -> bool {
        matches!(self, Metric::P50 | Metric::P95 | Metric::P99 | Metric::Mean)
    }

    /// Whether the figure needs requests to mean anything: a latency or error
    /// rate over zero requests is a placeholder 0, whereas 0 RPS is measured.
    fn needs_requests(self) -> bool {
        self != Metric::Rps
    }

    /// The figure formatted for people.
    pub fn format(self, v: f64) -> String {
        use crate::report::format;
        match self {
            Metric::Rps => format!("{}/s", format::number(v)),
            Metric::ErrorRate => format::percent(v),
            _ => format::millis(v),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "p50" | "median" | "med" => Metric::P50,
            "p95" => Metric::P95,
            "p99" => Metric::P99,
            "mean" | "avg" => Metric::Mean,
            "rps" => Metric::Rps,
            "error_rate" | "error-rate" | "errors" => Metric::ErrorRate,
            _ => {
                return Err(format!(
                    "unknown metric {s:?}; expected one of p50, p95, p99, mean, rps, error_rate"
                ));
            }
        })
    }
}

/// Reads a results file; any failure is bad input naming the file.
pub fn load(path: &Path) -> anyhow::Result<Results> {
    Results::read(path).map_err(|e| crate::exit::bad_input(format!("{e:#}")))
}

/// Reads the baseline file at `baseline` and judges `current` against it:
/// what `wasm-slo run --baseline FILE` needs. Print the result with
/// [`render_table`]; [`Comparison::outcome`] gives the exit code.
pub fn compare_with_file(
    baseline: &Path,
    current: &Results,
    rules: &RegressionRules,
) -> anyhow::Result<Comparison> {
    Ok(compare(&load(baseline)?, current, rules))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Building results files in memory.

    use super::*;

    /// An endpoint with `n` requests, `errors` failed, all latency figures
    /// derived from `p95`, over a 10 s load.
    pub fn endpoint(n: u64, errors: u64, p95: f64) -> EndpointSummary {
        EndpointSummary {
            total_requests: n,
            rps: n as f64 / 10.0,
            error_count: errors,
            error_rate: if n == 0 {
                0.0
            } else {
                errors as f64 / n as f64
            },
            min: p95 * 0.2,
            mean: p95 * 0.5,
            median: p95 * 0.4,
            p90: p95 * 0.9,
            p95,
            p99: p95 * 1.5,
            max: p95 * 2.0,
        }
    }

    /// A results file of module `module` started at `started_at`.
    pub fn results(
        module: &str,
        started_at: &str,
        endpoints: &[(&str, EndpointSummary)],
    ) -> Results {
        let doc = serde_json::json!({
            "schema": crate::report::json::SCHEMA,
            "runner": {"name": "wasm-slo", "version": "0.0.0"},
            "module": {"path": "m.wasm", "sha256": "00", "wit": "wasm-slo:scenario@0.1.0", "name": module},
            "started_at": started_at,
            "duration_s": 10.0,
            "config": {},
            "outcome": {"verdict": "pass", "exit_code": 0, "reason": null,
                        "interrupted_iterations": 0, "vu_init_failures": 0},
            "endpoints": endpoints.iter().map(|(n, e)| (n.to_string(), e.clone()))
                .collect::<std::collections::BTreeMap<_, _>>(),
            "metrics": [],
            "thresholds": [],
            "interval_s": 1.0,
            "intervals": [],
        });
        serde_json::from_value(doc).expect("valid results")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>(), Ok(m));
            assert_eq!(
                serde_json::to_value(m).unwrap(),
                serde_json::json!(m.name())
            );
        }
        assert_eq!("median".parse::<Metric>(), Ok(Metric::P50));
        assert_eq!("error-rate".parse::<Metric>(), Ok(Metric::ErrorRate));
        assert!("p42".parse::<Metric>().unwrap_err().contains("p95"));
    }

    #[test]
    fn load_reports_bad_input_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let err = load(&missing).unwrap_err();
        assert!(crate::exit::is_bad_input(&err));
        assert!(format!("{err:#}").contains("missing.json"));
        let junk = dir.path().join("junk.json");
        std::fs::write(&junk, "{\"schema\": 1}").unwrap();
        let err = load(&junk).unwrap_err();
        assert!(crate::exit::is_bad_input(&err));
        assert!(format!("{err:#}").contains("junk.json"), "{err:#}");
    }
}
