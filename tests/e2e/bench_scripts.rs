//! The benchmark scripts' shared helpers (`bench/lib.sh`), sourced by bash
//! as the scripts do, with a scratch directory standing in for the
//! repository.

use std::process::Command;

use crate::util::workspace;

#[test]
fn a_bench_run_never_overwrites_an_earlier_results_file() {
    let root = tempfile::tempdir().unwrap();
    let lib = workspace().join("bench/lib.sh");
    // Three runs of the same day, each writing where `results_file` says.
    let script = format!(
        r#". "{}"; for run in 1 2 3; do f=$(results_file peers-2026-11-26); echo "$f"; echo "run $run" > "$f"; done"#,
        lib.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("root", root.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = root.path().join("bench/results");
    let names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
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
