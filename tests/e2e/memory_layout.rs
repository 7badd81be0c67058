//! Which memory layout a run's code is compiled for: linear memories of
//! 4 GiB without bounds checks while the run is small enough, memories of
//! `--vu-memory` with checks beyond that or under a `ulimit -v`. Each
//! layout is compiled once and cached under its own name, and
//! `WASM_SLO_MEMORY` can force either.

use std::path::Path;

use crate::util::*;

/// The compiled-code files in `cache`, by name, sorted.
fn cached(cache: &Path) -> Vec<String> {
    file_names(cache)
        .into_iter()
        .filter(|n| n.ends_with(".cwasm"))
        .collect()
}

/// Runs the probe's `sleep` flow once per VU with a private cache, under
/// `limit` (a `ulimit -v` in KiB) when given, with `env` set.
fn run_probe(
    cache: &Path,
    base_url: &str,
    vus: &str,
    extra: &[&str],
    limit: Option<u64>,
    env: &[(&str, &str)],
) -> Run {
    let probe = guest("probe");
    let base = format!("BASE_URL={base_url}/");
    let mut args = vec![
        "run",
        probe.to_str().unwrap(),
        "-e",
        &base,
        "-e",
        "PROBE_SLEEP_MS=1",
        "--flow",
        "sleep",
        "--vus",
        vus,
        "--iterations",
        vus,
        "-q",
    ];
    args.extend_from_slice(extra);
    let mut cmd = match limit {
        None => wasm_slo_command(),
        Some(kib) => {
            let mut sh = std::process::Command::new("sh");
            sh.args([
                "-c",
                &format!("ulimit -v {kib} && exec \"$0\" \"$@\""),
                env!("CARGO_BIN_EXE_wasm-slo"),
            ]);
            sh
        }
    };
    let out = cmd
        .env("WASM_SLO_CACHE_DIR", cache)
        .env_remove("WASM_SLO_ALLOCATOR")
        .env_remove("WASM_SLO_MEMORY")
        .envs(env.iter().copied())
        .args(&args)
        .output()
        .expect("wasm-slo runs");
    Run::from(out)
}

#[test]
fn small_runs_compile_once_for_unchecked_memories_and_large_ones_check_bounds() {
    let srv = server();
    let cache = tempfile::tempdir().unwrap();

    // The control instance and 2 VUs share one compilation: 4 GiB memories.
    let small = run_probe(cache.path(), &srv.base_url(), "2", &[], None, &[]);
    small.expect_code(0);
    let names = cached(cache.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("-mem4294967296.cwasm"), "{names:?}");

    // 2,100 VUs' pool of 4 GiB slots would pass the 16 TiB budget: the
    // VUs get code for memories of --vu-memory (64 MiB), checked.
    let large = run_probe(cache.path(), &srv.base_url(), "2100", &[], None, &[]);
    large.expect_code(0);
    assert!(
        !large.stderr.contains("could not start"),
        "{}",
        large.stderr
    );
    let names = cached(cache.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("-mem67108864.cwasm")),
        "{names:?}"
    );
}

#[cfg(unix)]
#[test]
fn an_address_space_limit_keeps_memories_small_and_checked() {
    let srv = server();
    let cache = tempfile::tempdir().unwrap();
    // `ulimit -v` of 16 GiB leaves 8 GiB for memories: less than the
    // control engine's three 4 GiB slots of two memories each.
    let run = run_probe(
        cache.path(),
        &srv.base_url(),
        "2",
        &["--vu-memory", "32"],
        Some(16 << 20),
        &[],
    );
    run.expect_code(0);
    let names = cached(cache.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("-mem33554432.cwasm"), "{names:?}");
}

#[test]
fn the_layout_can_be_forced_and_a_wrong_name_is_refused() {
    let srv = server();
    let cache = tempfile::tempdir().unwrap();
    let forced = [("WASM_SLO_MEMORY", "checked")];
    let run = run_probe(cache.path(), &srv.base_url(), "2", &[], None, &forced);
    run.expect_code(0);
    let names = cached(cache.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with("-mem67108864.cwasm"), "{names:?}");

    let wrong = [("WASM_SLO_MEMORY", "sideways")];
    let run = run_probe(cache.path(), &srv.base_url(), "2", &[], None, &wrong);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("WASM_SLO_MEMORY=\"sideways\" is not a memory layout")
            && run.stderr.contains("auto, checked or unchecked"),
        "{}",
        run.stderr
    );
}
