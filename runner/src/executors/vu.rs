//! One virtual user's life: its own instance and connections, `init-vu`,
//! then iterations of weighted flows for as long as its executor allows,
//! stopping gracefully (between iterations) or hard (cut off mid-iteration,
//! counted as interrupted).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::idle_vus::Seat;
use super::open::Starting;
use crate::host::{HostState, RunShared};
use crate::metrics::catalog;
use crate::metrics::data::MetricKind;
use crate::metrics::recorder::{self, IterationOutcome};
use crate::metrics::tags::scenario_tags;
use crate::plan::Flow;
use crate::plan::segment::ExecutionTuple;
use crate::wasm::instance::{CallError, ScenarioInstance, ScenarioRuntime};
use crate::wasm::trap::TrapCause;

/// Decides whether, and when, a VU starts another iteration.
#[derive(Debug)]
pub enum IterationSource {
    /// Until the instant passes (constant VUs).
    Until(Instant),
    /// Until told to stop (ramping VUs).
    UntilStopped,
    /// While the shared pool has iterations left and the instant has not
    /// passed (shared iterations).
    Shared {
        /// Iterations not yet claimed by any VU.
        left: Arc<AtomicU64>,
        /// Hard end of the load.
        until: Instant,
    },
    /// A fixed number for this VU (per-VU iterations).
    PerVu {
        /// Iterations this VU has still to run.
        left: u64,
        /// Hard end of the load.
        until: Instant,
    },
    /// Iterations handed out by an arrival-rate scheduler, each with its
    /// scheduled start (open model).
    Scheduled {
        /// Where this VU waits for its starts.
        seat: Seat,
        /// Held while this VU is starting, if the pool grew for it: the pool
        /// grows by one VU at a time (see [`super::open`]).
        starting: Option<Starting>,
    },
}

/// The next iteration a VU may start.
enum Next {
    /// Start now (closed model); carries the time read to decide it, reused
    /// as the iteration's start (a clock read costs tens of nanoseconds, a
    /// fair share of a short iteration).
    Now(Instant),
    /// Start now; it was scheduled for this instant (open model).
    Scheduled(Instant),
    /// No more iterations.
    Stop,
}

impl IterationSource {
    /// Claims the next iteration, waiting for a ticket in open models.
    async fn next(&mut self, graceful: &CancellationToken) -> Next {
        // A start handed to this VU before the stop still runs, as the
        // pacer counted it as started (not dropped). Only then does the
        // stop count.
        if let IterationSource::Scheduled { seat, starting } = self {
            // Up and asking for work: the pool may grow again.
            *starting = None;
            return tokio::select! {
                biased;
                t = seat.ticket() => t.map_or(Next::Stop, Next::Scheduled),
                _ = graceful.cancelled() => seat.leave().map_or(Next::Stop, Next::Scheduled),
            };
        }
        if graceful.is_cancelled() {
            return Next::Stop;
        }
        let now = Instant::now();
        let go = match self {
            IterationSource::Until(end) => now < *end,
            IterationSource::UntilStopped => true,
            IterationSource::Shared { left, until } => {
                now < *until
                    && left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
            }
            IterationSource::PerVu { left, until } => {
                let go = now < *until && *left > 0;
                *left = left.saturating_sub(u64::from(go));
                go
            }
            IterationSource::Scheduled { .. } => unreachable!("handled above"),
        };
        if go { Next::Now(now) } else { Next::Stop }
    }
}

/// What a VU reports to the coordinator (its exit is seen in its
/// scenario's `active` count).
#[derive(Debug)]
pub enum VuEvent {
    /// The VU could not start (instantiation or `init-vu` failed).
    InitFailed {
        /// The VU.
        vu: u64,
        /// Why.
        reason: String,
    },
}

/// Stop signals for one VU.
#[derive(Clone, Default)]
pub struct VuStops {
    /// Start no new iteration.
    pub graceful: CancellationToken,
    /// Stop now, even mid-iteration.
    pub hard: CancellationToken,
}

impl VuStops {
    /// Signals that follow `parent`'s (a scenario's) as well as their own.
    pub fn child_of(parent: &VuStops) -> Self {
        VuStops {
            graceful: parent.graceful.child_token(),
            hard: parent.hard.child_token(),
        }
    }
}

/// What every VU of one scenario shares.
pub struct ScenarioShared {
    /// Scenario name.
    pub name: Arc<str>,
    /// Flows with cumulative weights.
    pub flows: WeightedFlows,
    /// Tags on every sample.
    pub tags: Arc<[(String, String)]>,
    /// Variables its VUs see.
    pub env: Arc<BTreeMap<String, String>>,
    /// Its VUs alive now.
    pub active: AtomicU64,
}

/// What every VU of the run shares.
pub struct RunContext {
    /// The linked component.
    pub runtime: ScenarioRuntime,
    /// Run-wide state.
    pub shared: Arc<RunShared>,
    /// What `setup` returned.
    pub setup_data: Arc<[u8]>,
    /// Where VUs report their end.
    pub events: mpsc::UnboundedSender<VuEvent>,
    /// This process's VUs so far, numbered from 1.
    pub next_id: AtomicU64,
    /// The share of the test this process runs: how many VUs, iterations
    /// and scheduled starts are its own, and its VUs' test-wide ids.
    pub segment: ExecutionTuple,
}

/// Everything a VU needs.
pub struct VuJob {
    /// VU id, from 1, unique across the segments of a test.
    pub id: u64,
    /// Its scenario.
    pub scenario: Arc<ScenarioShared>,
    /// When to iterate.
    pub source: IterationSource,
    /// The run.
    pub run: Arc<RunContext>,
    /// Its stop signals.
    pub stops: VuStops,
}

/// A flow as a scenario's VUs run it.
#[derive(Debug)]
pub struct ScenarioFlow {
    /// The flow's name.
    pub name: Arc<str>,
    /// The series its iterations are recorded in (scenario, its tags and
    /// the flow), keyed once for all of them.
    iteration_key: Box<str>,
}

/// Flows with cumulative weights, for a weighted pick per iteration.
#[derive(Debug)]
pub struct WeightedFlows {
    flows: Vec<ScenarioFlow>,
    cumulative: Vec<u64>,
}

impl WeightedFlows {
    /// From the flows with weights above zero of scenario `scenario`,
    /// tagged `tags`.
    pub fn new(flows: &[Flow], scenario: &str, tags: &[(String, String)]) -> Self {
        let mut total = 0u64;
        let mut kept = Vec::new();
        let mut cumulative = Vec::new();
        for f in flows.iter().filter(|f| f.weight > 0) {
            total += u64::from(f.weight);
            let mut pairs = scenario_tags(scenario, tags);
            pairs.push(("flow", &f.name));
            kept.push(ScenarioFlow {
                name: Arc::from(f.name.as_str()),
                iteration_key: recorder::series_key(None, &mut pairs),
            });
            cumulative.push(total);
        }
        WeightedFlows {
            flows: kept,
            cumulative,
        }
    }

    /// A flow picked in proportion to its weight.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> &ScenarioFlow {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let r = rng.u64(0..total);
        let i = self.cumulative.partition_point(|&c| c <= r);
        &self.flows[i.min(self.flows.len() - 1)]
    }
}

/// Runs one VU to its end.
/// The driver counted the VU in `active` when it spawned it.
pub async fn run_vu(mut job: VuJob) {
    vu_life(&mut job).await;
    job.scenario.active.fetch_sub(1, Ordering::Relaxed);
}

async fn start_instance(job: &VuJob) -> Result<ScenarioInstance, String> {
    let state = HostState::in_scenario(
        job.run.shared.clone(),
        job.id,
        job.scenario.name.clone(),
        job.scenario.tags.clone(),
        job.scenario.env.clone(),
    );
    let mut inst = job
        .run
        .runtime
        .instantiate(state)
        .await
        .map_err(|e| format!("{e:#}"))?;
    match inst.init_vu(&job.run.setup_data).await {
        Ok(()) => Ok(inst),
        Err(CallError::Guest(msg)) => Err(format!("init-vu failed: {msg}")),
        Err(CallError::Trap(t)) => Err(format!(
            "init-vu trapped ({}): {}",
            TrapCause::of(&t),
            t.root_cause()
        )),
    }
}

/// A fresh instance, or None when the VU must end (stopped or failed).
///
/// Instantiation's future is large (about 2.8 KiB) and only needed at the
/// start and after a trap, so it lives on the heap while it runs instead of
/// in every VU's state for its whole life: 50,000 sleeping VUs would
/// otherwise carry 140 MiB of it.
async fn fresh_instance(job: &VuJob) -> Option<ScenarioInstance> {
    Box::pin(fresh_instance_inner(job)).await
}

async fn fresh_instance_inner(job: &VuJob) -> Option<ScenarioInstance> {
    let hard = job.stops.hard.clone();
    tokio::select! {
        biased;
        _ = hard.cancelled() => None,
        r = start_instance(job) => match r {
            Ok(i) => Some(i),
            Err(reason) => {
                let _ = job.run.events.send(VuEvent::InitFailed { vu: job.id, reason });
                None
            }
        },
    }
}

async fn vu_life(job: &mut VuJob) {
    // One wait for the hard stop for the VU's whole life, not one per
    // iteration: each wait registers a waiter and removes it again, a lock
    // each time.
    let hard = job.stops.hard.clone();
    let scenario = job.scenario.clone();
    let in_iteration = Cell::new(false);
    tokio::select! {
        biased;
        _ = hard.cancelled() => {
            if in_iteration.get() {
                record_interrupted(&scenario);
            }
        }
        () = iterate(job, &in_iteration) => {}
    }
}

/// The VU's iterations until its source runs dry; `in_iteration` tells
/// a hard stop whether it cut one off.
async fn iterate(job: &mut VuJob, in_iteration: &Cell<bool>) {
    let Some(mut inst) = fresh_instance(job).await else {
        return;
    };
    let mut rng =
        fastrand::Rng::with_seed(job.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fastrand::u64(..));
    let graceful = job.stops.graceful.clone();
    // Its own handle, so a picked flow stays borrowed while `job` is used.
    let scenario = job.scenario.clone();
    let mut iteration: u64 = 0;
    loop {
        let next = job.source.next(&graceful).await;
        let (started, start_delay) = match next {
            Next::Stop => return,
            Next::Now(now) => (now, None),
            Next::Scheduled(at) => {
                let now = Instant::now();
                (now, Some(now.saturating_duration_since(at)))
            }
        };
        let flow = scenario.flows.pick(&mut rng);
        {
            let state = inst.state();
            state.iteration = iteration;
            state.start_delay = start_delay;
        }
        recorder::count_iteration_start();
        in_iteration.set(true);
        let result = inst.run(&flow.name).await;
        in_iteration.set(false);
        let outcome = match &result {
            Ok(()) => IterationOutcome::Ok,
            Err(CallError::Guest(_)) => IterationOutcome::Error,
            Err(CallError::Trap(trap)) => IterationOutcome::Trap(TrapCause::of(trap)),
        };
        recorder::record_iteration_at(&flow.iteration_key, started.elapsed(), start_delay, outcome);
        iteration += 1;
        match result {
            Ok(()) => {}
            Err(CallError::Guest(msg)) => job
                .run
                .shared
                .errors
                .iteration_error(job.id, &flow.name, &msg),
            Err(CallError::Trap(trap)) => {
                if job.run.shared.abort.reason().is_some() {
                    return;
                }
                let output = inst.state().stderr.call_output();
                let cause = TrapCause::of(&trap);
                job.run
                    .shared
                    .errors
                    .trap(job.id, &flow.name, cause, &trap, &output);
                // A trapped instance is unusable: start over with a fresh one,
                // after freeing the old one's memory, tables and stack (the
                // engine is sized for one instance per VU plus a spare or two).
                drop(inst);
                let Some(fresh) = fresh_instance(job).await else {
                    return;
                };
                inst = fresh;
            }
        }
    }
}

fn record_interrupted(s: &ScenarioShared) {
    let mut tags = scenario_tags(&s.name, &s.tags);
    recorder::record_other(
        catalog::INTERRUPTED_ITERATIONS,
        MetricKind::Counter,
        false,
        &mut tags,
        1.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executors::idle_vus::IdleVus;

    #[test]
    fn weighted_pick_follows_weights() {
        let flows = WeightedFlows::new(
            &[
                Flow {
                    name: "a".into(),
                    weight: 3,
                },
                Flow {
                    name: "zero".into(),
                    weight: 0,
                },
                Flow {
                    name: "b".into(),
                    weight: 1,
                },
            ],
            "s",
            &[("team".into(), "x".into())],
        );
        let mut rng = fastrand::Rng::with_seed(7);
        let n = 40_000;
        let a = (0..n)
            .filter(|_| &*flows.pick(&mut rng).name == "a")
            .count();
        let share = a as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.02, "share of a = {share}");
        // Each flow's iterations are keyed by the scenario, its tags and the
        // flow, as a sample carrying those tags would be.
        let b = flows.flows.iter().find(|f| &*f.name == "b").unwrap();
        let mut pairs = [("flow", "b"), ("scenario", "s"), ("team", "x")];
        assert_eq!(b.iteration_key, recorder::series_key(None, &mut pairs));
        assert_eq!(flows.flows.len(), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn sources_hand_out_exactly_what_they_hold() {
        let never = CancellationToken::new();
        let left = Arc::new(AtomicU64::new(5));
        let until = Instant::now() + std::time::Duration::from_secs(60);
        let mut a = IterationSource::Shared {
            left: left.clone(),
            until,
        };
        let mut b = IterationSource::Shared { left, until };
        let mut claimed = 0;
        for i in 0..10 {
            let src = if i % 2 == 0 { &mut a } else { &mut b };
            if matches!(src.next(&never).await, Next::Now(_)) {
                claimed += 1;
            }
        }
        assert_eq!(claimed, 5);
        let mut p = IterationSource::PerVu { left: 2, until };
        assert!(matches!(p.next(&never).await, Next::Now(_)));
        assert!(matches!(p.next(&never).await, Next::Now(_)));
        assert!(matches!(p.next(&never).await, Next::Stop));
        assert!(matches!(
            IterationSource::Until(Instant::now()).next(&never).await,
            Next::Stop
        ));
        let stopped = CancellationToken::new();
        stopped.cancel();
        assert!(matches!(
            IterationSource::UntilStopped.next(&stopped).await,
            Next::Stop
        ));
    }

    /// Polls `src` for its next iteration once, as a VU going idle does,
    /// which registers it among the idle; nothing was handed to it yet.
    fn go_idle(src: &mut IterationSource) {
        let never = CancellationToken::new();
        let next = std::pin::pin!(src.next(&never));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            next.poll(&mut cx).is_pending(),
            "nothing was handed out yet"
        );
    }

    /// A scheduled source, waiting, that was handed one start for `at`;
    /// with its pool.
    fn scheduled(at: Instant) -> (Arc<IdleVus>, IterationSource) {
        let vus = IdleVus::new();
        let mut src = IterationSource::Scheduled {
            seat: vus.seat(),
            starting: None,
        };
        go_idle(&mut src);
        assert!(vus.hand(at));
        (vus, src)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn scheduled_source_takes_its_starts_until_the_pool_closes() {
        let at = Instant::now();
        let (vus, mut src) = scheduled(at);
        let never = CancellationToken::new();
        assert!(matches!(src.next(&never).await, Next::Scheduled(t) if t == at));
        vus.close();
        assert!(matches!(src.next(&never).await, Next::Stop));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_vu_grown_into_the_pool_is_up_once_it_first_waits() {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let vus = IdleVus::new();
        let mut src = IterationSource::Scheduled {
            seat: vus.seat(),
            starting: Some(Starting(flag.clone())),
        };
        assert!(flag.load(Ordering::Acquire), "still starting");
        go_idle(&mut src);
        assert!(!flag.load(Ordering::Acquire), "up: the pool may grow again");
        // A VU that ends before it gets that far lets the pool grow too.
        flag.store(true, Ordering::Release);
        drop(IterationSource::Scheduled {
            seat: vus.seat(),
            starting: Some(Starting(flag.clone())),
        });
        assert!(!flag.load(Ordering::Acquire));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_ticket_handed_out_before_the_stop_still_runs() {
        // The pacer hands out the last start, closes the pool and stops the
        // scenario before the idle VU is polled: the start is not lost
        // (select! without `biased` would pick either branch at random).
        let stopped = CancellationToken::new();
        stopped.cancel();
        let at = Instant::now();
        for _ in 0..100 {
            let (vus, mut src) = scheduled(at);
            vus.close();
            assert!(matches!(src.next(&stopped).await, Next::Scheduled(t) if t == at));
            // With nothing more handed out, the stop ends it.
            assert!(matches!(src.next(&stopped).await, Next::Stop));
        }
    }
}
