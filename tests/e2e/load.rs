//! Closed-model load: exact counts, weights, latency, error rate, keep-alive,
//! custom metrics, traps, HTTPS.

use crate::util::*;

#[test]
fn shared_iterations_are_exact_and_vus_keep_their_connections() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "fast", "--iterations", "50", "--vus", "5"],
    );
    run.expect_code(0);
    assert_eq!(value(&r, "http_reqs", &[("name", "fast")], "count"), 50.0);
    assert_eq!(value(&r, "iterations", &[("flow", "fast")], "count"), 50.0);
    assert_eq!(
        value(&r, "checks", &[("check", "fast 200")], "passes"),
        50.0
    );
    let stats = srv.stats();
    assert_eq!(stats.by_route.get("ok"), Some(&50));
    // Each VU owns one keep-alive connection.
    assert_eq!(stats.connections, 5);
    assert!(run.stdout.contains("RESULT: PASS"), "{}", run.stdout);
}

#[test]
fn per_vu_iterations_by_default_and_constant_vus_for_a_duration() {
    let srv = server();
    let probe = guest("probe");
    // Nothing given: the module's defaults (1 VU, 1 iteration).
    let (run, r, _d) = run_json(&probe, &srv.base_url(), &["--flow", "fast"]);
    run.expect_code(0);
    assert_eq!(value(&r, "http_reqs", &[], "count"), 1.0);

    let (run, r, _d) = run_json(
        &probe,
        &srv.base_url(),
        &["--flow", "fast", "--vus", "3", "--duration", "1s"],
    );
    run.expect_code(0);
    let n = value(&r, "iterations", &[], "count");
    assert!(n >= 3.0, "constant VUs ran only {n} iterations");
    assert_eq!(value(&r, "vus_max", &[], "value"), 3.0);
    assert!(r.duration_s >= 1.0, "load lasted {}s", r.duration_s);
    assert_eq!(r.config["scenarios"][0]["executor"], "constant-vus");
}

#[test]
fn flows_are_picked_by_weight() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "fast=3",
            "--flow",
            "env=1",
            "--iterations",
            "2000",
            "--vus",
            "4",
            "-e",
            "PROBE_ENV=yes",
        ],
    );
    run.expect_code(0);
    let fast = value(&r, "iterations", &[("flow", "fast")], "count");
    let env = value(&r, "iterations", &[("flow", "env")], "count");
    assert_eq!(fast + env, 2000.0);
    // 3:1 -> 75 %; five standard deviations of a binomial share at n=2000.
    let share = fast / 2000.0;
    assert!((share - 0.75).abs() < 0.05, "share of fast = {share}");
    assert_eq!(
        value(&r, "checks", &[("check", "env passed")], "passes"),
        env
    );
}

#[test]
fn slow_route_latency_is_measured_within_hdr_precision() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "slow", "--iterations", "20", "--vus", "4"],
    );
    run.expect_code(0);
    let min = value(&r, "http_req_duration", &[("name", "slow")], "min");
    let med = value(&r, "http_req_duration", &[("name", "slow")], "med");
    assert!(min >= 50.0, "the 50 ms route answered in {min} ms");
    assert!(med < 75.0, "median {med} ms is far above 50 ms");
    let waiting = value(&r, "http_req_waiting", &[("name", "slow")], "min");
    assert!(waiting >= 49.0, "time to first byte {waiting} ms");
}

#[test]
fn error_rate_is_exact() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "flaky", "--iterations", "100", "--vus", "4"],
    );
    run.expect_code(0);
    assert_eq!(
        value(&r, "http_req_failed", &[("name", "flaky")], "passes"),
        10.0
    );
    assert_eq!(
        value(&r, "http_req_failed", &[("name", "flaky")], "total"),
        100.0
    );
    assert_eq!(
        value(
            &r,
            "http_reqs",
            &[("name", "flaky"), ("status", "500")],
            "count"
        ),
        10.0
    );
    assert_eq!(r.endpoints["flaky"].error_count, 10);
    assert!((r.endpoints["flaky"].error_rate - 0.1).abs() < 1e-12);
}

#[test]
fn custom_metrics_and_batches_are_recorded() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "metrics=1",
            "--flow",
            "batch=1",
            "--iterations",
            "40",
            "--vus",
            "2",
        ],
    );
    run.expect_code(0);
    let metrics_iters = value(&r, "iterations", &[("flow", "metrics")], "count");
    let batch_iters = value(&r, "iterations", &[("flow", "batch")], "count");
    assert_eq!(metrics_iters + batch_iters, 40.0);
    assert_eq!(
        value(&r, "probe_items", &[("kind", "a")], "count"),
        2.0 * metrics_iters
    );
    assert_eq!(value(&r, "probe_trend", &[], "count"), metrics_iters);
    assert_eq!(value(&r, "probe_trend", &[], "max"), 5.0);
    assert_eq!(value(&r, "probe_latency", &[], "avg"), 7.0);
    assert_eq!(value(&r, "probe_rate", &[], "total"), metrics_iters);
    assert_eq!(
        value(&r, "http_reqs", &[("name", "batch")], "count"),
        3.0 * batch_iters
    );
    assert_eq!(
        srv.stats().by_route.get("ok").copied().unwrap_or(0) as f64,
        3.0 * batch_iters
    );
}

#[test]
fn a_trapping_vu_gets_a_fresh_instance_and_the_run_goes_on() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "panic", "--iterations", "10", "--vus", "1"],
    );
    run.expect_code(0);
    assert_eq!(value(&r, "iterations", &[], "count"), 10.0);
    assert_eq!(
        value(
            &r,
            "iteration_errors",
            &[("kind", "trap"), ("cause", "panic")],
            "count"
        ),
        1.0
    );
    assert!(
        run.stderr.contains("deliberate panic on iteration 0"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("trapped"), "{}", run.stderr);
}

#[test]
fn iteration_errors_are_counted_and_logged_a_bounded_number_of_times() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "fail", "--iterations", "30", "--vus", "2"],
    );
    // Every iteration failed: the measurements say nothing, the run failed.
    run.expect_code(1);
    assert!(
        r.outcome
            .reason
            .as_deref()
            .is_some_and(|s| s.starts_with("every iteration failed (30 of 30)")
                && s.contains("deliberate failure")),
        "{:?}",
        r.outcome.reason
    );
    assert_eq!(
        value(&r, "iteration_errors", &[("kind", "error")], "count"),
        30.0
    );
    assert_eq!(
        run.stderr.matches("deliberate failure").count(),
        10,
        "{}",
        run.stderr
    );
}

#[test]
fn vus_that_cannot_start_make_a_runtime_failure() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "fast",
            "--iterations",
            "4",
            "--vus",
            "2",
            "-e",
            "PROBE_FAIL_INIT=yes",
        ],
    );
    run.expect_code(1);
    assert!(run.stdout.contains("no VU could start"), "{}", run.stdout);
    assert!(run.stderr.contains("init refused"), "{}", run.stderr);
    assert_eq!(r.outcome.vu_init_failures, 2);
    assert_eq!(r.outcome.verdict, "error");
}

#[test]
fn https_with_a_trusted_ca_and_tls_errors_without_it() {
    let srv = wasm_slo_target::spawn_in_thread(
        "127.0.0.1:0".parse().unwrap(),
        ServerOptions { tls: true },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &srv.ca_pem().unwrap());
    let probe = guest("probe");
    let (run, r, _d) = run_json(
        &probe,
        &srv.base_url(),
        &["--flow", "fast", "--iterations", "5", "--ca-cert", &ca],
    );
    run.expect_code(0);
    assert_eq!(value(&r, "http_req_failed", &[], "passes"), 0.0);
    assert_eq!(value(&r, "http_reqs", &[("status", "200")], "count"), 5.0);
    assert!(value(&r, "http_req_tls_handshaking", &[], "max") > 0.0);

    let (run, r, _d) = run_json(
        &probe,
        &srv.base_url(),
        &["--flow", "fast", "--iterations", "5"],
    );
    run.expect_code(0);
    assert_eq!(value(&r, "http_req_failed", &[], "passes"), 5.0);
    assert_eq!(
        value(&r, "http_reqs", &[("error_code", "1300")], "count")
            + value(&r, "http_reqs", &[("error_code", "1310")], "count"),
        5.0
    );
    assert!(run.stdout.contains("1300 TLS error"), "{}", run.stdout);
}

#[test]
fn a_scenario_abort_stops_the_test_and_keeps_what_was_measured() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "abort", "--vus", "1", "--duration", "30s"],
    );
    run.expect_code(108);
    assert_eq!(r.outcome.verdict, "aborted");
    assert_eq!(r.outcome.reason.as_deref(), Some("deliberate abort"));
    // Iterations 0 and 1 completed, iteration 2 sent its request then aborted.
    assert_eq!(
        value(&r, "http_reqs", &[("name", "before-abort")], "count"),
        3.0
    );
    assert!(
        r.duration_s < 10.0,
        "the abort did not stop the test: {}s",
        r.duration_s
    );
    assert!(
        run.stdout
            .contains("ABORTED by the scenario: deliberate abort"),
        "{}",
        run.stdout
    );
}
