//! One run against a baseline: per request name and metric, the old and new
//! figure, the change, and whether it breaks a [`RegressionRules`] limit.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::{ALL, Metric, RegressionRules};
use crate::exit::Outcome;
use crate::report::json::{EndpointSummary, Results};

/// A relative change smaller than this (5 %) is noise, not an improvement;
/// the same band as a stable trend.
const NOISE_RELATIVE: f64 = 0.05;
/// An error-rate drop smaller than this (0.1 points) is noise.
const NOISE_POINTS: f64 = 0.001;
/// Slack for float rounding, so "exactly at the limit" passes.
const EPSILON: f64 = 1e-9;

/// What a row's change means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse than a rule allows.
    Regressed,
    /// Better by more than noise.
    Improved,
    /// Neither: within the rules and not clearly better. The table says
    /// "worse, within limit" (or "worse, no rule") when it got worse by more
    /// than noise.
    Unchanged,
}

/// One figure of one request name in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Request name, or `all`.
    pub name: String,
    /// Which figure.
    pub metric: Metric,
    /// The baseline's figure (ms, requests/s, or a 0..=1 share).
    pub old: f64,
    /// The current figure.
    pub new: f64,
    /// Relative change (`0.1` = +10 %) for latency and RPS, absolute change
    /// (`0.01` = +1 point) for the error rate; `None` when the baseline is 0
    /// and the current figure is not, so no ratio exists.
    pub change: Option<f64>,
    /// The rule's limit judged against, if a rule covers this metric.
    pub limit: Option<f64>,
    /// The judgement.
    pub verdict: Verdict,
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The rules applied.
    pub rules: RegressionRules,
    /// Start of the baseline run (RFC 3339).
    pub baseline_started_at: String,
    /// Start of the current run (RFC 3339).
    pub current_started_at: String,
    /// `all` first, then request names in order, each in [`Metric::ALL`]
    /// order. Figures that mean nothing (latency over zero requests) are
    /// left out, with a warning.
    pub rows: Vec<Row>,
    /// Request names only in the current run (not regressions).
    pub added: Vec<String>,
    /// Request names only in the baseline (not regressions).
    pub removed: Vec<String>,
    /// Rows with [`Verdict::Regressed`].
    pub regressions: usize,
    /// Reasons to doubt the comparison: different scenarios, empty runs.
    pub warnings: Vec<String>,
}

impl Comparison {
    /// Whether no figure regressed.
    pub fn passed(&self) -> bool {
        self.regressions == 0
    }

    /// The exit outcome: a regression fails like a failed SLO (99).
    pub fn outcome(&self) -> Outcome {
        if self.passed() {
            Outcome::Passed
        } else {
            Outcome::SlosFailed
        }
    }
}

/// Judges `current` against `baseline` for every request name in either
/// file (and `all`).
pub fn compare(baseline: &Results, current: &Results, rules: &RegressionRules) -> Comparison {
    compare_names(baseline, current, rules, &[])
}

/// Like [`compare`], restricted to `names` (all names when empty). A name in
/// neither file gets a warning.
pub fn compare_names(
    baseline: &Results,
    current: &Results,
    rules: &RegressionRules,
    names: &[String],
) -> Comparison {
    let mut warnings = module_warnings(baseline, current);
    let selected: Vec<String> = if names.is_empty() {
        let all: BTreeSet<&String> = baseline
            .endpoints
            .keys()
            .chain(current.endpoints.keys())
            .collect();
        // `all` is the headline: first.
        let mut v: Vec<String> = all.into_iter().filter(|n| *n != ALL).cloned().collect();
        if baseline.endpoints.contains_key(ALL) || current.endpoints.contains_key(ALL) {
            v.insert(0, ALL.to_owned());
        }
        v
    } else {
        let mut seen = BTreeSet::new();
        names
            .iter()
            .filter(|n| seen.insert(n.as_str()))
            .cloned()
            .collect()
    };

    let mut rows = Vec::new();
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for name in selected {
        match (baseline.endpoints.get(&name), current.endpoints.get(&name)) {
            (Some(old), Some(new)) => {
                rows.extend(compare_endpoint(&name, old, new, rules, &mut warnings))
            }
            (Some(_), None) => removed.push(name),
            (None, Some(_)) => added.push(name),
            (None, None) => warnings.push(format!("no request named `{name}` in either run")),
        }
    }
    let regressions = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regressed)
        .count();
    Comparison {
        rules: rules.clone(),
        baseline_started_at: baseline.started_at.clone(),
        current_started_at: current.started_at.clone(),
        rows,
        added,
        removed,
        regressions,
        warnings,
    }
}

fn module_warnings(baseline: &Results, current: &Results) -> Vec<String> {
    let mut w = Vec::new();
    if baseline.module.name != current.module.name {
        w.push(format!(
            "different scenarios: the baseline ran `{}`, the current run `{}`",
            baseline.module.name, current.module.name
        ));
    } else if baseline.module.sha256 != current.module.sha256 {
        w.push(format!(
            "the scenario module `{}` changed since the baseline (sha256 differs)",
            current.module.name
        ));
    }
    for (side, r) in [("baseline", baseline), ("current run", current)] {
        if r.outcome.verdict != "pass" && r.outcome.verdict != "fail" {
            w.push(format!(
                "the {side} ended with verdict `{}`; its figures may be partial",
                r.outcome.verdict
            ));
        }
    }
    w
}

fn compare_endpoint(
    name: &str,
    old: &EndpointSummary,
    new: &EndpointSummary,
    rules: &RegressionRules,
    warnings: &mut Vec<String>,
) -> Vec<Row> {
    let empty_side = match (old.total_requests, new.total_requests) {
        (0, 0) => Some("either run"),
        (0, _) => Some("the baseline"),
        (_, 0) => Some("the current run"),
        _ => None,
    };
    if let Some(side) = empty_side {
        warnings.push(format!(
            "`{name}` has no requests in {side}; only its RPS is compared"
        ));
    }
    Metric::ALL
        .into_iter()
        .filter(|m| empty_side.is_none() || !m.needs_requests())
        .map(|metric| {
            let (o, n) = (metric.value(old), metric.value(new));
            let (change, limit, verdict) = judge(metric, o, n, rules);
            Row {
                name: name.to_owned(),
                metric,
                old: o,
                new: n,
                change,
                limit,
                verdict,
            }
        })
        .collect()
}

/// The limit `rules` set for `metric`, if any.
fn limit_of(metric: Metric, rules: &RegressionRules) -> Option<f64> {
    match metric {
        Metric::P50 => rules.p50_increase,
        Metric::P95 => rules.p95_increase,
        Metric::P99 => rules.p99_increase,
        Metric::Mean => None,
        Metric::Rps => rules.rps_decrease,
        Metric::ErrorRate => rules.error_rate_increase,
    }
}

fn judge(
    metric: Metric,
    old: f64,
    new: f64,
    rules: &RegressionRules,
) -> (Option<f64>, Option<f64>, Verdict) {
    let limit = limit_of(metric, rules);
    let change = if metric == Metric::ErrorRate {
        Some(new - old)
    } else {
        relative_change(old, new)
    };
    let worse = worse_by(metric, old, new, change);
    let verdict = if limit.is_some_and(|l| worse > l + EPSILON) {
        Verdict::Regressed
    } else if worse < -noise(metric) {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    };
    (change, limit, verdict)
}

/// How much worse the figure got, in the rule's unit and direction (negative
/// when better); a change from 0 has no ratio and counts as unbounded.
fn worse_by(metric: Metric, old: f64, new: f64, change: Option<f64>) -> f64 {
    match change {
        Some(c) if metric.higher_is_better() => -c,
        Some(c) => c,
        None if (new > old) == metric.higher_is_better() => f64::NEG_INFINITY,
        None => f64::INFINITY,
    }
}

/// Changes within this band are noise.
fn noise(metric: Metric) -> f64 {
    if metric == Metric::ErrorRate {
        NOISE_POINTS
    } else {
        NOISE_RELATIVE
    }
}

/// `(new - old) / old`; `None` when `old` is 0 and `new` is not.
fn relative_change(old: f64, new: f64) -> Option<f64> {
    if old == new {
        Some(0.0)
    } else if old == 0.0 || !old.is_finite() || !new.is_finite() {
        None
    } else {
        Some((new - old) / old)
    }
}

/// A change as printed: `+12.3 %` (relative) or `-0.40 pp` (error rate).
fn format_change(metric: Metric, change: Option<f64>) -> String {
    match change {
        Some(c) if metric == Metric::ErrorRate => format!("{:+.2} pp", c * 100.0),
        Some(c) => format!("{:+.1} %", c * 100.0),
        None => "from 0".into(),
    }
}

/// A limit as printed, in the direction it bounds.
fn format_limit(metric: Metric, limit: f64) -> String {
    match metric {
        Metric::ErrorRate => format!("+{:.2} pp", limit * 100.0),
        Metric::Rps => format!("-{:.1} %", limit * 100.0),
        _ => format!("+{:.1} %", limit * 100.0),
    }
}

/// The comparison as an aligned table followed by added/removed names,
/// warnings and a one-line result.
pub fn render_table(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "baseline: run of {}   current: run of {}",
        c.baseline_started_at, c.current_started_at
    );
    let header = ["NAME", "METRIC", "BASELINE", "CURRENT", "CHANGE", "VERDICT"];
    let cells: Vec<[String; 6]> = c
        .rows
        .iter()
        .map(|r| {
            let verdict = match (r.verdict, r.limit) {
                (Verdict::Regressed, Some(l)) => {
                    format!("REGRESSED (limit {})", format_limit(r.metric, l))
                }
                (Verdict::Regressed, None) => "REGRESSED".into(),
                (Verdict::Improved, _) => "improved".into(),
                // Not a regression, but say so when it did get worse.
                (Verdict::Unchanged, limit)
                    if worse_by(r.metric, r.old, r.new, r.change) > noise(r.metric) =>
                {
                    match limit {
                        Some(_) => "worse, within limit".into(),
                        None => "worse, no rule".into(),
                    }
                }
                (Verdict::Unchanged, _) => "unchanged".into(),
            };
            [
                r.name.clone(),
                r.metric.name().to_owned(),
                r.metric.format(r.old),
                r.metric.format(r.new),
                format_change(r.metric, r.change),
                verdict,
            ]
        })
        .collect();
    if cells.is_empty() {
        let _ = writeln!(out, "(no request name in both runs)");
    } else {
        let mut width = header.map(|h| h.chars().count());
        for row in &cells {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |out: &mut String, row: [&str; 6]| {
            // Names and metrics left-aligned, figures right-aligned.
            let _ = writeln!(
                out,
                "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3],
                w4 = width[4],
            );
        };
        line(&mut out, header);
        let mut previous: Option<&str> = None;
        for row in &cells {
            // Print each name once, on its first row.
            let name = if previous == Some(row[0].as_str()) {
                ""
            } else {
                row[0].as_str()
            };
            previous = Some(row[0].as_str());
            line(
                &mut out,
                [name, &row[1], &row[2], &row[3], &row[4], &row[5]],
            );
        }
    }
    for name in &c.added {
        let _ = writeln!(out, "added:   `{name}` (only in the current run)");
    }
    for name in &c.removed {
        let _ = writeln!(out, "removed: `{name}` (only in the baseline)");
    }
    for w in &c.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(out, "{}", result_line(c));
    out
}

fn result_line(c: &Comparison) -> String {
    if c.passed() {
        return format!(
            "result: PASS - no regression in {} figure{}",
            c.rows.len(),
            if c.rows.len() == 1 { "" } else { "s" }
        );
    }
    let broken: Vec<String> = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regressed)
        .map(|r| {
            format!(
                "{} {} {}",
                r.name,
                r.metric,
                format_change(r.metric, r.change)
            )
        })
        .collect();
    format!(
        "result: FAIL - {} regression{}: {}",
        c.regressions,
        if c.regressions == 1 { "" } else { "s" },
        broken.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{endpoint, results};
    use super::*;

    fn row<'a>(c: &'a Comparison, name: &str, metric: Metric) -> &'a Row {
        c.rows
            .iter()
            .find(|r| r.name == name && r.metric == metric)
            .unwrap_or_else(|| panic!("no row {name} {metric}"))
    }

    fn pair(old: EndpointSummary, new: EndpointSummary) -> (Results, Results) {
        (
            results(
                "shop",
                "2025-01-01T00:00:00.000Z",
                &[("all", old.clone()), ("api", old)],
            ),
            results(
                "shop",
                "2025-01-02T00:00:00.000Z",
                &[("all", new.clone()), ("api", new)],
            ),
        )
    }

    #[test]
    fn identical_runs_pass() {
        let (b, _) = pair(endpoint(100, 1, 10.0), endpoint(100, 1, 10.0));
        let c = compare(&b, &b, &RegressionRules::default());
        assert_eq!(c.regressions, 0);
        assert_eq!(c.rows.len(), 2 * Metric::ALL.len());
        assert!(c.rows.iter().all(|r| r.verdict == Verdict::Unchanged));
        assert_eq!(c.rows[0].name, "all");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.outcome(), Outcome::Passed);
        assert!(render_table(&c).contains("result: PASS - no regression in 12 figures"));
    }

    #[test]
    fn p95_rule_fires_above_the_limit_only() {
        let rules = RegressionRules::default(); // p95 +20 %
        let (b, c) = pair(endpoint(100, 0, 10.0), endpoint(100, 0, 12.0));
        let cmp = compare(&b, &c, &rules);
        let r = row(&cmp, "api", Metric::P95);
        assert!((r.change.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(r.verdict, Verdict::Unchanged, "exactly at the limit passes");
        let table = render_table(&cmp);
        assert!(table.contains("+20.0 %  worse, within limit"), "{table}");
        assert!(table.contains("+20.0 %  worse, no rule"), "{table}");
        let (b, c) = pair(endpoint(100, 0, 10.0), endpoint(100, 0, 12.1));
        let cmp = compare(&b, &c, &rules);
        assert_eq!(row(&cmp, "api", Metric::P95).verdict, Verdict::Regressed);
        assert_eq!(row(&cmp, "all", Metric::P95).verdict, Verdict::Regressed);
        // p99 and p50 rose as much but have no rule by default.
        assert_eq!(row(&cmp, "api", Metric::P99).verdict, Verdict::Unchanged);
        assert_eq!(row(&cmp, "api", Metric::P50).verdict, Verdict::Unchanged);
        assert_eq!(cmp.regressions, 2);
        assert_eq!(cmp.outcome(), Outcome::SlosFailed);
        let table = render_table(&cmp);
        assert!(table.contains("+21.0 %"), "{table}");
        assert!(table.contains("REGRESSED (limit +20.0 %)"), "{table}");
        assert!(
            table.contains("result: FAIL - 2 regressions: all p95 +21.0 %"),
            "{table}"
        );
    }

    #[test]
    fn p50_and_p99_rules_fire_when_set() {
        let rules = RegressionRules {
            p50_increase: Some(0.05),
            p99_increase: Some(0.05),
            p95_increase: None,
            ..RegressionRules::default()
        };
        let (b, c) = pair(endpoint(100, 0, 10.0), endpoint(100, 0, 11.0));
        let cmp = compare(&b, &c, &rules);
        assert_eq!(row(&cmp, "api", Metric::P50).verdict, Verdict::Regressed);
        assert_eq!(row(&cmp, "api", Metric::P99).verdict, Verdict::Regressed);
        assert_eq!(row(&cmp, "api", Metric::P95).verdict, Verdict::Unchanged);
        assert_eq!(row(&cmp, "api", Metric::P95).limit, None);
        assert_eq!(cmp.regressions, 4);
    }

    #[test]
    fn rps_rule_fires_on_decrease_only() {
        let rules = RegressionRules::default(); // rps -15 %
        let (b, c) = pair(endpoint(1000, 0, 10.0), endpoint(840, 0, 10.0));
        let cmp = compare(&b, &c, &rules);
        assert_eq!(row(&cmp, "api", Metric::Rps).verdict, Verdict::Regressed);
        assert!(render_table(&cmp).contains("REGRESSED (limit -15.0 %)"));
        let (b, c) = pair(endpoint(1000, 0, 10.0), endpoint(860, 0, 10.0));
        let cmp = compare(&b, &c, &rules);
        assert_eq!(row(&cmp, "api", Metric::Rps).verdict, Verdict::Unchanged);
        let (b, c) = pair(endpoint(1000, 0, 10.0), endpoint(2000, 0, 10.0));
        let cmp = compare(&b, &c, &rules);
        assert_eq!(row(&cmp, "api", Metric::Rps).verdict, Verdict::Improved);
        assert_eq!(cmp.regressions, 0);
    }

    #[test]
    fn error_rate_rule_is_absolute_points() {
        let rules = RegressionRules::default(); // +5 points
        // 1 % -> 6 %: exactly 5 points, passes.
        let (b, c) = pair(endpoint(100, 1, 10.0), endpoint(100, 6, 10.0));
        let cmp = compare(&b, &c, &rules);
        let r = row(&cmp, "api", Metric::ErrorRate);
        assert!((r.change.unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(r.verdict, Verdict::Unchanged);
        assert!(render_table(&cmp).contains("+5.00 pp"));
        // 1 % -> 7 % fails; 10 % -> 2 % improves.
        let (b, c) = pair(endpoint(100, 1, 10.0), endpoint(100, 7, 10.0));
        assert_eq!(
            row(&compare(&b, &c, &rules), "api", Metric::ErrorRate).verdict,
            Verdict::Regressed
        );
        let (b, c) = pair(endpoint(100, 10, 10.0), endpoint(100, 2, 10.0));
        let cmp = compare(&b, &c, &rules);
        assert_eq!(
            row(&cmp, "api", Metric::ErrorRate).verdict,
            Verdict::Improved
        );
        assert!(render_table(&cmp).contains("-8.00 pp"));
    }

    #[test]
    fn disabled_rules_never_fire() {
        let rules = RegressionRules {
            p50_increase: None,
            p95_increase: None,
            p99_increase: None,
            rps_decrease: None,
            error_rate_increase: None,
        };
        let (b, c) = pair(endpoint(1000, 0, 10.0), endpoint(10, 10, 100.0));
        assert_eq!(compare(&b, &c, &rules).regressions, 0);
    }

    #[test]
    fn latency_improvement_beyond_noise() {
        let (b, c) = pair(endpoint(100, 0, 10.0), endpoint(100, 0, 9.7));
        let cmp = compare(&b, &c, &RegressionRules::default());
        assert_eq!(row(&cmp, "api", Metric::P95).verdict, Verdict::Unchanged);
        let (b, c) = pair(endpoint(100, 0, 10.0), endpoint(100, 0, 5.0));
        let cmp = compare(&b, &c, &RegressionRules::default());
        assert_eq!(row(&cmp, "api", Metric::P95).verdict, Verdict::Improved);
        assert!(render_table(&cmp).contains("-50.0 %"));
    }

    #[test]
    fn added_and_removed_names_are_not_regressions() {
        let b = results(
            "shop",
            "2025-01-01T00:00:00Z",
            &[("all", endpoint(10, 0, 1.0)), ("old", endpoint(10, 0, 1.0))],
        );
        let c = results(
            "shop",
            "2025-01-02T00:00:00Z",
            &[
                ("all", endpoint(10, 0, 1.0)),
                ("new", endpoint(10, 10, 900.0)),
            ],
        );
        let cmp = compare(&b, &c, &RegressionRules::default());
        assert_eq!(cmp.added, ["new"]);
        assert_eq!(cmp.removed, ["old"]);
        assert_eq!(cmp.regressions, 0);
        assert!(cmp.rows.iter().all(|r| r.name == "all"));
        let table = render_table(&cmp);
        assert!(table.contains("added:   `new`"), "{table}");
        assert!(table.contains("removed: `old`"), "{table}");
    }

    #[test]
    fn selected_names_and_unknown_names() {
        let (b, c) = pair(endpoint(100, 0, 10.0), endpoint(100, 0, 50.0));
        let cmp = compare_names(
            &b,
            &c,
            &RegressionRules::default(),
            &["api".into(), "nope".into(), "api".into()],
        );
        assert!(cmp.rows.iter().all(|r| r.name == "api"));
        assert_eq!(cmp.rows.len(), Metric::ALL.len());
        assert_eq!(cmp.regressions, 1);
        assert_eq!(cmp.warnings, ["no request named `nope` in either run"]);
    }

    #[test]
    fn warns_on_other_modules_and_empty_sides() {
        let b = results(
            "shop",
            "2025-01-01T00:00:00Z",
            &[("all", endpoint(100, 0, 10.0))],
        );
        let c = results(
            "blog",
            "2025-01-02T00:00:00Z",
            &[("all", endpoint(0, 0, 0.0))],
        );
        let cmp = compare(&b, &c, &RegressionRules::default());
        assert!(
            cmp.warnings[0].contains("different scenarios"),
            "{:?}",
            cmp.warnings
        );
        assert!(cmp.warnings[1].contains("no requests in the current run"));
        // Only RPS is judged: it fell to zero.
        assert_eq!(cmp.rows.len(), 1);
        assert_eq!(cmp.rows[0].metric, Metric::Rps);
        assert_eq!(cmp.rows[0].verdict, Verdict::Regressed);
        // An empty baseline judges nothing but RPS, which can only improve.
        let cmp = compare(&c, &b, &RegressionRules::default());
        assert_eq!(cmp.rows.len(), 1);
        assert_eq!(cmp.rows[0].change, None);
        assert_eq!(cmp.rows[0].verdict, Verdict::Improved);
        assert!(render_table(&cmp).contains("from 0"));
    }

    #[test]
    fn latency_rise_from_zero_is_a_regression() {
        let (c, _, v) = judge(Metric::P95, 0.0, 1.0, &RegressionRules::default());
        assert_eq!((c, v), (None, Verdict::Regressed));
        let (c, _, v) = judge(Metric::P95, 1.0, 0.0, &RegressionRules::default());
        assert_eq!((c, v), (Some(-1.0), Verdict::Improved));
    }

    #[test]
    fn table_is_aligned() {
        let (b, c) = pair(endpoint(100, 0, 10.0), endpoint(100, 0, 12.5));
        let table = render_table(&compare(&b, &c, &RegressionRules::default()));
        let lines: Vec<&str> = table.lines().skip(1).take(13).collect();
        // The CHANGE column ends at the same place on every line.
        let end = |l: &str| l.find(" %").or_else(|| l.find(" pp"));
        let header_end = lines[0].find("CHANGE").unwrap() + "CHANGE".len();
        for l in &lines[1..] {
            let e = end(l).unwrap_or_else(|| panic!("no change in {l:?}")) + 2;
            let e = e + usize::from(l[e..].starts_with('p'));
            assert_eq!(e, header_end, "misaligned:\n{table}");
        }
    }
}
