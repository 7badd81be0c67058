//! The end-of-test summary on the terminal: requests per name, transport
//! errors by category, checks, iterations, other metrics, and the SLO table with the verdict.

use std::fmt::Write as _;

use super::RunReport;
use super::format::{bytes, millis, number, percent, threshold_measured};
use super::trend_stats::TrendStats;
use crate::exit::Outcome;
use crate::host::http_client::ErrorKind;
use crate::metrics::catalog as m;
use crate::metrics::data::{MetricData, MetricKind};
use crate::metrics::store::MetricStore;

/// Renders the summary as text, with `stats` as the trend columns.
pub fn render(r: &RunReport, stats: &TrendStats) -> String {
    let mut out = String::new();
    let secs = r.duration.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "\nwasm-slo {} · scenario {} ({}, {})",
        env!("CARGO_PKG_VERSION"),
        r.module.name,
        r.module.path,
        r.module.wit
    );
    for s in &r.plan.scenarios {
        let _ = writeln!(
            out,
            "  {}: {} · {} VUs · {} (graceful stop {})",
            s.name,
            s.executor.name(),
            s.executor.max_vus(),
            executor_detail(&s.executor),
            crate::plan::duration::format_duration(s.graceful_stop)
        );
    }
    if !r.plan.segment.is_whole() {
        let _ = writeln!(
            out,
            "  execution segment {} of {}: this process ran its share (at most {} VUs)",
            r.plan.segment.segment(),
            r.plan.segment.sequence(),
            r.plan.max_vus()
        );
    }
    let _ = writeln!(out, "  ran for {}", millis(secs * 1000.0));

    requests_table(&mut out, &r.metrics, secs, stats);
    checks_table(&mut out, &r.metrics);
    iterations_line(&mut out, r, secs);
    other_metrics(&mut out, &r.metrics, secs, stats);
    thresholds_table(&mut out, r);
    out
}

fn executor_detail(e: &crate::plan::Executor) -> String {
    use crate::plan::Executor::*;
    use crate::plan::duration::format_duration as fd;
    match e {
        ConstantVus { duration, .. } => fd(*duration),
        SharedIterations {
            iterations,
            max_duration,
            ..
        } => format!("{iterations} iterations shared, max {}", fd(*max_duration)),
        PerVuIterations {
            iterations,
            max_duration,
            ..
        } => format!("{iterations} iterations per VU, max {}", fd(*max_duration)),
        RampingVus {
            start_vus, stages, ..
        } => format!("from {start_vus}: {}", stage_list(stages)),
        ConstantArrivalRate {
            rate,
            time_unit,
            duration,
            pre_allocated_vus,
            ..
        } => format!(
            "{rate}/{} for {} ({pre_allocated_vus} pre-allocated VUs)",
            fd(*time_unit),
            fd(*duration)
        ),
        RampingArrivalRate {
            start_rate,
            time_unit,
            stages,
            pre_allocated_vus,
            ..
        } => format!(
            "from {start_rate}/{}: {} ({pre_allocated_vus} pre-allocated VUs)",
            fd(*time_unit),
            stage_list(stages)
        ),
    }
}

/// Stages as `30s→100, 1m→100`.
fn stage_list(stages: &[crate::plan::Stage]) -> String {
    stages
        .iter()
        .map(|s| {
            format!(
                "{}→{}",
                crate::plan::duration::format_duration(s.duration),
                s.target
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn requests_table(out: &mut String, metrics: &MetricStore, secs: f64, stats: &TrendStats) {
    let rows = metrics.requests_by_name(true);
    if rows.is_empty() {
        let _ = writeln!(out, "\n  no HTTP requests were made");
        return;
    }
    let width = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(8)
        + 2;
    let mut header = format!(
        "\n  {:<width$}{:>9}{:>9}{:>9}",
        "REQUESTS", "count", "rate/s", "failed"
    );
    for s in &stats.0 {
        let _ = write!(header, "{:>10}", s.to_string());
    }
    let _ = writeln!(out, "{header}");
    for (name, t, failed) in rows {
        let fail_rate = if t.count() > 0 {
            failed as f64 / t.count() as f64
        } else {
            0.0
        };
        let mut line = format!(
            "  {:<width$}{:>9}{:>9.1}{:>9}",
            name,
            t.count(),
            t.count() as f64 / secs,
            percent(fail_rate),
        );
        for s in &stats.0 {
            let v = s.of(&t);
            let text = if s.is_value() { millis(v) } else { number(v) };
            let _ = write!(line, "{text:>10}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    errors_table(out, metrics);
}

/// Requests that got no response, by k6 `error_code`, each with what it
/// means and its share of all requests.
fn errors_table(out: &mut String, metrics: &MetricStore) {
    let errors = metrics.group_by(m::HTTP_REQS, "error_code");
    if errors.is_empty() {
        return;
    }
    let total = metrics.counter_sum(m::HTTP_REQS).max(1.0);
    let _ = writeln!(out, "\n  ERRORS (no response; by k6 error_code)");
    for (code, d) in &errors {
        let MetricData::Counter { sum } = d else {
            continue;
        };
        let label = code
            .parse()
            .ok()
            .and_then(ErrorKind::describe_k6_code)
            .unwrap_or("error");
        let _ = writeln!(
            out,
            "  {code} {label:.<44} ×{} ({} of requests)",
            number(*sum),
            percent(sum / total)
        );
    }
}

fn checks_table(out: &mut String, metrics: &MetricStore) {
    let checks = metrics.group_by(m::CHECKS, "check");
    if checks.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n  CHECKS");
    for (name, d) in &checks {
        if let MetricData::Rate { passes, total } = d {
            let mark = if passes == total { "✓" } else { "✗" };
            let _ = writeln!(
                out,
                "  {mark} {name:<40} {passes}/{total} passed ({})",
                percent(*passes as f64 / (*total).max(1) as f64)
            );
        }
    }
}

fn iterations_line(out: &mut String, r: &RunReport, secs: f64) {
    let count = r.metrics.counter_sum(m::ITERATIONS);
    let _ = write!(
        out,
        "\n  ITERATIONS  {} ({:.1}/s)",
        number(count),
        count / secs
    );
    if let Some(MetricData::Trend(t)) = r.metrics.select(m::ITERATION_DURATION, &[]) {
        let _ = write!(
            out,
            " · duration avg {} p95 {} max {}",
            millis(t.mean()),
            millis(t.percentile(95.0)),
            millis(t.max())
        );
    }
    let _ = writeln!(out);
    for (kind, d) in r.metrics.group_by(m::ITERATION_ERRORS, "kind") {
        if let MetricData::Counter { sum } = d {
            let _ = writeln!(out, "  iterations ended by {kind}: {}", number(sum));
        }
    }
    let interrupted = r.interrupted_iterations();
    if interrupted > 0 {
        let _ = writeln!(
            out,
            "  interrupted iterations (cut off mid-way): {interrupted}"
        );
    }
    if r.vu_init_failures > 0 {
        let _ = writeln!(out, "  VUs that could not start: {}", r.vu_init_failures);
    }
}

fn other_metrics(out: &mut String, metrics: &MetricStore, secs: f64, stats: &TrendStats) {
    let shown = [
        m::HTTP_REQ_DURATION,
        m::HTTP_REQ_FAILED,
        m::CHECKS,
        m::ITERATIONS,
        m::ITERATION_DURATION,
        m::ITERATION_ERRORS,
        m::INTERRUPTED_ITERATIONS,
    ];
    let mut lines = Vec::new();
    for (name, _) in metrics.metrics() {
        if shown.contains(&name) {
            continue;
        }
        let Some(d) = metrics.select(name, &[]) else {
            continue;
        };
        let text = match &d {
            MetricData::Counter { sum } if m::is_bytes(name) => {
                format!("{} ({}/s)", bytes(*sum), bytes(sum / secs))
            }
            MetricData::Counter { sum } => format!("{} ({}/s)", number(*sum), number(sum / secs)),
            MetricData::Gauge { value, min, max } => {
                format!(
                    "{} (min {} max {})",
                    number(*value),
                    number(*min),
                    number(*max)
                )
            }
            MetricData::Rate { passes, total } => format!(
                "{} ({passes} of {total})",
                percent(*passes as f64 / (*total).max(1) as f64)
            ),
            MetricData::Trend(t) => stats
                .0
                .iter()
                .map(|s| {
                    let v = s.of(t);
                    let text = if t.is_time && s.is_value() {
                        millis(v)
                    } else {
                        number(v)
                    };
                    format!("{s}={text}")
                })
                .collect::<Vec<_>>()
                .join(" "),
        };
        lines.push(format!("  {name:.<32} {text}"));
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "\n  METRICS");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
}

fn thresholds_table(out: &mut String, r: &RunReport) {
    if !r.verdict.results.is_empty() {
        let _ = writeln!(out, "\n  THRESHOLDS");
        for t in &r.verdict.results {
            let is_rate = matches!(kind_of(&r.metrics, &t.metric), Some(MetricKind::Rate));
            let measured = threshold_measured(t, is_rate);
            let _ = writeln!(
                out,
                "  {}  {} {}  {}={}",
                t.verdict.label(),
                t.selector,
                t.expression,
                t.aggregation,
                measured
            );
        }
    }
    let verdict = match r.outcome {
        Outcome::Passed if !r.plan.segment.is_whole() => format!(
            "SEGMENT {} measured ({} of {} thresholds met by this segment alone); \
             `wasm-slo merge` of all segments judges the test",
            r.plan.segment.segment(),
            r.verdict.count(crate::slo::Level::Pass),
            r.verdict.results.len()
        ),
        Outcome::Passed if r.verdict.results.is_empty() => "PASS (no thresholds set)".into(),
        Outcome::Passed if r.verdict.count(crate::slo::Level::Warn) > 0 => format!(
            "PASS with {} warning(s) ({} of {} thresholds met; --strict fails on warnings)",
            r.verdict.count(crate::slo::Level::Warn),
            r.verdict.results.len() - r.verdict.count(crate::slo::Level::Warn),
            r.verdict.results.len()
        ),
        Outcome::Passed => format!(
            "PASS ({} of {} thresholds met)",
            r.verdict.results.len(),
            r.verdict.results.len()
        ),
        Outcome::SlosFailed if r.verdict.failures() == 0 => format!(
            "FAIL (--strict: {} of {} thresholds at WARN)",
            r.verdict.count(crate::slo::Level::Warn),
            r.verdict.results.len()
        ),
        Outcome::SlosFailed => format!(
            "FAIL ({} of {} thresholds failed)",
            r.verdict.failures(),
            r.verdict.results.len()
        ),
        Outcome::AbortedByScenario => format!(
            "ABORTED by the scenario: {}",
            r.aborted.as_deref().unwrap_or("no reason given")
        ),
        Outcome::AbortedByThreshold => format!(
            "ABORTED: {}",
            r.aborted.as_deref().unwrap_or("a threshold failed")
        ),
        // Thresholds above are judged on what was measured; the run itself
        // is incomplete, so it neither passes nor fails.
        Outcome::Interrupted => format!(
            "INTERRUPTED: {}",
            r.aborted.as_deref().unwrap_or("stopped by a signal")
        ),
        Outcome::RuntimeFailure => format!(
            "ERROR: {}",
            r.aborted.as_deref().unwrap_or("the run failed")
        ),
        Outcome::BadInput => "ERROR: bad input".into(),
    };
    let _ = writeln!(out, "\n  RESULT: {verdict}\n");
}

fn kind_of(metrics: &MetricStore, metric: &str) -> Option<MetricKind> {
    m::builtin(metric)
        .map(|(k, _)| k)
        .or_else(|| metrics.metrics().get(metric).copied())
}
