//! Property tests (the fuzzing suite run by `cargo test`) for everything a
//! user writes: threshold expressions and selectors, durations, host
//! patterns, SLO files and options files (TOML and JSON, from `--config` or
//! a module's `describe()`), parsed and then resolved into a plan.
//!
//! Inputs are arbitrary text and near-valid documents (built from the real
//! grammar, then damaged by a random edit). The properties: nothing panics,
//! and every input either parses, or fails as bad input with a one-line
//! message; the valid part of the grammar always parses.

use std::path::Path;

use proptest::prelude::*;

use super::duration::parse_duration;
use super::hosts::HostPattern;
use super::options::{OptionsLayer, parse_config};
use super::threshold::{Aggregation, CmpOp, Expression, MetricSelector};
use super::{PlanInputs, SloFile, resolve};
use crate::exit::is_bad_input;

/// Fails the property unless `err` is bad input shown on one line.
fn assert_bad_input_line(err: &anyhow::Error, input: &str) -> Result<(), TestCaseError> {
    let text = format!("{err:#}");
    prop_assert!(is_bad_input(err), "not bad input: {text}\ninput: {input:?}");
    prop_assert!(
        !text.contains('\n'),
        "not one line: {text:?}\ninput: {input:?}"
    );
    Ok(())
}

/// `text` with one random edit: a character removed, replaced or inserted
/// (from characters the grammars care about), or (half the time) left as
/// it is.
fn damaged(text: String) -> impl Strategy<Value = String> {
    let len = text.chars().count();
    let chars = prop::sample::select(vec![
        '"', '\'', '{', '}', '[', ']', '(', ')', '=', '<', '>', '!', ',', ':', '.', '-', '+', '%',
        '\n', ' ', '#', '\\', '0', '9', 'e', 'm', 's', 'x', '*', 'é', '\u{0}',
    ]);
    (0..6u8, 0..=len, chars).prop_map(move |(kind, at, ch)| {
        let mut v: Vec<char> = text.chars().collect();
        match kind {
            0 if at < v.len() => {
                v.remove(at);
            }
            1 if at < v.len() => v[at] = ch,
            2 => v.insert(at.min(v.len()), ch),
            _ => {}
        }
        v.into_iter().collect()
    })
}

// ---- threshold expressions and selectors ----

fn aggregation() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        prop::sample::select(vec!["avg", "min", "max", "med", "count", "rate", "value"])
            .prop_map(|a| (a.to_owned(), true)),
        (1u32..=1000).prop_map(|p| (format!("p({})", f64::from(p) / 10.0), true)),
        (1u32..=100).prop_map(|p| (format!("p{p}"), true)),
        prop::sample::select(vec![
            "p(0)", "p(101)", "p(-5)", "p()", "p(", "pp", "average", "p9x"
        ])
        .prop_map(|a| (a.to_owned(), false)),
    ]
}

fn operator() -> impl Strategy<Value = (&'static str, Option<CmpOp>)> {
    prop::sample::select(vec![
        ("<", Some(CmpOp::Lt)),
        ("<=", Some(CmpOp::Le)),
        (">", Some(CmpOp::Gt)),
        (">=", Some(CmpOp::Ge)),
        ("==", Some(CmpOp::Eq)),
        ("!=", Some(CmpOp::Ne)),
        ("=", None),
        ("=<", None),
        ("", None),
    ])
}

fn bound() -> impl Strategy<Value = (String, bool)> {
    let unit = prop::sample::select(vec!["", "ns", "us", "µs", "ms", "s", "m", "h", "%"]);
    prop_oneof![
        (0u32..100_000, 0u32..1000, unit.clone())
            .prop_map(|(i, f, u)| (format!("{i}.{f:03}{u}"), true)),
        (0u32..1000, -20i32..20, unit).prop_map(|(i, e, u)| (format!("{i}e{e}{u}"), true)),
        prop::sample::select(vec![
            "1e999", "", ".", "-", "1xs", "NaN", "inf", "1..2", "5 ms s"
        ])
        .prop_map(|b| (b.to_owned(), false)),
    ]
}

fn expression() -> impl Strategy<Value = (String, bool, Option<CmpOp>)> {
    (
        aggregation(),
        operator(),
        bound(),
        prop::sample::select(vec!["", " ", "  "]),
    )
        .prop_map(|((agg, agg_ok), (op, cmp), (bound, bound_ok), ws)| {
            let valid = agg_ok && cmp.is_some() && bound_ok;
            (format!("{agg}{ws}{op}{ws}{bound}"), valid, cmp)
        })
}

fn selector() -> impl Strategy<Value = String> {
    let metric = prop::sample::select(vec![
        "http_req_duration",
        "http_reqs",
        "checks",
        "my.custom-metric_1",
        "1bad",
        "",
    ]);
    let tag = (
        prop::sample::select(vec!["name", "status", "scenario", "method", "k"]),
        prop::sample::select(vec!["GET /x", "200", "a,b", "\"quoted\"", "x:y", "é"]),
        any::<bool>(),
    )
        .prop_map(|(k, v, quote)| {
            if quote {
                format!("{k}:{v:?}")
            } else {
                format!("{k}:{v}")
            }
        });
    (metric, prop::collection::vec(tag, 0..3)).prop_map(|(m, tags)| {
        if tags.is_empty() {
            m.to_owned()
        } else {
            format!("{m}{{{}}}", tags.join(","))
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text: the parsers answer, with a one-line error when they refuse.
    #[test]
    fn threshold_parsers_take_any_text(s in any::<String>(), x in any::<f64>()) {
        match Expression::parse(&s) {
            Ok(e) => {
                let _ = e.holds(x);
            }
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "{e}"),
        }
        if let Err(e) = MetricSelector::parse(&s) {
            prop_assert!(!e.to_string().contains('\n'), "{e}");
        }
        let _ = parse_duration(&s);
    }

    /// Expressions from the grammar parse when valid, to what was written;
    /// damaged ones parse or are refused, never panic.
    #[test]
    fn near_valid_expressions(
        ((text, valid, op), damaged_text) in expression()
            .prop_flat_map(|e| (Just(e.clone()), damaged(e.0))),
        x in -1e9f64..1e9,
    ) {
        match Expression::parse(&text) {
            Ok(e) => {
                prop_assert_eq!(Some(e.op), op);
                prop_assert!(e.bound.is_finite());
                let _ = e.holds(x);
                if let Aggregation::Percentile(p) = e.aggregation {
                    prop_assert!(p > 0.0 && p <= 100.0);
                }
            }
            Err(e) => prop_assert!(!valid, "{text:?} should parse: {e}"),
        }
        match Expression::parse(&damaged_text) {
            Ok(e) => prop_assert!(e.bound.is_finite()),
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }

    /// Selectors from the grammar, damaged or not, parse or are refused.
    #[test]
    fn near_valid_selectors(text in selector().prop_flat_map(damaged)) {
        if let Ok(s) = MetricSelector::parse(&text) {
            prop_assert!(!s.metric.is_empty());
            // The canonical form parses to the same selector.
            prop_assert_eq!(MetricSelector::parse(&s.to_string()).ok(), Some(s));
        }
    }

    /// Host patterns: any text is parsed or refused; a parsed pattern
    /// matches any host without panicking and reads back the same.
    #[test]
    fn host_patterns_take_any_text(s in any::<String>(), host in any::<String>(), port in any::<u16>()) {
        if let Ok(p) = HostPattern::parse(&s) {
            let _ = p.matches(&host, port);
            prop_assert_eq!(HostPattern::parse(p.as_str()), Ok(p));
        }
    }
}

// ---- options and SLO files, through to a plan ----

/// Inputs with the module's two flows and no module options, so `config`
/// and `slo` decide the plan.
fn plan_inputs(config: Option<OptionsLayer>, slo: Option<SloFile>) -> PlanInputs {
    let mut inputs = super::tests::inputs(OptionsLayer::default());
    inputs.module.options = OptionsLayer::default();
    inputs.config = config;
    inputs.slo = slo;
    inputs
}

/// Values of one kind, as TOML text.
fn pick(values: &[&'static str]) -> BoxedStrategy<String> {
    prop::sample::select(values.to_vec())
        .prop_map(str::to_owned)
        .boxed()
}

/// Mostly `valid` values, sometimes `invalid` ones.
fn pick2(valid: &[&'static str], invalid: &[&'static str]) -> BoxedStrategy<String> {
    prop_oneof![8 => pick(valid), 1 => pick(invalid)].boxed()
}

/// A value for `key` as TOML text: mostly of the kind the key takes and
/// valid, sometimes invalid, now and then of another kind altogether.
fn value_for(key: &str) -> BoxedStrategy<String> {
    let typed = match key {
        "vus" | "iterations" | "rate" | "start_rate" | "pre_allocated_vus" | "max_vus"
        | "start_vus" | "stage" | "min_rps" | "times" | "above" => prop_oneof![
            8 => (1u64..40).prop_map(|n| n.to_string()),
            1 => pick(&["0", "-1", "18446744073709551616", "2.5"]),
        ]
        .boxed(),
        "duration"
        | "max_duration"
        | "setup_timeout"
        | "teardown_timeout"
        | "graceful_stop"
        | "iteration_cpu_limit"
        | "start_time"
        | "graceful_ramp_down"
        | "time_unit"
        | "delay_abort_eval"
        | "from"
        | "to"
        | "within"
        | "window" => pick2(
            &["\"10s\"", "\"1m30s\"", "\"500ms\"", "\"2h\""],
            &["\"0s\"", "\"5x\"", "\"\"", "3"],
        ),
        "executor" => pick2(
            &[
                "\"constant-vus\"",
                "\"ramping-vus\"",
                "\"per-vu-iterations\"",
                "\"shared-iterations\"",
                "\"constant-arrival-rate\"",
                "\"ramping-arrival-rate\"",
            ],
            &["\"warp\""],
        ),
        "stages" => pick2(
            &[
                "[{ duration = \"1s\", target = 3 }]",
                "[{ duration = \"2s\", target = 0 }, { duration = \"1s\", target = 5 }]",
            ],
            &[
                "[]",
                "[{ duration = \"0s\", target = 1 }]",
                "[{ target = 1 }]",
            ],
        ),
        "flow" | "exec" => pick2(&["\"list\"", "\"get\""], &["\"nope\""]),
        "flows" => pick2(
            &["{ list = 2, get = 1 }", "{ get = 1 }"],
            &["{ list = 0 }", "{ nope = 1 }", "{}"],
        ),
        "tags" | "env" => pick2(&["{ class = \"a\" }", "{}"], &["{ k = 1 }"]),
        "allowed_hosts" => pick2(
            &[
                "[\"localhost\", \"*.example.com:443\"]",
                "[\"*\"]",
                "[\"[::1]:8080\", \"127.0.0.1\"]",
                "[]",
            ],
            &["[\"http://x/\"]", "[\"a b\"]"],
        ),
        "http_req_duration" | "'http_req_duration{name:\"GET /x\"}'" => pick2(
            &[
                "[\"p(95)<200ms\", \"avg<1s\"]",
                "[{ threshold = \"p(99)<1s\", abort_on_fail = true, delay_abort_eval = \"5s\" }]",
                "[{ threshold = \"p(95)<300\", warning = \"p(95)<200\" }]",
                "[]",
            ],
            &["[\"rate<0.1\"]", "[\"p(95)<<1\"]"],
        ),
        "http_req_failed" | "checks" | "http_reqs" | "'bad{'" => pick2(
            &["[\"rate<0.01\"]", "[]"],
            &["[\"count>0\", \"rate>5\"]", "[\"p(95)<1\"]"],
        ),
        "name" | "scenario" | "phase" | "relative_to" => pick(&[
            "\"GET /x\"",
            "\"a\"",
            "\"default\"",
            "\"spike\"",
            "\"normal\"",
        ]),
        "p50" | "p95" | "p99" | "'p99.9'" | "avg" | "max" | "min" | "below" | "p42" => pick2(
            &["\"200ms\"", "150", "\"1.5s\""],
            &["\"fast\"", "-3", "\"99%\""],
        ),
        "availability" | "error_rate" | "rate_4xx" | "rate_5xx" | "max_variation"
        | "max_increase" => pick2(
            &["\"99.9%\"", "\"0.5%\"", "0.01"],
            &["\"150%\"", "\"x%\"", "2"],
        ),
        "warning" | "critical" => pick2(&["\"+25%\"", "\"+50%\""], &["\"-5%\"", "\"25\"", "0.1"]),
        "accept_statuses" => pick2(
            &["[429, \"5xx\"]", "[\"500-503\"]", "[\"4xx\", 200]"],
            &["[99]", "[\"503-500\"]"],
        ),
        "abort_on_fail" => pick(&["true", "false"]),
        "kind" => pick2(
            &[
                "\"bound\"",
                "\"recovery\"",
                "\"stability\"",
                "\"no_degradation\"",
            ],
            &["\"other\""],
        ),
        "figure" => pick2(
            &[
                "\"p95\"",
                "\"p50\"",
                "\"rps\"",
                "\"error_rate\"",
                "\"mean\"",
            ],
            &["\"p42\""],
        ),
        _ => pick(&["1", "\"x\""]),
    };
    let any_kind = pick(&[
        "7",
        "\"10s\"",
        "true",
        "[]",
        "{}",
        "\"p(95)<1\"",
        "-1",
        "1.5",
    ]);
    prop_oneof![19 => typed, 1 => any_kind].boxed()
}

/// `key = value` lines for some of `keys`, each at most once (a repeated
/// key is a TOML error of its own, which the damage step covers).
fn key_values(keys: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop::sample::subsequence(keys.clone(), 0..=keys.len().min(6))
        .prop_flat_map(|chosen| {
            chosen
                .into_iter()
                .map(|k| value_for(k).prop_map(move |v| format!("{k} = {v}\n")))
                .collect::<Vec<_>>()
        })
        .prop_map(|lines| lines.concat())
}

const SCENARIO_KEYS: [&str; 20] = [
    "executor",
    "vus",
    "duration",
    "iterations",
    "max_duration",
    "start_vus",
    "stages",
    "graceful_ramp_down",
    "rate",
    "start_rate",
    "time_unit",
    "pre_allocated_vus",
    "max_vus",
    "start_time",
    "graceful_stop",
    "flow",
    "flows",
    "tags",
    "env",
    "exec",
];

/// An options file: the single-scenario shortcuts or named scenarios
/// (rarely both, which is refused), with thresholds and sandbox settings.
fn options_toml() -> impl Strategy<Value = String> {
    let shortcuts = key_values(vec![
        "vus",
        "duration",
        "iterations",
        "max_duration",
        "graceful_stop",
        "stages",
        "allowed_hosts",
        "iteration_cpu_limit",
    ]);
    let common = key_values(vec![
        "graceful_stop",
        "allowed_hosts",
        "iteration_cpu_limit",
        "setup_timeout",
        "teardown_timeout",
    ]);
    // Every scenario names an executor: without one it is refused at once.
    let scenario = (
        value_for("executor"),
        key_values(SCENARIO_KEYS[1..].to_vec()),
    )
        .prop_map(|(executor, body)| format!("executor = {executor}\n{body}"));
    let scenarios = prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "spike"]),
        scenario,
        1..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(name, body)| format!("[scenarios.{name}]\n{body}"))
            .collect::<String>()
    })
    .boxed();
    let thresholds = key_values(vec![
        "http_req_duration",
        "http_req_failed",
        "checks",
        "'http_req_duration{name:\"GET /x\"}'",
        "'bad{'",
    ])
    .prop_map(|body| format!("[thresholds]\n{body}"));
    let shape = prop_oneof![
        4 => shortcuts,
        4 => (common, scenarios.clone()).prop_map(|(c, s)| format!("{c}{s}")),
        1 => (key_values(vec!["duration", "iterations"]), scenarios)
            .prop_map(|(c, s)| format!("{c}{s}")),
    ];
    (shape, prop::option::of(thresholds))
        .prop_map(|(shape, thresholds)| format!("{shape}{}", thresholds.unwrap_or_default()))
}

/// An SLO file: thresholds, objective rows, phases and phase objectives.
fn slo_toml() -> impl Strategy<Value = String> {
    let row = key_values(vec![
        "name",
        "scenario",
        "p50",
        "p95",
        "p99",
        "'p99.9'",
        "avg",
        "max",
        "min",
        "availability",
        "error_rate",
        "rate_4xx",
        "rate_5xx",
        "min_rps",
        "accept_statuses",
        "warning",
        "critical",
        "abort_on_fail",
        "delay_abort_eval",
        "p42",
    ])
    .prop_map(|body| format!("[[objectives]]\n{body}"));
    let phase = key_values(vec!["name", "scenario", "stage", "from", "to"])
        .prop_map(|body| format!("[[phases]]\n{body}"));
    let phase_objective = key_values(vec![
        "kind",
        "name",
        "figure",
        "phase",
        "times",
        "relative_to",
        "below",
        "above",
        "within",
        "window",
        "max_variation",
        "max_increase",
    ])
    .prop_map(|body| format!("[[phase_objectives]]\n{body}"));
    let thresholds = key_values(vec!["http_req_duration", "http_req_failed", "http_reqs"])
        .prop_map(|body| format!("[thresholds]\n{body}"));
    (
        prop::collection::vec(row, 0..3),
        prop::collection::vec(phase, 0..2),
        prop::collection::vec(phase_objective, 0..2),
        prop::option::of(thresholds),
    )
        .prop_map(|(rows, phases, objectives, thresholds)| {
            format!(
                "{}{}{}{}",
                thresholds.unwrap_or_default(),
                rows.join(""),
                phases.join(""),
                objectives.join("")
            )
        })
}

/// Parses `text` as the file `name` and resolves a plan from it (the file
/// placed in the inputs by `place`): every step succeeds or fails as one
/// line of bad input.
fn check_file<T: serde::de::DeserializeOwned>(
    name: &str,
    text: &str,
    place: impl FnOnce(T) -> PlanInputs,
) -> Result<(), TestCaseError> {
    match parse_config::<T>(Path::new(name), text) {
        Ok(file) => {
            if let Err(e) = resolve(place(file)) {
                assert_bad_input_line(&e, text)?;
            }
        }
        Err(e) => assert_bad_input_line(&e, text)?,
    }
    Ok(())
}

fn check_options(name: &str, text: &str) -> Result<(), TestCaseError> {
    check_file(name, text, |layer| plan_inputs(Some(layer), None))
}

fn check_slo(name: &str, text: &str) -> Result<(), TestCaseError> {
    check_file(name, text, |slo| plan_inputs(None, Some(slo)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text as an options or SLO file, TOML or JSON, or as a module's
    /// describe() options.
    #[test]
    fn config_loaders_take_any_text(s in any::<String>()) {
        check_options("o.toml", &s)?;
        check_options("o.json", &s)?;
        check_slo("slo.toml", &s)?;
        check_slo("slo.json", &s)?;
        if let Err(e) = OptionsLayer::from_module_json(&s) {
            assert_bad_input_line(&e, &s)?;
        }
    }

    /// Options files from the schema, damaged or not, through to a plan.
    #[test]
    fn near_valid_options_files(text in options_toml().prop_flat_map(damaged)) {
        check_options("o.toml", &text)?;
    }

    /// The same documents as JSON (what describe() returns and `.json`
    /// options files hold).
    #[test]
    fn near_valid_options_json(text in options_toml()) {
        if let Ok(value) = toml::from_str::<toml::Value>(&text) {
            let json = serde_json::to_string(&value).unwrap_or_default();
            check_options("o.json", &json)?;
            if let Err(e) = OptionsLayer::from_module_json(&json) {
                assert_bad_input_line(&e, &json)?;
            }
        }
    }

    /// SLO files from the schema, damaged or not, through to a plan.
    #[test]
    fn near_valid_slo_files(text in slo_toml().prop_flat_map(damaged)) {
        check_slo("slo.toml", &text)?;
    }
}

#[test]
fn the_generators_reach_valid_documents() {
    // Guard against generators that only ever produce errors: a few fixed
    // draws of the grammar's valid core must resolve.
    let ok = |text: &str| {
        let layer: OptionsLayer = parse_config(Path::new("o.toml"), text).unwrap();
        resolve(plan_inputs(Some(layer), None)).unwrap();
    };
    ok("vus = 3\nduration = \"10s\"\n");
    ok(
        "[scenarios.a]\nexecutor = \"constant-vus\"\nvus = 2\nduration = \"1m30s\"\nflow = \"list\"\n",
    );
    ok("allowed_hosts = [\"localhost\", \"*\"]\niteration_cpu_limit = \"200ms\"\n");
    let slo: SloFile = parse_config(
        Path::new("slo.toml"),
        "[[objectives]]\nname = \"GET /x\"\np95 = \"200ms\"\naccept_statuses = [429, \"5xx\"]\n",
    )
    .unwrap();
    resolve(plan_inputs(None, Some(slo))).unwrap();
}
