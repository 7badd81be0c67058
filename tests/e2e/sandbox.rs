//! The sandbox: a hostile module (tests/guests/hostile) gets no files, no
//! sockets, no environment but `-e`, and reaches only allowed hosts, while a
//! well-behaved scenario beside it runs undisturbed.

use std::net::TcpListener;

use crate::util::*;

/// An options file running each flow in its own scenario, so every flow
/// runs a known number of times.
fn one_scenario_per_flow(dir: &std::path::Path, flows: &[(&str, u64)]) -> String {
    let mut toml = String::new();
    for (flow, iterations) in flows {
        toml.push_str(&format!(
            "[scenarios.{flow}]\nexecutor = \"per-vu-iterations\"\nvus = 1\niterations = {iterations}\nflow = \"{flow}\"\n\n"
        ));
    }
    write(dir, "scenarios.toml", &toml)
}

/// Passes and total of check `name`.
fn check_counts(r: &Results, name: &str) -> (f64, f64) {
    (
        value(r, "checks", &[("check", name)], "passes"),
        value(r, "checks", &[("check", name)], "total"),
    )
}

#[test]
fn no_files_env_sockets_or_other_hosts_and_the_normal_flow_is_intact() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = one_scenario_per_flow(
        dir.path(),
        &[
            ("normal", 3),
            ("forbidden", 2),
            ("file", 1),
            ("environ", 1),
            ("socket", 1),
        ],
    );
    // A listener the module would reach with a socket: it must see nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let marker = std::path::Path::new("/tmp/wasm-slo-hostile");
    let _ = std::fs::remove_file(marker);
    let (run, r, _d) = run_json(
        &guest("hostile"),
        &srv.base_url(),
        &[
            "--config",
            &cfg,
            "-e",
            &format!("SOCKET_PORT={port}"),
            "-e",
            "FOO=bar",
        ],
    );
    run.expect_code(0);

    for check in [
        "sandbox: forbidden host refused",
        "sandbox: forbidden host never dialled",
    ] {
        assert_eq!(
            check_counts(&r, check),
            (2.0, 2.0),
            "{check}\n{}",
            run.stderr
        );
    }
    for check in [
        "sandbox: no file read",
        "sandbox: no directory listed",
        "sandbox: no cwd listed",
        "sandbox: no file written",
        "sandbox: no directory opened",
        "sandbox: env is only the -e variables",
        "sandbox: no HOME",
        "sandbox: no arguments",
        "sandbox: no TCP connection",
        "sandbox: no UDP socket",
        "sandbox: no DNS lookup",
    ] {
        assert_eq!(
            check_counts(&r, check),
            (1.0, 1.0),
            "{check}\n{}",
            run.stderr
        );
    }
    assert!(listener.accept().is_err(), "the module opened a connection");
    assert!(!marker.exists(), "the module wrote a file");

    // The forbidden requests are failed requests with k6's blocked-host code,
    // logged once.
    assert_eq!(
        value(
            &r,
            "http_reqs",
            &[("name", "forbidden"), ("error_code", "1111")],
            "count"
        ),
        2.0
    );
    assert_eq!(
        value(&r, "http_req_failed", &[("name", "forbidden")], "passes"),
        2.0
    );
    assert_eq!(
        run.stderr.matches("forbidden host 192.0.2.1:9").count(),
        1,
        "{}",
        run.stderr
    );
    // The well-behaved flow saw none of it.
    assert_eq!(check_counts(&r, "normal 200"), (3.0, 3.0));
    assert_eq!(value(&r, "http_reqs", &[("name", "normal")], "count"), 3.0);
    assert_eq!(srv.stats().total, 3, "{:?}", srv.stats());
    assert_eq!(value(&r, "iterations", &[], "count"), 8.0);
    assert_eq!(value(&r, "iteration_errors", &[], "count"), 0.0);
}

#[test]
fn only_declared_or_flagged_hosts_are_reachable() {
    let srv = server();
    let port = srv.base_url().rsplit(':').next().unwrap().to_owned();
    let flags = ["--flow", "normal", "--iterations", "2"];
    let run_with = |hosts: &str, extra: &[&str]| {
        let mut args = vec!["-e", hosts];
        args.extend_from_slice(&flags);
        args.extend_from_slice(extra);
        run_json(&guest("hostile"), &srv.base_url(), &args)
    };

    // Nothing declared, nothing flagged: every request is refused, the
    // run says so up front and goes on.
    let (run, r, _d) = run_with("HOSTILE_HOSTS=", &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("warning: no host is allowed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        value(&r, "http_reqs", &[("error_code", "1111")], "count"),
        2.0
    );
    assert_eq!(srv.stats().total, 0);

    // --allow-host with the wrong port does not help; with the right one it does.
    let wrong = "127.0.0.1:1".to_owned();
    let (run, r, _d) = run_with("HOSTILE_HOSTS=", &["--allow-host", &wrong]);
    run.expect_code(0);
    assert_eq!(
        value(&r, "http_reqs", &[("error_code", "1111")], "count"),
        2.0
    );
    let right = format!("127.0.0.1:{port}");
    let (run, r, _d) = run_with(
        "HOSTILE_HOSTS=",
        &["--allow-host", &wrong, "--allow-host", &right],
    );
    run.expect_code(0);
    assert_eq!(value(&r, "checks", &[], "passes"), 2.0);
    assert_eq!(srv.stats().total, 2);
    assert_eq!(
        r.config["sandbox"]["allowed_hosts"],
        serde_json::json!([wrong, right])
    );

    // Declared by the module (any port of 127.0.0.1), or in an options file.
    let (run, _r, _d) = run_with("HOSTILE_HOSTS=localhost,127.0.0.1", &[]);
    run.expect_code(0);
    assert_eq!(srv.stats().total, 4);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "o.toml", "allowed_hosts = [\"127.0.0.1:*\"]\n");
    let (run, _r, _d) = run_with("HOSTILE_HOSTS=", &["--config", &cfg]);
    run.expect_code(0);
    assert_eq!(srv.stats().total, 6);
}

#[test]
fn bad_host_patterns_are_bad_input() {
    let m = guest("hostile");
    let m = m.to_str().unwrap();
    expect_bad_input(
        &["run", m, "--allow-host", "http://api.example.com/v1"],
        "--allow-host: `http://api.example.com/v1` is not a host pattern: give a host, not a http:// URL (e.g. `api.example.com`)",
    );
    expect_bad_input(
        &["run", m, "--allow-host", "*:80"],
        "`*` already allows every port",
    );
    expect_bad_input(
        &["run", m, "-e", "HOSTILE_HOSTS=a.*.com"],
        "describe() allowed_hosts: `a.*.com` is not a host pattern",
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "o.toml", "allowed_hosts = \"127.0.0.1\"\n");
    expect_bad_input(&["run", m, "--config", &cfg], "o.toml` line 1 column 17");
}
