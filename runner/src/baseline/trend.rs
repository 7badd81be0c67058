//! Trends over many runs (seed 003's trend analysis): one figure of one
//! request name per results file, in start order, a least-squares line
//! through them, and a verdict on where that line goes.
//!
//! The verdict compares the fitted line's rise or fall over the runs' span
//! with its first fitted value: within ±5 % is stable; otherwise improving
//! or degrading, where more RPS is better and more latency or errors worse.
//! For the error rate the reference is at least 1 percentage point, so a
//! series starting at 0 % errors does not divide by zero (0 % -> 0.2 % is
//! +20 % of a point: degrading).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::Metric;
use crate::report::json::Results;

/// A fitted change within this share of the first fitted value is stable.
const STABLE_BAND: f64 = 0.05;

/// Where a series is heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Getting better by more than 5 % over the span.
    Improving,
    /// Within ±5 % over the span.
    Stable,
    /// Getting worse by more than 5 % over the span.
    Degrading,
}

impl Direction {
    /// `improving`, `stable` or `degrading`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Improving => "improving",
            Direction::Stable => "stable",
            Direction::Degrading => "degrading",
        }
    }
}

/// One run's figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// The run's start, as in its results file.
    pub started_at: String,
    /// The figure (ms, requests/s, or a 0..=1 share).
    pub value: f64,
}

/// The result of [`trend`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// The figure followed.
    pub metric: Metric,
    /// The request name followed (`all` for every request).
    pub name: String,
    /// The runs' figures, oldest first.
    pub points: Vec<TrendPoint>,
    /// Starts of runs left out: no request of that name (or, for latency
    /// and error rate, zero requests, whose figures are placeholders).
    pub skipped: Vec<String>,
    /// Seconds from the first to the last run.
    pub span_s: f64,
    /// The fitted line at the first run.
    pub first_fitted: f64,
    /// The fitted line at the last run.
    pub last_fitted: f64,
    /// `(last_fitted - first_fitted) / first_fitted` (see the module docs
    /// for the error rate's floor).
    pub change: f64,
    /// The verdict on `change`.
    pub direction: Direction,
    /// Reasons to doubt the series, e.g. runs of different scenarios.
    pub warnings: Vec<String>,
}

/// Why no trend could be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrendError {
    /// Fewer than two runs carry the figure.
    #[error(
        "a trend needs at least 2 runs with requests named `{name}`; got {usable} of {given} results file{}",
        plural(.given)
    )]
    TooFewRuns {
        /// The request name.
        name: String,
        /// Runs that had it.
        usable: usize,
        /// Runs given.
        given: usize,
    },
    /// A run's `started_at` is not a time.
    #[error("`started_at` {0:?} is not an RFC 3339 time")]
    BadTimestamp(String),
}

/// Fits the trend of `metric` for request name `name` over `runs` (in any
/// order; they are sorted by `started_at`).
pub fn trend(runs: &[Results], metric: Metric, name: &str) -> Result<Trend, TrendError> {
    let mut dated = Vec::with_capacity(runs.len());
    for r in runs {
        let at = humantime::parse_rfc3339_weak(&r.started_at)
            .map_err(|_| TrendError::BadTimestamp(r.started_at.clone()))?;
        dated.push((at, r));
    }
    // Stable: runs started at the same instant keep the order given.
    dated.sort_by_key(|(at, _)| *at);

    let mut points = Vec::new();
    let mut times = Vec::new();
    let mut skipped = Vec::new();
    for (at, r) in &dated {
        match r.endpoints.get(name) {
            Some(e) if e.total_requests > 0 || !metric.needs_requests() => {
                let value = metric.value(e);
                if value.is_finite() {
                    points.push(TrendPoint {
                        started_at: r.started_at.clone(),
                        value,
                    });
                    times.push(*at);
                    continue;
                }
                skipped.push(r.started_at.clone());
            }
            _ => skipped.push(r.started_at.clone()),
        }
    }
    if points.len() < 2 {
        return Err(TrendError::TooFewRuns {
            name: name.to_owned(),
            usable: points.len(),
            given: runs.len(),
        });
    }

    let first_time = times[0];
    let span_s = seconds_between(first_time, times[times.len() - 1]);
    let mut xs: Vec<f64> = times
        .iter()
        .map(|t| seconds_between(first_time, *t))
        .collect();
    if span_s == 0.0 {
        // All at one instant (e.g. copies): fall back to the run order.
        xs = (0..xs.len()).map(|i| i as f64).collect();
    }
    let ys: Vec<f64> = points.iter().map(|p| p.value).collect();
    let (first_fitted, last_fitted) = fit_ends(&xs, &ys);

    let floor = match metric {
        Metric::ErrorRate => 0.01,
        _ => 1e-3,
    };
    let change = (last_fitted - first_fitted) / first_fitted.abs().max(floor);
    let better = if metric.higher_is_better() {
        change > 0.0
    } else {
        change < 0.0
    };
    let direction = if change.abs() <= STABLE_BAND {
        Direction::Stable
    } else if better {
        Direction::Improving
    } else {
        Direction::Degrading
    };

    let mut warnings = Vec::new();
    let mut modules: Vec<&str> = dated.iter().map(|(_, r)| r.module.name.as_str()).collect();
    modules.sort_unstable();
    modules.dedup();
    if modules.len() > 1 {
        warnings.push(format!(
            "the runs are of different scenarios: {}",
            modules.join(", ")
        ));
    }

    Ok(Trend {
        metric,
        name: name.to_owned(),
        points,
        skipped,
        span_s,
        first_fitted,
        last_fitted,
        change,
        direction,
        warnings,
    })
}

fn plural(n: &usize) -> &'static str {
    if *n == 1 { "" } else { "s" }
}

fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64()
}

/// The least-squares line through the points, evaluated at the first and
/// last `x`. `xs` is sorted and not constant.
fn fit_ends(xs: &[f64], ys: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let at = |x: f64| my + slope * (x - mx);
    (at(xs[0]), at(xs[xs.len() - 1]))
}

/// One line per run, the fitted line, and the verdict.
pub fn render_trend(t: &Trend) -> String {
    let mut out = String::new();
    // Whole seconds read best, but runs seconds apart would all show "0s".
    let span = if t.span_s < 60.0 {
        Duration::from_millis((t.span_s * 1000.0).round() as u64)
    } else {
        Duration::from_secs(t.span_s.round() as u64)
    };
    let span = humantime::format_duration(span);
    let _ = writeln!(
        out,
        "{} of `{}` over {} runs ({span}):",
        t.metric,
        t.name,
        t.points.len()
    );
    let values: Vec<String> = t.points.iter().map(|p| t.metric.format(p.value)).collect();
    let width = values.iter().map(|v| v.chars().count()).max().unwrap_or(0);
    for (p, v) in t.points.iter().zip(&values) {
        let _ = writeln!(out, "  {}  {v:>width$}", p.started_at);
    }
    for s in &t.skipped {
        let _ = writeln!(out, "skipped: run of {s} (no requests named `{}`)", t.name);
    }
    for w in &t.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "fitted: {} -> {} ({:+.1} %)",
        t.metric.format(t.first_fitted),
        t.metric.format(t.last_fitted),
        t.change * 100.0
    );
    let _ = writeln!(
        out,
        "result: {} ({} {:+.1} % over the span; stable is within ±{:.0} %)",
        t.direction.name(),
        t.metric,
        t.change * 100.0,
        STABLE_BAND * 100.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{endpoint, results};
    use super::*;

    /// Runs one day apart with these p95 values (given newest first, to
    /// check the sorting).
    fn series(p95s: &[f64]) -> Vec<Results> {
        let mut runs: Vec<Results> = p95s
            .iter()
            .enumerate()
            .map(|(i, p)| {
                results(
                    "shop",
                    &format!("2025-01-{:02}T12:00:00.000Z", i + 1),
                    &[("all", endpoint(100, i as u64, *p))],
                )
            })
            .collect();
        runs.reverse();
        runs
    }

    #[test]
    fn degrading_latency() {
        let t = trend(&series(&[10.0, 11.0, 12.0, 13.0]), Metric::P95, "all").unwrap();
        assert_eq!(t.direction, Direction::Degrading);
        assert_eq!(t.points[0].started_at, "2025-01-01T12:00:00.000Z");
        assert_eq!(t.points[0].value, 10.0);
        assert!((t.first_fitted - 10.0).abs() < 1e-9);
        assert!((t.change - 0.3).abs() < 1e-9);
        assert_eq!(t.span_s, 3.0 * 86_400.0);
        let text = render_trend(&t);
        assert!(text.contains("p95 of `all` over 4 runs (3days)"), "{text}");
        assert!(
            text.contains("  2025-01-04T12:00:00.000Z  13.00ms"),
            "{text}"
        );
        assert!(text.contains("result: degrading (p95 +30.0 %"), "{text}");
    }

    #[test]
    fn improving_latency_and_noisy_stable() {
        let t = trend(&series(&[20.0, 18.0, 15.0]), Metric::P95, "all").unwrap();
        assert_eq!(t.direction, Direction::Improving);
        // Up and down around 10 ms: the fitted line barely moves.
        let t = trend(&series(&[10.0, 10.4, 9.6, 10.2, 9.9]), Metric::P95, "all").unwrap();
        assert_eq!(t.direction, Direction::Stable, "{t:?}");
        assert!(render_trend(&t).contains("result: stable"));
    }

    #[test]
    fn rps_higher_is_better() {
        // endpoint(): rps = requests / 10.
        let runs: Vec<Results> = [100, 150, 200]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                results(
                    "shop",
                    &format!("2025-02-{:02}T00:00:00Z", i + 1),
                    &[("all", endpoint(*n, 0, 10.0))],
                )
            })
            .collect();
        assert_eq!(
            trend(&runs, Metric::Rps, "all").unwrap().direction,
            Direction::Improving
        );
        let reversed: Vec<Results> = runs
            .iter()
            .zip(runs.iter().rev())
            .map(|(dated, figures)| {
                let mut r = figures.clone();
                r.started_at = dated.started_at.clone();
                r
            })
            .collect();
        assert_eq!(
            trend(&reversed, Metric::Rps, "all").unwrap().direction,
            Direction::Degrading
        );
    }

    #[test]
    fn error_rate_from_zero_uses_a_floor() {
        // series(): run i has i errors in 100: 0 %, 1 %, 2 %.
        let t = trend(&series(&[10.0, 10.0, 10.0]), Metric::ErrorRate, "all").unwrap();
        assert_eq!(t.direction, Direction::Degrading);
        assert!(t.change.is_finite());
        // Latency is flat: stable.
        let t = trend(&series(&[10.0, 10.0, 10.0]), Metric::P95, "all").unwrap();
        assert_eq!((t.direction, t.change), (Direction::Stable, 0.0));
    }

    #[test]
    fn needs_two_runs() {
        let err = trend(&series(&[10.0]), Metric::P95, "all").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a trend needs at least 2 runs with requests named `all`; got 1 of 1 results file"
        );
        assert!(matches!(
            trend(&[], Metric::P95, "all"),
            Err(TrendError::TooFewRuns { usable: 0, .. })
        ));
        let err = trend(&series(&[10.0, 11.0]), Metric::P95, "checkout").unwrap_err();
        assert!(err.to_string().contains("got 0 of 2 results files"));
    }

    #[test]
    fn skips_runs_without_the_name_and_refuses_bad_times() {
        let mut runs = series(&[10.0, 11.0, 12.0]);
        runs.push(results("shop", "2025-01-09T00:00:00Z", &[]));
        let t = trend(&runs, Metric::P95, "all").unwrap();
        assert_eq!(t.points.len(), 3);
        assert_eq!(t.skipped, ["2025-01-09T00:00:00Z"]);
        assert!(render_trend(&t).contains("skipped: run of 2025-01-09T00:00:00Z"));

        runs[0].started_at = "yesterday".into();
        assert_eq!(
            trend(&runs, Metric::P95, "all"),
            Err(TrendError::BadTimestamp("yesterday".into()))
        );
    }

    #[test]
    fn same_start_falls_back_to_run_order_and_warns_on_mixed_modules() {
        let mut runs: Vec<Results> = [10.0, 20.0]
            .iter()
            .map(|p| {
                results(
                    "shop",
                    "2025-01-01T00:00:00Z",
                    &[("all", endpoint(10, 0, *p))],
                )
            })
            .collect();
        runs[1].module.name = "blog".into();
        let t = trend(&runs, Metric::P95, "all").unwrap();
        assert_eq!(t.direction, Direction::Degrading);
        assert_eq!(t.span_s, 0.0);
        assert!(t.warnings[0].contains("blog, shop"), "{:?}", t.warnings);
    }
}
