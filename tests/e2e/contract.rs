//! The WIT contract across its versions: a module built against the frozen
//! 0.1.0 contract (no SDK) still runs, and both shapes of a response's
//! headers (0.1.0's list of pairs, 0.1.1's packed block read through the
//! SDK) arrive whole.

use crate::util::*;

#[test]
fn module_built_against_0_1_0_runs_on_this_runner() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("compat-0-1-0"),
        &srv.base_url(),
        &[
            "--allow-host",
            "127.0.0.1",
            "--vus",
            "2",
            "--iterations",
            "20",
        ],
    );
    run.expect_code(0);
    assert_eq!(r.module.wit, "wasm-slo:scenario@0.1.0");
    for check in ["compat status", "compat headers", "compat batch"] {
        let tags = [("check", check)];
        assert!(
            value(&r, "checks", &tags, "passes") > 0.0,
            "{check} never ran"
        );
        assert_eq!(value(&r, "checks", &tags, "fails"), 0.0, "{check} failed");
    }
    // 20 iterations of two flows: one request per `send`, two per `batch`.
    let sends = value(&r, "checks", &[("check", "compat status")], "passes");
    let batches = value(&r, "checks", &[("check", "compat batch")], "passes");
    assert_eq!(sends + batches, 20.0);
    assert_eq!(value(&r, "http_reqs", &[], "count"), sends + 2.0 * batches);
}

#[test]
fn sdk_reads_packed_headers_from_send_and_batch() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "headers", "--vus", "2", "--iterations", "6"],
    );
    run.expect_code(0);
    assert_eq!(r.module.wit, "wasm-slo:scenario@0.1.1");
    for check in ["headers one", "headers batch"] {
        let tags = [("check", check)];
        assert_eq!(value(&r, "checks", &tags, "passes"), 6.0, "{check}");
        assert_eq!(value(&r, "checks", &tags, "fails"), 0.0, "{check}");
    }
}
