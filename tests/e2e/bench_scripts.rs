//! The benchmark scripts' shared helpers (`bench/lib.sh`,
//! `bench/callgrind.sh`), sourced by bash as the scripts do, with scratch
//! directories standing in for the repository and for sysfs.

use std::path::Path;
use std::process::Command;

use crate::util::workspace;

/// Runs `script` in bash after sourcing `bench/<lib>`, with `root` (the
/// repository, as the scripts set it) when given; (success, stdout, stderr).
fn sourced(lib: &str, script: &str, root: Option<&Path>) -> (bool, String, String) {
    let lib = workspace().join("bench").join(lib);
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(format!(r#". "{}"; {script}"#, lib.display()));
    if let Some(root) = root {
        bash.env("root", root);
    }
    let out = bash.output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_bench_run_never_overwrites_an_earlier_results_file() {
    let root = tempfile::tempdir().unwrap();
    // Three runs of the same day, each writing where `results_file` says.
    let (ok, out, err) = sourced(
        "lib.sh",
        r#"for run in 1 2 3; do f=$(results_file peers-2026-11-26); echo "$f"; echo "run $run" > "$f"; done"#,
        Some(root.path()),
    );
    assert!(ok, "{err}");
    let results = root.path().join("bench/results");
    let names: Vec<String> = out
        .lines()
        .map(|l| {
            l.strip_prefix(&format!("{}/", results.display()))
                .unwrap_or(l)
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "peers-2026-11-26.md",
            "peers-2026-11-26-2.md",
            "peers-2026-11-26-3.md"
        ]
    );
    for (name, run) in names.iter().zip(1..) {
        let text = std::fs::read_to_string(results.join(name)).unwrap();
        assert_eq!(text, format!("run {run}\n"), "{name} was overwritten");
    }
}

/// A sysfs cache directory as the kernel lays it out for one CPU.
fn fake_caches(levels: &[(&str, &str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, (level, kind, size, ways)) in levels.iter().enumerate() {
        let idx = dir.path().join(format!("index{i}"));
        std::fs::create_dir(&idx).unwrap();
        for (file, text) in [
            ("level", *level),
            ("type", *kind),
            ("size", *size),
            ("ways_of_associativity", *ways),
            ("coherency_line_size", "64"),
        ] {
            std::fs::write(idx.join(file), format!("{text}\n")).unwrap();
        }
    }
    dir
}

#[test]
fn the_cache_model_takes_the_cores_own_l1s_and_l2_not_the_shared_l3() {
    let caches = fake_caches(&[
        ("1", "Data", "48K", "12"),
        ("1", "Instruction", "32K", "8"),
        ("2", "Unified", "2M", "16"),
        ("3", "Unified", "307200K", "20"),
    ]);
    let (ok, out, err) = sourced(
        "callgrind.sh",
        &format!("cache_model {}", caches.path().display()),
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "--cache-sim=yes --I1=32768,8,64 --D1=49152,12,64 --LL=2097152,16,64"
    );
}

#[test]
fn a_cache_model_without_an_l2_is_refused_with_what_was_found() {
    let caches = fake_caches(&[("1", "Data", "32K", "8"), ("1", "Instruction", "32K", "8")]);
    let (ok, out, err) = sourced(
        "callgrind.sh",
        &format!("cache_model {}", caches.path().display()),
        None,
    );
    assert!(!ok, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("L2 none") && err.contains("D1 32768,8,64"),
        "{err}"
    );
}

#[test]
fn per_request_figures_are_the_difference_between_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    // As callgrind writes them: a header naming the events, and a summary.
    let events = "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\n";
    let short = write(
        "short.cg",
        &format!(
            "version: 1\ncmd: x\n{events}fl=a\n1 2\nsummary: 1000000 0 0 5000 300 200 10 40 50\n"
        ),
    );
    let long = write(
        "long.cg",
        &format!(
            "version: 1\ncmd: x\n{events}fl=a\n1 2\nsummary: 4000000 0 0 9500 1300 700 20 100 230\n"
        ),
    );
    // wrk's L1i misses: one fewer in the longer run, which is no misses.
    let few1 = write(
        "f1.cg",
        &format!("{events}summary: 100000 0 0 1000 0 0 0 0 0\n"),
    );
    let few2 = write(
        "f2.cg",
        &format!("{events}summary: 200000 0 0 999 0 0 0 0 0\n"),
    );
    let plain1 = write("p1.cg", "events: Ir\nsummary: 1000000\n");
    let plain2 = write("p2.cg", "events: Ir\nsummary: 3500000\n");
    let (ok, out, err) = sourced(
        "callgrind.sh",
        &format!(
            "per_request {short} 100 {long} 200; per_request {few1} 100 {few2} 1100; \
         per_request {plain1} 100 {plain2} 200; per_request {short} 100 {long} 100"
        ),
        None,
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // (4e6 - 1e6) / 100 instructions; I1 45; D1 (1300+700-300-200)/100;
    // LL (20+100+230-10-40-50)/100.
    assert_eq!(
        lines,
        [
            "30000 45.0 15.0 2.5",
            "100 0.0 0.0 0.0",
            "25000 - - -",
            "n/a n/a n/a n/a"
        ]
    );
}
