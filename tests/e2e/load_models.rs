//! Load models: stages, arrival rates, dropped iterations, coordinated
//! omission, graceful stop, concurrent scenarios, thousands of VUs.

use crate::util::*;

fn interval_vus(r: &Results) -> Vec<(f64, u64)> {
    r.intervals.iter().map(|i| (i.t, i.vus)).collect()
}

#[test]
fn vus_follow_the_stages_within_one_vu() {
    let srv = server();
    // 0 -> 10 VUs in 5 s, hold 2 s, 10 -> 0 in 3 s; 100 ms iterations so a
    // VU leaving in the ramp-down finishes quickly.
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow", "sleep", "--vus", "0", "--stage", "5s:10", "--stage", "2s:10", "--stage",
            "3s:0",
        ],
    );
    run.expect_code(0);
    assert_eq!(r.config["scenarios"][0]["executor"], "ramping-vus");
    let target = |t: f64| -> f64 {
        if t <= 5.0 {
            t * 2.0
        } else if t <= 7.0 {
            10.0
        } else {
            (10.0 - (t - 7.0) * 10.0 / 3.0).max(0.0)
        }
    };
    let series = interval_vus(&r);
    assert!(series.len() >= 9, "{series:?}");
    for (t, vus) in series.iter().filter(|(t, _)| *t <= 10.0) {
        let want = target(*t);
        assert!(
            (*vus as f64 - want).abs() <= 1.0 + 1e-9,
            "at {t}s: {vus} VUs, the stages say {want} ({series:?})"
        );
    }
    // The per-interval counts add up to the totals.
    let started: u64 = r.intervals.iter().map(|i| i.iterations_started).sum();
    let completed: u64 = r.intervals.iter().map(|i| i.iterations).sum();
    assert_eq!(completed as f64, value(&r, "iterations", &[], "count"));
    assert_eq!(started, completed + r.outcome.interrupted_iterations);
    let requests: u64 = r.intervals.iter().map(|i| i.requests).sum();
    assert_eq!(requests as f64, value(&r, "http_reqs", &[], "count"));
}

fn options(dir: &std::path::Path, toml: &str) -> String {
    write(dir, "options.toml", toml)
}

#[test]
fn constant_arrival_rate_starts_rate_times_duration_iterations() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = options(
        dir.path(),
        r#"
[scenarios.open]
executor = "constant-arrival-rate"
rate = 200
time_unit = "1s"
duration = "10s"
pre_allocated_vus = 20
max_vus = 50
flow = "fast"
"#,
    );
    let (run, r, _d) = run_json(&guest("probe"), &srv.base_url(), &["--config", &cfg]);
    run.expect_code(0);
    let started: u64 = r.intervals.iter().map(|i| i.iterations_started).sum();
    let dropped = value(&r, "dropped_iterations", &[], "count");
    assert!(
        (1980..=2020).contains(&started),
        "started {started} iterations (dropped {dropped}), expected 2000 +/- 1 %"
    );
    assert_eq!(
        value(&r, "iterations", &[("scenario", "open")], "count"),
        started as f64
    );
    assert_eq!(srv.stats().by_route.get("ok").copied(), Some(started));
    // Open models record the start delay and the plain service time too.
    assert!(value(&r, "iteration_start_delay", &[], "count") > 0.0);
    assert!(value(&r, "http_req_service_time", &[], "count") > 0.0);
}

#[test]
fn too_few_vus_show_as_dropped_iterations() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    // 2 VUs of 100 ms iterations manage 20/s; 100/s are asked for 3 s.
    let cfg = options(
        dir.path(),
        r#"
[scenarios.starved]
executor = "constant-arrival-rate"
rate = 100
duration = "3s"
preAllocatedVUs = 2
maxVUs = 2
flow = "sleep"
"#,
    );
    let (run, r, _d) = run_json(&guest("probe"), &srv.base_url(), &["--config", &cfg]);
    run.expect_code(0);
    let started: u64 = r.intervals.iter().map(|i| i.iterations_started).sum();
    let dropped = value(
        &r,
        "dropped_iterations",
        &[("scenario", "starved")],
        "count",
    );
    assert!(dropped >= 200.0, "only {dropped} dropped");
    assert_eq!(
        started as f64 + dropped,
        300.0,
        "started {started} + dropped {dropped}"
    );
    let per_interval: u64 = r.intervals.iter().map(|i| i.dropped_iterations).sum();
    assert_eq!(per_interval as f64, dropped);
    // The user is told once, as k6 does, not once per dropped start.
    let warning = "scenario \"starved\" has all 2 of its VUs busy (max_vus)";
    assert_eq!(run.stderr.matches(warning).count(), 1, "{}", run.stderr);
}

#[test]
fn an_arrival_rate_pool_grows_to_what_the_load_needs() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    // 50 starts/s of 200 ms iterations keep about 10 VUs busy; 1 is
    // pre-allocated and up to 40 are allowed.
    let cfg = options(
        dir.path(),
        r#"
[scenarios.growing]
executor = "constant-arrival-rate"
rate = 50
duration = "4s"
pre_allocated_vus = 1
max_vus = 40
flow = "sleep"
"#,
    );
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--config", &cfg, "-e", "PROBE_SLEEP_MS=200"],
    );
    run.expect_code(0);
    let started: u64 = r.intervals.iter().map(|i| i.iterations_started).sum();
    let dropped = value(&r, "dropped_iterations", &[], "count");
    assert_eq!(
        started as f64 + dropped,
        200.0,
        "started {started} + dropped {dropped}"
    );
    // Only the starts due while the pool was growing are dropped.
    assert!(dropped <= 30.0, "{dropped} of 200 starts dropped");
    let most = r.intervals.iter().map(|i| i.vus).max().unwrap_or(0);
    assert!(
        (10..40).contains(&most),
        "the pool grew to {most} VUs; the load needs about 10"
    );
    assert!(!run.stderr.contains("max_vus"), "{}", run.stderr);
}

#[test]
fn a_stalled_server_shows_in_scheduled_time_latency_not_in_others_service_time() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = options(
        dir.path(),
        r#"
[scenarios.co]
executor = "constant-arrival-rate"
rate = 50
duration = "10s"
pre_allocated_vus = 60
max_vus = 120
flow = "fast"
"#,
    );
    // Stall every request for 1 s during seconds 3-5 of the run.
    let stall = {
        let srv = &srv;
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_secs(3));
                srv.stall(
                    std::time::Duration::from_secs(2),
                    std::time::Duration::from_secs(1),
                );
            });
            let out = run_json(&guest("probe"), &srv.base_url(), &["--config", &cfg]);
            h.join().unwrap();
            out
        })
    };
    let (run, r, _d) = stall;
    run.expect_code(0);
    let p99 = value(&r, "http_req_duration", &[("name", "fast")], "p(99)");
    assert!(
        p99 >= 900.0,
        "scheduled-time p99 {p99} ms does not show the stall"
    );
    let service_p50 = value(&r, "http_req_service_time", &[("name", "fast")], "p(50)");
    assert!(service_p50 < 100.0, "service time p50 {service_p50} ms");
    // The stall is visible in the time series too.
    let worst = r
        .intervals
        .iter()
        .filter_map(|i| i.by_name.get("fast").map(|n| n.max))
        .fold(0.0, f64::max);
    assert!(worst >= 1000.0, "no interval shows the stall: {worst}");
}

#[test]
fn graceful_stop_lets_iterations_finish_or_counts_them_interrupted() {
    let srv = server();
    let probe = guest("probe");
    // Iterations of 500 ms: at the end (1.2 s) the third one is in flight.
    let base = [
        "--flow",
        "sleep",
        "-e",
        "PROBE_SLEEP_MS=500",
        "--vus",
        "1",
        "--duration",
        "1200ms",
    ];
    let mut args = base.to_vec();
    args.extend(["--graceful-stop", "2s"]);
    let (run, r, _d) = run_json(&probe, &srv.base_url(), &args);
    run.expect_code(0);
    assert_eq!(value(&r, "iterations", &[], "count"), 3.0);
    assert_eq!(r.outcome.interrupted_iterations, 0);

    let mut args = base.to_vec();
    args.extend(["--graceful-stop", "0s"]);
    let (run, r, _d) = run_json(&probe, &srv.base_url(), &args);
    run.expect_code(0);
    assert_eq!(value(&r, "iterations", &[], "count"), 2.0);
    assert_eq!(r.outcome.interrupted_iterations, 1);
    assert_eq!(
        value(
            &r,
            "interrupted_iterations",
            &[("scenario", "default")],
            "count"
        ),
        1.0
    );
    assert!(
        run.stdout
            .contains("interrupted iterations (cut off mid-way): 1"),
        "{}",
        run.stdout
    );
}

#[test]
fn concurrent_scenarios_keep_their_own_tags_env_and_counts() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = options(
        dir.path(),
        r#"
[scenarios.health]
executor = "per-vu-iterations"
vus = 2
iterations = 5
flow = "fast"
tags = { class = "health" }

[scenarios.content]
executor = "shared-iterations"
vus = 1
iterations = 7
startTime = "300ms"
flows = { flaky = 1 }
env = { PROBE_ENV = "yes" }

[scenarios.env]
executor = "shared-iterations"
iterations = 3
flow = "env"
env = { PROBE_ENV = "yes" }
"#,
    );
    let (run, r, _d) = run_json(&guest("probe"), &srv.base_url(), &["--config", &cfg]);
    run.expect_code(0);
    assert_eq!(
        value(&r, "iterations", &[("scenario", "health")], "count"),
        10.0
    );
    assert_eq!(
        value(&r, "iterations", &[("scenario", "content")], "count"),
        7.0
    );
    assert_eq!(
        value(
            &r,
            "http_reqs",
            &[("class", "health"), ("name", "fast")],
            "count"
        ),
        10.0
    );
    assert_eq!(
        value(
            &r,
            "http_reqs",
            &[("class", "health"), ("name", "flaky")],
            "count"
        ),
        0.0
    );
    assert_eq!(
        value(
            &r,
            "http_reqs",
            &[("scenario", "content"), ("name", "flaky")],
            "count"
        ),
        7.0
    );
    assert_eq!(
        value(
            &r,
            "checks",
            &[("scenario", "env"), ("check", "env passed")],
            "passes"
        ),
        3.0
    );
    let names: Vec<&str> = r.config["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["content", "env", "health"]);
    assert_eq!(r.config["scenarios"][0]["start_time"], "300ms");

    // --scenario runs a subset.
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--config", &cfg, "--scenario", "health"],
    );
    run.expect_code(0);
    assert_eq!(value(&r, "iterations", &[], "count"), 10.0);
}

#[test]
fn a_spike_to_thousands_of_vus_runs_on_this_machine() {
    let srv = server();
    // Seed 001's spike, compressed: 100 -> 3000 VUs in 3 s, hold, back down.
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "sleep",
            "-e",
            "PROBE_SLEEP_MS=1000",
            "--vus",
            "100",
            "--stage",
            "3s:3000",
            "--stage",
            "2s:3000",
            "--stage",
            "1s:100",
        ],
    );
    run.expect_code(0);
    let peak = r.intervals.iter().map(|i| i.vus).max().unwrap_or(0);
    assert!(peak >= 2990, "peak {peak} VUs");
    assert_eq!(r.outcome.vu_init_failures, 0);
    assert_eq!(value(&r, "http_req_failed", &[], "passes"), 0.0);
}

#[test]
fn bad_scenarios_are_refused_with_their_name() {
    let probe = guest("probe");
    let m = probe.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (toml, needle) in [
        (
            "[scenarios.a]\nexecutor = \"constant-vus\"\nvus = 2\nrate = 5\nduration = \"1s\"\n",
            "scenario \"a\" (constant-vus): `rate` does not apply",
        ),
        (
            "[scenarios.b]\nexecutor = \"warp\"\n",
            "scenario \"b\": unknown executor \"warp\"",
        ),
        (
            "[scenarios.c]\nexecutor = \"constant-arrival-rate\"\nrate = 5\nduration = \"1s\"\n",
            "scenario \"c\" (constant-arrival-rate): `pre_allocated_vus` is required",
        ),
        (
            "[scenarios.d]\nexecutor = \"per-vu-iterations\"\nflow = \"nope\"\n",
            "unknown flow \"nope\"",
        ),
        (
            "[scenarios.e]\nexecutor = \"ramping-vus\"\nstages = [{ duration = \"1s\", target = 1, extra = 2 }]\n",
            "unknown field `extra`",
        ),
    ] {
        let cfg = write(dir.path(), "bad.toml", toml);
        let run = wasm_slo(&["run", m, "--config", &cfg]);
        run.expect_code(2);
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
    let run = wasm_slo(&["run", m, "--stage", "10s"]);
    run.expect_code(2);
    assert!(run.stderr.contains("DURATION:TARGET"), "{}", run.stderr);
    let run = wasm_slo(&["run", m, "--scenario", "nope"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("unknown scenario \"nope\""),
        "{}",
        run.stderr
    );
}
