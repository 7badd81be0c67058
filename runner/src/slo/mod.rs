//! Verdicts: every threshold expression evaluated on the aggregate, phase
//! objectives on the time series ([`phases`]), and the run's PASS/WARN/FAIL.

pub mod failures;
pub mod phases;

use std::time::Duration;

use serde::Serialize;

use crate::metrics::catalog;
use crate::metrics::data::{MetricData, MetricKind, Trend};
use crate::metrics::store::MetricStore;
use crate::plan::threshold::{Aggregation, Expression, check_applies};
use crate::plan::{Objective, Plan, Source};

/// The verdict of one objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Holds.
    Pass,
    /// Holds, but its warning level does not.
    Warn,
    /// Does not hold.
    Fail,
}

impl Level {
    /// `PASS`, `WARN` or `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Level::Pass => "PASS",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// The outcome of one threshold expression.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ThresholdResult {
    /// The selector, canonical (e.g. `http_req_duration{name:"GET /x"}`).
    pub selector: String,
    /// The metric name.
    pub metric: String,
    /// The expression as written.
    pub expression: String,
    /// The aggregation's label, e.g. `p(95)`.
    pub aggregation: String,
    /// The measured value (milliseconds for time trends); None when the
    /// metric had no data or cannot be aggregated this way.
    pub value: Option<f64>,
    /// The bound, in the same unit as `value`.
    pub bound: f64,
    /// Whether the expression holds (PASS or WARN).
    pub passed: bool,
    /// PASS, WARN or FAIL.
    pub verdict: Level,
    /// The warning level's expression, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Whether a failure stops the test.
    #[serde(default)]
    pub abort_on_fail: bool,
    /// Where the threshold was declared.
    pub source: Source,
    /// Why there is no value, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Whether `value` is a duration in milliseconds.
    pub is_time: bool,
    /// For phase objectives, the phase judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// All threshold outcomes of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Per expression, in plan order.
    pub results: Vec<ThresholdResult>,
}

impl Verdict {
    /// True when every threshold holds (warnings allowed).
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }

    /// Number of failed expressions.
    pub fn failures(&self) -> usize {
        self.count(Level::Fail)
    }

    /// Number of expressions at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.results.iter().filter(|r| r.verdict == level).count()
    }

    /// The worst level, PASS when there is no threshold.
    pub fn level(&self) -> Level {
        self.results
            .iter()
            .map(|r| r.verdict)
            .max()
            .unwrap_or(Level::Pass)
    }
}

/// Evaluates the plan's thresholds on `metrics`, for a load of `duration`.
pub fn evaluate(plan: &Plan, metrics: &MetricStore, duration: Duration) -> Verdict {
    evaluate_where(plan, metrics, duration, |_| true)
}

/// The first abort-on-fail objective that fails now, `elapsed` into the
/// load (objectives wait for their `delay_abort_eval`), as a reason.
pub fn abort_reason(plan: &Plan, metrics: &MetricStore, elapsed: Duration) -> Option<String> {
    let v = evaluate_where(plan, metrics, elapsed, |o| {
        o.abort_on_fail && elapsed >= o.delay_abort_eval
    });
    v.results
        .iter()
        .find(|r| r.verdict == Level::Fail && r.value.is_some())
        .map(|r| {
            format!(
                "threshold {} {} failed (value {}) and aborts on fail",
                r.selector,
                r.expression,
                r.value.map_or("-".into(), |v| format!("{v:.3}"))
            )
        })
}

fn evaluate_where(
    plan: &Plan,
    metrics: &MetricStore,
    duration: Duration,
    keep: impl Fn(&Objective) -> bool,
) -> Verdict {
    let mut results = Vec::new();
    for t in &plan.thresholds {
        if !t.expressions.iter().any(&keep) {
            continue;
        }
        let data = metrics
            .select(&t.selector.metric, &t.selector.tags)
            .or_else(|| {
                // A built-in metric with no samples is still defined: empty.
                catalog::builtin(&t.selector.metric).map(|(k, time)| MetricData::new(k, time))
            });
        for o in t.expressions.iter().filter(|o| keep(o)) {
            let e = &o.expr;
            let (value, note) = match &data {
                None => (
                    None,
                    Some("no samples of this metric were recorded".to_owned()),
                ),
                Some(d) => match measure(d, e, &t.selector.metric, duration) {
                    Ok(v) if v.is_nan() => {
                        (None, Some("no samples matched the selector".to_owned()))
                    }
                    Ok(v) => (Some(v), None),
                    Err(why) => (None, Some(why)),
                },
            };
            let passed = value.is_some_and(|v| e.holds(v));
            let warned = value.is_some_and(|v| o.warning.as_ref().is_some_and(|w| !w.holds(v)));
            let verdict = match (passed, warned) {
                (false, _) => Level::Fail,
                (true, true) => Level::Warn,
                (true, false) => Level::Pass,
            };
            results.push(ThresholdResult {
                selector: t.selector.to_string(),
                metric: t.selector.metric.clone(),
                expression: e.source.clone(),
                aggregation: e.aggregation.label(),
                passed,
                verdict,
                warning: o.warning.as_ref().map(|w| w.source.clone()),
                abort_on_fail: o.abort_on_fail,
                value,
                bound: e.bound,
                source: t.source,
                note,
                is_time: matches!(&data, Some(MetricData::Trend(tr)) if tr.is_time),
                phase: None,
            });
        }
    }
    Verdict { results }
}

/// The figure `e` asks of `data`.
fn measure(
    data: &MetricData,
    e: &Expression,
    metric: &str,
    duration: Duration,
) -> Result<f64, String> {
    check_applies(e, metric, data.kind().into()).map_err(|err| err.to_string())?;
    let secs = duration.as_secs_f64().max(1e-9);
    Ok(match (data, e.aggregation) {
        (MetricData::Trend(t), agg) => trend_figure(t, agg),
        (MetricData::Counter { sum }, Aggregation::Count) => *sum,
        (MetricData::Counter { sum }, Aggregation::Rate) => sum / secs,
        // As in k6, a rate with no observations is 0.
        (MetricData::Rate { passes, total }, Aggregation::Rate) => {
            if *total == 0 {
                0.0
            } else {
                *passes as f64 / *total as f64
            }
        }
        (MetricData::Gauge { value, .. }, Aggregation::Value) => *value,
        (MetricData::Gauge { min, .. }, Aggregation::Min) => *min,
        (MetricData::Gauge { max, .. }, Aggregation::Max) => *max,
        (d, agg) => {
            return Err(format!(
                "{} does not apply to a {:?} metric",
                agg.label(),
                d.kind()
            ));
        }
    })
}

/// A trend's figure for `agg`.
pub fn trend_figure(t: &Trend, agg: Aggregation) -> f64 {
    match agg {
        Aggregation::Avg => t.mean(),
        Aggregation::Min => t.min(),
        Aggregation::Max => t.max(),
        Aggregation::Med => t.percentile(50.0),
        Aggregation::Percentile(p) => t.percentile(p),
        Aggregation::Count => t.count() as f64,
        Aggregation::Rate | Aggregation::Value => f64::NAN,
    }
}

impl From<MetricKind> for crate::plan::threshold::MetricKind {
    fn from(k: MetricKind) -> Self {
        use crate::plan::threshold::MetricKind as T;
        match k {
            MetricKind::Counter => T::Counter,
            MetricKind::Gauge => T::Gauge,
            MetricKind::Rate => T::Rate,
            MetricKind::Trend => T::Trend,
        }
    }
}
#[cfg(test)]
mod proptests;
