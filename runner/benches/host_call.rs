//! The host-call round trip: one iteration of the probe guest (built from
//! source) per measurement, on a current-thread runtime as the workers run
//! them. `env` is two host calls (runtime.env, metrics.check); `metrics` is
//! five metric calls; `fast` is a whole GET through the host's HTTP client to
//! a local target server plus a check: what one VU iteration of the
//! CPU-per-request benchmark costs, less the server. Each is timed as a
//! call of `run` per iteration (a module built before WIT 0.1.2, or an open
//! model) and, for `env` and `fast`, as iterations the guest goes on to
//! inside one call (a closed model since 0.1.2).
//!
//! `cargo bench -p wasm-slo --bench host_call`

use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wasm_slo::host::iterations::{Advance, Begun, IterationLoop};
use wasm_slo::host::{HostState, RunShared};
use wasm_slo::wasm::cache::CompileCache;
use wasm_slo::wasm::instance::ScenarioRuntime;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Builds the probe guest and returns its path.
fn probe() -> PathBuf {
    let root = workspace();
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "probe",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the probe guest failed");
    target_dir().join("wasm32-wasip2/release/probe.wasm")
}

fn bench(c: &mut Criterion) {
    let server = wasm_slo_target::spawn_in_thread(
        "127.0.0.1:0".parse().unwrap(),
        wasm_slo_target::ServerOptions::default(),
    )
    .expect("target server starts");
    // Cached, so a profile of this bench shows the calls, not Cranelift.
    let cache = CompileCache::at(target_dir().join("bench-compile-cache"));
    let (runtime, _ticker) = ScenarioRuntime::standalone(&probe(), &cache).unwrap();
    let env = BTreeMap::from([
        ("BASE_URL".to_owned(), server.base_url()),
        ("PROBE_ENV".to_owned(), "yes".to_owned()),
    ]);
    let shared = Arc::new(RunShared::with_env(env));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut inst = rt.block_on(async {
        let mut inst = runtime
            .instantiate(HostState::new(shared, 1, Arc::from("bench")))
            .await
            .unwrap();
        inst.init_vu(br#"{"started":true}"#).await.unwrap();
        inst
    });
    for flow in ["env", "metrics", "fast"] {
        c.bench_function(&format!("one iteration of probe flow `{flow}`"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        inst.run(flow).await.expect("the flow succeeds");
                    }
                    t.elapsed()
                })
            })
        });
    }
    // The same iterations as a VU of a closed model runs them since WIT
    // 0.1.2: all in one call of `run`, the guest going on to each next one.
    for (index, flow) in [(0, "env"), (1, "fast")] {
        c.bench_function(
            &format!("one iteration of probe flow `{flow}`, inside one call"),
            |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        inst.state().iterations = Some(Box::new(Repeat {
                            left: iters - 1,
                            index,
                            flow,
                        }));
                        let t = Instant::now();
                        inst.run(flow).await.expect("the flow succeeds");
                        let elapsed = t.elapsed();
                        let left = inst.state().iterations.take().unwrap().into_any();
                        assert_eq!(left.downcast::<Repeat>().unwrap().left, 0);
                        elapsed
                    })
                })
            },
        );
    }
    // What the shards gathered is dropped: no aggregator in this bench.
    let _ = wasm_slo::metrics::recorder::take_shard();
}

/// Hands the guest `left` more iterations of `flow`, which it knows by
/// `index` (an instance keeps the names it was told for its whole life, so
/// each flow has an index of its own).
struct Repeat {
    left: u64,
    index: u32,
    flow: &'static str,
}

impl IterationLoop for Repeat {
    fn advance(&mut self, outcome: Result<(), String>) -> Advance {
        outcome.expect("the flow succeeds");
        if self.left == 0 {
            return Advance::Return;
        }
        self.left -= 1;
        Advance::Next(Begun {
            flow: self.index,
            iteration: 0,
            start_delay: None,
        })
    }

    fn flow_name(&self, index: u32) -> Option<&str> {
        (index == self.index).then_some(self.flow)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
