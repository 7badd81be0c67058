//! The outputs people look at: every `--out` kind at once, each parsed back
//! and checked against the run's own figures; `wasm-slo report` afterwards;
//! the OpenMetrics endpoint scraped during a run; streamed series surviving
//! a killed run; live progress; the HTML report in headless Chromium.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

const SLO: &str = r#"
[thresholds]
checks = ["rate>0.99"]

[[objectives]]
name = "fast"
p95 = "500ms"

[[objectives]]
name = "slow"
p50 = "20ms"      # the route takes 50 ms: FAIL
"#;

/// Runs fast+slow for 3 s with every output; returns the run and its files.
fn run_with_every_output(dir: &Path) -> (Run, Results) {
    let srv = server();
    let slo = write(dir, "slo.toml", SLO);
    let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    let base = format!("BASE_URL={}", srv.base_url());
    let run = wasm_slo(&[
        "run",
        guest("probe").to_str().unwrap(),
        "-e",
        &base,
        "--flow",
        "fast=3",
        "--flow",
        "slow=1",
        "--vus",
        "3",
        "--duration",
        "3s",
        "--slo",
        &slo,
        "--summary-trend-stats",
        "p50,p95,p99.9,max",
        "--out",
        &format!("json={}", p("r.json")),
        "--out",
        &format!("html={}", p("r.html")),
        "--out",
        &format!("junit={}", p("r.xml")),
        "--out",
        &format!("markdown={}", p("r.md")),
        "--out",
        &format!("csv={}", p("r.csv")),
        "--out",
        &format!("ndjson={}", p("r.ndjson")),
    ]);
    let results = Results::read(&dir.join("r.json")).unwrap_or_else(|e| {
        panic!(
            "{e:#}\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        )
    });
    (run, results)
}

#[test]
fn every_output_at_once_agrees_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (run, r) = run_with_every_output(dir.path());
    run.expect_code(99);
    let total = r.endpoints["all"].total_requests;
    assert!(total > 0);
    assert!(!r.intervals.is_empty());

    // Summary columns follow --summary-trend-stats.
    let header = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("REQUESTS"))
        .expect("requests table");
    let cols: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "REQUESTS", "count", "rate/s", "failed", "p50", "p95", "p99.9", "max"
        ]
    );

    // JUnit: one case per objective plus the outcome; failures carry the
    // measured value and the bound.
    let xml = std::fs::read_to_string(dir.path().join("r.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit is well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), r.thresholds.len() + 1);
    let failed: Vec<_> = r.thresholds.iter().filter(|t| !t.passed).collect();
    assert_eq!(failed.len(), 1, "{:?}", r.thresholds);
    assert_eq!(suite.attribute("failures"), Some("1"));
    assert_eq!(
        suite.attribute("tests"),
        Some(cases.len().to_string().as_str())
    );
    for t in &r.thresholds {
        let case = cases
            .iter()
            .find(|c| {
                c.attribute("name")
                    .is_some_and(|n| n.starts_with(&t.selector) && n.contains(&t.expression))
            })
            .unwrap_or_else(|| panic!("no test case for {} {}", t.selector, t.expression));
        let failure = case.children().find(|n| n.has_tag_name("failure"));
        assert_eq!(failure.is_some(), !t.passed, "{}", t.selector);
        if let Some(f) = failure {
            let msg = f.attribute("message").unwrap();
            assert!(msg.contains(&r.threshold_measured(t)), "{msg}");
            assert!(msg.contains(&r.threshold_bound(t)), "{msg}");
        }
    }

    // Markdown: the verdict, every objective, every request name, the columns.
    let md = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    assert!(md.starts_with("## ❌ wasm-slo: FAIL"), "{md}");
    for t in &r.thresholds {
        assert!(md.contains(&format!("`{}`", t.selector)), "{md}");
        assert!(md.contains(&r.threshold_measured(t)), "{md}");
    }
    for name in r.endpoints.keys() {
        assert!(md.contains(&format!("| {name} | ")), "{name}: {md}");
    }
    assert!(md.contains("| p50 | p95 | p99.9 | max |"), "{md}");

    // CSV: one row per interval and series; the intervals and the request
    // counts are the results' own.
    let mut csv = csv::Reader::from_path(dir.path().join("r.csv")).unwrap();
    let headers = csv.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (ci, cm, cc) = (col("interval"), col("metric"), col("count"));
    let mut csv_intervals = BTreeSet::new();
    let mut csv_requests: BTreeMap<u64, f64> = BTreeMap::new();
    for row in csv.records() {
        let row = row.unwrap();
        let k: u64 = row[ci].parse().unwrap();
        csv_intervals.insert(k);
        if &row[cm] == "http_reqs" {
            *csv_requests.entry(k).or_default() += row[cc].parse::<f64>().unwrap();
        }
    }
    let intervals: BTreeSet<u64> = r.intervals.iter().map(|i| i.index).collect();
    assert_eq!(csv_intervals, intervals);
    for i in &r.intervals {
        assert_eq!(
            csv_requests.get(&i.index).copied().unwrap_or(0.0) as u64,
            i.requests,
            "interval {}",
            i.index
        );
    }
    assert_eq!(csv_requests.values().sum::<f64>() as u64, total);

    // NDJSON: the same, and its histograms decode to the interval's counts.
    let nd = std::fs::read_to_string(dir.path().join("r.ndjson")).unwrap();
    let mut nd_intervals = BTreeSet::new();
    let mut nd_requests = 0u64;
    let mut nd_latency = 0u64;
    for line in nd.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        nd_intervals.insert(v["interval"].as_u64().unwrap());
        match v["name"].as_str().unwrap() {
            "http_reqs" => nd_requests += v["values"]["count"].as_f64().unwrap() as u64,
            "http_req_duration" => {
                let t = wasm_slo::metrics::data::Trend::decode(
                    v["histogram"].as_str().unwrap(),
                    0.0,
                    0.0,
                    0.0,
                    true,
                )
                .unwrap();
                assert_eq!(t.count() as f64, v["values"]["count"].as_f64().unwrap());
                nd_latency += t.count();
            }
            _ => {}
        }
    }
    assert_eq!(nd_intervals, intervals);
    assert_eq!(nd_requests, total);
    assert_eq!(nd_latency, total);

    // HTML: the SLO table, and chart data for every request name.
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(
        no_remote_refs(&html),
        "the report loads nothing from the network"
    );
    let slo_start = html.find(r#"<section id="slos">"#).expect("SLO table");
    let over_time = html.find("<h2>Over time</h2>").unwrap();
    assert!(slo_start < over_time, "the SLO table comes first");
    for t in &r.thresholds {
        let sel = t.selector.replace('"', "&quot;");
        assert!(html[slo_start..over_time].contains(&sel), "{sel}");
    }
    let data = chart_data(&html);
    for (name, e) in r.endpoints.iter().filter(|(n, _)| *n != "all") {
        let chart = data
            .values()
            .find(|c| c["title"] == format!("Latency over time · {name}"))
            .unwrap_or_else(|| panic!("no latency chart for {name}"));
        let p95 = chart["series"]["p95"].as_array().unwrap();
        let with_name = r
            .intervals
            .iter()
            .filter(|i| i.by_name.contains_key(name))
            .count();
        assert_eq!(p95.len(), with_name, "{name}");
        let dist = data["distribution"]["series"][name].as_array().unwrap();
        assert!(!dist.is_empty());
        // The distribution's last point is the slowest resolvable request.
        let last = dist.last().unwrap()[1].as_f64().unwrap();
        assert!(last <= e.max + 1e-9, "{name}: {last} > {}", e.max);
    }
    let rates = &data["rates"]["series"]["requests/s"];
    let sum: f64 = rates
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap() * r.interval_s)
        .sum();
    assert_eq!(sum.round() as u64, total);
    assert!(
        data["vus"]["series"]["all scenarios"]
            .as_array()
            .unwrap()
            .len()
            == r.intervals.len()
    );

    // `wasm-slo report` renders the same files from the results alone.
    let again = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    wasm_slo(&[
        "report",
        &again("r.json"),
        "--html",
        &again("again.html"),
        "--junit",
        &again("again.xml"),
        "--markdown",
        &again("again.md"),
        "--summary-trend-stats",
        "p50,p95,p99.9,max",
    ])
    .expect_code(0);
    for (a, b) in [
        ("r.html", "again.html"),
        ("r.xml", "again.xml"),
        ("r.md", "again.md"),
    ] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(a)).unwrap(),
            std::fs::read_to_string(dir.path().join(b)).unwrap(),
            "{a} vs {b}"
        );
    }
    let md = wasm_slo(&["report", &again("r.json"), "--markdown", "-"]);
    md.expect_code(0);
    assert!(md.stdout.contains("### SLOs (2 of 3 met)"), "{}", md.stdout);

    // In headless Chromium, where installed, every chart renders.
    match chromium() {
        Some(bin) => {
            let dom = Command::new(bin)
                .args(chromium_flags(dir.path()))
                .arg("--dump-dom")
                .arg(format!("file://{}", dir.path().join("r.html").display()))
                .output()
                .expect("chromium runs");
            let dom = String::from_utf8_lossy(&dom.stdout);
            let attr = |name: &str| -> usize {
                let key = format!("{name}=\"");
                let at = dom
                    .find(&key)
                    .unwrap_or_else(|| panic!("no {name} in DOM: {dom}"));
                dom[at + key.len()..]
                    .split('"')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            let charts = attr("data-charts");
            assert_eq!(charts, data.len());
            assert_eq!(attr("data-charts-rendered"), charts);
        }
        None => eprintln!("headless-browser check skipped: chromium is not installed"),
    }
}

fn no_remote_refs(html: &str) -> bool {
    // Nothing is fetched: no linked file, no script or image source, no
    // CSS import (URLs in the text, such as the run's BASE_URL, are data).
    ["<link", " src=", " href=", "@import", "url("]
        .iter()
        .all(|needle| !html.contains(needle))
}

fn chart_data(html: &str) -> serde_json::Map<String, serde_json::Value> {
    let start = html
        .find(r#"<script type="application/json" id="chart-data">"#)
        .expect("chart data")
        + r#"<script type="application/json" id="chart-data">"#.len();
    let end = start + html[start..].find("</script>").unwrap();
    match serde_json::from_str(&html[start..end]).unwrap() {
        serde_json::Value::Object(m) => m,
        v => panic!("chart data is {v}"),
    }
}

/// Chromium, if this machine has it (`CHROMIUM` names another binary).
pub fn chromium() -> Option<String> {
    std::env::var("CHROMIUM").ok().or_else(|| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .find(|p| Path::new(p).exists())
            .map(|p| (*p).to_owned())
    })
}

/// Flags for a headless Chromium that makes no connection of its own.
pub fn chromium_flags(profile_parent: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([format!(
        "--user-data-dir={}",
        profile_parent.join("chromium-profile").display()
    )])
    .collect()
}

/// `GET path` on 127.0.0.1:`port` with a plain HTTP/1.0 request.
fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.to_owned(), body.to_owned()))
}

/// A parsed OpenMetrics exposition: family types and samples.
struct Exposition {
    types: BTreeMap<String, String>,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// Parses OpenMetrics text strictly enough to catch what Prometheus rejects:
/// a `# TYPE` before each family's samples, valid names and labels, numeric
/// values, and a final `# EOF`.
fn parse_openmetrics(text: &str) -> Exposition {
    assert!(text.ends_with("# EOF\n"), "no # EOF: {text}");
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match parts.next().unwrap() {
                "TYPE" => {
                    let fam = parts.next().unwrap();
                    assert!(name_ok(fam), "{line}");
                    let t = parts.next().unwrap();
                    assert!(
                        ["counter", "gauge", "histogram", "summary"].contains(&t),
                        "{line}"
                    );
                    assert!(
                        types.insert(fam.to_owned(), t.to_owned()).is_none(),
                        "{line}"
                    );
                }
                "UNIT" | "HELP" => {}
                "EOF" => {}
                other => panic!("unknown comment {other}: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').expect(line);
                let mut labels = BTreeMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (k, after) = rest.split_once("=\"").expect(line);
                    assert!(name_ok(k), "label {k}: {line}");
                    let mut val = String::new();
                    let mut chars = after.char_indices();
                    let end = loop {
                        match chars.next().expect(line) {
                            (_, '\\') => val.push(chars.next().expect(line).1),
                            (i, '"') => break i,
                            (_, c) => val.push(c),
                        }
                    };
                    labels.insert(k.to_owned(), val);
                    rest = after[end + 1..].trim_start_matches(',');
                }
                (n, labels)
            }
            None => (series, BTreeMap::new()),
        };
        assert!(name_ok(name), "{line}");
        let family = types
            .keys()
            .filter(|f| name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("sample before its # TYPE: {line}"));
        let ty = &types[family];
        let suffix = &name[family.len()..];
        let allowed: &[&str] = match ty.as_str() {
            "counter" => &["_total"],
            "gauge" => &[""],
            "histogram" => &["_bucket", "_count", "_sum"],
            _ => &["", "_count", "_sum"],
        };
        assert!(allowed.contains(&suffix), "{ty} sample {name}");
        samples.push((name.to_owned(), labels, value));
    }
    Exposition { types, samples }
}

#[test]
fn openmetrics_endpoint_is_scraped_during_the_run_and_progress_is_printed() {
    let srv = server();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("BASE_URL={}", srv.base_url());
    let listen = format!("127.0.0.1:{port}");
    let child = wasm_slo_command()
        .args([
            "run",
            guest("probe").to_str().unwrap(),
            "-e",
            &base,
            "--flow",
            "fast=1",
            "--flow",
            "slow=1",
            "--vus",
            "2",
            "--duration",
            "4s",
            "--metrics-listen",
            &listen,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Scrape until a closed interval shows requests.
    let deadline = Instant::now() + Duration::from_secs(60);
    let scraped = loop {
        assert!(Instant::now() < deadline, "no scrape with requests");
        if let Some((head, body)) = http_get(port, "/metrics")
            && body.contains("wasm_slo_http_reqs_total")
        {
            break (head, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (head, body) = scraped;
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    let exp = parse_openmetrics(&body);
    assert_eq!(exp.types["wasm_slo_http_reqs"], "counter");
    assert_eq!(exp.types["wasm_slo_http_req_duration_seconds"], "histogram");
    // Histograms: cumulative buckets ending in +Inf = _count, per series.
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for (name, labels, v) in &exp.samples {
        let mut key_labels = labels.clone();
        let le = key_labels.remove("le");
        let key = format!("{key_labels:?}");
        match (name.as_str(), le) {
            ("wasm_slo_http_req_duration_seconds_bucket", Some(le)) => {
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                series.entry(key).or_default().push((le, *v));
            }
            ("wasm_slo_http_req_duration_seconds_count", None) => {
                counts.insert(key, *v);
            }
            _ => {}
        }
    }
    assert!(!series.is_empty());
    for (key, buckets) in &series {
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{key}"
        );
        assert_eq!(buckets.last().unwrap().1, counts[key], "{key}");
    }
    // The slow route takes 50 ms: none of its requests is under 25 ms.
    let slow_fast: f64 = exp
        .samples
        .iter()
        .filter(|(n, l, _)| {
            n == "wasm_slo_http_req_duration_seconds_bucket"
                && l.get("name").map(String::as_str) == Some("slow")
                && l.get("le").map(String::as_str) == Some("0.025")
        })
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(slow_fast, 0.0);
    let scraped_reqs: f64 = exp
        .samples
        .iter()
        .filter(|(n, _, _)| n == "wasm_slo_http_reqs_total")
        .map(|(_, _, v)| v)
        .sum();
    assert!(scraped_reqs > 0.0);

    // Not a terminal: plain progress lines on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("running "))
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("/4s") && l.contains("req/s")),
        "{stderr}"
    );
}

#[test]
fn quiet_prints_no_progress() {
    let srv = server();
    let (run, _r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "fast",
            "--vus",
            "1",
            "--duration",
            "2s",
            "--quiet",
        ],
    );
    run.expect_code(0);
    assert!(!run.stderr.contains("running "), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn streamed_series_survive_a_killed_run() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("s.csv");
    let nd_path = dir.path().join("s.ndjson");
    let base = format!("BASE_URL={}", srv.base_url());
    let mut child = wasm_slo_command()
        .args([
            "run",
            guest("probe").to_str().unwrap(),
            "-e",
            &base,
            "--flow",
            "fast",
            "--vus",
            "2",
            "--duration",
            "60s",
            "--out",
            &format!("csv={}", csv_path.display()),
            "--out",
            &format!("ndjson={}", nd_path.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for two intervals on disk, then kill without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    let intervals = |text: &str| -> BTreeSet<u64> {
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["interval"].as_u64())
            .collect()
    };
    while intervals(&std::fs::read_to_string(&nd_path).unwrap_or_default()).len() < 2 {
        assert!(Instant::now() < deadline, "nothing streamed");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let nd = std::fs::read_to_string(&nd_path).unwrap();
    assert!(nd.ends_with('\n'), "the last line is whole");
    let mut requests = 0.0;
    for line in nd.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("whole JSON lines");
        if v["name"] == "http_reqs" {
            requests += v["values"]["count"].as_f64().unwrap();
        }
    }
    assert!(requests > 0.0);
    let mut csv = csv::Reader::from_path(&csv_path).unwrap();
    let csv_intervals: BTreeSet<u64> = csv
        .records()
        .map(|r| r.expect("whole CSV rows")[0].parse().unwrap())
        .collect();
    assert!(csv_intervals.len() >= 2);
    // What the server saw covers what was streamed (requests of the interval
    // cut off by the kill were sent but never reported).
    assert!(srv.stats().total as f64 >= requests);
}
