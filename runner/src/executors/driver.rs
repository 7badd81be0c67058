//! What every scenario driver shares: spawning VUs on the workers, and
//! waiting for a scenario's VUs with its graceful-stop window.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::iterations::IterationSource;
use super::vu::{RunContext, ScenarioShared, VuJob, VuStops, run_vu};
use super::workers::Spawner;
use crate::host::AbortSignal;

/// A scenario's driver: spawns its VUs and stops them.
#[derive(Clone)]
pub struct Driver {
    /// The run.
    pub run: Arc<RunContext>,
    /// The scenario.
    pub scenario: Arc<ScenarioShared>,
    /// Where VUs go.
    pub spawner: Arc<Spawner>,
    /// The scenario's stop signals; each VU's are children of these.
    pub stops: VuStops,
    /// Run-wide abort.
    pub abort: AbortSignal,
}

/// How often a driver checks whether its VUs are gone.
const POLL: Duration = Duration::from_millis(5);

impl Driver {
    /// Spawns one VU with `source`; returns its stop signals.
    pub fn spawn_vu(&self, source: IterationSource) -> VuStops {
        let stops = VuStops::child_of(&self.stops);
        let local = self.run.next_id.fetch_add(1, Ordering::Relaxed);
        let id = self.run.segment.vu_id(local);
        // Counted before the VU runs, so a driver never sees a spawned VU
        // as gone.
        self.scenario.active.fetch_add(1, Ordering::Relaxed);
        let job = VuJob {
            id,
            scenario: self.scenario.clone(),
            source,
            run: self.run.clone(),
            stops: stops.clone(),
        };
        self.spawner.spawn(Box::new(move || Box::pin(run_vu(job))));
        stops
    }

    /// VUs of the scenario alive now.
    pub fn alive(&self) -> u64 {
        self.scenario.active.load(Ordering::Relaxed)
    }

    /// Waits until every VU has exited or `deadline` passes; true if all
    /// exited. Any abort cuts the wait short.
    pub async fn wait_exit(&self, deadline: Instant) -> bool {
        self.wait_gone(deadline, || self.abort.reason().is_some())
            .await
    }

    /// Polls until no VU is alive (true), or `deadline` passes or `cut`
    /// says to stop waiting (false).
    async fn wait_gone(&self, deadline: Instant, cut: impl Fn() -> bool) -> bool {
        loop {
            if self.alive() == 0 {
                return true;
            }
            if Instant::now() >= deadline || cut() {
                return false;
            }
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Sleeps until `at` unless the run aborts first; false on abort.
    pub async fn sleep_until(&self, at: Instant) -> bool {
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => true,
            _ = self.abort.raised() => false,
        }
    }

    /// Ends the scenario: no new iterations, `grace` for those in flight,
    /// then the rest are cut off; returns once every VU is gone. An abort
    /// that stops at once (raised before or during the grace) cuts them
    /// off at once; a graceful one (a first Ctrl-C) leaves the grace as is.
    pub async fn stop(&self, grace: Duration) {
        self.stops.graceful.cancel();
        let in_grace = self
            .wait_gone(Instant::now() + grace, || self.abort.is_at_once())
            .await;
        if !in_grace {
            self.stops.hard.cancel();
            while self.alive() > 0 {
                tokio::time::sleep(POLL).await;
            }
        }
    }
}
