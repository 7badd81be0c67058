//! The JSON results file: schema, figures, and lossless histograms.

use crate::util::*;

#[test]
fn results_file_has_schema_figures_and_decodable_histograms() {
    let srv = server();
    let probe = guest("probe");
    let (run, r, dir) = run_json(
        &probe,
        &srv.base_url(),
        &[
            "--flow",
            "fast=1",
            "--flow",
            "slow=1",
            "--iterations",
            "40",
            "--vus",
            "4",
        ],
    );
    run.expect_code(0);
    assert_eq!(r.schema, "wasm-slo/results/v1");
    assert_eq!(r.runner.name, "wasm-slo");
    assert_eq!(r.module.wit, "wasm-slo:scenario@0.1.3");
    assert_eq!(r.module.name, "probe");
    assert_eq!(r.module.sha256.len(), 64);
    assert_eq!(r.outcome.verdict, "pass");
    assert!(r.duration_s > 0.0);
    assert_eq!(r.config["scenarios"][0]["executor"], "shared-iterations");
    assert_eq!(r.config["scenarios"][0]["iterations"], 40);

    // Every trend carries its histogram; decoding gives back the figures.
    let store = r.to_store().unwrap();
    for rec in r.metrics.iter().filter(|m| m.name == "http_req_duration") {
        assert!(rec.histogram.is_some());
        assert_eq!(rec.unit.as_deref(), Some("ms"));
        let Some(wasm_slo::metrics::data::MetricData::Trend(t)) = store.select(
            "http_req_duration",
            &rec.tags
                .pairs()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>(),
        ) else {
            panic!("trend missing after decoding")
        };
        assert_eq!(t.count() as f64, rec.values["count"]);
        assert_eq!(t.percentile(95.0), rec.values["p(95)"]);
    }

    // The per-endpoint summary agrees with the series.
    let total = r.endpoints["all"].total_requests;
    assert_eq!(total, 40);
    assert_eq!(
        r.endpoints["fast"].total_requests + r.endpoints["slow"].total_requests,
        40
    );
    assert!(r.endpoints["slow"].median >= 50.0);
    assert!(r.endpoints["all"].rps > 0.0);

    // The raw file is JSON with the documented top-level keys.
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    for key in [
        "schema",
        "runner",
        "module",
        "started_at",
        "duration_s",
        "config",
        "outcome",
        "endpoints",
        "metrics",
        "thresholds",
    ] {
        assert!(raw.get(key).is_some(), "missing {key}");
    }
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn inspect_shows_version_flows_and_defaults() {
    let probe = guest("probe");
    let run = wasm_slo(&["inspect", probe.to_str().unwrap()]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("wit:      wasm-slo:scenario@0.1.3"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("scenario: probe"), "{}", run.stdout);
    assert!(run.stdout.contains("fast"), "{}", run.stdout);
    let run = wasm_slo(&["inspect", "--json", guest("task-api").to_str().unwrap()]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let weights: Vec<(String, u64)> = doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["weight"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weights,
        [("list".into(), 3), ("get".into(), 2), ("create".into(), 1)]
    );
    assert!(doc["options"]["thresholds"].is_object());
}

/// `WASM_SLO_INTERVAL` (for profiling under valgrind) sets the length of
/// the time series' intervals; the totals are the same either way.
#[test]
fn a_profiling_interval_lengthens_the_time_series_intervals() {
    let srv = server();
    let probe = guest("probe");
    let args = ["--flow", "fast", "--iterations", "20", "--vus", "2"];
    let (run, usual, _d1) = run_json(&probe, &srv.base_url(), &args);
    run.expect_code(0);
    let (run, long, _d2) = run_json_env(
        &probe,
        &srv.base_url(),
        &args,
        &[("WASM_SLO_INTERVAL", "1h")],
    );
    run.expect_code(0);
    assert_eq!(usual.interval_s, 1.0);
    assert_eq!(long.interval_s, 3600.0);
    // A run of well under an hour is one interval.
    assert_eq!(long.intervals.len(), 1, "{:?}", long.intervals);
    assert_eq!(long.endpoints["all"].total_requests, 20);
    assert_eq!(usual.endpoints["all"].total_requests, 20);
}

#[test]
fn a_bad_profiling_interval_is_refused_before_the_run() {
    let srv = server();
    let probe = guest("probe");
    let base = format!("BASE_URL={}", srv.base_url());
    for (value, needle) in [
        ("soon", "WASM_SLO_INTERVAL=soon is not a duration"),
        ("10ms", "WASM_SLO_INTERVAL=10ms is out of range"),
        ("2h", "WASM_SLO_INTERVAL=2h is out of range"),
    ] {
        let run = wasm_slo_env(
            &[
                "run",
                probe.to_str().unwrap(),
                "-e",
                &base,
                "--flow",
                "fast",
                "--iterations",
                "1",
            ],
            &[("WASM_SLO_INTERVAL", value)],
        );
        run.expect_code(2);
        assert!(run.stderr.contains(needle), "{}", run.stderr);
        assert!(run.stderr.contains("unset it"), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}
