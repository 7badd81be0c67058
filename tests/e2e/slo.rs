//! SLO files: objective rows, levels, status policy, 4xx/5xx rates and
//! abort-on-fail.

use crate::util::*;

fn verdict_of<'a>(r: &'a Results, selector: &str, expression: &str) -> &'a str {
    let t = r
        .thresholds
        .iter()
        .find(|t| t.selector == selector && t.expression == expression)
        .unwrap_or_else(|| {
            panic!(
                "no {selector} {expression} in {:?}",
                r.thresholds
                    .iter()
                    .map(|t| (&t.selector, &t.expression))
                    .collect::<Vec<_>>()
            )
        });
    t.verdict.label()
}

#[test]
fn objective_rows_per_endpoint_pass_and_fail() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let slo = write(
        dir.path(),
        "slo.toml",
        r#"
[[objectives]]
name = "fast"
p95 = "100ms"
availability = "99.9%"

[[objectives]]
name = "slow"
p50 = "20ms"      # the route takes 50 ms: FAIL
max = "10s"
"#,
    );
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "fast",
            "--flow",
            "slow",
            "--iterations",
            "30",
            "--vus",
            "3",
            "--slo",
            &slo,
        ],
    );
    run.expect_code(99);
    assert_eq!(
        verdict_of(&r, r#"http_req_duration{name:"fast"}"#, "p(95)<=100ms"),
        "PASS"
    );
    assert_eq!(
        verdict_of(&r, r#"http_req_failed{name:"fast"}"#, "rate<=0.001"),
        "PASS"
    );
    assert_eq!(
        verdict_of(&r, r#"http_req_duration{name:"slow"}"#, "p(50)<=20ms"),
        "FAIL"
    );
    assert_eq!(
        verdict_of(&r, r#"http_req_duration{name:"slow"}"#, "max<=10000ms"),
        "PASS"
    );
    assert!(
        run.stdout
            .contains("FAIL  http_req_duration{name:\"slow\"} p(50)<=20ms"),
        "{}",
        run.stdout
    );
}

#[test]
fn warning_levels_pass_unless_strict() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    // Seed 003's levels: warning 50 % past the 30 ms baseline, critical 200 %.
    // The 50 ms route lands between them: WARN.
    let slo = write(
        dir.path(),
        "slo.toml",
        "[[objectives]]\nname = \"slow\"\np50 = \"30ms\"\nwarning = \"+50%\"\ncritical = \"+200%\"\n",
    );
    let args = [
        "--flow",
        "slow",
        "--iterations",
        "10",
        "--vus",
        "2",
        "--slo",
        &slo,
    ];
    let (run, r, _d) = run_json(&guest("probe"), &srv.base_url(), &args);
    run.expect_code(0);
    assert_eq!(
        verdict_of(&r, r#"http_req_duration{name:"slow"}"#, "p(50)<=90ms"),
        "WARN"
    );
    assert!(
        run.stdout.contains("WARN  http_req_duration"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("PASS with 1 warning(s)"),
        "{}",
        run.stdout
    );

    let mut strict = args.to_vec();
    strict.push("--strict");
    let (run, r, _d) = run_json(&guest("probe"), &srv.base_url(), &strict);
    run.expect_code(99);
    assert_eq!(r.outcome.verdict, "fail");
    assert!(run.stdout.contains("--strict"), "{}", run.stdout);
}

#[test]
fn status_policy_accepts_statuses_per_endpoint_and_5xx_rate_stays_visible() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    // /flaky answers 500 on every 10th request. Accepting 5xx for it (as
    // seed 002 accepts 429/409 per endpoint) makes them successes for
    // availability, while the 5xx rate objective still sees them.
    let slo = write(
        dir.path(),
        "slo.toml",
        r#"
[[objectives]]
name = "flaky"
availability = "99%"
rate_4xx = "0%"
accept_statuses = ["5xx"]

[[objectives]]
name = "flaky"
rate_5xx = "5%"
"#,
    );
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "flaky",
            "--iterations",
            "100",
            "--vus",
            "2",
            "--slo",
            &slo,
        ],
    );
    run.expect_code(99);
    assert_eq!(
        value(&r, "http_req_failed", &[("name", "flaky")], "passes"),
        0.0
    );
    assert_eq!(
        value(&r, "http_req_5xx", &[("name", "flaky")], "passes"),
        10.0
    );
    assert_eq!(
        value(&r, "http_req_4xx", &[("name", "flaky")], "passes"),
        0.0
    );
    assert_eq!(
        verdict_of(&r, r#"http_req_failed{name:"flaky"}"#, "rate<=0.01"),
        "PASS"
    );
    assert_eq!(
        verdict_of(&r, r#"http_req_4xx{name:"flaky"}"#, "rate<=0"),
        "PASS"
    );
    assert_eq!(
        verdict_of(&r, r#"http_req_5xx{name:"flaky"}"#, "rate<=0.05"),
        "FAIL"
    );
}

#[test]
fn abort_on_fail_stops_the_test_early_and_keeps_the_results() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let slo = write(
        dir.path(),
        "slo.toml",
        r#"
[thresholds]
http_req_failed = [{ threshold = "rate<0.01", abortOnFail = true, delayAbortEval = "1s" }]
"#,
    );
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "flaky",
            "--vus",
            "2",
            "--duration",
            "60s",
            "--slo",
            &slo,
        ],
    );
    run.expect_code(98);
    assert_eq!(r.outcome.verdict, "aborted");
    assert!(r.duration_s < 10.0, "ran {}s", r.duration_s);
    let reason = r.outcome.reason.clone().unwrap_or_default();
    assert!(reason.contains("http_req_failed rate<0.01"), "{reason}");
    // What was measured before the abort is all there.
    let reqs = value(&r, "http_reqs", &[], "count");
    assert!(reqs >= 10.0, "{reqs}");
    let per_interval: u64 = r.intervals.iter().map(|i| i.requests).sum();
    assert_eq!(per_interval as f64, reqs);
    assert!(run.stdout.contains("ABORTED: threshold"), "{}", run.stdout);
}

#[test]
fn phase_objectives_judge_a_spike_against_normal_load_and_its_recovery() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    // Normal load for 3 s, a 2 s "spike" of 50 ms requests, normal again.
    // The normal load comes at a fixed rate, so that the spike's 40
    // requests a second are always more than a twentieth of a window's and
    // set its p95, however fast the runner sends the fast ones.
    let options = write(
        dir.path(),
        "options.toml",
        r#"
[scenarios.normal]
executor = "constant-arrival-rate"
rate = 100
duration = "3s"
pre_allocated_vus = 2
max_vus = 10
flow = "fast"

[scenarios.spike]
executor = "constant-vus"
vus = 2
duration = "2s"
start_time = "3s"
flow = "slow"

[scenarios.after]
executor = "constant-arrival-rate"
rate = 100
duration = "3s"
start_time = "5s"
pre_allocated_vus = 2
max_vus = 10
flow = "fast"
"#,
    );
    let slo = write(
        dir.path(),
        "slo.toml",
        r#"
[[phases]]
name = "normal"
scenario = "normal"

[[phases]]
name = "spike"
scenario = "spike"

[[phases]]
name = "window"
from = "0s"
to = "3s"

[[phase_objectives]]            # seed 000: p95 during the spike < 2x normal
figure = "p95"
phase = "spike"
times = 2.0
relative_to = "normal"

[[phase_objectives]]            # seed 001: recovery < 1 minute (here 3 s)
kind = "recovery"
figure = "p95"
phase = "spike"
below = "20ms"
within = "3s"
window = "1s"

[[phase_objectives]]            # seed 001 soak: p95 variance < 10 %
kind = "stability"
figure = "p95"
window = "2s"
max_variation = "10%"

[[phase_objectives]]
figure = "rps"
phase = "window"
above = 1
"#,
    );
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--config", &options, "--slo", &slo],
    );
    run.expect_code(99);
    let phase = |kind: &str| {
        r.thresholds
            .iter()
            .find(|t| t.aggregation == kind)
            .unwrap_or_else(|| panic!("no {kind} objective in {:?}", r.thresholds))
    };
    let relative = phase("p95");
    assert_eq!(relative.phase.as_deref(), Some("spike"));
    assert_eq!(relative.verdict.label(), "FAIL", "{relative:?}");
    assert!(relative.value.unwrap() >= 50.0, "{relative:?}");
    let recovery = phase("recovery");
    assert_eq!(recovery.verdict.label(), "PASS", "{recovery:?}");
    assert!(recovery.value.unwrap() <= 3000.0);
    let stability = phase("variation");
    assert_eq!(stability.verdict.label(), "FAIL", "{stability:?}");
    assert_eq!(phase("rps").verdict.label(), "PASS");
    assert!(run.stdout.contains("during spike"), "{}", run.stdout);
}
