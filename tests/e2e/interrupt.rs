//! Interrupted runs: SIGINT sent to a running `wasm-slo` stops the load
//! gracefully (a second one at once) and every requested output is still
//! written, complete and consistent with itself and with what the server
//! counted.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::*;

/// Upper bound on any wait here, so a broken run fails instead of hanging.
const HANG: Duration = Duration::from_secs(120);

/// A `wasm-slo run` in the background, its stderr lines forwarded.
struct Background {
    child: Child,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Background {
    fn start(args: &[&str]) -> Self {
        let mut child = wasm_slo_command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wasm-slo starts");
        let (tx, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background {
            child,
            stderr,
            seen: Vec::new(),
        }
    }

    fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill failed");
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_for_stderr(&mut self, needle: &str) {
        let deadline = Instant::now() + HANG;
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => self.fail(&format!("no stderr line with {needle:?}")),
            }
        }
    }

    /// Waits for the exit; the exit code and stdout.
    fn finish(mut self) -> (i32, String, String) {
        let deadline = Instant::now() + HANG;
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                self.fail("did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = self.child.wait_with_output().unwrap();
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        self.seen.extend(stderr);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            self.seen.join("\n"),
        )
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        panic!("wasm-slo {why}; stderr so far:\n{}", self.seen.join("\n"));
    }
}

/// Polls the server until it has counted `n` requests.
fn wait_for_requests(srv: &TargetServer, run: &mut Background, n: u64) {
    let deadline = Instant::now() + HANG;
    while srv.stats().total < n {
        if Instant::now() > deadline {
            run.fail(&format!("sent fewer than {n} requests"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The results agree with themselves: totals are the sums of the intervals.
fn assert_totals_are_interval_sums(r: &Results) {
    let sum = |f: fn(&wasm_slo::metrics::timeline::IntervalRecord) -> u64| -> f64 {
        r.intervals.iter().map(f).sum::<u64>() as f64
    };
    assert_eq!(value(r, "http_reqs", &[], "count"), sum(|i| i.requests));
    assert_eq!(value(r, "iterations", &[], "count"), sum(|i| i.iterations));
    assert_eq!(
        r.outcome.interrupted_iterations as f64,
        sum(|i| i.interrupted_iterations)
    );
    // Every iteration started either completed or was cut off.
    assert_eq!(
        sum(|i| i.iterations_started),
        sum(|i| i.iterations) + sum(|i| i.interrupted_iterations)
    );
}

/// Exactly `names` are in `dir`: no temporary file was left beside them.
fn assert_only_files_in(dir: &Path, names: &[&str]) {
    let mut names = names.to_vec();
    names.sort();
    assert_eq!(file_names(dir), names);
}

/// Requests counted by the streamed NDJSON output.
fn ndjson_requests(path: &Path) -> f64 {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("each line is JSON"))
        .filter(|v| v["name"] == "http_reqs")
        .map(|v| v["values"]["count"].as_f64().unwrap())
        .sum()
}

/// Runs `args`, sends one SIGINT once the server has answered `n` requests,
/// and checks what every graceful stop shares: exit code 105, the verdict,
/// totals that are the sums of the intervals, no iteration cut off, and
/// every request the server answered in the results (`json`). Returns the
/// results, their request count, and stdout.
fn stop_with_one_sigint(
    srv: &TargetServer,
    args: &[&str],
    json: &Path,
    n: u64,
) -> (Results, f64, String) {
    let mut run = Background::start(args);
    wait_for_requests(srv, &mut run, n);
    run.signal(libc::SIGINT);
    run.wait_for_stderr("SIGINT (Ctrl-C) received: stopping the load");
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, 105, "{stdout}\n{stderr}");
    let r = Results::read(json).unwrap();
    assert_eq!(r.outcome.verdict, "interrupted");
    assert_eq!(r.outcome.exit_code, 105);
    assert!(r.duration_s < 600.0);
    assert_totals_are_interval_sums(&r);
    assert_eq!(r.outcome.interrupted_iterations, 0);
    let requests = value(&r, "http_reqs", &[], "count");
    assert!(requests >= n as f64, "{requests}");
    assert_eq!(requests, srv.stats().total as f64);
    assert_eq!(value(&r, "iterations", &[], "count"), requests);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (r, requests, stdout)
}

#[test]
fn sigint_stops_the_load_gracefully_and_every_output_is_written() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let json = path("results.json");
    let outs: Vec<String> = [
        ("json", "results.json"),
        ("html", "report.html"),
        ("junit", "junit.xml"),
        ("markdown", "summary.md"),
        ("csv", "series.csv"),
        ("ndjson", "series.ndjson"),
    ]
    .iter()
    .map(|(kind, name)| format!("{kind}={}", path(name).display()))
    .collect();
    let (probe, base) = (guest("probe"), format!("BASE_URL={}", srv.base_url()));
    let mut args = vec![
        "run",
        probe.to_str().unwrap(),
        "-e",
        &base,
        "-e",
        "PROBE_SLEEP_MS=100",
        "--flow",
        "sleep",
        "--vus",
        "10",
        "--duration",
        "10m",
    ];
    for out in &outs {
        args.extend(["--out", out.as_str()]);
    }
    // Ten VUs each send a request every ~100 ms: over a second of load.
    // Graceful: the iterations in flight finish, none is cut off, and every
    // request the server answered is in the results.
    let (r, requests, stdout) = stop_with_one_sigint(&srv, &args, &json, 120);
    assert_eq!(
        r.outcome.reason.as_deref(),
        Some("interrupted by SIGINT (Ctrl-C); the load was stopped gracefully")
    );
    assert!(
        stdout.contains(
            "RESULT: INTERRUPTED: interrupted by SIGINT (Ctrl-C); the load was stopped gracefully"
        ),
        "{stdout}"
    );

    // Every other output is there and complete too.
    assert_eq!(ndjson_requests(&path("series.ndjson")), requests);
    let csv = std::fs::read_to_string(path("series.csv")).unwrap();
    assert!(csv.starts_with("interval,t,time,metric,"), "{csv}");
    assert!(csv.ends_with('\n'));
    let xml = std::fs::read_to_string(path("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit is well-formed XML");
    let outcome = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("outcome"))
        .expect("an outcome test case");
    let failure = outcome
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("an interrupted run fails its outcome case");
    assert!(
        failure
            .attribute("message")
            .unwrap_or_default()
            .contains("SIGINT"),
        "{xml}"
    );
    let md = std::fs::read_to_string(path("summary.md")).unwrap();
    assert!(md.contains("INTERRUPTED"), "{md}");
    let html = std::fs::read_to_string(path("report.html")).unwrap();
    assert!(html.contains(r#"<header class="verdict interrupted">"#));
    assert!(html.trim_end().ends_with("</html>"));
    assert_only_files_in(
        dir.path(),
        &[
            "results.json",
            "report.html",
            "junit.xml",
            "summary.md",
            "series.csv",
            "series.ndjson",
        ],
    );
}

#[test]
fn sigint_stops_an_arrival_rate_scenario_gracefully() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    // 100 starts/s of 100 ms iterations for ten minutes: about 10 VUs busy,
    // more idle, the pool free to grow.
    let cfg = write(
        dir.path(),
        "options.toml",
        r#"
[scenarios.open]
executor = "constant-arrival-rate"
rate = 100
duration = "10m"
pre_allocated_vus = 5
max_vus = 50
flow = "sleep"
"#,
    );
    let (probe, base) = (guest("probe"), format!("BASE_URL={}", srv.base_url()));
    let out = format!("json={}", json.display());
    // The pacer stops handing out starts and the idle VUs leave; the busy
    // ones finish their iteration, and every start handed out runs.
    let args = [
        "run",
        probe.to_str().unwrap(),
        "-e",
        &base,
        "-e",
        "PROBE_SLEEP_MS=100",
        "--config",
        &cfg,
        "--out",
        &out,
    ];
    stop_with_one_sigint(&srv, &args, &json, 120);
}

#[test]
fn a_second_signal_stops_at_once_and_the_outputs_are_still_written() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    // Sleepers sit in a 60 s think time, longer than their 30 s graceful
    // stop; the busy scenario shows that the load is flowing.
    let cfg = write(
        dir.path(),
        "options.toml",
        r#"
[scenarios.sleepers]
executor = "constant-vus"
vus = 3
duration = "10m"
flow = "sleep"
graceful_stop = "30s"
env = { PROBE_SLEEP_MS = "60000" }

[scenarios.busy]
executor = "constant-vus"
vus = 2
duration = "10m"
flow = "fast"
"#,
    );
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("results.json");
    let (probe, base, out) = (
        guest("probe"),
        format!("BASE_URL={}", srv.base_url()),
        format!("json={}", json.display()),
    );
    let mut run = Background::start(&[
        "run",
        probe.to_str().unwrap(),
        "-e",
        &base,
        "--config",
        &cfg,
        "--out",
        &out,
    ]);
    wait_for_requests(&srv, &mut run, 200);
    run.signal(libc::SIGTERM);
    run.wait_for_stderr("SIGTERM received: stopping the load");
    run.signal(libc::SIGINT);
    run.wait_for_stderr("received again: stopping at once");
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, 105, "{stdout}\n{stderr}");

    let r = Results::read(&json).unwrap();
    assert_eq!(r.outcome.verdict, "interrupted");
    let reason = r.outcome.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("interrupted by SIGTERM; a second signal stopped it at once"),
        "{reason}"
    );
    assert_totals_are_interval_sums(&r);
    // The sleepers were cut off mid-iteration and counted as interrupted
    // (a busy iteration may have been too, if the second signal came fast).
    let sleepers = value(
        &r,
        "interrupted_iterations",
        &[("scenario", "sleepers")],
        "count",
    );
    assert!((1.0..=3.0).contains(&sleepers), "{sleepers}");
    let cut = r.outcome.interrupted_iterations as f64;
    assert!((sleepers..=sleepers + 2.0).contains(&cut), "{cut}");
    assert_eq!(
        value(&r, "http_reqs", &[("name", "after-sleep")], "count"),
        0.0
    );
    // A request cut off with its iteration reached the server but has no
    // response in the results; nothing else is missing.
    let requests = value(&r, "http_reqs", &[], "count");
    let served = srv.stats().total as f64;
    assert!(requests >= 200.0, "{requests}");
    assert!(
        served >= requests && served - requests <= cut,
        "served {served}, recorded {requests}"
    );
    assert!(stdout.contains("RESULT: INTERRUPTED"), "{stdout}");
    assert!(
        stdout.contains(&format!("interrupted iterations (cut off mid-way): {cut}")),
        "{stdout}"
    );
    assert_only_files_in(out_dir.path(), &["results.json"]);
}
