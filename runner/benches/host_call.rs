//! The host-call round trip: one iteration of the probe guest (built from
//! source) per measurement, on a current-thread runtime as the workers run
//! them. `env` is two host calls (runtime.env, metrics.check); `metrics` is
//! five metric calls; `fast` is a whole GET through the host's HTTP client to
//! a local target server plus a check: what one VU iteration of the
//! CPU-per-request benchmark costs, less the server.
//!
//! `cargo bench -p wasm-slo --bench host_call`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
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
    // What the shards gathered is dropped: no aggregator in this bench.
    let _ = wasm_slo::metrics::recorder::take_shard();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
