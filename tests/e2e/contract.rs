//! The WIT contract across its versions: a module built against the frozen
//! 0.1.0 contract (no SDK) still runs, every shape of a response's headers
//! (0.1.0's list of pairs, 0.1.1's packed block, and 0.1.3's headers kept in
//! the runner until the SDK reads them) arrives whole, and an SDK guest that
//! goes on to its next iterations inside `run` (0.1.2's `next-iteration`)
//! has each one counted under its own flow.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use wasm_slo::host::iterations::{Advance, Begun, IterationLoop};
use wasm_slo::host::{HostState, RunShared};
use wasm_slo::wasm::cache::CompileCache;
use wasm_slo::wasm::instance::{CallError, ScenarioRuntime};

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
fn sdk_reads_headers_kept_in_the_runner_from_send_and_batch() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "headers", "--vus", "2", "--iterations", "6"],
    );
    run.expect_code(0);
    assert_eq!(r.module.wit, "wasm-slo:scenario@0.1.3");
    for check in ["headers one", "headers batch", "headers held"] {
        let tags = [("check", check)];
        assert_eq!(value(&r, "checks", &tags, "passes"), 6.0, "{check}");
        assert_eq!(value(&r, "checks", &tags, "fails"), 0.0, "{check}");
    }
}

#[test]
fn packed_headers_of_wit_0_1_1_still_arrive_whole() {
    let srv = server();
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--flow", "packed", "--vus", "2", "--iterations", "4"],
    );
    run.expect_code(0);
    for check in ["packed one", "packed batch"] {
        let tags = [("check", check)];
        assert_eq!(value(&r, "checks", &tags, "passes"), 4.0, "{check}");
        assert_eq!(value(&r, "checks", &tags, "fails"), 0.0, "{check}");
    }
    assert_eq!(value(&r, "http_reqs", &[("name", "packed")], "count"), 12.0);
}

#[test]
fn iterations_a_guest_goes_on_to_inside_run_are_counted_by_flow() {
    // The SDK runs a VU's iterations of a closed model in one call of
    // `run`: the runner picks each one's flow by weight, and counts each
    // one's outcome, errors included, under that flow.
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "mix.toml",
        r#"
[scenarios.mix]
executor = "shared-iterations"
vus = 2
iterations = 400
flows = { fast = 3, fail = 1, metrics = 1 }
"#,
    );
    let (run, r, _d) = run_json(
        &guest("probe"),
        &srv.base_url(),
        &["--config", &cfg, "--workers", "1"],
    );
    run.expect_code(0);
    let per_flow = |flow: &str| value(&r, "iterations", &[("flow", flow)], "count");
    let (fast, fail, metrics) = (per_flow("fast"), per_flow("fail"), per_flow("metrics"));
    assert_eq!(fast + fail + metrics, 400.0, "{}", run.stderr);
    assert_eq!(value(&r, "iterations", &[], "count"), 400.0);
    // Weights 3:1:1 over 400 iterations.
    assert!((200.0..=280.0).contains(&fast), "fast: {fast}");
    assert!(
        fail > 40.0 && metrics > 40.0,
        "fail {fail}, metrics {metrics}"
    );
    // Each flow did its own work, once per iteration.
    assert_eq!(value(&r, "http_reqs", &[], "count"), fast);
    assert_eq!(
        value(&r, "checks", &[("check", "fast 200")], "passes"),
        fast
    );
    assert_eq!(
        value(&r, "iteration_errors", &[("flow", "fail")], "count"),
        fail
    );
    assert_eq!(value(&r, "iteration_errors", &[], "count"), fail);
    assert_eq!(value(&r, "probe_items", &[], "count"), 2.0 * metrics);
}

/// Hands a guest `left` more iterations, of the probe's flows `fail` and
/// `env` in turn, and keeps the outcomes it is told.
struct Handed {
    left: u64,
    outcomes: Vec<Result<(), String>>,
}

impl IterationLoop for Handed {
    fn advance(&mut self, outcome: Result<(), String>) -> Advance {
        self.outcomes.push(outcome);
        if self.left == 0 {
            return Advance::Return;
        }
        self.left -= 1;
        let n = self.outcomes.len() as u64;
        Advance::Next(Begun {
            flow: u32::from(n.is_multiple_of(2)),
            iteration: n,
            start_delay: None,
        })
    }

    fn flow_name(&self, index: u32) -> Option<&str> {
        ["fail", "env"].get(index as usize).copied()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

#[test]
fn the_sdk_runs_every_iteration_handed_to_it_in_one_call_of_run() {
    // In process, so that the calls into the guest can be counted: one call
    // of `run`, six iterations, each outcome handed back, each flow named by
    // the index the runner gave.
    let dir = tempfile::tempdir().unwrap();
    let cache = CompileCache::at(dir.path());
    let (runtime, _ticker) = ScenarioRuntime::standalone(&guest("probe"), &cache).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let env = BTreeMap::from([("PROBE_ENV".to_owned(), "yes".to_owned())]);
        let shared = Arc::new(RunShared::with_env(env));
        let state = HostState::new(shared, 1, Arc::from("contract"));
        let mut inst = runtime.instantiate(state).await.unwrap();
        inst.init_vu(br#"{"started":true}"#).await.unwrap();
        inst.state().iterations = Some(Box::new(Handed {
            left: 5,
            outcomes: Vec::new(),
        }));
        let last = inst.run("env").await;
        let handed = inst
            .state()
            .iterations
            .take()
            .unwrap()
            .into_any()
            .downcast::<Handed>()
            .unwrap();
        let failed = Err("deliberate failure".to_owned());
        assert_eq!(
            handed.outcomes,
            [
                Ok(()),
                failed.clone(),
                Ok(()),
                failed.clone(),
                Ok(()),
                failed
            ]
        );
        // The guest saw each iteration's number.
        assert_eq!(inst.state().iteration, 5);
        // After `none`, `run` returns the last outcome, which the runner
        // has counted already.
        assert!(matches!(last, Err(CallError::Guest(m)) if m == "deliberate failure"));

        // With no iterations lent, the guest returns after each, with its
        // own outcome, as a guest built before 0.1.2 does.
        assert!(matches!(
            inst.run("fail").await,
            Err(CallError::Guest(m)) if m == "deliberate failure"
        ));
        assert!(inst.run("env").await.is_ok());
    });
}
