//! The SLO file (`--slo slo.toml`): k6 thresholds by selector, as strings
//! or objects with a warning level and abort-on-fail, and objective rows in
//! the shape of the seeds' SLO tables (one row per endpoint with p50, p95,
//! availability, ...), which become thresholds plus a status policy.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::parse_duration;
use crate::exit::bad_input;

/// One threshold as written: `"p(95)<200ms"` or an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ThresholdEntry {
    /// A k6 expression.
    Expr(String),
    /// k6's object form, plus a warning level.
    Object(ThresholdObject),
}

/// k6's threshold object: `{ threshold = "p(95)<200ms", abort_on_fail = true }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdObject {
    /// The expression that must hold (else FAIL).
    pub threshold: String,
    /// A stricter expression; when only it fails the verdict is WARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Stop the test as soon as the threshold fails.
    #[serde(default, alias = "abortOnFail")]
    pub abort_on_fail: bool,
    /// Time from the start before abort_on_fail is evaluated.
    #[serde(
        default,
        alias = "delayAbortEval",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay_abort_eval: Option<Duration>,
}

impl ThresholdEntry {
    /// The object form of any entry.
    pub fn to_object(&self) -> ThresholdObject {
        match self {
            ThresholdEntry::Expr(e) => ThresholdObject {
                threshold: e.clone(),
                warning: None,
                abort_on_fail: false,
                delay_abort_eval: None,
            },
            ThresholdEntry::Object(o) => o.clone(),
        }
    }
}

/// A number or a string with a unit, as the seeds write targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A bare number (milliseconds for latencies, a ratio for rates).
    Number(f64),
    /// `"200ms"`, `"1.5s"`, `"99.9%"`, `"+25%"`.
    Text(String),
}

/// One row of an SLO table: the objectives of one endpoint (request name),
/// or of all requests when `name` is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveRow {
    /// Request name (the `name` tag); all requests when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Only this scenario's requests.
    #[serde(default)]
    pub scenario: Option<String>,
    /// Further tags the requests must carry.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Latency targets (at most), e.g. `"200ms"`; a bare number is ms.
    #[serde(default)]
    pub p50: Option<Value>,
    /// p90 target.
    #[serde(default)]
    pub p90: Option<Value>,
    /// p95 target.
    #[serde(default)]
    pub p95: Option<Value>,
    /// p99 target.
    #[serde(default)]
    pub p99: Option<Value>,
    /// p99.9 target.
    #[serde(default, rename = "p99.9", alias = "p999")]
    pub p999: Option<Value>,
    /// Mean target.
    #[serde(default)]
    pub avg: Option<Value>,
    /// Slowest request target.
    #[serde(default)]
    pub max: Option<Value>,
    /// Fastest request target (at most; catches a cache that stopped
    /// answering instantly).
    #[serde(default)]
    pub min: Option<Value>,
    /// Share of requests that succeed (at least), e.g. `"99.9%"`.
    #[serde(default)]
    pub availability: Option<Value>,
    /// Share of requests that fail (at most).
    #[serde(default)]
    pub error_rate: Option<Value>,
    /// Share of requests answered 4xx (at most).
    #[serde(default)]
    pub rate_4xx: Option<Value>,
    /// Share of requests answered 5xx (at most).
    #[serde(default)]
    pub rate_5xx: Option<Value>,
    /// Requests per second (at least).
    #[serde(default)]
    pub min_rps: Option<f64>,
    /// Statuses that count as success for these requests besides the
    /// expected ones: `429`, `"4xx"`, `"500-503"`.
    #[serde(default)]
    pub accept_statuses: Vec<StatusSpec>,
    /// Margin past each target that is only a WARN, e.g. `"+25%"`.
    #[serde(default)]
    pub warning: Option<Value>,
    /// Margin past each target before FAIL, e.g. `"+50%"` (default 0).
    #[serde(default)]
    pub critical: Option<Value>,
    /// Stop the test as soon as an objective of the row fails.
    #[serde(default)]
    pub abort_on_fail: bool,
    /// Time from the start before abort_on_fail is evaluated.
    #[serde(default, with = "super::duration::serde_opt")]
    pub delay_abort_eval: Option<Duration>,
}

/// A status or a range of statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    /// One status.
    Code(u16),
    /// `"4xx"` or `"500-503"`.
    Text(String),
}

impl StatusSpec {
    /// The inclusive range it means.
    pub fn range(&self) -> anyhow::Result<(u16, u16)> {
        let bad = || {
            let shown = match self {
                StatusSpec::Code(c) => c.to_string(),
                StatusSpec::Text(t) => format!("{t:?}"),
            };
            bad_input(format!(
                "accept_statuses: {shown} is not a status, a class like \"4xx\" or a range like \"500-503\""
            ))
        };
        let valid = |c: u16| (100..=599).contains(&c);
        match self {
            StatusSpec::Code(c) if valid(*c) => Ok((*c, *c)),
            StatusSpec::Code(_) => Err(bad()),
            StatusSpec::Text(t) => {
                let t = t.trim();
                if let Ok(c) = t.parse::<u16>() {
                    return if valid(c) { Ok((c, c)) } else { Err(bad()) };
                }
                if let Some(class) = t.strip_suffix("xx").and_then(|d| d.parse::<u16>().ok()) {
                    if (1..=5).contains(&class) {
                        return Ok((class * 100, class * 100 + 99));
                    }
                    return Err(bad());
                }
                let (a, b) = t.split_once('-').ok_or_else(bad)?;
                let (a, b): (u16, u16) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if valid(a) && valid(b) && a <= b {
                    Ok((a, b))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

/// Statuses accepted as success beyond each request's expected ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusPolicy {
    /// Rules: which requests (scenario and name, each optional) accept
    /// which status ranges.
    pub rules: Vec<StatusRule>,
}

/// Statuses accepted for some requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRule {
    /// Only in this scenario (any when absent).
    pub scenario: Option<String>,
    /// Only for this request name (any when absent).
    pub name: Option<String>,
    /// Accepted ranges, inclusive.
    pub statuses: Vec<(u16, u16)>,
}

impl StatusPolicy {
    /// Whether the policy accepts `status` for request `name` in `scenario`.
    pub fn accepts(&self, scenario: &str, name: &str, status: u16) -> bool {
        self.rules.iter().any(|r| {
            r.scenario.as_deref().is_none_or(|s| s == scenario)
                && r.name.as_deref().is_none_or(|n| n == name)
                && r.statuses.iter().any(|(a, b)| (*a..=*b).contains(&status))
        })
    }

    /// Whether it accepts nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// An SLO file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    /// Selector -> thresholds, as in k6.
    #[serde(default)]
    pub thresholds: BTreeMap<String, Vec<ThresholdEntry>>,
    /// Rows of objectives per endpoint.
    #[serde(default)]
    pub objectives: Vec<ObjectiveRow>,
    /// Regression rules for `--baseline` (seed 003's by default).
    #[serde(default)]
    pub regression: Option<crate::baseline::RegressionRules>,
    /// Named time windows of the run.
    #[serde(default)]
    pub phases: Vec<PhaseDef>,
    /// Objectives over phases and windows of the time series.
    #[serde(default)]
    pub phase_objectives: Vec<PhaseObjectiveRow>,
}

/// A named window of the run: a scenario's span, one of its stages, or an
/// explicit range from the load's start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseDef {
    /// Its name, used by `phase` and `relative_to`.
    pub name: String,
    /// The span of this scenario (start_time to its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// With `scenario`: only its stage N (from 1) of a ramping executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
    /// Start, from the load's start.
    #[serde(
        default,
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<Duration>,
    /// End, from the load's start.
    #[serde(
        default,
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub to: Option<Duration>,
}

/// An objective over the time series (see the README's "Phase objectives").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseObjectiveRow {
    /// `bound` (default), `recovery`, `stability` or `no_degradation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Request name; all requests when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `p50`, `p90`, `p95`, `p99`, `max`, `mean`, `error_rate` or `rps`.
    pub figure: String,
    /// The phase it is judged over (the whole run when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Upper bound (durations for latency figures, shares for error_rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<Value>,
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<Value>,
    /// Relative bound: below `times` x the figure during `relative_to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<f64>,
    /// The phase of the relative bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_to: Option<String>,
    /// recovery: longest allowed time, after the phase, until the figure is
    /// back below `below`.
    #[serde(
        default,
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub within: Option<Duration>,
    /// recovery, stability, no_degradation: the rolling window of figures.
    #[serde(
        default,
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub window: Option<Duration>,
    /// stability: largest (max - min) / mean of the windows' figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_variation: Option<Value>,
    /// no_degradation: largest rise of the fitted trend over the phase,
    /// relative to its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_increase: Option<Value>,
}

impl SloFile {
    /// All thresholds of the file by selector (rows translated and added
    /// after the `[thresholds]` of the same selector) and its status policy.
    pub fn compile(&self) -> anyhow::Result<(BTreeMap<String, Vec<ThresholdEntry>>, StatusPolicy)> {
        let mut out = self.thresholds.clone();
        let mut policy = StatusPolicy::default();
        for (i, row) in self.objectives.iter().enumerate() {
            let at = |e: anyhow::Error| {
                bad_input(format!(
                    "objectives[{i}]{}: {e:#}",
                    row.name
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ))
            };
            for (key, entry) in row_thresholds(row).map_err(at)? {
                out.entry(key).or_default().push(entry);
            }
            let ranges = row
                .accept_statuses
                .iter()
                .map(StatusSpec::range)
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(at)?;
            if !ranges.is_empty() {
                policy.rules.push(StatusRule {
                    scenario: row.scenario.clone(),
                    name: row.name.clone(),
                    statuses: ranges,
                });
            }
        }
        Ok((out, policy))
    }
}

/// A margin such as `"+25%"` or `0.25`, as a ratio.
pub(crate) fn margin(v: &Option<Value>, what: &str) -> anyhow::Result<f64> {
    match v {
        None => Ok(0.0),
        Some(Value::Number(n)) if *n >= 0.0 => Ok(*n),
        Some(Value::Text(t)) => {
            let p = t.trim().trim_start_matches('+');
            let ratio = p
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .map(|n| n / 100.0);
            match ratio {
                Some(r) if r >= 0.0 => Ok(r),
                _ => Err(bad_input(format!(
                    "{what} = {t:?}: expected a margin such as \"+25%\""
                ))),
            }
        }
        Some(v) => Err(bad_input(format!(
            "{what} = {v:?}: expected a margin such as \"+25%\""
        ))),
    }
}

/// A latency target in milliseconds.
pub(crate) fn millis(v: &Value, what: &str) -> anyhow::Result<f64> {
    match v {
        Value::Number(n) if *n >= 0.0 => Ok(*n),
        Value::Text(t) => parse_duration(t)
            .map(|d| d.as_secs_f64() * 1000.0)
            .map_err(|e| bad_input(format!("{what}: {e}"))),
        v => Err(bad_input(format!(
            "{what} = {v:?}: expected a duration such as \"200ms\""
        ))),
    }
}

/// A share as a ratio: `"99.9%"` or `0.999`.
pub(crate) fn ratio(v: &Value, what: &str) -> anyhow::Result<f64> {
    let r = match v {
        Value::Number(n) => Some(*n),
        Value::Text(t) => t
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<f64>().ok())
            .map(|n| n / 100.0),
    };
    match r {
        Some(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(bad_input(format!(
            "{what} = {v:?}: expected a share such as \"99.9%\" or 0.999"
        ))),
    }
}

/// A number without trailing noise, for readable expressions.
fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_owned()
    }
}

fn row_thresholds(row: &ObjectiveRow) -> anyhow::Result<Vec<(String, ThresholdEntry)>> {
    let warning = row
        .warning
        .as_ref()
        .map(|_| margin(&row.warning, "warning"))
        .transpose()?;
    let critical = margin(&row.critical, "critical")?;
    if let Some(w) = warning
        && w > critical
        && row.critical.is_some()
    {
        return Err(bad_input(format!(
            "the warning margin ({}%) is beyond the critical one ({}%)",
            num(w * 100.0),
            num(critical * 100.0)
        )));
    }
    let mut tags: BTreeMap<String, String> = row.tags.clone();
    if let Some(n) = &row.name {
        tags.insert("name".into(), n.clone());
    }
    if let Some(s) = &row.scenario {
        tags.insert("scenario".into(), s.clone());
    }
    let selector = |metric: &str| {
        if tags.is_empty() {
            return metric.to_owned();
        }
        let inner: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v:?}")).collect();
        format!("{metric}{{{}}}", inner.join(","))
    };
    // "Upper" targets may be exceeded by the margin; "lower" ones undershot.
    let entry = |agg: &str, op: &str, base: f64, unit: &str, upper: bool| {
        let scaled = |m: f64| {
            if upper {
                base * (1.0 + m)
            } else {
                base * (1.0 - m)
            }
        };
        ThresholdEntry::Object(ThresholdObject {
            threshold: format!("{agg}{op}{}{unit}", num(scaled(critical))),
            // Without a warning margin there is no WARN level; with one but
            // no critical margin, the target itself is the FAIL bound and
            // the warning sits before it.
            warning: warning.map(|w| {
                let at = if row.critical.is_some() {
                    scaled(w)
                } else {
                    base * if upper { 1.0 - w } else { 1.0 + w }
                };
                format!("{agg}{op}{}{unit}", num(at))
            }),
            abort_on_fail: row.abort_on_fail,
            delay_abort_eval: row.delay_abort_eval,
        })
    };
    let mut out = Vec::new();
    let latency = [
        ("p(50)", &row.p50),
        ("p(90)", &row.p90),
        ("p(95)", &row.p95),
        ("p(99)", &row.p99),
        ("p(99.9)", &row.p999),
        ("avg", &row.avg),
        ("max", &row.max),
        ("min", &row.min),
    ];
    for (agg, v) in latency {
        if let Some(v) = v {
            let ms = millis(v, agg)?;
            out.push((
                selector("http_req_duration"),
                entry(agg, "<=", ms, "ms", true),
            ));
        }
    }
    if let Some(v) = &row.availability {
        // Availability A holds when the failed share is at most 1 - A.
        let a = ratio(v, "availability")?;
        out.push((
            selector("http_req_failed"),
            entry("rate", "<=", 1.0 - a, "", true),
        ));
    }
    for (metric, v, what) in [
        ("http_req_failed", &row.error_rate, "error_rate"),
        ("http_req_4xx", &row.rate_4xx, "rate_4xx"),
        ("http_req_5xx", &row.rate_5xx, "rate_5xx"),
    ] {
        if let Some(v) = v {
            out.push((
                selector(metric),
                entry("rate", "<=", ratio(v, what)?, "", true),
            ));
        }
    }
    if let Some(rps) = row.min_rps {
        if rps < 0.0 {
            return Err(bad_input(format!("min_rps = {rps}: must be 0 or more")));
        }
        out.push((selector("http_reqs"), entry("rate", ">=", rps, "", false)));
    }
    if out.is_empty() && row.accept_statuses.is_empty() {
        return Err(bad_input(
            "the row sets no objective; give p95, availability, error_rate, min_rps, ...",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(
        toml_text: &str,
    ) -> anyhow::Result<(BTreeMap<String, Vec<ThresholdEntry>>, StatusPolicy)> {
        let f: SloFile = toml::from_str(toml_text).map_err(|e| anyhow::anyhow!("{e}"))?;
        f.compile()
    }

    fn thresholds_of(t: &BTreeMap<String, Vec<ThresholdEntry>>, key: &str) -> Vec<ThresholdObject> {
        t.get(key)
            .unwrap_or_else(|| panic!("no {key} in {:?}", t.keys().collect::<Vec<_>>()))
            .iter()
            .map(ThresholdEntry::to_object)
            .collect()
    }

    #[test]
    fn rows_become_thresholds_per_endpoint() {
        let (t, policy) = compile(
            r#"
[[objectives]]
name = "GET /tasks"
p50 = "50ms"
p95 = 200
p99 = "0.5s"
availability = "99.9%"
rate_5xx = "0.5%"
min_rps = 50
accept_statuses = [429, "409"]
"#,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let d = thresholds_of(&t, r#"http_req_duration{name:"GET /tasks"}"#);
        let exprs: Vec<&str> = d.iter().map(|o| o.threshold.as_str()).collect();
        assert_eq!(exprs, ["p(50)<=50ms", "p(95)<=200ms", "p(99)<=500ms"]);
        let f = thresholds_of(&t, r#"http_req_failed{name:"GET /tasks"}"#);
        assert_eq!(f[0].threshold, "rate<=0.001");
        assert_eq!(
            thresholds_of(&t, r#"http_req_5xx{name:"GET /tasks"}"#)[0].threshold,
            "rate<=0.005"
        );
        assert_eq!(
            thresholds_of(&t, r#"http_reqs{name:"GET /tasks"}"#)[0].threshold,
            "rate>=50"
        );
        assert!(policy.accepts("default", "GET /tasks", 429));
        assert!(policy.accepts("default", "GET /tasks", 409));
        assert!(!policy.accepts("default", "GET /tasks", 500));
        assert!(!policy.accepts("default", "other", 429));
        // Seed 001: 429/503 are accepted answers during the spike only.
        let (_, policy) =
            compile("[[objectives]]\nscenario = \"spike\"\naccept_statuses = [429, 503]\n")
                .unwrap();
        assert!(policy.accepts("spike", "any", 503));
        assert!(!policy.accepts("normal", "any", 503));
    }

    #[test]
    fn warning_and_critical_margins_make_levels() {
        // Seed 003: warning 25 % above the baseline, critical 50 % above.
        let (t, _) = compile(
            r#"
[[objectives]]
name = "health"
scenario = "checks"
p95 = "100ms"
min_rps = 50
warning = "+25%"
critical = "+50%"
"#,
        )
        .unwrap();
        let p95 = &thresholds_of(&t, r#"http_req_duration{name:"health",scenario:"checks"}"#)[0];
        assert_eq!(p95.threshold, "p(95)<=150ms");
        assert_eq!(p95.warning.as_deref(), Some("p(95)<=125ms"));
        let rps = &thresholds_of(&t, r#"http_reqs{name:"health",scenario:"checks"}"#)[0];
        assert_eq!(rps.threshold, "rate>=25");
        assert_eq!(rps.warning.as_deref(), Some("rate>=37.5"));
        // Only a warning margin: the target fails, the margin before it warns.
        let (t, _) = compile("[[objectives]]\np95 = \"200ms\"\nwarning = \"10%\"\n").unwrap();
        let o = &thresholds_of(&t, "http_req_duration")[0];
        assert_eq!(
            (o.threshold.as_str(), o.warning.as_deref()),
            ("p(95)<=200ms", Some("p(95)<=180ms"))
        );
    }

    #[test]
    fn bad_rows_name_the_row_and_the_problem() {
        for (text, needle) in [
            (
                "[[objectives]]\nname = \"x\"\n",
                "objectives[0] (x): the row sets no objective",
            ),
            (
                "[[objectives]]\np95 = \"fast\"\n",
                "p(95): invalid duration",
            ),
            (
                "[[objectives]]\navailability = \"150%\"\n",
                "expected a share",
            ),
            (
                "[[objectives]]\np95 = 1\naccept_statuses = [\"6xx\"]\n",
                "accept_statuses",
            ),
            (
                "[[objectives]]\np95 = 1\nwarning = \"+60%\"\ncritical = \"+50%\"\n",
                "beyond the critical",
            ),
            (
                "[[objectives]]\np95 = 1\nwarning = \"soon\"\n",
                "expected a margin",
            ),
        ] {
            let err = compile(text).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{text}: {err:#}");
        }
        assert!(toml::from_str::<SloFile>("[[objectives]]\np96 = 1\n").is_err());
    }

    #[test]
    fn threshold_entries_accept_strings_and_objects() {
        let f: SloFile = toml::from_str(
            r#"
[thresholds]
http_req_failed = ["rate<0.01", { threshold = "rate<0.05", abortOnFail = true, delayAbortEval = "10s" }]
"#,
        )
        .unwrap();
        let e = &f.thresholds["http_req_failed"];
        assert_eq!(e[0], ThresholdEntry::Expr("rate<0.01".into()));
        let o = e[1].to_object();
        assert!(o.abort_on_fail);
        assert_eq!(o.delay_abort_eval, Some(Duration::from_secs(10)));
    }

    #[test]
    fn status_specs() {
        assert_eq!(StatusSpec::Code(429).range().unwrap(), (429, 429));
        assert_eq!(StatusSpec::Text("4xx".into()).range().unwrap(), (400, 499));
        assert_eq!(
            StatusSpec::Text("500-503".into()).range().unwrap(),
            (500, 503)
        );
        assert!(StatusSpec::Text("503-500".into()).range().is_err());
        assert!(StatusSpec::Code(42).range().is_err());
    }
}
