//! Target faults end to end: the probe's `endpoints` flow against the target
//! server's fault listener (and a closed port, a `.invalid` name): each
//! fault is counted under its k6 `error_code`, the run goes on, and the
//! summary lists the errors by category.

use crate::util::*;

#[test]
fn every_fault_of_the_target_is_counted_by_category_and_the_run_goes_on() {
    let srv = server();
    // In request order; `keepalive` leaves a connection the server drops as
    // the next iteration's `reset` reuses it, so that GET is resent.
    let endpoints = [
        ("reset", "/fault/reset-mid-body"),
        ("cut", "/fault/close-mid-body"),
        ("nothing", "/fault/close-before-response"),
        ("slowhead", "/fault/slow-headers?ms=5000"),
        ("slowbody", "/fault/slow-body?ms=5000"),
        ("garbage", "/fault/malformed"),
        ("fine", "/fault/ok"),
        ("keepalive", "/fault/close-keepalive"),
    ];
    let env = format!("PROBE_ENDPOINTS={}", crate::util::endpoints(&endpoints));
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.fault_base_url(),
        &[
            "--flow",
            "endpoints",
            "--iterations",
            "6",
            "--vus",
            "2",
            "--http-timeout",
            "300ms",
            "-e",
            &env,
        ],
    );
    run.expect_code(0);
    let count =
        |name: &str, tag: (&str, &str)| value(&r, "http_reqs", &[("name", name), tag], "count");
    for (name, code) in [
        ("reset", "1220"),
        ("cut", "1220"),
        ("nothing", "1220"),
        ("slowhead", "1050"),
        ("slowbody", "1050"),
        ("garbage", "1000"),
    ] {
        assert_eq!(count(name, ("error_code", code)), 6.0, "{name}");
        assert_eq!(count(name, ("status", "0")), 6.0, "{name}");
    }
    for name in ["fine", "keepalive"] {
        assert_eq!(count(name, ("status", "200")), 6.0, "{name}");
    }
    assert_eq!(value(&r, "http_reqs", &[], "count"), 48.0);
    assert_eq!(value(&r, "http_req_failed", &[], "passes"), 36.0);
    assert_eq!(value(&r, "iterations", &[], "count"), 6.0);
    assert_eq!(r.outcome.interrupted_iterations, 0);

    // The server saw every request once, plus the ones it dropped on reused
    // keep-alive connections (each resent, so counted once by the runner).
    let stats = srv.stats();
    for key in [
        "reset-mid-body",
        "close-mid-body",
        "slow-headers",
        "slow-body",
        "malformed",
        "ok",
        "close-keepalive",
    ] {
        assert_eq!(
            stats.by_route.get(&format!("fault.{key}")),
            Some(&6),
            "{key}: {stats:?}"
        );
    }
    let dropped = stats
        .by_route
        .get("fault.close-keepalive.dropped")
        .copied()
        .unwrap_or(0);
    assert!((1..=6).contains(&dropped), "{stats:?}");

    for line in [
        "ERRORS (no response; by k6 error_code)",
        "1000 other error (e.g. a malformed response)",
        "1050 request timeout",
        "1220 connection reset or closed by the server",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
    assert!(
        run.stdout.contains("×18 (37.50% of requests)"),
        "{}",
        run.stdout
    );
}

#[test]
fn refused_connections_and_unresolvable_names_are_counted() {
    let srv = server();
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let env = format!(
        "PROBE_ENDPOINTS=refused=http://{closed}/;dns=http://no-such-host.invalid/;fine=/ok"
    );
    // Both are hosts other than BASE_URL's, so the sandbox must allow them.
    let allow_closed = closed.to_string();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "endpoints",
            "--iterations",
            "4",
            "--vus",
            "2",
            "-e",
            &env,
            "--allow-host",
            &allow_closed,
            "--allow-host",
            "no-such-host.invalid",
        ],
    );
    run.expect_code(0);
    let count = |name: &str, code: &str| {
        value(
            &r,
            "http_reqs",
            &[("name", name), ("error_code", code)],
            "count",
        )
    };
    assert_eq!(count("refused", "1212"), 4.0);
    assert_eq!(count("dns", "1100"), 4.0);
    assert_eq!(
        value(
            &r,
            "http_reqs",
            &[("name", "fine"), ("status", "200")],
            "count"
        ),
        4.0
    );
    assert_eq!(srv.stats().by_route.get("ok"), Some(&4));
    for line in ["1100 DNS lookup failed", "1212 connection refused"] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
}
