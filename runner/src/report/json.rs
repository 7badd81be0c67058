//! The JSON results file (`--out json=results.json`): a versioned schema
//! with, per metric and tag set, summary figures and the HDR histogram
//! serialized, so results can be merged and compared without loss.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{ModuleInfo, RunReport};
use crate::metrics::catalog as m;
use crate::metrics::data::{MetricData, MetricKind, Trend};
use crate::metrics::store::MetricStore;
use crate::metrics::tags::TagSet;
use crate::metrics::timeline::IntervalRecord;
use crate::slo::ThresholdResult;

/// The schema identifier; bumped on incompatible changes.
pub const SCHEMA: &str = "wasm-slo/results/v1";

/// The whole results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Runner that produced the file.
    pub runner: RunnerInfo,
    /// The module.
    pub module: ModuleInfo,
    /// Start of the load, RFC 3339 UTC.
    pub started_at: String,
    /// Length of the load in seconds.
    pub duration_s: f64,
    /// The resolved plan (scenarios, thresholds, env, HTTP settings).
    pub config: serde_json::Value,
    /// PASS/FAIL and exit code.
    pub outcome: OutcomeInfo,
    /// Per request name (and `all`): seed 003's result fields.
    pub endpoints: BTreeMap<String, EndpointSummary>,
    /// Every series.
    pub metrics: Vec<MetricRecord>,
    /// Every threshold expression with its measured value.
    pub thresholds: Vec<ThresholdResult>,
    /// Length of one interval of the time series, in seconds.
    pub interval_s: f64,
    /// The time series, one record per interval.
    pub intervals: Vec<IntervalRecord>,
}

/// Runner identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunnerInfo {
    /// "wasm-slo".
    pub name: String,
    /// Its version.
    pub version: String,
}

/// How the run ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeInfo {
    /// `pass`, `fail`, `aborted`, `interrupted` or `error`.
    pub verdict: String,
    /// The process exit code.
    pub exit_code: u8,
    /// Why the run ended early, if it did.
    pub reason: Option<String>,
    /// Iterations cut off at the end of the graceful stop.
    pub interrupted_iterations: u64,
    /// VUs that could not start.
    pub vu_init_failures: u64,
}

/// One endpoint's figures (durations in milliseconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointSummary {
    /// Requests.
    pub total_requests: u64,
    /// Requests per second over the load.
    pub rps: f64,
    /// Failed requests.
    pub error_count: u64,
    /// Failed share.
    pub error_rate: f64,
    /// Fastest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// p50.
    pub median: f64,
    /// p90.
    pub p90: f64,
    /// p95.
    pub p95: f64,
    /// p99.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// One series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricRecord {
    /// Metric name.
    pub name: String,
    /// Its kind.
    pub kind: MetricKind,
    /// The series' tags.
    pub tags: TagSet,
    /// `ms` for time trends, `bytes` for data counters.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unit: Option<String>,
    /// Summary figures by name (count, rate, avg, p(95), ...).
    pub values: BTreeMap<String, f64>,
    /// For trends: the HDR histogram (V2 deflate, base64) in 1/1000 units.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub histogram: Option<String>,
}

/// Percentiles listed for every trend.
const PERCENTILES: [(&str, f64); 6] = [
    ("p(50)", 50.0),
    ("p(90)", 90.0),
    ("p(95)", 95.0),
    ("p(99)", 99.0),
    ("p(99.9)", 99.9),
    ("p(99.99)", 99.99),
];

impl Results {
    /// Builds the file's content from a run.
    pub fn from_report(r: &RunReport) -> anyhow::Result<Self> {
        let secs = r.duration.as_secs_f64();
        let mut metrics = Vec::new();
        for (k, d) in r.metrics.iter() {
            metrics.push(metric_record(&k.metric, &k.tags, d, secs)?);
        }
        Ok(Results {
            schema: SCHEMA.into(),
            runner: RunnerInfo {
                name: "wasm-slo".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            module: r.module.clone(),
            started_at: humantime::format_rfc3339_millis(r.started_at).to_string(),
            duration_s: secs,
            config: serde_json::to_value(&r.plan).context("serializing the plan")?,
            outcome: OutcomeInfo {
                verdict: match r.outcome {
                    // Judged only once merged with the other segments.
                    crate::exit::Outcome::Passed if !r.plan.segment.is_whole() => "segment",
                    crate::exit::Outcome::Passed => "pass",
                    crate::exit::Outcome::SlosFailed => "fail",
                    crate::exit::Outcome::AbortedByScenario
                    | crate::exit::Outcome::AbortedByThreshold => "aborted",
                    crate::exit::Outcome::Interrupted => "interrupted",
                    _ => "error",
                }
                .into(),
                exit_code: r.outcome.code(),
                reason: r.aborted.clone(),
                interrupted_iterations: r.interrupted_iterations(),
                vu_init_failures: r.vu_init_failures,
            },
            endpoints: endpoints(&r.metrics, secs),
            metrics,
            thresholds: r.verdict.results.clone(),
            interval_s: r.interval.as_secs_f64(),
            intervals: r.intervals.clone(),
        })
    }

    /// The kind of `metric`: built-in, else as recorded in this file.
    pub fn metric_kind(&self, metric: &str) -> Option<MetricKind> {
        m::builtin(metric).map(|(k, _)| k).or_else(|| {
            self.metrics
                .iter()
                .find(|r| r.name == metric)
                .map(|r| r.kind)
        })
    }

    /// Threshold `t`'s measured value in its unit.
    pub fn threshold_measured(&self, t: &ThresholdResult) -> String {
        super::format::threshold_measured(t, self.metric_kind(&t.metric) == Some(MetricKind::Rate))
    }

    /// Threshold `t`'s bound in its unit.
    pub fn threshold_bound(&self, t: &ThresholdResult) -> String {
        super::format::threshold_figure(
            t,
            t.bound,
            self.metric_kind(&t.metric) == Some(MetricKind::Rate),
        )
    }

    /// Rebuilds the metric store from the serialized series, exactly.
    pub fn to_store(&self) -> anyhow::Result<MetricStore> {
        let mut store = MetricStore::default();
        for rec in &self.metrics {
            let v = |k: &str| rec.values.get(k).copied().unwrap_or(f64::NAN);
            let data = match rec.kind {
                MetricKind::Counter => MetricData::Counter { sum: v("count") },
                MetricKind::Gauge => MetricData::Gauge {
                    value: v("value"),
                    min: v("min"),
                    max: v("max"),
                },
                MetricKind::Rate => MetricData::Rate {
                    passes: v("passes") as u64,
                    total: v("total") as u64,
                },
                MetricKind::Trend => {
                    let hist = rec.histogram.as_deref().with_context(|| {
                        format!("trend {}{} has no histogram", rec.name, rec.tags)
                    })?;
                    MetricData::Trend(
                        Trend::decode(
                            hist,
                            v("sum"),
                            v("min"),
                            v("max"),
                            rec.unit.as_deref() == Some("ms"),
                        )
                        .with_context(|| format!("series {}{}", rec.name, rec.tags))?,
                    )
                }
            };
            store.add(&rec.name, &rec.tags, data);
        }
        Ok(store)
    }

    /// Reads a results file, checking its schema.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read results `{}`", path.display()))?;
        let results: Results = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a wasm-slo results file", path.display()))?;
        if results.schema != SCHEMA {
            anyhow::bail!(
                "`{}` has schema {:?}; this runner reads {SCHEMA:?}",
                path.display(),
                results.schema
            );
        }
        Ok(results)
    }

    /// Writes the file atomically: a reader never sees half of it.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self).context("serializing results")?;
        crate::atomic_file::write(path, &json)
            .with_context(|| format!("cannot write `{}`", path.display()))
    }
}

/// One series as the results file (and the streamed series) hold it;
/// `secs` is the span counter rates are computed over.
pub fn metric_record(
    name: &str,
    tags: &TagSet,
    d: &MetricData,
    secs: f64,
) -> anyhow::Result<MetricRecord> {
    let mut values = BTreeMap::new();
    let mut histogram = None;
    let mut unit = m::is_bytes(name).then(|| "bytes".to_owned());
    match d {
        MetricData::Counter { sum } => {
            values.insert("count".into(), *sum);
            values.insert("rate".into(), if secs > 0.0 { sum / secs } else { 0.0 });
        }
        MetricData::Gauge { value, min, max } => {
            values.insert("value".into(), *value);
            values.insert("min".into(), *min);
            values.insert("max".into(), *max);
        }
        MetricData::Rate { passes, total } => {
            values.insert("passes".into(), *passes as f64);
            values.insert("fails".into(), (total - passes) as f64);
            values.insert("total".into(), *total as f64);
            values.insert(
                "rate".into(),
                if *total == 0 {
                    0.0
                } else {
                    *passes as f64 / *total as f64
                },
            );
        }
        MetricData::Trend(t) => {
            values.insert("count".into(), t.count() as f64);
            values.insert("sum".into(), t.sum());
            values.insert("avg".into(), t.mean());
            values.insert("min".into(), t.min());
            values.insert("med".into(), t.percentile(50.0));
            values.insert("max".into(), t.max());
            for (label, p) in PERCENTILES {
                values.insert(label.into(), t.percentile(p));
            }
            if t.is_time {
                unit = Some("ms".into());
            }
            histogram = Some(t.encode_histogram()?);
        }
    }
    // JSON has no NaN: empty figures are left out.
    values.retain(|_, v| v.is_finite());
    Ok(MetricRecord {
        name: name.into(),
        kind: d.kind(),
        tags: tags.clone(),
        unit,
        values,
        histogram,
    })
}

fn endpoints(metrics: &MetricStore, secs: f64) -> BTreeMap<String, EndpointSummary> {
    let z = |v: f64| if v.is_finite() { v } else { 0.0 };
    metrics
        .requests_by_name(true)
        .into_iter()
        .map(|(name, t, errors)| {
            let n = t.count();
            let summary = EndpointSummary {
                total_requests: n,
                rps: if secs > 0.0 { n as f64 / secs } else { 0.0 },
                error_count: errors,
                error_rate: if n == 0 {
                    0.0
                } else {
                    errors as f64 / n as f64
                },
                min: z(t.min()),
                mean: z(t.mean()),
                median: z(t.percentile(50.0)),
                p90: z(t.percentile(90.0)),
                p95: z(t.percentile(95.0)),
                p99: z(t.percentile(99.0)),
                max: z(t.max()),
            };
            (name, summary)
        })
        .collect()
}
