//! Thresholds from the module and the SLO file, and the exit codes of their
//! verdicts.

use crate::util::*;

#[test]
fn slo_file_thresholds_pass_and_fail_with_exit_codes() {
    let srv = server();
    let probe = guest("probe");
    let dir = tempfile::tempdir().unwrap();
    let pass = write(
        dir.path(),
        "pass.toml",
        r#"
[thresholds]
http_req_failed = ["rate<0.2"]
'http_req_duration{name:"flaky"}' = ["p(95)<5s", "max<10s"]
http_reqs = ["count==100", "rate>1"]
checks = []
"#,
    );
    let (run, r, _d) = run_json(
        &probe,
        &srv.base_url(),
        &[
            "--flow",
            "flaky",
            "--iterations",
            "100",
            "--vus",
            "4",
            "--slo",
            &pass,
        ],
    );
    run.expect_code(0);
    assert_eq!(r.thresholds.len(), 5);
    assert!(r.thresholds.iter().all(|t| t.passed));
    let failed_rate = r
        .thresholds
        .iter()
        .find(|t| t.metric == "http_req_failed")
        .unwrap();
    assert_eq!(failed_rate.value, Some(0.1));
    assert!(
        run.stdout.contains("PASS  http_req_failed rate<0.2"),
        "{}",
        run.stdout
    );

    let fail = write(
        dir.path(),
        "fail.toml",
        "[thresholds]\nhttp_req_failed = [\"rate<0.05\"]\nhttp_reqs = [\"count>0\"]\n",
    );
    let (run, r, _d) = run_json(
        &probe,
        &srv.base_url(),
        &[
            "--flow",
            "flaky",
            "--iterations",
            "100",
            "--vus",
            "4",
            "--slo",
            &fail,
        ],
    );
    run.expect_code(99);
    assert_eq!(r.outcome.verdict, "fail");
    assert_eq!(r.outcome.exit_code, 99);
    assert!(
        run.stdout
            .contains("FAIL  http_req_failed rate<0.05  rate=10.00%"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("RESULT: FAIL (1 of 2 thresholds failed)"),
        "{}",
        run.stdout
    );
}

#[test]
fn module_thresholds_apply_and_the_slo_file_overrides_them() {
    let srv = server();
    let probe = guest("probe");
    let base = format!("BASE_URL={}", srv.base_url());
    let module_path = probe.to_str().unwrap();
    // The module declares an impossible p(95) (via PROBE_THRESHOLD).
    let run = wasm_slo(&[
        "run",
        module_path,
        "-e",
        &base,
        "-e",
        "PROBE_THRESHOLD=p(95)<0.001ms",
        "--flow",
        "fast",
        "--iterations",
        "5",
    ]);
    run.expect_code(99);
    assert!(
        run.stdout.contains("FAIL  http_req_duration p(95)<0.001ms"),
        "{}",
        run.stdout
    );

    let dir = tempfile::tempdir().unwrap();
    let slo = write(
        dir.path(),
        "slo.toml",
        "[thresholds]\nhttp_req_duration = [\"p(95)<10s\"]\n",
    );
    let run = wasm_slo(&[
        "run",
        module_path,
        "-e",
        &base,
        "-e",
        "PROBE_THRESHOLD=p(95)<0.001ms",
        "--flow",
        "fast",
        "--iterations",
        "5",
        "--slo",
        &slo,
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("PASS  http_req_duration p(95)<10s"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("0.001ms"), "{}", run.stdout);
}

#[test]
fn thresholds_on_tag_selectors_see_only_their_series() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let slo = write(
        dir.path(),
        "slo.toml",
        r#"[thresholds]
'http_req_duration{name:"slow"}' = ["p(50)>=50ms"]
'http_req_duration{name:"fast"}' = ["p(50)<50ms"]
'http_reqs{name:"fast"}' = ["count==30"]
'http_reqs{name:"nothing"}' = ["count==0"]
"#,
    );
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "fast=1",
            "--flow",
            "slow=1",
            "--iterations",
            "60",
            "--vus",
            "3",
            "--slo",
            &slo,
        ],
    );
    // Fast and slow split 60 iterations at random, so count==30 may miss.
    let fast = value(&r, "http_reqs", &[("name", "fast")], "count");
    let by_expr = |e: &str| {
        r.thresholds
            .iter()
            .find(|t| t.expression == e)
            .unwrap()
            .passed
    };
    assert!(by_expr("p(50)>=50ms"));
    assert!(by_expr("p(50)<50ms"));
    assert!(by_expr("count==0"));
    assert_eq!(by_expr("count==30"), fast == 30.0);
    run.expect_code(if fast == 30.0 { 0 } else { 99 });
}
