//! Bad input: one clear line on stderr and exit code 2, never a panic.

use crate::util::*;

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
    let newer = dir.path().join("newer.wasm");
    std::fs::write(
        &newer,
        wat::parse_str(
            r#"(component
                (core module $m (func (export "f")))
                (core instance $i (instantiate $m))
                (func $f (canon lift (core func $i "f")))
                (instance $s (export "describe" (func $f)))
                (export "wasm-slo:scenario/scenario@0.9.0" (instance $s)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    expect_bad_input(
        &["run", newer.to_str().unwrap()],
        "was built for wasm-slo:scenario@0.9.0, but this runner supports wasm-slo:scenario@0.1.0",
    );
}

#[test]
fn component_importing_what_the_runner_does_not_offer() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("imports.wasm");
    std::fs::write(
        &p,
        wat::parse_str(
            r#"(component
                (import "acme:db/query@1.0.0" (instance (export "q" (func))))
                (core module $m (func (export "f")))
                (core instance $i (instantiate $m))
                (func $f (canon lift (core func $i "f")))
                (instance $s (export "describe" (func $f)))
                (export "wasm-slo:scenario/scenario@0.1.0" (instance $s)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    expect_bad_input(
        &["run", p.to_str().unwrap()],
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
