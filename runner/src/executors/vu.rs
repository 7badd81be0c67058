//! One virtual user's life: its own instance and connections, `init-vu`,
//! then iterations of weighted flows for as long as its executor allows
//! ([`super::iterations`]), stopping gracefully (between iterations) or hard
//! (cut off mid-iteration, counted as interrupted).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::iterations::{IterationSource, VuIterations};
use super::stop_signal::StopSignal;
use crate::host::{HostState, RunShared};
use crate::metrics::catalog;
use crate::metrics::data::MetricKind;
use crate::metrics::recorder::{self, IterationOutcome};
use crate::metrics::tags::scenario_tags;
use crate::plan::Flow;
use crate::plan::segment::ExecutionTuple;
use crate::wasm::instance::{CallError, ScenarioInstance, ScenarioRuntime};
use crate::wasm::trap::TrapCause;

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
    pub iteration_key: Box<str>,
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

    /// The index of a flow picked in proportion to its weight.
    pub fn pick_index(&self, rng: &mut fastrand::Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let r = rng.u64(0..total);
        let i = self.cumulative.partition_point(|&c| c <= r);
        i.min(self.flows.len() - 1)
    }

    /// The flow with `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&ScenarioFlow> {
        self.flows.get(index)
    }
}

/// What a VU keeps for its life besides its iterations.
struct Vu {
    id: u64,
    scenario: Arc<ScenarioShared>,
    run: Arc<RunContext>,
    stops: VuStops,
}

/// Runs one VU to its end.
/// The driver counted the VU in `active` when it spawned it.
pub async fn run_vu(job: VuJob) {
    let VuJob {
        id,
        scenario,
        source,
        run,
        stops,
    } = job;
    let vu = Vu {
        id,
        scenario,
        run,
        stops,
    };
    vu_life(&vu, source).await;
    vu.scenario.active.fetch_sub(1, Ordering::Relaxed);
}

async fn start_instance(vu: &Vu) -> Result<ScenarioInstance, String> {
    let state = HostState::in_scenario(
        vu.run.shared.clone(),
        vu.id,
        vu.scenario.name.clone(),
        vu.scenario.tags.clone(),
        vu.scenario.env.clone(),
    );
    let mut inst = vu
        .run
        .runtime
        .instantiate(state)
        .await
        .map_err(|e| format!("{e:#}"))?;
    match inst.init_vu(&vu.run.setup_data).await {
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
async fn fresh_instance(vu: &Vu) -> Option<ScenarioInstance> {
    Box::pin(fresh_instance_inner(vu)).await
}

async fn fresh_instance_inner(vu: &Vu) -> Option<ScenarioInstance> {
    let hard = vu.stops.hard.clone();
    tokio::select! {
        biased;
        _ = hard.cancelled() => None,
        r = start_instance(vu) => match r {
            Ok(i) => Some(i),
            Err(reason) => {
                let _ = vu.run.events.send(VuEvent::InitFailed { vu: vu.id, reason });
                None
            }
        },
    }
}

async fn vu_life(vu: &Vu, source: IterationSource) {
    // One wait for the hard stop for the VU's whole life, not one per
    // iteration (each would register a waiter and remove it again), and
    // one whose polls take no lock (see `stop_signal`).
    let in_iteration = Arc::new(AtomicBool::new(false));
    let iterations = Box::new(VuIterations::new(
        vu.id,
        vu.scenario.clone(),
        vu.run.shared.clone(),
        source,
        vu.stops.graceful.clone(),
        in_iteration.clone(),
    ));
    let hard = StopSignal::new(vu.stops.hard.clone());
    tokio::select! {
        biased;
        () = hard.stopped() => {
            if in_iteration.load(Ordering::Relaxed) {
                record_interrupted(&vu.scenario);
            }
        }
        () = iterate(vu, iterations) => {}
    }
}

/// The VU's iterations until its source runs dry. Each call of `run` is
/// lent the iterations, so that a guest can go on to the next one from
/// inside it; a guest built before WIT 0.1.2 returns after each.
async fn iterate(vu: &Vu, mut iterations: Box<VuIterations>) {
    let Some(mut inst) = fresh_instance(vu).await else {
        return;
    };
    loop {
        let Some(begun) = iterations.begin().await else {
            return;
        };
        // The scenario's own handle: the flow stays named while the
        // iterations are lent to the call.
        let flow = iterations.flow(begun.flow).name.clone();
        let state = inst.state();
        state.enter(begun);
        state.iterations = Some(iterations);
        let result = inst.run(&flow).await;
        iterations = inst
            .state()
            .iterations
            .take()
            .and_then(|i| i.into_any().downcast().ok())
            .expect("the iterations lent to `run` come back");
        // Unless the guest went on by itself and was told to return, the
        // last iteration ends here, with what `run` returned.
        let (outcome, error) = match &result {
            Ok(()) => (IterationOutcome::Ok, None),
            Err(CallError::Guest(msg)) => (IterationOutcome::Error, Some(msg.as_str())),
            Err(CallError::Trap(trap)) => (IterationOutcome::Trap(TrapCause::of(trap)), None),
        };
        iterations.end(outcome, error);
        let Err(CallError::Trap(trap)) = result else {
            continue;
        };
        if vu.run.shared.abort.reason().is_some() {
            return;
        }
        // The iteration the trap ended, which the guest may have gone on to
        // from the one `run` was called with.
        let flow = iterations.last_flow().name.clone();
        let output = inst.state().stderr.call_output();
        let cause = TrapCause::of(&trap);
        vu.run
            .shared
            .errors
            .trap(vu.id, &flow, cause, &trap, &output);
        // A trapped instance is unusable: start over with a fresh one,
        // after freeing the old one's memory, tables and stack (the
        // engine is sized for one instance per VU plus a spare or two).
        drop(inst);
        let Some(fresh) = fresh_instance(vu).await else {
            return;
        };
        inst = fresh;
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
            .filter(|_| &*flows.flows[flows.pick_index(&mut rng)].name == "a")
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
}
