//! Live progress on stderr: on a terminal, an indicatif bar per scenario
//! under a status line (elapsed/total, VUs, request rate, p95, errors,
//! checks) redrawn as each interval closes; elsewhere (CI logs) the same
//! status as a plain line at a period that keeps the log short.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::catalog as m;
use crate::metrics::data::MetricData;
use crate::metrics::store::MetricStore;
use crate::metrics::timeline::ClosedInterval;
use crate::plan::duration::format_duration;
use crate::plan::{Executor, Plan};
use crate::report::format::{millis, percent};

/// At most about this many plain lines per run.
const PLAIN_LINES: f64 = 30.0;

/// How a scenario's progress is measured.
enum Measure {
    /// Time through its planned span.
    Time { start: Duration, span: Duration },
    /// Iterations completed of a fixed number.
    Iterations(u64),
}

struct Scenario {
    name: String,
    measure: Measure,
    bar: Option<ProgressBar>,
}

/// The live progress display.
pub struct Progress {
    scenarios: Vec<Scenario>,
    total: Duration,
    interval: Duration,
    multi: Option<MultiProgress>,
    status: Option<ProgressBar>,
    /// Plain mode: seconds between lines, and when the last one was printed.
    plain_every: f64,
    plain_last: f64,
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn new(plan: &Plan, interval: Duration) -> Self {
        Self::with_terminal(plan, interval, std::io::stderr().is_terminal())
    }

    fn with_terminal(plan: &Plan, interval: Duration, terminal: bool) -> Self {
        let total = plan.load_end();
        let multi = terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let status = multi.as_ref().map(|mp| {
            let pb = mp.add(ProgressBar::new_spinner());
            pb.set_style(ProgressStyle::with_template("{msg}").expect("static template"));
            pb
        });
        let width = plan
            .scenarios
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0);
        let scenarios = plan
            .scenarios
            .iter()
            .map(|s| {
                let measure = match &s.executor {
                    Executor::SharedIterations { iterations, .. } => {
                        Measure::Iterations(*iterations)
                    }
                    Executor::PerVuIterations {
                        vus, iterations, ..
                    } => Measure::Iterations(vus * iterations),
                    e => Measure::Time {
                        start: s.start_time,
                        span: e.planned_duration(),
                    },
                };
                let bar = multi.as_ref().map(|mp| {
                    let len = match measure {
                        Measure::Time { span, .. } => span.as_millis() as u64,
                        Measure::Iterations(n) => n,
                    };
                    let pb = mp.add(ProgressBar::new(len.max(1)));
                    pb.set_style(
                        ProgressStyle::with_template(&format!(
                            "  {{prefix:<{width}}} [{{bar:30.cyan/blue}}] {{msg}}"
                        ))
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    pb.set_prefix(s.name.clone());
                    pb
                });
                Scenario {
                    name: s.name.clone(),
                    measure,
                    bar,
                }
            })
            .collect();
        Progress {
            scenarios,
            total,
            interval,
            multi,
            status,
            plain_every: (total.as_secs_f64() / PLAIN_LINES).ceil().max(1.0),
            plain_last: f64::NEG_INFINITY,
        }
    }

    /// Shows the state after `closed`.
    pub fn update(&mut self, closed: &ClosedInterval<'_>, totals: &MetricStore) {
        let elapsed = Duration::from_secs_f64(closed.record.t);
        let status = status_line(closed, totals, self.interval);
        let mut head = format!(
            "{}/{}",
            format_duration(round_s(elapsed)),
            format_duration(self.total)
        );
        if elapsed > self.total + self.interval {
            head += " (graceful stop)";
        }
        for s in &self.scenarios {
            let vus = closed
                .record
                .vus_by_scenario
                .get(&s.name)
                .copied()
                .unwrap_or(0);
            let done = totals
                .select(m::ITERATIONS, &[("scenario".to_owned(), s.name.clone())])
                .and_then(|d| match d {
                    MetricData::Counter { sum } => Some(sum as u64),
                    _ => None,
                })
                .unwrap_or(0);
            if let Some(bar) = &s.bar {
                match s.measure {
                    Measure::Time { start, span } => {
                        let pos = elapsed.saturating_sub(start).min(span);
                        bar.set_position(pos.as_millis() as u64);
                        bar.set_message(format!(
                            "{}/{} · {vus} VUs · {done} iterations",
                            format_duration(round_s(pos)),
                            format_duration(span)
                        ));
                    }
                    Measure::Iterations(n) => {
                        bar.set_position(done.min(n));
                        bar.set_message(format!("{done}/{n} iterations · {vus} VUs"));
                    }
                }
            }
        }
        if let Some(pb) = &self.status {
            pb.set_message(format!("running {head} · {status}"));
        } else if closed.record.t - self.plain_last >= self.plain_every - 1e-9 {
            self.plain_last = closed.record.t;
            eprintln!("running {head} · {} VUs · {status}", closed.record.vus);
        }
    }

    /// Leaves the bars in their final state.
    pub fn finish(self) {
        for s in &self.scenarios {
            if let Some(bar) = &s.bar {
                bar.abandon();
            }
        }
        if let Some(pb) = &self.status {
            pb.finish_and_clear();
        }
        drop(self.multi);
    }
}

fn round_s(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs_f64().round() as u64)
}

/// `812 req/s · p95 12.3 ms · errors 0.10% (12) · checks 99.9%`.
fn status_line(closed: &ClosedInterval<'_>, totals: &MetricStore, interval: Duration) -> String {
    let rps = closed.record.requests as f64 / interval.as_secs_f64().max(1e-9);
    let p95 = match closed.metrics.select(m::HTTP_REQ_DURATION, &[]) {
        Some(MetricData::Trend(t)) if t.count() > 0 => millis(t.percentile(95.0)),
        _ => "-".into(),
    };
    let mut line = format!("{rps:.0} req/s · p95 {p95}");
    if let Some(MetricData::Rate { passes, total }) = totals.select(m::HTTP_REQ_FAILED, &[])
        && total > 0
    {
        line += &format!(
            " · errors {} ({passes})",
            percent(passes as f64 / total as f64)
        );
    }
    if let Some(MetricData::Rate { passes, total }) = totals.select(m::CHECKS, &[])
        && total > 0
    {
        line += &format!(" · checks {}", percent(passes as f64 / total as f64));
    }
    line
}
