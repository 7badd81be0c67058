//! Closed models: a set number of VUs iterating back to back (constant VUs,
//! shared and per-VU iterations) or following stages (ramping VUs). Counts
//! are the test's; each process runs its segment's share of them.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use super::driver::Driver;
use super::iterations::IterationSource;
use super::vu::VuStops;
use crate::plan::{Executor, Stage, stage_value};

/// How often a ramping scenario adjusts its VU count.
const RAMP_TICK: Duration = Duration::from_millis(20);

/// Runs a closed-model scenario from `start` to its end.
pub async fn drive(d: &Driver, executor: &Executor, start: Instant, grace: Duration) {
    let segment = &d.run.segment;
    match executor {
        Executor::ConstantVus { vus, duration } => {
            let end = start + *duration;
            for _ in 0..segment.scale(*vus) {
                d.spawn_vu(IterationSource::Until(end));
            }
            d.sleep_until(end).await;
        }
        Executor::SharedIterations {
            vus,
            iterations,
            max_duration,
        } => {
            let until = start + *max_duration;
            let left = Arc::new(AtomicU64::new(segment.shared_iterations(*vus, *iterations)));
            for _ in 0..segment.scale(*vus) {
                d.spawn_vu(IterationSource::Shared {
                    left: left.clone(),
                    until,
                });
            }
            d.wait_exit(until).await;
        }
        Executor::PerVuIterations {
            vus,
            iterations,
            max_duration,
        } => {
            let until = start + *max_duration;
            for _ in 0..segment.scale(*vus) {
                d.spawn_vu(IterationSource::PerVu {
                    left: *iterations,
                    until,
                });
            }
            d.wait_exit(until).await;
        }
        Executor::RampingVus {
            start_vus,
            stages,
            graceful_ramp_down,
        } => ramp(d, *start_vus, stages, *graceful_ramp_down, start).await,
        Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. } => {
            unreachable!("open models are driven by executors::open")
        }
    }
    d.stop(grace).await;
}

/// VUs wanted at `t` into the stages: the ramp's value, rounded down (with
/// a little slack so that exact points such as 3.0 are not read as 2.999).
pub fn target_vus(start_vus: u64, stages: &[Stage], t: Duration) -> u64 {
    (stage_value(start_vus, stages, t) + 1e-9).floor().max(0.0) as u64
}

async fn ramp(d: &Driver, start_vus: u64, stages: &[Stage], ramp_down: Duration, start: Instant) {
    let total: Duration = stages.iter().map(|s| s.duration).sum();
    let end = start + total;
    // Newest last: a ramp-down stops the most recently started VUs.
    let mut running: Vec<VuStops> = Vec::new();
    loop {
        let now = Instant::now();
        let t = now.saturating_duration_since(start).min(total);
        // The segment's share of the test's VUs: the shares of all segments
        // add up to the test's target at every instant.
        let want = d.run.segment.scale(target_vus(start_vus, stages, t)) as usize;
        while running.len() < want {
            running.push(d.spawn_vu(IterationSource::UntilStopped));
        }
        while running.len() > want {
            let Some(stops) = running.pop() else { break };
            stops.graceful.cancel();
            // Cut it off if it is still busy when its grace runs out.
            tokio::spawn(async move {
                tokio::time::sleep(ramp_down).await;
                stops.hard.cancel();
            });
        }
        if now >= end {
            return;
        }
        let next = (now + RAMP_TICK).min(end);
        if !d.sleep_until(next).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: u64, target: u64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    #[test]
    fn target_follows_linear_ramps() {
        // Seed 001: 2m -> 100, 5m hold, 2m -> 0.
        let stages = [stage(120, 100), stage(300, 100), stage(120, 0)];
        assert_eq!(target_vus(0, &stages, Duration::ZERO), 0);
        assert_eq!(target_vus(0, &stages, Duration::from_secs(60)), 50);
        assert_eq!(target_vus(0, &stages, Duration::from_secs(120)), 100);
        assert_eq!(target_vus(0, &stages, Duration::from_secs(400)), 100);
        assert_eq!(target_vus(0, &stages, Duration::from_secs(480)), 50);
        assert_eq!(target_vus(0, &stages, Duration::from_secs(540)), 0);
        assert_eq!(target_vus(0, &stages, Duration::from_secs(9999)), 0);
        // Seed 001's spike: 1m 100 -> 10s 5000 -> 1m 100.
        let spike = [stage(60, 100), stage(10, 5000), stage(60, 100)];
        assert_eq!(target_vus(0, &spike, Duration::from_secs(65)), 2550);
        assert_eq!(target_vus(0, &spike, Duration::from_secs(70)), 5000);
        // Exact points are not lost to rounding.
        let third = [stage(3, 1)];
        assert_eq!(target_vus(0, &third, Duration::from_secs(3)), 1);
    }
}
