//! `wasm-slo compare` and `wasm-slo trend` on results files of real runs,
//! with doctored copies where a verdict must be deterministic.

use std::path::{Path, PathBuf};

use crate::util::*;

const FAST: &[&str] = &["--flow", "fast", "--iterations", "50", "--vus", "2"];

/// A run of the probe with `args`; its results file lives in the TempDir.
fn results_file(base_url: &str, args: &[&str]) -> (PathBuf, Results, tempfile::TempDir) {
    let (run, results, dir) = run_json(&guest("probe"), base_url, args);
    run.expect_code(0);
    (dir.path().join("results.json"), results, dir)
}

/// Copies the results file at `from` to `name` in `dir`, with `edit` applied
/// to its JSON.
fn doctored(
    from: &Path,
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(from).unwrap()).unwrap();
    edit(&mut doc);
    write(dir, name, &serde_json::to_string_pretty(&doc).unwrap())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_file_compared_with_itself_passes() {
    let srv = server();
    let (file, _, _dir) = results_file(&srv.base_url(), FAST);
    let run = wasm_slo(&["compare", s(&file), s(&file)]);
    run.expect_code(0);
    let out = &run.stdout;
    assert!(out.contains("NAME") && out.contains("VERDICT"), "{out}");
    for needle in [
        "all",
        "fast",
        "p50",
        "p95",
        "p99",
        "mean",
        "rps",
        "error_rate",
    ] {
        assert!(out.contains(needle), "missing {needle}:\n{out}");
    }
    assert!(out.contains("+0.0 %") && out.contains("+0.00 pp"), "{out}");
    assert!(!out.contains("REGRESSED"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("result: PASS - no regression in 12 figures"),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");
}

#[test]
fn a_raised_p95_fails_the_gate() {
    let srv = server();
    let (base_file, base, dir) = results_file(&srv.base_url(), FAST);
    let (cur_file, _, _cur_dir) = results_file(&srv.base_url(), FAST);

    // Two real runs: whatever the noise, the command judges and prints.
    let run = wasm_slo(&["compare", s(&base_file), s(&cur_file)]);
    assert!(
        run.code == 0 || run.code == 99,
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("result: "), "{}", run.stdout);

    // The current run with fast's p95 at 1.5 times the baseline's.
    let raised = base.endpoints["fast"].p95 * 1.5;
    let current = doctored(&cur_file, dir.path(), "current.json", |doc| {
        doc["endpoints"]["fast"]["p95"] = raised.into();
    });
    let run = wasm_slo(&["compare", s(&base_file), &current]);
    run.expect_code(99);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("p95") && l.contains("+50.0 %"))
        .unwrap_or_else(|| panic!("no p95 row at +50 %:\n{}", run.stdout));
    assert!(line.contains("REGRESSED (limit +20.0 %)"), "{line}");
    assert!(run.stdout.contains("result: FAIL - "), "{}", run.stdout);
    assert!(run.stdout.contains("fast p95 +50.0 %"), "{}", run.stdout);

    // Against a copy of the baseline, the raised p95 is the only change.
    let copy = doctored(&base_file, dir.path(), "copy.json", |doc| {
        doc["endpoints"]["fast"]["p95"] = raised.into();
    });
    let run = wasm_slo(&["compare", s(&base_file), &copy]);
    run.expect_code(99);
    assert!(
        run.stdout
            .contains("result: FAIL - 1 regression: fast p95 +50.0 %"),
        "{}",
        run.stdout
    );
    // Flags override the rule: a looser limit, or none.
    wasm_slo(&["compare", s(&base_file), &copy, "--max-p95-increase", "60%"]).expect_code(0);
    wasm_slo(&["compare", s(&base_file), &copy, "--max-p95-increase", "off"]).expect_code(0);
    // --name narrows the comparison to one request name.
    let run = wasm_slo(&["compare", s(&base_file), &copy, "--name", "all"]);
    run.expect_code(0);
    assert!(!run.stdout.contains("fast"), "{}", run.stdout);

    // JSON for machines.
    let run = wasm_slo(&["compare", s(&base_file), &copy, "--json"]);
    run.expect_code(99);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["passed"], false);
    assert_eq!(doc["regressions"], 1);
    assert_eq!(doc["rules"]["p95_increase"], 0.2);
    let row = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verdict"] == "regressed")
        .unwrap();
    assert_eq!(row["name"], "fast");
    assert_eq!(row["metric"], "p95");
    assert!((row["change"].as_f64().unwrap() - 0.5).abs() < 1e-9);
}

#[test]
fn other_names_are_added_and_removed() {
    let srv = server();
    let (fast, _, _d1) = results_file(&srv.base_url(), FAST);
    let (slow, _, _d2) = results_file(
        &srv.base_url(),
        &["--flow", "slow", "--iterations", "6", "--vus", "2"],
    );
    let run = wasm_slo(&["compare", s(&fast), s(&slow)]);
    // `all` went from ~1 ms to >= 50 ms: a regression of the aggregate only.
    run.expect_code(99);
    assert!(run.stdout.contains("added:   `slow`"), "{}", run.stdout);
    assert!(run.stdout.contains("removed: `fast`"), "{}", run.stdout);
    assert!(run.stdout.contains("all p95 +"), "{}", run.stdout);
}

#[test]
fn trend_over_three_runs() {
    let srv = server();
    let runs: Vec<_> = (0..3)
        .map(|_| results_file(&srv.base_url(), FAST))
        .collect();
    // Given newest first: the command orders them by start.
    let files: Vec<&str> = runs.iter().rev().map(|(p, _, _)| s(p)).collect();
    let mut args = vec!["trend"];
    args.extend(&files);
    let run = wasm_slo(&args);
    run.expect_code(0);
    let out = &run.stdout;
    assert!(out.starts_with("p95 of `all` over 3 runs"), "{out}");
    let positions: Vec<usize> = runs
        .iter()
        .map(|(_, r, _)| {
            out.find(&format!("  {}  ", r.started_at))
                .unwrap_or_else(|| panic!("no line for {}:\n{out}", r.started_at))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "not in order:\n{out}"
    );
    let result = out.lines().last().unwrap();
    assert!(
        ["result: improving", "result: stable", "result: degrading"]
            .iter()
            .any(|p| result.starts_with(p)),
        "{result}"
    );

    // JSON, another figure and name.
    args.extend(["--metric", "rps", "--name", "fast", "--json"]);
    let run = wasm_slo(&args);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["metric"], "rps");
    assert_eq!(doc["name"], "fast");
    assert_eq!(doc["points"].as_array().unwrap().len(), 3);
    assert_eq!(doc["points"][0]["started_at"], runs[0].1.started_at);
    assert!(
        ["improving", "stable", "degrading"].contains(&doc["direction"].as_str().unwrap()),
        "{doc}"
    );

    // A doctored series, a day apart: each run 50 % of the first slower.
    let dir = tempfile::tempdir().unwrap();
    let p95 = runs[0].1.endpoints["all"].p95;
    let slower: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, (p, _, _))| {
            doctored(p, dir.path(), &format!("r{i}.json"), |doc| {
                doc["endpoints"]["all"]["p95"] = (p95 * (1.0 + 0.5 * i as f64)).into();
                doc["started_at"] = format!("2025-03-0{}T08:00:00.000Z", i + 1).into();
            })
        })
        .collect();
    let mut args = vec!["trend"];
    args.extend(slower.iter().map(String::as_str));
    let run = wasm_slo(&args);
    run.expect_code(0);
    assert!(run.stdout.contains("over 3 runs (2days)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("result: degrading (p95 +100.0 %"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let junk = write(dir.path(), "junk.json", "{\"schema\": \"nope\"}");
    let text = write(dir.path(), "text.json", "not json");
    expect_bad_input(&["compare", s(&missing), &junk], "missing.json");
    expect_bad_input(&["compare", &junk, &junk], "junk.json");
    expect_bad_input(&["compare", &text, &text], "text.json");
    expect_bad_input(&["trend", &junk, &text], "junk.json");
    for args in [
        &["compare", s(&missing), s(&missing)][..],
        &["trend", &text],
    ] {
        let run = wasm_slo(args);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    }

    let srv = server();
    let (file, _, _d) = results_file(&srv.base_url(), FAST);
    let f = s(&file);
    expect_bad_input(&["trend", f], "at least 2 runs");
    expect_bad_input(&["trend", f, f, "--name", "checkout"], "`checkout`");
    expect_bad_input(&["trend", f, f, "--metric", "p42"], "unknown metric");
    expect_bad_input(&["compare", f, f, "--name", "checkout"], "checkout");
    expect_bad_input(
        &["compare", f, f, "--max-p95-increase", "5pp"],
        "error rate only",
    );
    expect_bad_input(&["compare", f, f, "--max-rps-decrease", "lots"], "lots");
}

#[test]
fn run_with_a_baseline_fails_on_regression_with_the_slo_files_rules() {
    let srv = server();
    let (path, _r, dir) = results_file(&srv.base_url(), FAST);
    // A baseline ten times faster than anything measurable: a regression.
    let faster = doctored(&path, dir.path(), "faster.json", |doc| {
        for name in ["fast", "all"] {
            let p95 = doc["endpoints"][name]["p95"].as_f64().unwrap();
            doc["endpoints"][name]["p95"] = serde_json::json!(p95 / 10.0);
        }
    });
    let mut args = FAST.to_vec();
    args.extend(["--baseline", &faster]);
    let (run, r, _d) = run_json(&guest("probe"), &srv.base_url(), &args);
    run.expect_code(99);
    assert!(run.stdout.contains("BASELINE"), "{}", run.stdout);
    assert_eq!(r.outcome.verdict, "fail");
    assert!(
        r.outcome
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("regression"),
        "{:?}",
        r.outcome.reason
    );

    // The SLO file's [regression] rules apply instead of seed 003's: with
    // the p95 rule off, the same baseline passes (rps and errors are equal
    // or better within the margin of a local run, so allow those generously).
    let slo = write(
        dir.path(),
        "slo.toml",
        "[regression]\np95_increase = \"off\"\nrps_decrease = \"99%\"\nerror_rate_increase = \"5pp\"\n",
    );
    let mut args = FAST.to_vec();
    args.extend(["--baseline", &faster, "--slo", &slo]);
    let (run, _r, _d) = run_json(&guest("probe"), &srv.base_url(), &args);
    run.expect_code(0);

    // An unreadable baseline is bad input, refused before any load.
    let before = srv.stats().total;
    let mut args = FAST.to_vec();
    let missing = dir.path().join("missing.json");
    args.extend(["--baseline", s(&missing)]);
    let run = wasm_slo(&[&["run", guest("probe").to_str().unwrap()], args.as_slice()].concat());
    run.expect_code(2);
    assert!(run.stderr.contains("missing.json"), "{}", run.stderr);
    assert_eq!(srv.stats().total, before, "load ran despite a bad baseline");
}
