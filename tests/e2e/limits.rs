//! Limits per VU: an endless loop, a memory bomb, a stack overflow and a
//! panic are each stopped, counted by cause and logged once with the
//! guest's backtrace; the trapped VU gets a fresh instance and the other
//! VUs' results are intact. The same holds under every instance allocator
//! (on demand, pooling, dense), since which one runs depends on the VU count.

use crate::util::*;

fn traps(r: &Results, scenario: &str, cause: &str) -> f64 {
    value(
        r,
        "iteration_errors",
        &[("scenario", scenario), ("kind", "trap"), ("cause", cause)],
        "count",
    )
}

#[test]
fn runaway_guests_are_stopped_counted_and_restarted_while_others_run() {
    runaway_guests_under("auto");
}

#[test]
fn runaway_guests_are_contained_with_pooled_instances() {
    runaway_guests_under("pooling");
}

#[test]
fn runaway_guests_are_contained_with_dense_instances() {
    // Memories and stacks share one region each: a trapped VU's slot is
    // zeroed and reused, and a memory bomb stops at the VU's cap, not at
    // the end of the region.
    runaway_guests_under("dense");
}

fn runaway_guests_under(allocator: &str) {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "limits.toml",
        r#"
[scenarios.normal]
executor = "constant-vus"
vus = 2
duration = "2s"
flow = "normal"

[scenarios.loop]
executor = "per-vu-iterations"
vus = 1
iterations = 2
flow = "loop"

[scenarios.busy]
executor = "per-vu-iterations"
vus = 1
iterations = 1
flow = "busy-host"

[scenarios.memory]
executor = "per-vu-iterations"
vus = 1
iterations = 3
flow = "memory"

[scenarios.stack]
executor = "per-vu-iterations"
vus = 1
iterations = 2
flow = "stack"

[scenarios.panic]
executor = "per-vu-iterations"
vus = 1
iterations = 3
flow = "panic"
"#,
    );
    // One worker thread: the spinning VUs must yield to the others.
    let (run, r, _d) = run_json_env(
        &guest("hostile"),
        &srv.base_url(),
        &[
            "--config",
            &cfg,
            "--workers",
            "1",
            "--iteration-cpu-limit",
            "200ms",
            "--vu-memory",
            "32",
        ],
        &[("WASM_SLO_ALLOCATOR", allocator)],
    );
    assert!(
        !run.stderr.contains("instance allocation unavailable"),
        "{}",
        run.stderr
    );
    // Some iterations succeeded, so this is an ordinary (passing) run.
    run.expect_code(0);

    assert_eq!(traps(&r, "loop", "cpu_limit"), 2.0, "{}", run.stderr);
    assert_eq!(traps(&r, "busy", "cpu_limit"), 1.0, "{}", run.stderr);
    assert_eq!(traps(&r, "memory", "memory_limit"), 3.0, "{}", run.stderr);
    assert_eq!(traps(&r, "stack", "stack_overflow"), 2.0, "{}", run.stderr);
    assert_eq!(traps(&r, "panic", "panic"), 3.0, "{}", run.stderr);
    assert_eq!(
        value(&r, "iteration_errors", &[("kind", "trap")], "count"),
        11.0
    );

    // Each cause is logged once, with what stopped it and the guest's backtrace.
    for (flow, cause) in [
        ("loop", "cpu_limit"),
        ("busy-host", "cpu_limit"),
        ("memory", "memory_limit"),
        ("stack", "stack_overflow"),
        ("panic", "panic"),
    ] {
        let header = format!("iteration of flow \"{flow}\" trapped ({cause})");
        assert_eq!(
            run.stderr.matches(&header).count(),
            1,
            "{header}\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("stopped after 200ms of CPU time"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the VU's limit of 32 MiB"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hostile panic in iteration 0"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("hostile panic in iteration 1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hostile.wasm!hostile::recurse"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("wasm backtrace:").count(),
        5,
        "{}",
        run.stderr
    );

    // The well-behaved VUs ran all along, every request succeeded and was
    // seen by the server.
    let normal = value(&r, "iterations", &[("scenario", "normal")], "count");
    assert!(normal >= 2.0, "normal iterations: {normal}");
    assert_eq!(
        value(&r, "http_reqs", &[("scenario", "normal")], "count"),
        normal
    );
    assert_eq!(
        value(&r, "http_req_failed", &[("scenario", "normal")], "passes"),
        0.0
    );
    assert_eq!(
        value(&r, "checks", &[("check", "normal 200")], "passes"),
        normal
    );
    assert_eq!(srv.stats().by_route.get("ok").copied(), Some(normal as u64));
    assert_eq!(
        value(&r, "iteration_errors", &[("scenario", "normal")], "count"),
        0.0
    );
}

#[test]
fn a_run_whose_every_iteration_fails_is_a_runtime_failure() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("hostile"),
        &srv.base_url(),
        &[
            "--flow",
            "loop",
            "--iterations",
            "2",
            "--iteration-cpu-limit",
            "100ms",
        ],
    );
    run.expect_code(1);
    assert_eq!(r.outcome.verdict, "error");
    let reason = r.outcome.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("every iteration failed (2 of 2)")
            && reason.contains("flow \"loop\" trapped (cpu_limit)"),
        "{reason}"
    );
    assert!(!reason.contains('\n'), "{reason}");
    assert_eq!(traps(&r, "default", "cpu_limit"), 2.0);
}

#[test]
fn each_iteration_has_its_own_cpu_budget_when_the_guest_goes_on_by_itself() {
    // The SDK runs a VU's iterations in one call of `run` (WIT 0.1.2
    // `next-iteration`). Twelve iterations of about 20 ms of CPU each are
    // 240 ms in that call, but each stays well within its own 100 ms.
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("hostile"),
        &srv.base_url(),
        &[
            "--flow",
            "burn",
            "--vus",
            "1",
            "--iterations",
            "12",
            "--iteration-cpu-limit",
            "100ms",
        ],
    );
    run.expect_code(0);
    assert_eq!(traps(&r, "default", "cpu_limit"), 0.0, "{}", run.stderr);
    assert_eq!(
        value(&r, "iterations", &[], "count"),
        12.0,
        "{}",
        run.stderr
    );
}

#[test]
fn each_iteration_has_its_own_stderr_when_the_guest_goes_on_by_itself() {
    // Five iterations in one call of `run`, each writing a line; the fourth
    // panics. The lines of the first three were passed on as they ended, so
    // the trap's log carries the fourth's line alone, and the fifth (in a
    // fresh instance) is passed on too.
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("hostile"),
        &srv.base_url(),
        &["--flow", "chatty", "--vus", "1", "--iterations", "5"],
    );
    run.expect_code(0);
    assert_eq!(traps(&r, "default", "panic"), 1.0, "{}", run.stderr);
    for n in [0, 1, 2, 4] {
        let line = format!("[vu 1] chatty line of iteration {n}\n");
        assert_eq!(run.stderr.matches(&line).count(), 1, "{line}{}", run.stderr);
    }
    let trap = run
        .stderr
        .split("iteration of flow \"chatty\" trapped (panic)")
        .nth(1)
        .unwrap_or_else(|| panic!("no trap logged:\n{}", run.stderr));
    let guest_stderr = trap.split("  wasm backtrace:").next().unwrap_or_default();
    assert!(
        guest_stderr.contains("    chatty line of iteration 3"),
        "{}",
        run.stderr
    );
    for n in [0, 1, 2] {
        assert!(
            !guest_stderr.contains(&format!("chatty line of iteration {n}")),
            "iteration {n}'s line went with the trap of iteration 3:\n{}",
            run.stderr
        );
    }
}

#[test]
fn ticks_that_pass_while_the_guest_waits_are_not_its_cpu_time() {
    // One iteration of 30 requests of 20 ms each: about 600 ms of waiting,
    // across some 60 epoch ticks of 10 ms, almost all inside the waits. A
    // budget that charged a tick met after a wait (as one did) stops this
    // iteration at 200 ms. The guest itself runs for far less, even in a
    // debug build on a loaded machine, where the thread may be descheduled
    // between requests: a tick that passes then is charged, and with 40
    // waits of 5 ms under a 50 ms limit, five such ticks had tripped it.
    let srv = server();
    let names: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
    let list: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "/slow?ms=20")).collect();
    let env = format!("PROBE_ENDPOINTS={}", endpoints(&list));
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &[
            "--flow",
            "endpoints",
            "--iterations",
            "2",
            "--iteration-cpu-limit",
            "200ms",
            "-e",
            &env,
        ],
    );
    run.expect_code(0);
    assert_eq!(traps(&r, "default", "cpu_limit"), 0.0, "{}", run.stderr);
    assert_eq!(value(&r, "iterations", &[], "count"), 2.0, "{}", run.stderr);
    assert_eq!(value(&r, "http_reqs", &[], "count"), 60.0, "{}", run.stderr);
}

#[test]
fn the_iteration_cpu_limit_can_come_from_the_options() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "o.toml", "iteration_cpu_limit = \"150ms\"\n");
    let (run, r, _d) = run_json(
        &guest("hostile"),
        &srv.base_url(),
        &["--flow", "loop", "--config", &cfg],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("stopped after 150ms of CPU time"),
        "{}",
        run.stderr
    );
    assert_eq!(r.config["sandbox"]["iteration_cpu_limit"], "150ms");
}

#[test]
fn setup_and_teardown_that_never_return_are_cut_off() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "o.toml",
        "setup_timeout = \"300ms\"\nteardown_timeout = \"300ms\"\n",
    );
    // setup() is needed before any load: the run fails, nothing was run.
    let run = wasm_slo(&[
        "run",
        guest("hostile").to_str().unwrap(),
        "-e",
        &format!("BASE_URL={}", srv.base_url()),
        "-e",
        "HOSTILE_SETUP=sleep",
        "--config",
        &cfg,
    ]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("setup() did not return within 300ms (setup_timeout)"),
        "{}",
        run.stderr
    );
    assert_eq!(srv.stats().total, 0);
    // teardown() comes after the load: a warning, and the results stand.
    let (run, r, _d) = run_json(
        &guest("hostile"),
        &srv.base_url(),
        &[
            "--flow",
            "normal",
            "-e",
            "HOSTILE_TEARDOWN=sleep",
            "--config",
            &cfg,
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("teardown() did not return within 300ms (teardown_timeout)"),
        "{}",
        run.stderr
    );
    assert_eq!(value(&r, "http_reqs", &[], "count"), 1.0);
    assert_eq!(r.config["sandbox"]["setup_timeout"], "300ms");
}
