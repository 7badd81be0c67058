//! Exact merge of a test's parts: the results files of its segments, run as
//! separate processes, added into the figures of the whole test. Trends add
//! their HDR histograms (and exact sums and extremes), counters and rates
//! add, time series add interval by interval ([`series`]). Gauges: `vus`
//! and `vus_max` add across processes (each counts its own VUs); any other
//! gauge keeps its extremes over all parts and, as its value, the value of
//! the part that finished last, as one process keeps the latest value.
//! The verdicts are then judged on the whole, as after a run.

pub mod check;
pub mod series;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::exit::{Outcome, bad_input};
use crate::metrics::catalog as m;
use crate::metrics::data::{MetricData, MetricKind};
use crate::metrics::store::MetricStore;
use crate::metrics::tags::TagSet;
use crate::metrics::timeline::IntervalRecord;
use crate::plan::Plan;
use crate::plan::segment::Share;
use crate::report::ModuleInfo;
use crate::report::json::Results;

/// One results file to merge.
pub struct Part {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Its content.
    pub results: Results,
}

/// The whole test's figures, from its parts.
pub struct Merged {
    /// The module (the first part's path).
    pub module: ModuleInfo,
    /// The test's plan, as the parts recorded it.
    pub plan: Plan,
    /// The segments the parts cover.
    pub share: Share,
    /// Start of the earliest part.
    pub started_at: SystemTime,
    /// From that start to the end of the last part.
    pub duration: Duration,
    /// Every series, added.
    pub metrics: MetricStore,
    /// The time series, added.
    pub intervals: Vec<IntervalRecord>,
    /// Its interval.
    pub interval: Duration,
    /// VUs that could not start, in all parts.
    pub vu_init_failures: u64,
    /// How the test ended if a part did not run to its end: the worst part's
    /// outcome (a runner failure before an abort) and why.
    pub ended: Option<(Outcome, String)>,
    /// Things the user should know (missing segments, late starts).
    pub warnings: Vec<String>,
}

/// Merges `parts`, refusing files that are not parts of one test (see
/// [`check`]); missing segments are refused unless `allow_partial`.
pub fn merge(parts: &[Part], allow_partial: bool) -> anyhow::Result<Merged> {
    let (share, mut warnings) = check::check(parts, allow_partial)?;
    let first = &parts[0];
    let mut plan: Plan = serde_json::from_value(first.results.config.clone()).map_err(|e| {
        bad_input(format!(
            "`{}`: its config cannot be read back ({e}); was it written by another version?",
            first.path.display()
        ))
    })?;
    plan.segment = Default::default();
    let interval = Duration::try_from_secs_f64(first.results.interval_s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            bad_input(format!(
                "`{}`: interval_s {} is not a length of time",
                first.path.display(),
                first.results.interval_s
            ))
        })?;

    // Each part on the earliest part's clock.
    let mut starts = Vec::new();
    for p in parts {
        let at = humantime::parse_rfc3339_weak(p.results.started_at.trim_end_matches('Z'))
            .map_err(|e| {
                bad_input(format!(
                    "`{}`: started_at {:?} is not an RFC 3339 time ({e})",
                    p.path.display(),
                    p.results.started_at
                ))
            })?;
        starts.push(at);
    }
    let started_at = starts
        .iter()
        .min()
        .copied()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let offsets: Vec<f64> = starts
        .iter()
        .map(|s| {
            s.duration_since(started_at)
                .unwrap_or_default()
                .as_secs_f64()
        })
        .collect();
    let spread = offsets.iter().copied().fold(0.0, f64::max);
    if spread >= interval.as_secs_f64() {
        warnings.push(format!(
            "the parts started up to {spread:.1} s apart; their time series are aligned to the \
             nearest interval (start segments together with --start-at)"
        ));
    }
    let end = |i: usize| offsets[i] + parts[i].results.duration_s;
    let duration = (0..parts.len()).map(end).fold(0.0, f64::max);

    // Gauges keep the value of the part that finished last: add in order of
    // their ends.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| end(*a).total_cmp(&end(*b)));
    let mut metrics = MetricStore::default();
    let mut vus_max = 0.0;
    for &i in &order {
        let p = &parts[i];
        let store = p
            .results
            .to_store()
            .map_err(|e| bad_input(format!("`{}`: {e:#}", p.path.display())))?;
        for (k, d) in store.iter() {
            match (k.metric.as_str(), d) {
                (m::VUS_MAX, MetricData::Gauge { value, .. }) => vus_max += value,
                // Rebuilt below from the summed time series.
                (m::VUS, _) => {}
                _ => metrics.add(&k.metric, &k.tags, d.clone()),
            }
        }
    }
    metrics.set_gauge(m::VUS_MAX, &TagSet::empty(), vus_max);

    let shifted: Vec<series::Shifted> = parts
        .iter()
        .zip(&offsets)
        .map(|(p, o)| series::Shifted {
            intervals: &p.results.intervals,
            shift: (o / interval.as_secs_f64()).round() as u64,
        })
        .collect();
    let intervals =
        series::merge(&shifted, interval).map_err(|e| bad_input(format!("time series: {e:#}")))?;
    if !intervals.is_empty() {
        let mut vus = MetricData::new(MetricKind::Gauge, false);
        intervals.iter().for_each(|r| vus.observe(r.vus as f64));
        metrics.add(m::VUS, &TagSet::empty(), vus);
    }

    Ok(Merged {
        module: first.results.module.clone(),
        plan,
        share,
        started_at,
        duration: Duration::from_secs_f64(duration),
        metrics,
        intervals,
        interval,
        vu_init_failures: parts
            .iter()
            .map(|p| p.results.outcome.vu_init_failures)
            .sum(),
        ended: worst_ending(parts),
        warnings,
    })
}

/// A part that failed, was aborted or interrupted decides how the whole
/// test ended: a runner failure first, then the first of the others.
fn worst_ending(parts: &[Part]) -> Option<(Outcome, String)> {
    let ending = |p: &Part| {
        let o = &p.results.outcome;
        let outcome = match (o.verdict.as_str(), o.exit_code) {
            ("error", _) => Outcome::RuntimeFailure,
            ("aborted", 98) => Outcome::AbortedByThreshold,
            ("aborted", _) => Outcome::AbortedByScenario,
            // A segment stopped by Ctrl-C/SIGTERM: the whole test was too.
            ("interrupted", _) => Outcome::Interrupted,
            _ => return None,
        };
        let why = o.reason.as_deref().unwrap_or("no reason recorded");
        Some((outcome, format!("{} ended early: {why}", p.path.display())))
    };
    let endings: Vec<(Outcome, String)> = parts.iter().filter_map(ending).collect();
    endings
        .iter()
        .find(|(o, _)| *o == Outcome::RuntimeFailure)
        .or_else(|| endings.first())
        .cloned()
}
