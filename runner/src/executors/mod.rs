//! Executors: turn each scenario of the plan into VUs on the worker threads,
//! end the load on time (with a graceful stop for in-flight iterations), and
//! merge the workers' shards into the aggregate as they arrive.

pub mod vu;
pub mod workers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use self::vu::{IterationSource, VuEvent, VuJob, VuStops, WeightedFlows, run_vu};
use self::workers::WorkerPool;
use crate::host::RunShared;
use crate::metrics::catalog;
use crate::metrics::recorder::Shard;
use crate::metrics::store::MetricStore;
use crate::metrics::tags::TagSet;
use crate::plan::{Executor, Plan, ScenarioPlan};
use crate::wasm::instance::ScenarioRuntime;

/// Inputs of the load phase.
pub struct LoadInputs<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The linked component (load engine).
    pub runtime: ScenarioRuntime,
    /// Run-wide state.
    pub shared: Arc<RunShared>,
    /// What `setup` returned.
    pub setup_data: Arc<[u8]>,
    /// Worker threads.
    pub workers: usize,
    /// Aggregation interval.
    pub interval: Duration,
}

/// What the load phase produced.
#[derive(Debug)]
pub struct LoadOutcome {
    /// Every metric, merged.
    pub metrics: MetricStore,
    /// Wall time of the load.
    pub duration: Duration,
    /// Iterations cut off by the end of a graceful stop.
    pub interrupted_iterations: u64,
    /// VUs that could not start, with the first reason.
    pub init_failures: u64,
    /// The first reason a VU could not start.
    pub first_init_failure: Option<String>,
}

/// Runs every scenario of the plan to its end.
pub async fn run_load(inputs: LoadInputs<'_>) -> anyhow::Result<LoadOutcome> {
    let LoadInputs {
        plan,
        runtime,
        shared,
        setup_data,
        workers,
        interval,
    } = inputs;
    let started = Instant::now();
    let (shard_tx, mut shard_rx) = mpsc::unbounded_channel::<Shard>();
    let mut pool = WorkerPool::start(workers, started, interval, shard_tx)?;
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<VuEvent>();
    let active = Arc::new(AtomicU64::new(0));
    let stops = VuStops::default();

    let mut next_vu_id = 1u64;
    let mut total_vus = 0u64;
    let mut load_end = started;
    let mut grace = Duration::ZERO;
    for scenario in &plan.scenarios {
        let end = started + scenario.executor.planned_duration();
        load_end = load_end.max(end);
        grace = grace.max(scenario.graceful_stop);
        let jobs = jobs_for(scenario, end, &mut next_vu_id);
        let flows = Arc::new(WeightedFlows::new(&scenario.flows));
        let name: Arc<str> = Arc::from(scenario.name.as_str());
        for (id, source) in jobs {
            total_vus += 1;
            let job = VuJob {
                id,
                scenario: name.clone(),
                flows: flows.clone(),
                source,
                runtime: runtime.clone(),
                shared: shared.clone(),
                setup_data: setup_data.clone(),
                stops: stops.clone(),
                events: event_tx.clone(),
                active: active.clone(),
            };
            pool.spawn(Box::new(move || Box::pin(run_vu(job))));
        }
    }
    drop(event_tx);

    let mut metrics = MetricStore::default();
    let no_tags = TagSet::empty();
    metrics.set_gauge(catalog::VUS_MAX, &no_tags, total_vus as f64);
    let mut exited = 0u64;
    let mut interrupted = 0u64;
    let mut init_failures = 0u64;
    let mut first_init_failure = None;
    let hard_deadline = load_end + grace;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut graceful_sent = false;

    while exited < total_vus {
        tokio::select! {
            Some(ev) = event_rx.recv() => match ev {
                VuEvent::Exited { interrupted: i } => {
                    exited += 1;
                    interrupted += u64::from(i);
                }
                VuEvent::InitFailed { vu, reason } => {
                    init_failures += 1;
                    if init_failures <= 3 {
                        eprintln!("[vu {vu}] could not start: {reason}");
                    }
                    first_init_failure.get_or_insert(reason);
                }
            },
            Some(shard) = shard_rx.recv() => metrics.add_shard(shard),
            _ = tick.tick() => {
                metrics.set_gauge(catalog::VUS, &no_tags, active.load(Ordering::Relaxed) as f64);
            }
            _ = tokio::time::sleep_until(load_end.into()), if !graceful_sent => {
                graceful_sent = true;
                stops.graceful.cancel();
            }
            _ = tokio::time::sleep_until(hard_deadline.into()), if !stops.hard.is_cancelled() => {
                stops.hard.cancel();
            }
            _ = shared.abort.raised(), if !stops.hard.is_cancelled() => {
                stops.graceful.cancel();
                stops.hard.cancel();
            }
        }
    }
    let duration = started.elapsed();
    pool.shutdown().await;
    while let Ok(shard) = shard_rx.try_recv() {
        metrics.add_shard(shard);
    }
    Ok(LoadOutcome {
        metrics,
        duration,
        interrupted_iterations: interrupted,
        init_failures,
        first_init_failure,
    })
}

/// The VUs of one scenario with their iteration sources.
fn jobs_for(s: &ScenarioPlan, end: Instant, next_id: &mut u64) -> Vec<(u64, IterationSource)> {
    let mut ids = || {
        let id = *next_id;
        *next_id += 1;
        id
    };
    match &s.executor {
        Executor::ConstantVus { vus, .. } => (0..*vus)
            .map(|_| (ids(), IterationSource::Until(end)))
            .collect(),
        Executor::SharedIterations {
            vus, iterations, ..
        } => {
            let left = Arc::new(AtomicU64::new(*iterations));
            (0..*vus)
                .map(|_| {
                    (
                        ids(),
                        IterationSource::Shared {
                            left: left.clone(),
                            until: end,
                        },
                    )
                })
                .collect()
        }
        Executor::PerVuIterations {
            vus, iterations, ..
        } => (0..*vus)
            .map(|_| {
                (
                    ids(),
                    IterationSource::PerVu {
                        left: *iterations,
                        until: end,
                    },
                )
            })
            .collect(),
    }
}
