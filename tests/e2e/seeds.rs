//! The seed SLO documents as SLO files (`examples/slo/`), each run twice
//! with the probe's `endpoints` flow against the local target server: once
//! with every endpoint mapped to a route that meets its objectives, once
//! with chosen endpoints mapped to slow or failing routes. Every objective's
//! verdict and the exit code are checked.
//!
//! The runs are seconds long, so the files' windows (minutes in the seeds)
//! are scaled down to one second; nothing else of a file is changed. Fast
//! routes stay far (>= 50 ms) inside their targets, and the slow or failing
//! routes far outside, so the verdicts do not depend on the machine's load.

use std::path::Path;

use crate::util::*;

/// The text of `examples/slo/{file}` with each `(from, to)` replaced (each
/// must occur).
fn seed_file(file: &str, scale: &[(&str, &str)]) -> String {
    let path = workspace().join("examples/slo").join(file);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in scale {
        assert!(text.contains(from), "{file} lacks {from:?}");
        text = text.replace(from, to);
    }
    text
}

/// The same list with some paths replaced.
fn with(
    list: &[(&'static str, &'static str)],
    changes: &[(&str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    for (n, _) in changes {
        assert!(list.iter().any(|(m, _)| m == n), "no endpoint {n}");
    }
    list.iter()
        .map(|(n, p)| {
            let p = changes
                .iter()
                .find(|(c, _)| c == n)
                .map(|(_, p)| *p)
                .unwrap_or(p);
            (*n, p)
        })
        .collect()
}

/// One objective expected not to PASS: the threshold whose selector is
/// `selector` (for phase objectives: whose phase is `selector`) and whose
/// expression starts with `expression` (or whose aggregation is it).
struct Expect(&'static str, &'static str, &'static str);

/// Checks the number of objectives, that each `expected` one has its
/// verdict and that every other one is PASS.
fn check_verdicts(r: &Results, count: usize, expected: &[Expect]) {
    let all: Vec<String> = r
        .thresholds
        .iter()
        .map(|t| {
            format!(
                "{} {} [{}] {:?} {} {:?}",
                t.selector,
                t.expression,
                t.aggregation,
                t.phase,
                t.verdict.label(),
                t.value
            )
        })
        .collect();
    let listing = all.join("\n");
    assert_eq!(r.thresholds.len(), count, "objectives:\n{listing}");
    let matches = |t: &wasm_slo::slo::ThresholdResult, e: &Expect| {
        let at = t.selector == e.0 || t.phase.as_deref() == Some(e.0);
        at && (t.expression.starts_with(e.1) || t.aggregation == e.1)
    };
    for e in expected {
        let hits: Vec<_> = r.thresholds.iter().filter(|t| matches(t, e)).collect();
        assert_eq!(
            hits.len(),
            1,
            "{} {}: not one objective in\n{listing}",
            e.0,
            e.1
        );
        assert_eq!(hits[0].verdict.label(), e.2, "{} {}:\n{listing}", e.0, e.1);
    }
    for t in &r.thresholds {
        if !expected.iter().any(|e| matches(t, e)) {
            assert_eq!(
                t.verdict.label(),
                "PASS",
                "{} {} should pass:\n{listing}",
                t.selector,
                t.expression
            );
        }
    }
}

/// Runs the probe with `slo` and `args` (which select the `endpoints` flow).
fn run_seed(dir: &Path, slo: &str, args: &[&str]) -> (Run, Results, tempfile::TempDir) {
    let srv = server();
    let slo = write(dir, "slo.toml", slo);
    let mut all = vec!["--slo", &slo];
    all.extend_from_slice(args);
    run_json(&guest("probe"), &srv.base_url(), &all)
}

// --- seed 000: tunix-rt -----------------------------------------------------

const TUNIX: &[(&str, &str)] = &[
    ("GET /api/health", "/ok"),
    ("GET /api/redi/health", "/slow?ms=50"),
    ("POST /api/traces", "/slow?ms=50"),
    ("POST /api/traces/batch (100)", "/slow?ms=50"),
    ("POST /api/traces/batch (1000)", "/slow?ms=50"),
    ("GET /api/traces/{id}", "/slow?ms=50"),
    ("GET /api/traces", "/slow?ms=50"),
    ("POST /api/traces/{id}/score", "/slow?ms=50"),
    ("GET /api/traces/compare", "/slow?ms=50"),
    ("POST /api/datasets/build (100)", "/slow?ms=50"),
    ("POST /api/datasets/build (1000)", "/slow?ms=50"),
    ("GET /api/datasets/{key}/export.jsonl (100)", "/slow?ms=50"),
    ("GET /api/datasets/{key}/export.jsonl (1000)", "/slow?ms=50"),
    // UNGAR is not installed: 501 everywhere, the graceful answer.
    ("GET /api/ungar/status", "/status/501"),
    (
        "POST /api/ungar/high-card-duel/generate (10)",
        "/status/501",
    ),
    (
        "POST /api/ungar/high-card-duel/generate (100)",
        "/status/501",
    ),
    (
        "GET /api/ungar/high-card-duel/export.jsonl (100)",
        "/status/501",
    ),
];

/// In the soak, the slower endpoints take 100 ms (the 100 ms targets stay at
/// 50 ms), so every window's p95 is the same 100 ms whatever the load.
fn tunix_soak() -> Vec<(&'static str, &'static str)> {
    TUNIX
        .iter()
        .map(|(n, p)| {
            let slow = *p == "/slow?ms=50"
                && !matches!(*n, "GET /api/redi/health" | "GET /api/traces/{id}");
            (*n, if slow { "/slow?ms=100" } else { *p })
        })
        .collect()
}

fn tunix_options(base: &[(&str, &str)], spike: &[(&str, &str)], soak: &[(&str, &str)]) -> String {
    format!(
        r#"
[scenarios.normal]
executor = "constant-vus"
vus = 2
duration = "2s"
flow = "endpoints"
env = {{ PROBE_ENDPOINTS = "{}" }}

[scenarios.spike]
executor = "ramping-vus"
start_vus = 0
start_time = "2s"
stages = [{{ duration = "1s", target = 4 }}, {{ duration = "2s", target = 4 }}]
flow = "endpoints"
env = {{ PROBE_ENDPOINTS = "{}" }}

[scenarios.soak]
executor = "constant-vus"
vus = 2
duration = "3s"
start_time = "5s"
flow = "endpoints"
env = {{ PROBE_ENDPOINTS = "{}" }}
"#,
        endpoints(base),
        endpoints(spike),
        endpoints(soak)
    )
}

#[test]
fn seed_000_tunix_meets_and_misses() {
    let slo = seed_file(
        "seed-000-tunix.toml",
        &[(r#"window = "5m""#, r#"window = "1s""#)],
    );
    // 17 endpoint rows, the error rate, "no 500 in the spike", the spike's
    // p95 against normal load and the soak's degradation.
    let count = 21;

    let dir = tempfile::tempdir().unwrap();
    let options = write(
        dir.path(),
        "options.toml",
        &tunix_options(TUNIX, TUNIX, &tunix_soak()),
    );
    let (run, r, _d) = run_seed(dir.path(), &slo, &["--config", &options]);
    run.expect_code(0);
    check_verdicts(&r, count, &[]);

    // Misses: the health check takes 80 ms everywhere (1 of 17 requests, so
    // it is also normal load's p95), a trace lookup answers 500, and in the
    // spike the two 1000-item endpoints take 300 ms (within their own 3 s
    // and 10 s targets, but past 2x normal load's p95).
    let base = with(
        TUNIX,
        &[
            ("GET /api/health", "/slow?ms=80"),
            ("GET /api/traces/{id}", "/status/500"),
        ],
    );
    let spike = with(
        &base,
        &[
            ("POST /api/traces/batch (1000)", "/slow?ms=300"),
            (
                "GET /api/datasets/{key}/export.jsonl (1000)",
                "/slow?ms=300",
            ),
        ],
    );
    let soak = with(
        &tunix_soak(),
        &[
            ("GET /api/health", "/slow?ms=80"),
            ("GET /api/traces/{id}", "/status/500"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let options = write(
        dir.path(),
        "options.toml",
        &tunix_options(&base, &spike, &soak),
    );
    let (run, r, _d) = run_seed(dir.path(), &slo, &["--config", &options]);
    run.expect_code(99);
    check_verdicts(
        &r,
        count,
        &[
            Expect(
                r#"http_req_duration{name:"GET /api/health"}"#,
                "p(95)",
                "FAIL",
            ),
            Expect("http_req_failed", "rate", "FAIL"),
            Expect(
                r#"http_reqs{scenario:"spike",status:"500"}"#,
                "count",
                "FAIL",
            ),
            Expect("spike", "p95", "FAIL"),
        ],
    );
}

// --- seed 001: Santokit -----------------------------------------------------

const SANTOKIT: &[(&str, &str)] = &[
    ("SELECT (no FK)", "/ok"),
    ("SELECT (with pagination)", "/ok"),
    ("INSERT", "/ok"),
    ("UPDATE", "/ok"),
    ("DELETE", "/ok"),
    ("SELECT + FK (1 level)", "/ok"),
    ("SELECT + FK (2 levels)", "/ok"),
    ("SELECT + FK (3 levels)", "/ok"),
    ("Simple function", "/ok"),
    ("Complex transaction", "/ok"),
    ("Publish event", "/ok"),
    ("Handler execution", "/ok"),
    ("Generate presigned URL", "/ok"),
    // Hub operations with targets of seconds take 300 ms: a quarter of the
    // requests, so every window's p95 is 300 ms (stable, below 500 ms).
    ("Schema apply (10 tables)", "/slow?ms=300"),
    ("Schema apply (100 tables)", "/slow?ms=300"),
    ("Release creation", "/slow?ms=300"),
    ("Audit log write", "/ok"),
    ("Project creation", "/slow?ms=300"),
    ("CLI command (read)", "/ok"),
    ("CLI command (write)", "/slow?ms=300"),
];

const SANTOKIT_OPTIONS: &str = r#"
[scenarios.spike]
executor = "ramping-vus"
start_vus = 2
stages = [{ duration = "2s", target = 2 }, { duration = "1s", target = 4 }, { duration = "2s", target = 2 }]
flow = "endpoints"

[scenarios.soak]
executor = "ramping-vus"
start_vus = 0
stages = [{ duration = "1s", target = 2 }, { duration = "3s", target = 2 }, { duration = "1s", target = 0 }]
flow = "endpoints"
"#;

#[test]
fn seed_001_santokit_meets_and_misses() {
    let slo = seed_file(
        "seed-001-santokit.toml",
        &[
            (r#"window = "10s""#, r#"window = "1s""#),
            (r#"window = "10m""#, r#"window = "1s""#),
        ],
    );
    // 20 operations x (p50, p95, p99, availability), the error rate, the
    // spike's recovery and the soak's stability.
    let count = 83;
    let dir = tempfile::tempdir().unwrap();
    let options = write(dir.path(), "options.toml", SANTOKIT_OPTIONS);

    let meet = format!("PROBE_ENDPOINTS={}", endpoints(SANTOKIT));
    let (run, r, _d) = run_seed(dir.path(), &slo, &["--config", &options, "-e", &meet]);
    run.expect_code(0);
    check_verdicts(&r, count, &[]);

    // Misses: INSERT answers 503, presigned URLs take 100 ms (past all three
    // of their percentiles), SELECT takes 120 ms (past its p50 only).
    let miss = with(
        SANTOKIT,
        &[
            ("INSERT", "/status/503"),
            ("Generate presigned URL", "/slow?ms=100"),
            ("SELECT (no FK)", "/slow?ms=120"),
        ],
    );
    let miss = format!("PROBE_ENDPOINTS={}", endpoints(&miss));
    let (run, r, _d) = run_seed(dir.path(), &slo, &["--config", &options, "-e", &miss]);
    run.expect_code(99);
    check_verdicts(
        &r,
        count,
        &[
            Expect(r#"http_req_failed{name:"INSERT"}"#, "rate", "FAIL"),
            Expect("http_req_failed", "rate", "FAIL"),
            Expect(
                r#"http_req_duration{name:"Generate presigned URL"}"#,
                "p(50)",
                "FAIL",
            ),
            Expect(
                r#"http_req_duration{name:"Generate presigned URL"}"#,
                "p(95)",
                "FAIL",
            ),
            Expect(
                r#"http_req_duration{name:"Generate presigned URL"}"#,
                "p(99)",
                "FAIL",
            ),
            Expect(
                r#"http_req_duration{name:"SELECT (no FK)"}"#,
                "p(50)",
                "FAIL",
            ),
        ],
    );
}

// --- seed 002: chat/billing/privacy -----------------------------------------

const CHAT: &[(&str, &str)] = &[
    ("GET /v1/billing/quota", "/ok"),
    ("GET /v1/privacy/export", "/slow?ms=50"),
    // Protection statuses, accepted by the endpoints' policy.
    ("POST /v1/privacy/delete", "/status/409"),
    ("GET /v1/chat/conversations", "/status/429"),
];

#[test]
fn seed_002_chat_billing_meets_and_misses() {
    let slo = seed_file("seed-002-chat-billing.toml", &[]);
    // 4 endpoints x (p95, p99), the 5xx rate and availability.
    let count = 10;
    let dir = tempfile::tempdir().unwrap();
    let load = ["--flow", "endpoints", "--vus", "2", "--duration", "2s"];

    let meet = format!("PROBE_ENDPOINTS={}", endpoints(CHAT));
    let mut args = load.to_vec();
    args.extend(["-e", &meet]);
    let (run, r, _d) = run_seed(dir.path(), &slo, &args);
    run.expect_code(0);
    check_verdicts(&r, count, &[]);
    // The accepted 409/429 are no failures, and still counted as 4xx.
    assert_eq!(value(&r, "http_req_failed", &[], "passes"), 0.0);
    assert!(value(&r, "http_req_4xx", &[], "passes") > 0.0);

    // Misses: the export status takes 800 ms, conversations answer 500.
    let miss = with(
        CHAT,
        &[
            ("GET /v1/privacy/export", "/slow?ms=800"),
            ("GET /v1/chat/conversations", "/status/500"),
        ],
    );
    let miss = format!("PROBE_ENDPOINTS={}", endpoints(&miss));
    let mut args = load.to_vec();
    args.extend(["-e", &miss]);
    let (run, r, _d) = run_seed(dir.path(), &slo, &args);
    run.expect_code(99);
    check_verdicts(
        &r,
        count,
        &[
            Expect(
                r#"http_req_duration{name:"GET /v1/privacy/export"}"#,
                "p(95)",
                "FAIL",
            ),
            Expect(
                r#"http_req_duration{name:"GET /v1/privacy/export"}"#,
                "p(99)",
                "FAIL",
            ),
            Expect("http_req_5xx", "rate", "FAIL"),
            Expect("http_req_failed", "rate", "FAIL"),
        ],
    );
}

// --- seed 003: Toombos / Halcytone ------------------------------------------

const HEALTH: &[(&str, &str)] = &[
    ("GET /health", "/ok"),
    ("GET /ready", "/ok"),
    ("GET /live", "/ok"),
    ("GET /metrics", "/ok"),
];

const CONTENT: &[(&str, &str)] = &[
    ("POST /api/v2/content/generate", "/slow?ms=50"),
    ("POST /api/v2/content/generate/enhanced", "/slow?ms=50"),
    ("POST /api/v1/content/batch", "/slow?ms=50"),
    ("POST /api/v2/content/validate", "/ok"),
];

const MIXED: &[(&str, &str)] = &[
    ("POST /api/v2/content/validate", "/ok"),
    ("POST /api/v2/content/generate", "/slow?ms=50"),
    ("GET /api/v2/status", "/ok"),
    ("GET /health", "/ok"),
];

fn toombos_options(health: &[(&str, &str)], content: &[(&str, &str)]) -> String {
    let class = |name: &str, list: &[(&str, &str)]| {
        format!(
            "[scenarios.{name}]\nexecutor = \"constant-vus\"\nvus = 2\nduration = \"3s\"\n\
             flow = \"endpoints\"\nenv = {{ PROBE_ENDPOINTS = \"{}\" }}\n\n",
            endpoints(list)
        )
    };
    class("health", health) + &class("content", content) + &class("mixed", MIXED)
}

#[test]
fn seed_003_toombos_meets_and_misses() {
    let slo = seed_file("seed-003-toombos.toml", &[]);
    // Per class p95, error rate and RPS; validation and batch p95;
    // availability; API throughput.
    let count = 13;

    let dir = tempfile::tempdir().unwrap();
    let options = write(
        dir.path(),
        "options.toml",
        &toombos_options(HEALTH, CONTENT),
    );
    let (run, r, _d) = run_seed(dir.path(), &slo, &["--config", &options]);
    run.expect_code(0);
    check_verdicts(&r, count, &[]);
    // The levels are there: a WARN bound before each FAIL bound.
    let health_p95 = r
        .thresholds
        .iter()
        .find(|t| t.selector == r#"http_req_duration{scenario:"health"}"#)
        .expect("health p95");
    assert_eq!(health_p95.expression, "p(95)<=150ms");
    assert_eq!(health_p95.warning.as_deref(), Some("p(95)<=125ms"));

    // Misses: /health takes 300 ms (past the critical 150 ms, and the health
    // class can no longer reach 40 RPS with 2 users), validation answers 500
    // in the content class.
    let health = with(HEALTH, &[("GET /health", "/slow?ms=300")]);
    let content = with(CONTENT, &[("POST /api/v2/content/validate", "/status/500")]);
    let dir = tempfile::tempdir().unwrap();
    let options = write(
        dir.path(),
        "options.toml",
        &toombos_options(&health, &content),
    );
    let (run, r, _d) = run_seed(dir.path(), &slo, &["--config", &options]);
    run.expect_code(99);
    check_verdicts(
        &r,
        count,
        &[
            Expect(r#"http_req_duration{scenario:"health"}"#, "p(95)", "FAIL"),
            Expect(r#"http_reqs{scenario:"health"}"#, "rate", "FAIL"),
            Expect(r#"http_req_failed{scenario:"content"}"#, "rate", "FAIL"),
            Expect("http_req_failed", "rate", "FAIL"),
        ],
    );
}

// --- seed 004: Task Management System ---------------------------------------

const TASKS: &[(&str, &str)] = &[
    ("/api/v1/auth/login", "/ok"),
    ("/tasks [LIST]", "/ok"),
    ("/tasks/:id [GET]", "/ok"),
    ("/tasks [CREATE]", "/ok"),
];

const TASKS_OPTIONS: &str = r#"
[scenarios.baseline]
executor = "constant-vus"
vus = 1
duration = "4s"
flow = "endpoints"

[scenarios.normal]
executor = "constant-vus"
vus = 1
duration = "4s"
flow = "endpoints"

[scenarios.peak]
executor = "constant-vus"
vus = 1
duration = "4s"
flow = "endpoints"

[scenarios.spike]
executor = "ramping-vus"
start_vus = 0
stages = [{ duration = "1s", target = 3 }, { duration = "1s", target = 3 }, { duration = "1s", target = 0 }]
flow = "endpoints"
"#;

#[test]
fn seed_004_task_api_meets_and_misses() {
    let slo = seed_file(
        "seed-004-task-api.toml",
        &[(r#"window = "10s""#, r#"window = "1s""#)],
    );
    // 4 endpoint types (login with availability), availability, 5xx and 4xx
    // rates, 3 scenarios x (p95, error rate), the spike's recovery.
    let count = 27;
    let dir = tempfile::tempdir().unwrap();
    let options = write(dir.path(), "options.toml", TASKS_OPTIONS);

    let meet = format!("PROBE_ENDPOINTS={}", endpoints(TASKS));
    let (run, r, _d) = run_seed(dir.path(), &slo, &["--config", &options, "-e", &meet]);
    run.expect_code(0);
    check_verdicts(&r, count, &[]);

    // Misses: listing takes 700 ms (past p50 and p95, within p99 and max; a
    // quarter of all requests, so no scenario meets its p95 and the p95
    // never recovers after the spike), creating answers 500.
    let miss = with(
        TASKS,
        &[
            ("/tasks [LIST]", "/slow?ms=700"),
            ("/tasks [CREATE]", "/status/500"),
        ],
    );
    let miss = format!("PROBE_ENDPOINTS={}", endpoints(&miss));
    let (run, r, _d) = run_seed(dir.path(), &slo, &["--config", &options, "-e", &miss]);
    run.expect_code(99);
    let mut expected = vec![
        Expect(
            r#"http_req_duration{name:"/tasks [LIST]"}"#,
            "p(50)",
            "FAIL",
        ),
        Expect(
            r#"http_req_duration{name:"/tasks [LIST]"}"#,
            "p(95)",
            "FAIL",
        ),
        Expect("http_req_failed", "rate", "FAIL"),
        Expect("http_req_5xx", "rate", "FAIL"),
        Expect("spike", "recovery", "FAIL"),
    ];
    for scenario in [
        r#"{scenario:"baseline"}"#,
        r#"{scenario:"normal"}"#,
        r#"{scenario:"peak"}"#,
    ] {
        let duration: &'static str = format!("http_req_duration{scenario}").leak();
        let failed: &'static str = format!("http_req_failed{scenario}").leak();
        expected.push(Expect(duration, "p(95)", "FAIL"));
        expected.push(Expect(failed, "rate", "FAIL"));
    }
    check_verdicts(&r, count, &expected);
}
