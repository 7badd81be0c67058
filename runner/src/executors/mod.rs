//! Executors: each scenario of the plan gets a driver that starts it on
//! time and spawns, ramps, feeds and stops its VUs on the worker threads
//! ([`closed`] and [`open`] models); the coordinator gathers the workers'
//! shards into the time series and totals as they arrive.

pub mod closed;
pub mod driver;
pub mod idle_vus;
pub mod iterations;
pub mod open;
pub mod stop_signal;
pub mod vu;
pub mod workers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use self::driver::Driver;
use self::vu::{RunContext, ScenarioShared, VuEvent, VuStops, WeightedFlows};
use self::workers::{WorkerPool, WorkerReport};
use crate::host::{AbortCause, RunShared};
use crate::metrics::catalog;
use crate::metrics::store::MetricStore;
use crate::metrics::tags::TagSet;
use crate::metrics::timeline::{IntervalObserver, IntervalRecord, Timeline};
use crate::plan::{Plan, ScenarioPlan};
use crate::slo;
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
    /// Told of every interval as it closes.
    pub observer: &'a mut dyn IntervalObserver,
}

/// What the load phase produced.
#[derive(Debug)]
pub struct LoadOutcome {
    /// Every metric, merged.
    pub metrics: MetricStore,
    /// The time series.
    pub intervals: Vec<IntervalRecord>,
    /// Wall time of the load.
    pub duration: Duration,
    /// VUs that could not start.
    pub init_failures: u64,
    /// The first reason a VU could not start.
    pub first_init_failure: Option<String>,
}

/// One scenario's live counters, read by the coordinator each interval.
struct ScenarioCounters {
    name: String,
    shared: Arc<ScenarioShared>,
    dropped: Arc<AtomicU64>,
    dropped_reported: u64,
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
        observer,
    } = inputs;
    let epoch = Instant::now();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel::<WorkerReport>();
    let pool = WorkerPool::start(workers, epoch, interval, report_tx)?;
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<VuEvent>();
    let run = Arc::new(RunContext {
        runtime,
        shared: shared.clone(),
        setup_data,
        events: event_tx,
        next_id: AtomicU64::new(1),
        segment: plan.segment.clone(),
    });

    let mut drivers = JoinSet::new();
    let mut counters = Vec::new();
    for sp in &plan.scenarios {
        let tags: Arc<[(String, String)]> = sp
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let scenario = Arc::new(ScenarioShared {
            name: Arc::from(sp.name.as_str()),
            flows: WeightedFlows::new(&sp.flows, &sp.name, &tags),
            tags,
            env: Arc::new(sp.env.clone()),
            active: AtomicU64::new(0),
        });
        let dropped = Arc::new(AtomicU64::new(0));
        counters.push(ScenarioCounters {
            name: sp.name.clone(),
            shared: scenario.clone(),
            dropped: dropped.clone(),
            dropped_reported: 0,
        });
        let driver = Driver {
            run: run.clone(),
            scenario,
            spawner: pool.spawner(),
            stops: VuStops::default(),
            abort: shared.abort.clone(),
        };
        drivers.spawn(drive_scenario(driver, sp.clone(), epoch, dropped));
    }

    let mut timeline = Timeline::new(pool.len(), interval);
    let no_tags = TagSet::empty();
    let mut init_failures = 0u64;
    let mut first_init_failure = None;
    let mut tick = tokio::time::interval_at((epoch + interval).into(), interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let sample = |counters: &mut Vec<ScenarioCounters>| {
        let mut vus = BTreeMap::new();
        let mut dropped = BTreeMap::new();
        for c in counters.iter_mut() {
            vus.insert(c.name.clone(), c.shared.active.load(Ordering::Relaxed));
            let now = c.dropped.load(Ordering::Relaxed);
            dropped.insert(c.name.clone(), now - c.dropped_reported);
            c.dropped_reported = now;
        }
        (vus, dropped)
    };

    let aborts_on_fail = plan
        .thresholds
        .iter()
        .any(|t| t.expressions.iter().any(|o| o.abort_on_fail));
    let mut checked = 0;
    loop {
        // Abort-on-fail thresholds are judged on every closed interval.
        if aborts_on_fail && timeline.closed() > checked {
            checked = timeline.closed();
            if let Some(reason) = slo::abort_reason(plan, timeline.totals(), epoch.elapsed()) {
                shared.abort.raise_by(AbortCause::Threshold, reason);
            }
        }
        tokio::select! {
            Some(r) = report_rx.recv() => timeline.add_report(r.worker, r.interval, r.shard),
            Some(ev) = event_rx.recv() => match ev {
                VuEvent::InitFailed { vu, reason } => {
                    init_failures += 1;
                    if init_failures <= 3 {
                        eprintln!("[vu {vu}] could not start: {reason}");
                    }
                    first_init_failure.get_or_insert(reason);
                }
            },
            _ = tick.tick() => {
                let k = (epoch.elapsed().as_nanos() / interval.as_nanos().max(1)) as u64;
                let (vus, dropped) = sample(&mut counters);
                timeline.add_sample(k.saturating_sub(1), vus, &dropped);
            }
            done = drivers.join_next() => match done {
                Some(Err(e)) if e.is_panic() => anyhow::bail!("a scenario driver failed: {e}"),
                Some(_) => {}
                None => break,
            },
        }
        timeline.drain_closed(|c, totals| observer.interval_closed(c, totals));
    }
    let duration = epoch.elapsed();
    let last = (duration.as_nanos() / interval.as_nanos().max(1)) as u64;
    let (vus, dropped) = sample(&mut counters);
    timeline.add_sample(last, vus, &dropped);
    drop(run);
    pool.shutdown().await;
    while let Ok(r) = report_rx.try_recv() {
        timeline.add_report(r.worker, r.interval, r.shard);
    }
    while let Ok(VuEvent::InitFailed { reason, .. }) = event_rx.try_recv() {
        init_failures += 1;
        first_init_failure.get_or_insert(reason);
    }
    timeline.close_all();
    timeline.drain_closed(|c, totals| observer.interval_closed(c, totals));
    let (mut metrics, intervals) = timeline.finish();
    let vus_max = plan.max_vus() as f64;
    metrics.set_gauge(catalog::VUS_MAX, &no_tags, vus_max);
    Ok(LoadOutcome {
        metrics,
        intervals,
        duration,
        init_failures,
        first_init_failure,
    })
}

/// Starts one scenario at its start time and runs it to its end.
async fn drive_scenario(d: Driver, plan: ScenarioPlan, epoch: Instant, dropped: Arc<AtomicU64>) {
    let start = epoch + plan.start_time;
    if !d.sleep_until(start).await {
        return;
    }
    if plan.executor.is_open() {
        open::drive(&d, &plan.executor, start, plan.graceful_stop, &dropped).await;
    } else {
        closed::drive(&d, &plan.executor, start, plan.graceful_stop).await;
    }
}
