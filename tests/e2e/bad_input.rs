//! Bad input: one clear line on stderr and exit code 2, never a panic.

use crate::util::*;

/// Writes `file` in `dir`: a component with `imports` (WAT) that exports an
/// instance holding a `describe` function as `export`, and returns its path.
fn component(dir: &std::path::Path, file: &str, imports: &str, export: &str) -> String {
    let wat = format!(
        r#"(component
            {imports}
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $s (export "describe" (func $f)))
            (export "{export}" (instance $s)))"#
    );
    write_bytes(dir, file, &wat::parse_str(wat).unwrap())
}

fn write_bytes(dir: &std::path::Path, file: &str, bytes: &[u8]) -> String {
    let p = dir.join(file);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn missing_file_directory_and_non_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.wasm");
    expect_bad_input(
        &["run", missing.to_str().unwrap()],
        "cannot read scenario module",
    );
    expect_bad_input(&["run", dir.path().to_str().unwrap()], "is a directory");
    let text = write(dir.path(), "s.wasm", "console.log('not wasm')");
    expect_bad_input(&["run", &text], "is not a WebAssembly file");
    expect_bad_input(&["inspect", &text], "is not a WebAssembly file");
}

#[test]
fn core_module_instead_of_component() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(
        &core,
        wat::parse_str("(module (func (export \"run\")))").unwrap(),
    )
    .unwrap();
    expect_bad_input(
        &["run", core.to_str().unwrap()],
        "core WebAssembly module, not a component",
    );
}

#[test]
fn component_of_another_world_or_wit_version() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.wasm");
    std::fs::write(
        &other,
        wat::parse_str(
            r#"(component
                (core module $m (func (export "f")))
                (core instance $i (instantiate $m))
                (func $f (canon lift (core func $i "f")))
                (export "greet" (func $f)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    expect_bad_input(
        &["run", other.to_str().unwrap()],
        "does not export `wasm-slo:scenario/scenario` (it exports greet)",
    );
    let newer = component(
        dir.path(),
        "newer.wasm",
        "",
        "wasm-slo:scenario/scenario@0.9.0",
    );
    expect_bad_input(
        &["run", &newer],
        "was built for wasm-slo:scenario@0.9.0, but this runner supports wasm-slo:scenario@0.1.3",
    );
}

#[test]
fn component_importing_what_the_runner_does_not_offer() {
    let dir = tempfile::tempdir().unwrap();
    let p = component(
        dir.path(),
        "imports.wasm",
        r#"(import "acme:db/query@1.0.0" (instance (export "q" (func))))"#,
        "wasm-slo:scenario/scenario@0.1.0",
    );
    expect_bad_input(
        &["run", &p],
        "imports interfaces this runner does not offer: acme:db/query@1.0.0",
    );
}

#[test]
fn invalid_thresholds_unknown_keys_flows_and_flags() {
    let probe = guest("probe");
    let m = probe.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad_expr = write(
        dir.path(),
        "a.toml",
        "[thresholds]\nhttp_req_duration = [\"p(95)<<200\"]\n",
    );
    expect_bad_input(
        &["run", m, "--slo", &bad_expr],
        "invalid threshold \"p(95)<<200\"",
    );
    let bad_agg = write(
        dir.path(),
        "b.toml",
        "[thresholds]\nhttp_reqs = [\"p(95)<200\"]\n",
    );
    expect_bad_input(
        &["run", m, "--slo", &bad_agg],
        "does not apply to http_reqs",
    );
    let unknown_key = write(
        dir.path(),
        "c.toml",
        "[thresholds]\nx = []\n[extra]\ny = 1\n",
    );
    expect_bad_input(
        &["run", m, "--slo", &unknown_key],
        "c.toml` line 3 column 2: unknown field `extra`",
    );
    let bad_cfg = write(dir.path(), "o.toml", "vus = \"many\"\n");
    expect_bad_input(&["run", m, "--config", &bad_cfg], "o.toml` line 1 column 7");
    expect_bad_input(
        &["run", m, "--flow", "nope"],
        "unknown flow \"nope\"; the module defines: ",
    );
    expect_bad_input(&["run", m, "-e", "NOVALUE"], "expected KEY=VALUE");
    expect_bad_input(
        &["run", m, "--out", "xml=r.xml"],
        "unknown output kind \"xml\"",
    );
    expect_bad_input(&["run", m, "--vus", "0"], "--vus must be at least 1");
    expect_bad_input(
        &["run", m, "--vus", "5", "--iterations", "2"],
        "cannot keep 5 VUs busy",
    );
    expect_bad_input(
        &["run", m, "--slo", "/nonexistent/slo.toml"],
        "cannot read `/nonexistent/slo.toml`",
    );
    // clap's own errors use the same exit code.
    let run = wasm_slo(&["run", m, "--duration", "5x"]);
    run.expect_code(2);
    assert!(run.stderr.contains("invalid duration"), "{}", run.stderr);
}

#[test]
fn oversized_and_malformed_components() {
    let dir = tempfile::tempdir().unwrap();
    // Sparse: refused by its size before a byte is read.
    let big = dir.path().join("big.wasm");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((256 << 20) + 1)
        .unwrap();
    expect_bad_input(
        &["run", big.to_str().unwrap()],
        "big.wasm` is 256 MiB; scenario modules may be at most 256 MiB",
    );
    let garbage = write_bytes(
        dir.path(),
        "garbage.wasm",
        b"\0asm\x0d\0\x01\0\x07\xff\xff\xff\xffjunk",
    );
    expect_bad_input(
        &["run", &garbage, "--no-cache"],
        "garbage.wasm` is not a valid component: ",
    );
    let probe = std::fs::read(guest("probe")).unwrap();
    let cut = write_bytes(dir.path(), "cut.wasm", &probe[..probe.len() / 2]);
    expect_bad_input(&["inspect", &cut], "cut.wasm` is not a valid component: ");
}

#[test]
fn components_of_other_wit_versions_name_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let older = component(
        dir.path(),
        "older.wasm",
        "",
        "wasm-slo:scenario/scenario@0.0.3",
    );
    expect_bad_input(
        &["run", &older],
        "was built for wasm-slo:scenario@0.0.3, but this runner supports wasm-slo:scenario@0.1.3",
    );
    // Exports the current version but imports the runner's http of another
    // one, and wasi:http besides: every such import is named.
    let mixed = component(
        dir.path(),
        "mixed.wasm",
        r#"(import "wasm-slo:scenario/http@0.2.0" (instance (export "send" (func))))
           (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func))))
           (import "wasi:clocks/monotonic-clock@0.2.0" (instance))"#,
        "wasm-slo:scenario/scenario@0.1.0",
    );
    expect_bad_input(
        &["run", &mixed],
        "imports interfaces this runner does not offer: wasm-slo:scenario/http@0.2.0, \
         wasi:http/outgoing-handler@0.2.0; it was built for wasm-slo:scenario@0.2.0, this runner \
         speaks wasm-slo:scenario@0.1.3",
    );
    // Built for a later 0.1.x and using a function this runner lacks.
    let later = component(
        dir.path(),
        "later.wasm",
        r#"(import "wasm-slo:scenario/http@0.1.9" (instance (export "send-later" (func))))"#,
        "wasm-slo:scenario/scenario@0.1.9",
    );
    expect_bad_input(
        &["run", &later],
        "it was built for wasm-slo:scenario@0.1.9, newer than this runner's 0.1.3: use a runner \
         that supports 0.1.9, or rebuild the module against 0.1.3",
    );
}

#[test]
fn broken_describe_and_json_files_with_positions() {
    let m = guest("hostile");
    let m = m.to_str().unwrap();
    expect_bad_input(
        &[
            "run",
            m,
            "-e",
            "HOSTILE_DESCRIBE=loop",
            "--iteration-cpu-limit",
            "200ms",
        ],
        "the module's describe() trapped (cpu_limit): stopped after 200ms of CPU time",
    );
    expect_bad_input(
        &["run", m, "-e", "HOSTILE_OPTION=vsu=3"],
        "the module's describe() options are invalid: unknown field `vsu`",
    );
    expect_bad_input(
        &[
            "run",
            m,
            "-e",
            "HOSTILE_OPTION=iteration_cpu_limit=\"soon\"",
        ],
        "the module's describe() options are invalid: ",
    );
    let dir = tempfile::tempdir().unwrap();
    let json = write(dir.path(), "o.json", "{\n  \"vus\": 2,\n  \"vsu\": 3\n}\n");
    expect_bad_input(
        &["run", m, "--config", &json],
        "o.json` line 3 column 7: unknown field `vsu`",
    );
    let slo = write(
        dir.path(),
        "slo.json",
        "{\"thresholds\": {\"http_req_failed\": [1]}}",
    );
    expect_bad_input(&["run", m, "--slo", &slo], "slo.json` line 1 column ");
    let toml = write(
        dir.path(),
        "slo.toml",
        "[[objectives]]\nname = \"GET /\"\np95 = true\n",
    );
    expect_bad_input(&["run", m, "--slo", &toml], "slo.toml` line 3 column 7");
}

#[test]
fn conflicting_flags() {
    let m = guest("hostile");
    let m = m.to_str().unwrap();
    expect_bad_input(
        &["run", m, "--stage", "1s:2", "--iterations", "3"],
        "--stage cannot be combined with --duration or --iterations",
    );
    expect_bad_input(
        &["run", m, "--duration", "1s", "--max-duration", "5s"],
        "drop --max-duration (or add --iterations)",
    );
    expect_bad_input(
        &["run", m, "--stage", "1s:2", "--max-duration", "5s"],
        "--max-duration does not apply to --stage",
    );
    expect_bad_input(
        &["run", m, "--iterations", "3", "--scenario", "default"],
        "--scenario picks among the declared scenarios",
    );
    expect_bad_input(
        &["run", m, "--http-timeout", "0s"],
        "--http-timeout must be above 0s",
    );
    expect_bad_input(
        &["run", m, "--iteration-cpu-limit", "0s"],
        "the iteration CPU limit must be above 0s",
    );
    expect_bad_input(
        &["run", m, "--iterations", "3", "--max-duration", "0s"],
        "max_duration must be above 0s",
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "o.toml",
        "[scenarios.a]\nexecutor = \"per-vu-iterations\"\nflow = \"normal\"\n",
    );
    expect_bad_input(
        &["run", m, "--config", &cfg, "--flow", "panic"],
        "--flow has no effect: every declared scenario sets its own `flow` or `flows`",
    );
}
