//! A VU's iterations: where the next one comes from (its executor's
//! source), which flow it runs, and how each one is counted when it ends,
//! whether the VU starts it with a call of `run` or the guest goes on to it
//! from inside `run` (`runtime.next-iteration`, WIT 0.1.2).
//!
//! In closed models the next start is decided at once, so a guest that asks
//! runs all its iterations in one call of `run`: entering the guest costs a
//! fiber, the export's lookup and the flow name's copy each time, most of
//! what a short iteration costs the runner. In open models a VU waits for
//! its starts outside the guest, as before, and holds no fiber while idle.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::idle_vus::Seat;
use super::open::Starting;
use super::stop_signal::StopSignal;
use super::vu::{ScenarioFlow, ScenarioShared};
use crate::host::RunShared;
use crate::host::iterations::{Advance, Begun, IterationLoop};
use crate::metrics::recorder::{self, IterationOutcome};

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
    async fn next(&mut self, graceful: &StopSignal) -> Next {
        // A start handed to this VU before the stop still runs, as the
        // pacer counted it as started (not dropped). Only then does the
        // stop count.
        if let IterationSource::Scheduled { seat, starting } = self {
            // Up and asking for work: the pool may grow again.
            *starting = None;
            return tokio::select! {
                biased;
                t = seat.ticket() => t.map_or(Next::Stop, Next::Scheduled),
                () = graceful.stopped() => seat.leave().map_or(Next::Stop, Next::Scheduled),
            };
        }
        self.claim_now(graceful, Instant::now())
            .expect("closed models decide at once")
    }

    /// Claims the next iteration at `now` in closed models, which decide
    /// without waiting; `None` in open models, whose starts are waited for
    /// (outside the guest, so an idle VU holds no fiber).
    fn claim_now(&mut self, graceful: &StopSignal, now: Instant) -> Option<Next> {
        if matches!(self, IterationSource::Scheduled { .. }) {
            return None;
        }
        if graceful.is_stopped() {
            return Some(Next::Stop);
        }
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
        Some(if go { Next::Now(now) } else { Next::Stop })
    }
}

/// A VU's iterations: its source, its flows, and the one in progress.
pub struct VuIterations {
    vu: u64,
    scenario: Arc<ScenarioShared>,
    shared: Arc<RunShared>,
    source: IterationSource,
    graceful: StopSignal,
    rng: fastrand::Rng,
    /// Iterations begun so far.
    begun: u64,
    current: Option<Current>,
    /// The flow of the last iteration begun.
    last_flow: u32,
    /// Whether an iteration is in progress, for the VU's hard stop, which
    /// outlives the instance that holds this during a call.
    in_iteration: Arc<AtomicBool>,
}

/// The iteration in progress.
struct Current {
    flow: u32,
    started: Instant,
    start_delay: Option<Duration>,
}

impl VuIterations {
    /// The iterations of VU `vu` of `scenario`, from `source` until
    /// `graceful`; `in_iteration` tells the VU's hard stop whether it cut
    /// one off.
    pub fn new(
        vu: u64,
        scenario: Arc<ScenarioShared>,
        shared: Arc<RunShared>,
        source: IterationSource,
        graceful: CancellationToken,
        in_iteration: Arc<AtomicBool>,
    ) -> Self {
        VuIterations {
            vu,
            scenario,
            shared,
            source,
            graceful: StopSignal::new(graceful),
            rng: fastrand::Rng::with_seed(
                vu.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ fastrand::u64(..),
            ),
            begun: 0,
            current: None,
            last_flow: 0,
            in_iteration,
        }
    }

    /// Picks flows from `seed` on (tests that need a known order).
    #[cfg(test)]
    fn seed(&mut self, seed: u64) {
        self.rng = fastrand::Rng::with_seed(seed);
    }

    /// Waits for the next start and begins that iteration; `None` when the
    /// VU is to stop.
    pub async fn begin(&mut self) -> Option<Begun> {
        let next = self.source.next(&self.graceful).await;
        self.begin_with(next)
    }

    fn begin_with(&mut self, next: Next) -> Option<Begun> {
        let (started, start_delay) = match next {
            Next::Stop => return None,
            Next::Now(now) => (now, None),
            Next::Scheduled(at) => {
                let now = Instant::now();
                (now, Some(now.saturating_duration_since(at)))
            }
        };
        let flow = u32::try_from(self.scenario.flows.pick_index(&mut self.rng))
            .expect("a scenario has few flows");
        self.last_flow = flow;
        self.current = Some(Current {
            flow,
            started,
            start_delay,
        });
        recorder::count_iteration_start();
        self.in_iteration.store(true, Ordering::Relaxed);
        let iteration = self.begun;
        self.begun += 1;
        Some(Begun {
            flow,
            iteration,
            start_delay,
        })
    }

    /// The scenario's flow with `index`, as [`Begun::flow`] gives it.
    pub fn flow(&self, index: u32) -> &ScenarioFlow {
        self.scenario
            .flows
            .get(index as usize)
            .expect("an index these flows handed out")
    }

    /// The flow of the last iteration begun (a trap on the way out of
    /// `run`, after the guest was told to return, is logged under it).
    pub fn last_flow(&self) -> &ScenarioFlow {
        self.flow(self.last_flow)
    }

    /// Ends the iteration in progress: records it as `outcome` and logs the
    /// guest's error message, if any. Returns when the runner was done with
    /// it (the next iteration's start, in a closed model), or `None` if none
    /// was in progress (the guest ended it itself through `next-iteration`).
    pub fn end(&mut self, outcome: IterationOutcome, error: Option<&str>) -> Option<Instant> {
        let current = self.current.take()?;
        self.in_iteration.store(false, Ordering::Relaxed);
        let ended = Instant::now();
        let flow = self.flow(current.flow);
        recorder::record_iteration_at(
            &flow.iteration_key,
            ended.saturating_duration_since(current.started),
            current.start_delay,
            outcome,
        );
        let Some(msg) = error else {
            // Recording takes a fraction of a clock read's cost: the time
            // read to end this iteration starts the next.
            return Some(ended);
        };
        // Logging may write to stderr: not the next iteration's time.
        self.shared.errors.iteration_error(self.vu, &flow.name, msg);
        Some(Instant::now())
    }
}

impl IterationLoop for VuIterations {
    fn advance(&mut self, outcome: Result<(), String>) -> Advance {
        let ended = match &outcome {
            Ok(()) => self.end(IterationOutcome::Ok, None),
            Err(msg) => self.end(IterationOutcome::Error, Some(msg)),
        };
        let Some(ended) = ended else {
            return Advance::Idle;
        };
        // The time the last one ended is the next one's start: a clock
        // read is a fair share of a short iteration.
        let next = self.source.claim_now(&self.graceful, ended);
        match next.and_then(|n| self.begin_with(n)) {
            Some(begun) => Advance::Next(begun),
            None => Advance::Return,
        }
    }

    fn flow_name(&self, index: u32) -> Option<&str> {
        let flow = self.scenario.flows.get(usize::try_from(index).ok()?)?;
        Some(&flow.name)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::executors::idle_vus::IdleVus;
    use crate::executors::vu::WeightedFlows;
    use crate::plan::Flow;

    /// The iterations of VU 1 of a scenario with flows `a` and `b`, from
    /// `source`, with the run's shared state.
    fn vu_iterations(
        source: IterationSource,
        graceful: CancellationToken,
    ) -> (VuIterations, Arc<RunShared>, Arc<AtomicBool>) {
        let flows = [("a", 1), ("b", 3)].map(|(name, weight)| Flow {
            name: name.into(),
            weight,
        });
        let scenario = Arc::new(ScenarioShared {
            name: Arc::from("s"),
            flows: WeightedFlows::new(&flows, "s", &[]),
            tags: Arc::from(Vec::new()),
            env: Default::default(),
            active: AtomicU64::new(1),
        });
        let shared = Arc::new(RunShared::with_env(Default::default()));
        let flag = Arc::new(AtomicBool::new(false));
        let its = VuIterations::new(1, scenario, shared.clone(), source, graceful, flag.clone());
        (its, shared, flag)
    }

    /// Completed iterations and errors recorded on this thread, by flow
    /// name.
    fn recorded(its: &VuIterations) -> BTreeMap<String, (u64, u64)> {
        let names: BTreeMap<&str, &str> = (0..2)
            .map(|i| its.flow(i))
            .map(|f| (&*f.iteration_key, &*f.name))
            .collect();
        recorder::take_shard()
            .iterations
            .into_iter()
            .map(|(key, series)| {
                let flow = names.get(&*key).expect("a flow's own series");
                (flow.to_string(), (series.count, series.errors))
            })
            .collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_source_goes_on_inside_the_call_until_it_runs_dry() {
        let until = Instant::now() + Duration::from_secs(60);
        let source = IterationSource::PerVu { left: 3, until };
        let (mut its, shared, in_iteration) = vu_iterations(source, CancellationToken::new());
        // A seed whose second and third iterations pick different flows, so
        // that the error's flow tells them apart.
        let seed = (0..100)
            .find(|&s| {
                let mut rng = fastrand::Rng::with_seed(s);
                let picks: Vec<usize> = (0..3)
                    .map(|_| its.scenario.flows.pick_index(&mut rng))
                    .collect();
                picks[1] != picks[2]
            })
            .expect("one seed in a hundred tells them apart");
        its.seed(seed);
        let _ = recorder::take_shard();
        let first = its.begin().await.expect("three to run");
        assert_eq!(first.iteration, 0);
        assert!(in_iteration.load(Ordering::Relaxed));
        let mut flows = vec![first.flow];
        // Each call ends iteration n - 1 with the outcome and begins n.
        for (n, outcome) in [(1, Ok(())), (2, Err("deliberate".to_owned()))] {
            match its.advance(outcome) {
                Advance::Next(begun) => {
                    assert_eq!(begun.iteration, n);
                    flows.push(begun.flow);
                }
                other => panic!("iteration {n}: {other:?}"),
            }
        }
        // The third ends, and the source has no fourth: `run` returns.
        assert_eq!(its.advance(Ok(())), Advance::Return);
        assert!(!in_iteration.load(Ordering::Relaxed));
        // After that nothing is in progress: a further call counts nothing.
        assert_eq!(its.advance(Err("late".into())), Advance::Idle);
        assert!(its.end(IterationOutcome::Ok, None).is_none());
        assert!(its.begin().await.is_none());

        let counts = recorded(&its);
        assert_eq!(counts.values().map(|c| c.0).sum::<u64>(), 3, "{counts:?}");
        assert_eq!(counts.values().map(|c| c.1).sum::<u64>(), 1, "{counts:?}");
        // The error is logged under the flow of the iteration that had it,
        // the second.
        assert_ne!(flows[1], flows[2], "the seed no longer tells them apart");
        let errored = its.flow(flows[1]).name.clone();
        assert_eq!(
            shared.errors.first(),
            Some(format!("flow \"{errored}\": deliberate").as_str())
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn flows_are_named_by_the_index_handed_out() {
        let (mut its, _, _) =
            vu_iterations(IterationSource::UntilStopped, CancellationToken::new());
        let _ = recorder::take_shard();
        let mut seen = [0u32; 2];
        let first = its.begin().await.unwrap();
        seen[first.flow as usize] += 1;
        for _ in 0..4_000 {
            let Advance::Next(begun) = its.advance(Ok(())) else {
                panic!("an unstopped source goes on");
            };
            seen[begun.flow as usize] += 1;
        }
        let names = [0, 1].map(|i| its.flow_name(i).unwrap().to_owned());
        assert_eq!(names, ["a".to_owned(), "b".to_owned()]);
        assert_eq!(its.flow_name(2), None);
        // b weighs three times a.
        let share_b = f64::from(seen[1]) / f64::from(seen[0] + seen[1]);
        assert!((share_b - 0.75).abs() < 0.03, "{seen:?}");
        let _ = recorder::take_shard();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_graceful_stop_ends_the_call_after_the_iteration_in_progress() {
        let graceful = CancellationToken::new();
        let (mut its, _, in_iteration) =
            vu_iterations(IterationSource::UntilStopped, graceful.clone());
        let _ = recorder::take_shard();
        its.begin().await.unwrap();
        assert!(matches!(its.advance(Ok(())), Advance::Next(_)));
        graceful.cancel();
        assert_eq!(its.advance(Ok(())), Advance::Return);
        assert!(!in_iteration.load(Ordering::Relaxed));
        assert!(its.begin().await.is_none());
        assert_eq!(recorder::take_shard().iterations_started, 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_open_model_waits_for_each_start_outside_the_guest() {
        let at = Instant::now();
        let (vus, source) = scheduled(at);
        let (mut its, _, _) = vu_iterations(source, CancellationToken::new());
        let _ = recorder::take_shard();
        let begun = its.begin().await.unwrap();
        assert!(begun.start_delay.is_some());
        // The next start is never taken inside the call: the VU returns
        // and waits for it outside the guest, among the idle.
        assert_eq!(its.advance(Ok(())), Advance::Return);
        {
            let mut next = std::pin::pin!(its.begin());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(next.as_mut().poll(&mut cx).is_pending(), "idle, waiting");
            assert!(vus.hand(at));
            assert!(next.await.is_some());
        }
        vus.close();
        assert_eq!(its.advance(Ok(())), Advance::Return);
        assert!(its.begin().await.is_none());
        let _ = recorder::take_shard();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn sources_hand_out_exactly_what_they_hold() {
        let never = StopSignal::new(CancellationToken::new());
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
        let token = CancellationToken::new();
        token.cancel();
        let stopped = StopSignal::new(token);
        assert!(matches!(
            IterationSource::UntilStopped.next(&stopped).await,
            Next::Stop
        ));
    }

    /// Polls `src` for its next iteration once, as a VU going idle does,
    /// which registers it among the idle; nothing was handed to it yet.
    fn go_idle(src: &mut IterationSource) {
        let never = StopSignal::new(CancellationToken::new());
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
        let never = StopSignal::new(CancellationToken::new());
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
        let token = CancellationToken::new();
        token.cancel();
        let stopped = StopSignal::new(token);
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
