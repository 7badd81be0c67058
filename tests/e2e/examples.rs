//! The shipped examples against the shipped target server.

use crate::util::*;

#[test]
fn health_example_passes_its_own_thresholds() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("health"),
        &srv.base_url(),
        &["--vus", "2", "--iterations", "2"],
    );
    run.expect_code(0);
    assert_eq!(srv.stats().by_route.get("health"), Some(&2));
    assert!(r.thresholds.len() >= 3, "{:?}", r.thresholds);
    assert!(r.thresholds.iter().all(|t| t.passed));
    assert_eq!(value(&r, "checks", &[], "fails"), 0.0);
}

#[test]
fn task_api_logs_in_once_per_vu_and_weights_its_flows() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("task-api"),
        &srv.base_url(),
        &["-e", "THINK=0", "--vus", "3", "--iterations", "300"],
    );
    run.expect_code(0);
    let stats = srv.stats();
    assert_eq!(stats.by_route.get("login"), Some(&3));
    let list = stats.by_route.get("tasks.list").copied().unwrap_or(0) as f64;
    let get = stats.by_route.get("tasks.get").copied().unwrap_or(0) as f64;
    let create = stats.by_route.get("tasks.create").copied().unwrap_or(0) as f64;
    assert_eq!(list + get + create, 300.0);
    // 3:2:1 within five standard deviations at n=300.
    for (n, share) in [(list, 0.5), (get, 1.0 / 3.0), (create, 1.0 / 6.0)] {
        let sd = (share * (1.0 - share) / 300.0_f64).sqrt();
        assert!(
            (n / 300.0 - share).abs() < 5.0 * sd,
            "{n} of 300, expected share {share}"
        );
    }
    assert_eq!(
        value(&r, "http_reqs", &[("name", "GET /api/tasks")], "count"),
        list
    );
    assert_eq!(value(&r, "http_req_failed", &[], "passes"), 0.0);
    assert!(r.thresholds.iter().all(|t| t.passed), "{:?}", r.thresholds);
    assert!(!r.thresholds.is_empty());
}
