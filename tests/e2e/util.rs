//! Helpers: building guest components once, starting target servers, and
//! running the binary with a private compile cache.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use wasm_slo::report::json::Results;
pub use wasm_slo_target::{ServerOptions, TargetServer};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runner/ has a parent")
        .to_owned()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// Builds the guest components (once per test process) and returns the path
/// of `name`'s component.
pub fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                "health",
                "-p",
                "task-api",
                "-p",
                "probe",
                "-p",
                "hostile",
                "-p",
                "compat-0-1-0",
            ])
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = built {
        panic!("building the guest components failed:\n{e}");
    }
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A plain-HTTP target server on 127.0.0.1.
pub fn server() -> TargetServer {
    wasm_slo_target::spawn_in_thread("127.0.0.1:0".parse().unwrap(), ServerOptions::default())
        .expect("target server starts")
}

/// A finished `wasm-slo` process.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `wasm-slo` with `args`, a compile cache shared by the tests, and no
/// other environment influence.
pub fn wasm_slo(args: &[&str]) -> Run {
    wasm_slo_env(args, &[])
}

/// [`wasm_slo`] with environment variables set for `wasm-slo` itself.
pub fn wasm_slo_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = wasm_slo_command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("wasm-slo runs");
    Run::from(out)
}

/// The names of the files in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The `wasm-slo` binary with the tests' shared compile cache, to spawn.
pub fn wasm_slo_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasm-slo"));
    cmd.env("WASM_SLO_CACHE_DIR", target_dir().join("e2e-compile-cache"));
    cmd
}

/// `run MODULE -e BASE_URL=... ARGS... --out json=TMP` with its parsed results.
pub fn run_json(module: &Path, base_url: &str, args: &[&str]) -> (Run, Results, tempfile::TempDir) {
    run_json_env(module, base_url, args, &[])
}

/// [`run_json`] with environment variables set for `wasm-slo` itself.
pub fn run_json_env(
    module: &Path,
    base_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Run, Results, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.json");
    let base = format!("BASE_URL={base_url}");
    let out = format!("json={}", json.display());
    let mut all = vec!["run", module.to_str().unwrap(), "-e", &base, "--out", &out];
    all.extend_from_slice(args);
    let run = wasm_slo_env(&all, env);
    let results = Results::read(&json).unwrap_or_else(|e| {
        panic!(
            "no results file: {e:#}\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        )
    });
    (run, results, dir)
}

/// `values[field]` of the series `metric` whose tags include `tags`, summed
/// over matching series (e.g. all statuses of one name).
pub fn value(results: &Results, metric: &str, tags: &[(&str, &str)], field: &str) -> f64 {
    results
        .metrics
        .iter()
        .filter(|m| m.name == metric && tags.iter().all(|(k, v)| m.tags.get(k) == Some(v)))
        .map(|m| m.values.get(field).copied().unwrap_or(0.0))
        .sum()
}

/// The probe's `PROBE_ENDPOINTS` value for `(name, path)` pairs.
pub fn endpoints(list: &[(&str, &str)]) -> String {
    list.iter()
        .map(|(n, p)| format!("{n}={p}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Writes `text` to `name` in `dir` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

/// Runs `wasm-slo` with `args` and checks the bad-input contract: exit 2,
/// one line on stderr starting with `error: `, naming `needle`, no panic.
pub fn expect_bad_input(args: &[&str], needle: &str) {
    let run = wasm_slo(args);
    run.expect_code(2);
    assert!(
        run.stderr.contains(needle),
        "stderr lacks {needle:?}:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // clap's usage errors end with its standard hint; the error is one line.
    let lines = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("For more information, try"))
        .count();
    assert_eq!(lines, 1, "not one line:\n{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
}
