//! Distributed runs: the same fixed-iteration test once whole and once as 4
//! segment processes started together (`--start-at`) and merged; counts
//! are identical (also at the target server), histograms agree, and the
//! merge refuses files that are not the parts of one test.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use wasm_slo::metrics::data::MetricData;

use crate::util::*;

/// Shared and per-VU iterations of `fast` (one `GET /ok` each), plus the
/// `metrics` flow, whose samples are the same in every run.
const OPTIONS: &str = r#"
[scenarios.shared]
executor = "shared-iterations"
vus = 5
iterations = 203
flow = "fast"

[scenarios.pervu]
executor = "per-vu-iterations"
vus = 7
iterations = 9
flow = "fast"

[scenarios.metrics]
executor = "per-vu-iterations"
vus = 3
iterations = 5
flow = "metrics"
"#;

/// 203 + 7 * 9 requests: met by the whole test, by no segment alone.
const SLO: &str = r#"
[thresholds]
http_reqs = ["count==266"]
checks = ["rate==1"]
"#;

fn trend(r: &Results, metric: &str) -> wasm_slo::metrics::data::Trend {
    match r.to_store().unwrap().select(metric, &[]) {
        Some(MetricData::Trend(t)) => t,
        other => panic!("{metric}: {other:?}"),
    }
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

/// A `--start-at` value `secs` from now, in Unix seconds.
fn start_in(secs: f64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now.as_secs_f64() + secs).to_string()
}

/// Runs `wasm-slo` once per argument list, all at the same time; each must
/// exit 0.
fn run_together(runs: Vec<Vec<String>>) {
    std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|args| {
                s.spawn(move || {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    wasm_slo(&args)
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().expect_code(0);
        }
    });
}

#[test]
fn four_segment_processes_merged_equal_the_whole_run() {
    let probe = guest("probe");
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let options = write(d, "options.toml", OPTIONS);
    let slo = write(d, "slo.toml", SLO);
    let base = format!("BASE_URL={}", srv.base_url());
    let common = [
        probe.to_str().unwrap(),
        "--config",
        &options,
        "--slo",
        &slo,
        "-e",
        &base,
        "-q",
    ];
    let run_with = |extra: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        wasm_slo(&args)
    };

    let whole_out = format!("json={}", path(d, "whole.json"));
    run_with(&["--out", &whole_out]).expect_code(0);
    let served_whole = srv.stats().total;
    assert_eq!(served_whole, 266);

    // Four processes, two with each form of the flags, starting together.
    // A segment's own count misses the whole test's threshold, but the
    // whole test is judged by the merge: each exits 0.
    let at = start_in(1.5);
    let sequence = "0,1/4,1/2,3/4,1";
    let segment_flags: [&[&str]; 4] = [
        &["--segment", "1/4"],
        &[
            "--execution-segment",
            "1/4:1/2",
            "--execution-segment-sequence",
            sequence,
        ],
        &["--segment", "3/4"],
        &[
            "--execution-segment",
            "3/4:1",
            "--execution-segment-sequence",
            sequence,
        ],
    ];
    let runs = segment_flags
        .iter()
        .enumerate()
        .map(|(k, flags)| {
            let out = format!("json={}", path(d, &format!("part-{}.json", k + 1)));
            let mut args = vec!["run"];
            args.extend_from_slice(&common);
            args.extend_from_slice(flags);
            args.extend(["--start-at", &at, "--out", &out]);
            args.into_iter().map(String::from).collect()
        })
        .collect();
    run_together(runs);
    assert_eq!(srv.stats().total - served_whole, served_whole);
    let parts: Vec<String> = (1..=4)
        .map(|k| path(d, &format!("part-{k}.json")))
        .collect();
    let part_results: Vec<Results> = parts
        .iter()
        .map(|p| Results::read(Path::new(p)).unwrap())
        .collect();
    for r in &part_results {
        assert_eq!(r.outcome.verdict, "segment");
        assert!(
            r.thresholds.iter().any(|t| !t.passed),
            "a segment alone has fewer requests"
        );
    }
    // Every segment ran some of each scenario's VUs and they add up.
    let vus_max: f64 = part_results
        .iter()
        .map(|r| value(r, "vus_max", &[], "value"))
        .sum();
    assert_eq!(vus_max, 15.0);

    let total_out = format!("json={}", path(d, "total.json"));
    let total_html = format!("html={}", path(d, "total.html"));
    let total_junit = format!("junit={}", path(d, "total.xml"));
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(String::as_str));
    args.extend([
        "--out",
        &total_out,
        "--out",
        &total_html,
        "--out",
        &total_junit,
    ]);
    let merged = wasm_slo(&args);
    merged.expect_code(0);
    // The other outputs of the whole test come from the same merge.
    let html = std::fs::read_to_string(d.join("total.html")).unwrap();
    assert!(html.contains("<h2>Over time</h2>") && html.contains("PASS"));
    let junit = std::fs::read_to_string(d.join("total.xml")).unwrap();
    assert!(junit.contains(r#"failures="0""#), "{junit}");
    let streamed = format!("csv={}", path(d, "total.csv"));
    let mut refused = vec!["merge"];
    refused.extend(parts.iter().map(String::as_str));
    refused.extend(["--out", &streamed]);
    expect_bad_input(&refused, "streamed by each `run`");
    assert!(
        merged.stdout.contains("merged 4 results file(s)")
            && merged.stdout.contains("RESULT: PASS"),
        "{}",
        merged.stdout
    );

    let whole = Results::read(&d.join("whole.json")).unwrap();
    let total = Results::read(&d.join("total.json")).unwrap();
    assert_eq!(total.outcome.verdict, "pass");
    assert_eq!(
        total.config["segment"]["segments"],
        serde_json::json!(["0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1"])
    );
    // Identical counts, per scenario too.
    for (metric, tags, field) in [
        ("http_reqs", &[][..], "count"),
        ("iterations", &[("scenario", "shared")][..], "count"),
        ("iterations", &[("scenario", "pervu")][..], "count"),
        ("iterations", &[("scenario", "metrics")][..], "count"),
        ("checks", &[][..], "passes"),
        ("checks", &[][..], "total"),
        ("probe_items", &[][..], "count"),
        ("probe_rate", &[][..], "passes"),
        ("probe_rate", &[][..], "total"),
        ("probe_gauge", &[][..], "max"),
        ("vus_max", &[][..], "value"),
    ] {
        assert_eq!(
            value(&total, metric, tags, field),
            value(&whole, metric, tags, field),
            "{metric}{tags:?} {field}"
        );
    }
    assert_eq!(value(&total, "http_reqs", &[], "count"), 266.0);
    assert_eq!(total.endpoints["all"].total_requests, 266);
    let interval_requests: u64 = total.intervals.iter().map(|i| i.requests).sum();
    assert_eq!(interval_requests, 266);

    // The merged histogram is exactly the sum of the parts'; it has as many
    // samples as the whole run's, and where every run records the same
    // values the histograms are equal.
    let mut sum = trend(&part_results[0], "http_req_duration");
    for r in &part_results[1..] {
        sum.merge(&trend(r, "http_req_duration"));
    }
    let merged_latency = trend(&total, "http_req_duration");
    assert_eq!(merged_latency.histogram(), sum.histogram());
    assert_eq!(
        merged_latency.count(),
        trend(&whole, "http_req_duration").count()
    );
    for metric in ["probe_trend", "probe_latency"] {
        let (w, t) = (trend(&whole, metric), trend(&total, metric));
        assert_eq!(w.histogram(), t.histogram(), "{metric}");
        for p in [50.0, 99.0] {
            assert_eq!(w.percentile(p), t.percentile(p), "{metric} p({p})");
        }
    }
    // The thresholds are judged on the whole: the count is met.
    assert!(
        total.thresholds.iter().all(|t| t.passed),
        "{:?}",
        total.thresholds
    );

    // Refusals, each one line naming the problem.
    let merge_of = |files: &[&str], needle: &str| {
        let mut args = vec!["merge"];
        args.extend_from_slice(files);
        expect_bad_input(&args, needle);
    };
    let (p1, p2, p3, p4) = (&parts[0], &parts[1], &parts[2], &parts[3]);
    merge_of(&[p1, p2, p4], "is missing: 1/2:3/4");
    merge_of(&[p1, p2, p2, p3, p4], "segment 1/4:1/2 is in both");
    let whole_path = path(d, "whole.json");
    merge_of(&[&whole_path, p1], "holds the whole test");
    let mut edited = part_results[2].clone();
    edited.module.sha256 = "0".repeat(64);
    let other_build = path(d, "other-build.json");
    edited.write(Path::new(&other_build)).unwrap();
    merge_of(
        &[p1, p2, &other_build, p4],
        "different builds of module `probe`",
    );
    let other_env = format!("json={}", path(d, "other-env.json"));
    run_with(&["--segment", "3/4", "-e", "EXTRA=1", "--out", &other_env]).expect_code(0);
    merge_of(
        &[p1, p2, &path(d, "other-env.json"), p4],
        "different configurations (config.env.EXTRA",
    );
    // With --allow-partial the others merge, with a warning.
    let partial = wasm_slo(&["merge", p1, p2, p4, "--allow-partial", "-q"]);
    partial.expect_code(99);
    assert!(
        partial.stderr.contains("warning: 1 of the 4 segments"),
        "{}",
        partial.stderr
    );
}

#[test]
fn arrival_rate_segments_start_the_whole_schedule() {
    let probe = guest("probe");
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 90 starts in 1 s; a pool of 2 split 3 ways: each segment gets a VU.
    let options = write(
        d,
        "options.toml",
        r#"
        [scenarios.open]
        executor = "constant-arrival-rate"
        rate = 90
        duration = "1s"
        pre_allocated_vus = 2
        max_vus = 4
        flow = "fast"
        "#,
    );
    let base = format!("BASE_URL={}", srv.base_url());
    let at = start_in(1.0);
    let started = |r: &Results| {
        value(r, "iterations", &[], "count") + value(r, "dropped_iterations", &[], "count")
    };
    let parts: Vec<String> = (1..=3)
        .map(|k| path(d, &format!("open-{k}.json")))
        .collect();
    let module = probe.to_str().unwrap();
    let runs = parts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let (segment, out) = (format!("{}/3", k + 1), format!("json={p}"));
            [
                "run",
                module,
                "--config",
                &options,
                "-e",
                &base,
                "-q",
                "--segment",
                &segment,
                "--start-at",
                &at,
                "--out",
                &out,
            ]
            .map(String::from)
            .to_vec()
        })
        .collect();
    run_together(runs);
    for p in &parts {
        let r = Results::read(Path::new(p)).unwrap();
        assert!(value(&r, "vus_max", &[], "value") >= 1.0);
        assert_eq!(started(&r), 30.0, "{p}: its third of the schedule");
    }
    let total_out = format!("json={}", path(d, "open-total.json"));
    let mut args = vec!["merge", "-q", "--out", &total_out];
    args.extend(parts.iter().map(String::as_str));
    wasm_slo(&args).expect_code(0);
    let total = Results::read(&d.join("open-total.json")).unwrap();
    assert_eq!(started(&total), 90.0);
    assert_eq!(
        value(&total, "http_reqs", &[], "count"),
        srv.stats().total as f64
    );
}

#[test]
fn segment_flags_are_checked_before_anything_runs() {
    let probe = guest("probe");
    let module = probe.to_str().unwrap();
    for (flags, needle) in [
        (&["--segment", "5/4"][..], "1 <= K <= N"),
        (
            &["--segment", "1/2", "--execution-segment", "0:1/2"],
            "give one of them",
        ),
        (
            &["--execution-segment-sequence", "0,1/2,1"],
            "needs --execution-segment",
        ),
        (
            &[
                "--execution-segment",
                "1/4:1/2",
                "--execution-segment-sequence",
                "0,1/3,2/3,1",
            ],
            "is not a segment of the sequence 0,1/3,2/3,1",
        ),
        (&["--start-at", "tomorrow"], "RFC 3339"),
        (
            &["--segment", "1/2", "--baseline", "base.json"],
            "give it to `wasm-slo merge`",
        ),
    ] {
        let mut args = vec!["run", module];
        args.extend_from_slice(flags);
        expect_bad_input(&args, needle);
    }
    expect_bad_input(&["merge", "no-such-results.json"], "no-such-results.json");
}
