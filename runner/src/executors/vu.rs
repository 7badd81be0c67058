//! One virtual user's life: its own instance and connections, `init-vu`,
//! then iterations of weighted flows for as long as its executor allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smallvec::SmallVec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::host::{HostState, RunShared};
use crate::metrics::recorder::{self, IterationOutcome};
use crate::plan::Flow;
use crate::wasm::instance::{CallError, ScenarioInstance, ScenarioRuntime};

/// Decides whether a VU starts another iteration.
#[derive(Debug)]
pub enum IterationSource {
    /// Until the instant passes (constant VUs).
    Until(Instant),
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
}

impl IterationSource {
    /// Claims the next iteration, if any.
    fn claim(&mut self) -> bool {
        let now = Instant::now();
        match self {
            IterationSource::Until(end) => now < *end,
            IterationSource::Shared { left, until } => {
                now < *until
                    && left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
            }
            IterationSource::PerVu { left, until } => {
                if now < *until && *left > 0 {
                    *left -= 1;
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// How a VU ended, for the coordinator.
#[derive(Debug)]
pub enum VuEvent {
    /// The VU could not start (instantiation or `init-vu` failed).
    InitFailed {
        /// The VU.
        vu: u64,
        /// Why.
        reason: String,
    },
    /// The VU is gone.
    Exited {
        /// Whether it was cut off in the middle of an iteration.
        interrupted: bool,
    },
}

/// Stop signals from the coordinator.
#[derive(Clone, Default)]
pub struct VuStops {
    /// Start no new iteration.
    pub graceful: CancellationToken,
    /// Stop now, even mid-iteration.
    pub hard: CancellationToken,
}

/// Everything a VU needs.
pub struct VuJob {
    /// Unique VU id, from 1.
    pub id: u64,
    /// Scenario name.
    pub scenario: Arc<str>,
    /// Flows with cumulative weights.
    pub flows: Arc<WeightedFlows>,
    /// When to stop iterating.
    pub source: IterationSource,
    /// The linked component.
    pub runtime: ScenarioRuntime,
    /// Run-wide state.
    pub shared: Arc<RunShared>,
    /// What `setup` returned.
    pub setup_data: Arc<[u8]>,
    /// Stop signals.
    pub stops: VuStops,
    /// Where to report the VU's end.
    pub events: mpsc::UnboundedSender<VuEvent>,
    /// Active-VU gauge.
    pub active: Arc<AtomicU64>,
}

/// Flows with cumulative weights, for a weighted pick per iteration.
#[derive(Debug)]
pub struct WeightedFlows {
    names: Vec<Arc<str>>,
    cumulative: Vec<u64>,
}

impl WeightedFlows {
    /// From flows with weights above zero.
    pub fn new(flows: &[Flow]) -> Self {
        let mut total = 0u64;
        let mut names = Vec::new();
        let mut cumulative = Vec::new();
        for f in flows.iter().filter(|f| f.weight > 0) {
            total += u64::from(f.weight);
            names.push(Arc::from(f.name.as_str()));
            cumulative.push(total);
        }
        WeightedFlows { names, cumulative }
    }

    /// A flow picked in proportion to its weight.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> &Arc<str> {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let r = rng.u64(0..total);
        let i = self.cumulative.partition_point(|&c| c <= r);
        &self.names[i.min(self.names.len() - 1)]
    }
}

/// Runs one VU to its end.
pub async fn run_vu(mut job: VuJob) {
    job.active.fetch_add(1, Ordering::Relaxed);
    let hard = job.stops.hard.clone();
    let interrupted = tokio::select! {
        biased;
        _ = hard.cancelled() => true,
        () = vu_life(&mut job) => false,
    };
    job.active.fetch_sub(1, Ordering::Relaxed);
    let _ = job.events.send(VuEvent::Exited { interrupted });
}

async fn start_instance(job: &VuJob) -> Result<ScenarioInstance, String> {
    let state = HostState::new(job.shared.clone(), job.id, job.scenario.clone());
    let mut inst = job
        .runtime
        .instantiate(state)
        .await
        .map_err(|e| format!("{e:#}"))?;
    match inst.init_vu(&job.setup_data).await {
        Ok(()) => Ok(inst),
        Err(CallError::Guest(msg)) => Err(format!("init-vu failed: {msg}")),
        Err(CallError::Trap(t)) => Err(format!("init-vu trapped: {t:#}")),
    }
}

async fn vu_life(job: &mut VuJob) {
    let mut inst = match start_instance(job).await {
        Ok(i) => i,
        Err(reason) => {
            let _ = job.events.send(VuEvent::InitFailed { vu: job.id, reason });
            return;
        }
    };
    let mut rng =
        fastrand::Rng::with_seed(job.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fastrand::u64(..));
    let mut iteration: u64 = 0;
    while !job.stops.graceful.is_cancelled() && job.source.claim() {
        let flow = job.flows.pick(&mut rng).clone();
        inst.state().iteration = iteration;
        let started = Instant::now();
        let result = inst.run(&flow).await;
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(()) => IterationOutcome::Ok,
            Err(CallError::Guest(_)) => IterationOutcome::Error,
            Err(CallError::Trap(_)) => IterationOutcome::Trap,
        };
        record_iteration(&job.scenario, &flow, elapsed, outcome);
        iteration += 1;
        match result {
            Ok(()) => {}
            Err(CallError::Guest(msg)) => job.shared.errors.iteration_error(job.id, &flow, &msg),
            Err(CallError::Trap(trap)) => {
                if job.shared.abort.reason().is_some() {
                    return;
                }
                job.shared.errors.trap(job.id, &flow, &trap);
                // A trapped instance is unusable: start over with a fresh one.
                inst = match start_instance(job).await {
                    Ok(i) => i,
                    Err(reason) => {
                        let _ = job.events.send(VuEvent::InitFailed { vu: job.id, reason });
                        return;
                    }
                };
            }
        }
    }
}

fn record_iteration(scenario: &str, flow: &str, elapsed: Duration, outcome: IterationOutcome) {
    let mut tags: SmallVec<[(&str, &str); 2]> = SmallVec::new();
    tags.push(("scenario", scenario));
    tags.push(("flow", flow));
    recorder::record_iteration(&mut tags, elapsed, outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_pick_follows_weights() {
        let flows = WeightedFlows::new(&[
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
        ]);
        let mut rng = fastrand::Rng::with_seed(7);
        let n = 40_000;
        let a = (0..n).filter(|_| &**flows.pick(&mut rng) == "a").count();
        let share = a as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.02, "share of a = {share}");
    }

    #[test]
    fn shared_source_hands_out_exactly_n() {
        let left = Arc::new(AtomicU64::new(5));
        let until = Instant::now() + Duration::from_secs(60);
        let mut a = IterationSource::Shared {
            left: left.clone(),
            until,
        };
        let mut b = IterationSource::Shared { left, until };
        let claimed = (0..10)
            .filter(|i| if i % 2 == 0 { a.claim() } else { b.claim() })
            .count();
        assert_eq!(claimed, 5);
        let mut p = IterationSource::PerVu { left: 2, until };
        assert!(p.claim() && p.claim() && !p.claim());
        assert!(!IterationSource::Until(Instant::now()).claim());
    }
}
