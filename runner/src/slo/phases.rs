//! Objectives over phases and windows of the time series, which no peer
//! has: a figure during one scenario, stage or time range, relative to
//! another phase ("p95 during the spike < 2x p95 of normal load"), recovery
//! after a phase, stability across windows, and no degradation over a run.

use std::time::Duration;

use serde::Serialize;

use super::{Level, ThresholdResult};
use crate::exit::bad_input;
use crate::metrics::data::Trend;
use crate::metrics::timeline::IntervalRecord;
use crate::plan::slo_file::{PhaseDef, PhaseObjectiveRow, Value, margin, millis, ratio};
use crate::plan::{Executor, ScenarioPlan, Source};
use crate::report::format;

/// The phases and their objectives, as the plan carries them.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct PhaseSpec {
    /// Named windows.
    pub phases: Vec<PhaseDef>,
    /// Objectives over them.
    pub objectives: Vec<PhaseObjectiveRow>,
}

/// A figure of the requests in a window.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Figure {
    Percentile(f64),
    Max,
    Mean,
    ErrorRate,
    Rps,
}

impl Figure {
    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "max" => Figure::Max,
            "mean" | "avg" => Figure::Mean,
            "error_rate" => Figure::ErrorRate,
            "rps" => Figure::Rps,
            p if p.starts_with('p') => match p[1..].parse::<f64>() {
                Ok(v) if v > 0.0 && v <= 100.0 => Figure::Percentile(v),
                _ => {
                    return Err(bad_input(format!(
                        "figure {s:?}: percentiles are p50, p95, p99.9, ..."
                    )));
                }
            },
            _ => {
                return Err(bad_input(format!(
                    "figure {s:?}: use p50, p90, p95, p99, max, mean, error_rate or rps"
                )));
            }
        })
    }

    fn is_time(self) -> bool {
        matches!(self, Figure::Percentile(_) | Figure::Max | Figure::Mean)
    }

    /// A bound for this figure in its unit (ms, ratio, per second).
    fn bound(self, v: &Value, what: &str) -> anyhow::Result<f64> {
        match self {
            f if f.is_time() => millis(v, what),
            Figure::ErrorRate => ratio(v, what),
            _ => match v {
                Value::Number(n) => Ok(*n),
                Value::Text(t) => t
                    .trim()
                    .parse()
                    .map_err(|_| bad_input(format!("{what} = {t:?}: expected a number"))),
            },
        }
    }

    fn show(self, v: f64) -> String {
        match self {
            f if f.is_time() => format::millis(v),
            Figure::ErrorRate => format::percent(v),
            _ => format::number(v),
        }
    }
}

/// Checks the spec against the plan's scenarios: every name resolves and
/// every objective has what its kind needs.
pub fn validate(spec: &PhaseSpec, scenarios: &[ScenarioPlan]) -> anyhow::Result<()> {
    for (i, p) in spec.phases.iter().enumerate() {
        if spec.phases[..i].iter().any(|q| q.name == p.name) {
            return Err(bad_input(format!("phase \"{}\" is defined twice", p.name)));
        }
        window_of(p, scenarios)?;
    }
    for (i, o) in spec.objectives.iter().enumerate() {
        check_objective(spec, o).map_err(|e| bad_input(format!("phase_objectives[{i}]: {e:#}")))?;
    }
    Ok(())
}

fn check_objective(spec: &PhaseSpec, o: &PhaseObjectiveRow) -> anyhow::Result<()> {
    let figure = Figure::parse(&o.figure)?;
    for name in [&o.phase, &o.relative_to].into_iter().flatten() {
        if !spec.phases.iter().any(|p| &p.name == name) {
            return Err(bad_input(format!(
                "no phase named \"{name}\"; define it under [[phases]]"
            )));
        }
    }
    match o.kind.as_deref().unwrap_or("bound") {
        "bound" => {
            let n = [o.below.is_some(), o.above.is_some(), o.times.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if n != 1 || o.times.is_some() != o.relative_to.is_some() {
                return Err(bad_input(
                    "give one of `below`, `above`, or `times` with `relative_to`",
                ));
            }
        }
        "recovery" => {
            if o.phase.is_none() || o.below.is_none() || o.within.is_none() {
                return Err(bad_input(
                    "a recovery objective needs `phase`, `below` and `within`",
                ));
            }
        }
        "stability" => {
            if o.max_variation.is_none() {
                return Err(bad_input("a stability objective needs `max_variation`"));
            }
        }
        "no_degradation" => {
            if o.max_increase.is_none() {
                return Err(bad_input("a no_degradation objective needs `max_increase`"));
            }
        }
        other => {
            return Err(bad_input(format!(
                "unknown kind {other:?}; use bound, recovery, stability or no_degradation"
            )));
        }
    }
    for v in [&o.below, &o.above].into_iter().flatten() {
        figure.bound(v, &o.figure)?;
    }
    margin(&o.max_variation, "max_variation")?;
    margin(&o.max_increase, "max_increase")?;
    Ok(())
}

/// The window `[from, to)` of a phase, in seconds from the load's start.
fn window_of(p: &PhaseDef, scenarios: &[ScenarioPlan]) -> anyhow::Result<(f64, f64)> {
    let err = |m: String| bad_input(format!("phase \"{}\": {m}", p.name));
    match (&p.scenario, p.from, p.to) {
        (Some(name), None, None) => {
            let s = scenarios
                .iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| err(format!("no scenario named \"{name}\"")))?;
            let start = s.start_time.as_secs_f64();
            let Some(stage) = p.stage else {
                return Ok((start, s.end().as_secs_f64()));
            };
            let stages = match &s.executor {
                Executor::RampingVus { stages, .. }
                | Executor::RampingArrivalRate { stages, .. } => stages,
                _ => return Err(err(format!("scenario \"{name}\" has no stages"))),
            };
            if stage == 0 || stage > stages.len() {
                return Err(err(format!(
                    "stage {stage} is not among 1..={}",
                    stages.len()
                )));
            }
            let before: Duration = stages[..stage - 1].iter().map(|s| s.duration).sum();
            let from = start + before.as_secs_f64();
            Ok((from, from + stages[stage - 1].duration.as_secs_f64()))
        }
        (None, Some(from), Some(to)) if from < to => Ok((from.as_secs_f64(), to.as_secs_f64())),
        (None, Some(_), Some(_)) => Err(err("`from` must be before `to`".into())),
        _ => Err(err(
            "give `scenario` (and optionally `stage`), or `from` and `to`".into(),
        )),
    }
}

/// The requests of some intervals: merged latency, counts, length.
struct Slice {
    trend: Trend,
    requests: u64,
    errors: u64,
    secs: f64,
}

fn slice(
    intervals: &[IntervalRecord],
    interval_s: f64,
    from: f64,
    to: f64,
    name: Option<&str>,
) -> Slice {
    let mut trend = Trend::new(true);
    let (mut requests, mut errors, mut n) = (0, 0, 0usize);
    for rec in intervals {
        let mid = rec.t - interval_s / 2.0;
        if mid < from || mid >= to {
            continue;
        }
        n += 1;
        for (req_name, ni) in &rec.by_name {
            if name.is_some_and(|w| w != req_name) {
                continue;
            }
            requests += ni.requests;
            errors += ni.errors;
            if let Ok(t) = ni.trend() {
                trend.merge(&t);
            }
        }
    }
    Slice {
        trend,
        requests,
        errors,
        secs: n as f64 * interval_s,
    }
}

fn figure_of(s: &Slice, f: Figure) -> f64 {
    match f {
        Figure::Percentile(p) => s.trend.percentile(p),
        Figure::Max => s.trend.max(),
        Figure::Mean => s.trend.mean(),
        Figure::ErrorRate if s.requests > 0 => s.errors as f64 / s.requests as f64,
        Figure::Rps if s.secs > 0.0 => s.requests as f64 / s.secs,
        _ => f64::NAN,
    }
}

/// Figures of consecutive windows of `window` seconds tiling `[from, to)`.
fn rolling(
    intervals: &[IntervalRecord],
    interval_s: f64,
    (from, to): (f64, f64),
    window: f64,
    name: Option<&str>,
    f: Figure,
) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut a = from;
    while a + window <= to + 1e-9 {
        let v = figure_of(&slice(intervals, interval_s, a, a + window, name), f);
        if v.is_finite() {
            out.push((a + window / 2.0, v));
        }
        a += window;
    }
    out
}

/// Evaluates every phase objective on the time series.
pub fn evaluate(
    spec: &PhaseSpec,
    scenarios: &[ScenarioPlan],
    intervals: &[IntervalRecord],
    interval: Duration,
    load: Duration,
) -> Vec<ThresholdResult> {
    let interval_s = interval.as_secs_f64();
    let run = (0.0, load.as_secs_f64().ceil().max(interval_s));
    let window = |name: &Option<String>| -> (f64, f64) {
        name.as_ref()
            .and_then(|n| spec.phases.iter().find(|p| &p.name == n))
            .and_then(|p| window_of(p, scenarios).ok())
            .unwrap_or(run)
    };
    spec.objectives
        .iter()
        .map(|o| {
            let f = Figure::parse(&o.figure).unwrap_or(Figure::Max);
            let name = o.name.as_deref();
            let during = o.phase.clone().unwrap_or_else(|| "the run".into());
            let span = window(&o.phase);
            let sel = name.map(|n| format!("{{name:{n:?}}}")).unwrap_or_default();
            let mut r = ThresholdResult {
                selector: format!("{}{sel} during {during}", o.figure),
                metric: "http_req_duration".into(),
                expression: String::new(),
                aggregation: o.figure.clone(),
                value: None,
                bound: f64::NAN,
                passed: false,
                verdict: Level::Fail,
                warning: None,
                abort_on_fail: false,
                source: Source::SloFile,
                note: None,
                is_time: f.is_time(),
                phase: Some(during.clone()),
            };
            let (value, bound, holds, text) = match o.kind.as_deref().unwrap_or("bound") {
                "recovery" => {
                    let below = o
                        .below
                        .as_ref()
                        .and_then(|v| f.bound(v, "below").ok())
                        .unwrap_or(f64::NAN);
                    let within = o.within.unwrap_or_default().as_secs_f64();
                    let w = o.window.unwrap_or(Duration::from_secs(10)).as_secs_f64();
                    r.is_time = true;
                    r.aggregation = "recovery".into();
                    let end = span.1;
                    let mut recovered = None;
                    let mut e = (end / interval_s).ceil() * interval_s;
                    while e <= run.1 + 1e-9 {
                        let v = figure_of(&slice(intervals, interval_s, e - w, e, name), f);
                        if v.is_finite() && v <= below {
                            recovered = Some((e - end).max(0.0));
                            break;
                        }
                        e += interval_s;
                    }
                    let text = format!(
                        "{} back under {} within {}",
                        o.figure,
                        f.show(below),
                        format::millis(within * 1000.0)
                    );
                    match recovered {
                        Some(secs) => (Some(secs * 1000.0), within * 1000.0, secs <= within, text),
                        None => {
                            r.note = Some("never recovered before the run ended".into());
                            (None, within * 1000.0, false, text)
                        }
                    }
                }
                kind @ ("stability" | "no_degradation") => {
                    let w = o.window.unwrap_or(Duration::from_secs(60)).as_secs_f64();
                    let points = rolling(intervals, interval_s, span, w, name, f);
                    r.is_time = false;
                    r.aggregation = if kind == "stability" {
                        "variation"
                    } else {
                        "rise"
                    }
                    .into();
                    if points.len() < 2 {
                        r.note = Some(format!("needs at least 2 windows of {w}s with requests"));
                        (
                            None,
                            f64::NAN,
                            false,
                            format!("{kind} of {} over windows of {w}s", o.figure),
                        )
                    } else if kind == "stability" {
                        let max_var = margin(&o.max_variation, "max_variation").unwrap_or(0.0);
                        let vals: Vec<f64> = points.iter().map(|p| p.1).collect();
                        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                        let spread = vals.iter().cloned().fold(f64::MIN, f64::max)
                            - vals.iter().cloned().fold(f64::MAX, f64::min);
                        let var = if mean > 0.0 { spread / mean } else { 0.0 };
                        (
                            Some(var),
                            max_var,
                            var <= max_var,
                            format!(
                                "{} varies <= {} across {}s windows",
                                o.figure,
                                format::percent(max_var),
                                w
                            ),
                        )
                    } else {
                        let max_inc = margin(&o.max_increase, "max_increase").unwrap_or(0.0);
                        let rise = fitted_rise(&points);
                        // For rps a fall is the degradation.
                        let worse = if matches!(f, Figure::Rps) {
                            -rise
                        } else {
                            rise
                        };
                        (
                            Some(worse),
                            max_inc,
                            worse <= max_inc,
                            format!(
                                "{} trend rises <= {} over {during}",
                                o.figure,
                                format::percent(max_inc)
                            ),
                        )
                    }
                }
                _ => {
                    let v = figure_of(&slice(intervals, interval_s, span.0, span.1, name), f);
                    let (bound, holds, text) = if let Some(b) = &o.below {
                        let b = f.bound(b, "below").unwrap_or(f64::NAN);
                        (b, v <= b, format!("{} <= {}", o.figure, f.show(b)))
                    } else if let Some(a) = &o.above {
                        let a = f.bound(a, "above").unwrap_or(f64::NAN);
                        (a, v >= a, format!("{} >= {}", o.figure, f.show(a)))
                    } else {
                        let times = o.times.unwrap_or(1.0);
                        let other = o.relative_to.clone().unwrap_or_default();
                        let (a, b) = window(&o.relative_to);
                        let base = figure_of(&slice(intervals, interval_s, a, b, name), f);
                        let b = times * base;
                        (
                            b,
                            v <= b,
                            format!(
                                "{} <= {times}x {} during {other} (= {})",
                                o.figure,
                                o.figure,
                                f.show(b)
                            ),
                        )
                    };
                    if v.is_nan() || bound.is_nan() {
                        r.note = Some("no requests in the phase (or its reference)".into());
                        (None, bound, false, text)
                    } else {
                        (Some(v), bound, holds, text)
                    }
                }
            };
            r.value = value;
            r.bound = bound;
            r.passed = value.is_some() && holds;
            r.verdict = if r.passed { Level::Pass } else { Level::Fail };
            r.expression = text;
            r
        })
        .collect()
}

/// The least-squares line's change over the points' span, relative to its
/// value at the first point.
fn fitted_rise(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let first = points[0].0;
    let last = points[points.len() - 1].0;
    let start = my + slope * (first - mx);
    if start.abs() < 1e-12 {
        0.0
    } else {
        slope * (last - first) / start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::timeline::NameInterval;
    use std::collections::BTreeMap;

    /// One interval per second whose requests all took `ms[i]`.
    fn series(ms: &[f64]) -> Vec<IntervalRecord> {
        ms.iter()
            .enumerate()
            .map(|(i, &v)| {
                let mut t = Trend::new(true);
                for _ in 0..10 {
                    t.record(v);
                }
                IntervalRecord {
                    index: i as u64,
                    t: (i + 1) as f64,
                    vus: 1,
                    vus_by_scenario: BTreeMap::new(),
                    iterations_started: 10,
                    iterations: 10,
                    dropped_iterations: 0,
                    interrupted_iterations: 0,
                    requests: 10,
                    errors: 0,
                    by_name: BTreeMap::from([(
                        "x".to_string(),
                        NameInterval {
                            requests: 10,
                            errors: 0,
                            mean: v,
                            p50: v,
                            p90: v,
                            p95: v,
                            p99: v,
                            max: v,
                            histogram: t.encode_histogram().unwrap(),
                        },
                    )]),
                }
            })
            .collect()
    }

    fn phase(name: &str, from: u64, to: u64) -> PhaseDef {
        PhaseDef {
            name: name.into(),
            from: Some(Duration::from_secs(from)),
            to: Some(Duration::from_secs(to)),
            ..Default::default()
        }
    }

    fn run(spec: &PhaseSpec, ms: &[f64]) -> Vec<ThresholdResult> {
        validate(spec, &[]).unwrap();
        evaluate(
            spec,
            &[],
            &series(ms),
            Duration::from_secs(1),
            Duration::from_secs(ms.len() as u64),
        )
    }

    #[test]
    fn spike_relative_to_normal_and_recovery() {
        // 10 s at 10 ms, a 5 s spike at 50 ms, 5 s back at 10 ms.
        let mut ms = vec![10.0; 10];
        ms.extend([50.0; 5]);
        ms.extend([10.0; 5]);
        let spec = |times: f64| PhaseSpec {
            phases: vec![phase("normal", 0, 10), phase("spike", 10, 15)],
            objectives: vec![
                PhaseObjectiveRow {
                    figure: "p95".into(),
                    phase: Some("spike".into()),
                    times: Some(times),
                    relative_to: Some("normal".into()),
                    ..Default::default()
                },
                PhaseObjectiveRow {
                    kind: Some("recovery".into()),
                    figure: "p95".into(),
                    phase: Some("spike".into()),
                    below: Some(Value::Text("20ms".into())),
                    within: Some(Duration::from_secs(3)),
                    window: Some(Duration::from_secs(2)),
                    ..Default::default()
                },
            ],
        };
        let r = run(&spec(2.0), &ms);
        assert_eq!(r[0].verdict, Level::Fail, "{:?}", r[0]);
        assert!((r[0].value.unwrap() - 50.0).abs() < 0.1);
        assert!((r[0].bound - 20.0).abs() < 0.1);
        // The 2 s rolling window is clean 2 s after the spike ends.
        assert_eq!(r[1].value, Some(2000.0));
        assert_eq!(r[1].verdict, Level::Pass);
        assert_eq!(run(&spec(6.0), &ms)[0].verdict, Level::Pass);
    }

    #[test]
    fn stability_and_degradation_over_windows() {
        let steady = [10.0, 10.5, 9.8, 10.2, 10.1, 9.9];
        let rising = [10.0, 12.0, 14.0, 16.0, 18.0, 20.0];
        let spec = PhaseSpec {
            phases: vec![],
            objectives: vec![
                PhaseObjectiveRow {
                    kind: Some("stability".into()),
                    figure: "p95".into(),
                    window: Some(Duration::from_secs(2)),
                    max_variation: Some(Value::Text("10%".into())),
                    ..Default::default()
                },
                PhaseObjectiveRow {
                    kind: Some("no_degradation".into()),
                    figure: "p95".into(),
                    window: Some(Duration::from_secs(1)),
                    max_increase: Some(Value::Text("20%".into())),
                    ..Default::default()
                },
            ],
        };
        let r = run(&spec, &steady);
        assert_eq!(
            (r[0].verdict, r[1].verdict),
            (Level::Pass, Level::Pass),
            "{r:?}"
        );
        let r = run(&spec, &rising);
        assert_eq!(
            (r[0].verdict, r[1].verdict),
            (Level::Fail, Level::Fail),
            "{r:?}"
        );
        assert!(
            (r[1].value.unwrap() - 1.0).abs() < 0.01,
            "doubled: {:?}",
            r[1].value
        );
    }

    #[test]
    fn invalid_specs_are_refused() {
        let bad = |o: PhaseObjectiveRow, phases: Vec<PhaseDef>| {
            validate(
                &PhaseSpec {
                    phases,
                    objectives: vec![o],
                },
                &[],
            )
            .unwrap_err()
            .to_string()
        };
        let e = bad(
            PhaseObjectiveRow {
                figure: "p95".into(),
                phase: Some("nope".into()),
                below: Some(Value::Number(1.0)),
                ..Default::default()
            },
            vec![],
        );
        assert!(e.contains("no phase named \"nope\""), "{e}");
        let e = bad(
            PhaseObjectiveRow {
                figure: "p95".into(),
                ..Default::default()
            },
            vec![],
        );
        assert!(e.contains("give one of"), "{e}");
        let e = bad(
            PhaseObjectiveRow {
                figure: "fastest".into(),
                below: Some(Value::Number(1.0)),
                ..Default::default()
            },
            vec![],
        );
        assert!(e.contains("figure \"fastest\""), "{e}");
        let e = validate(
            &PhaseSpec {
                phases: vec![PhaseDef {
                    name: "s".into(),
                    scenario: Some("ghost".into()),
                    ..Default::default()
                }],
                objectives: vec![],
            },
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no scenario named \"ghost\""), "{e}");
    }
}
