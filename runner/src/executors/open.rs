//! Open models: iterations start on a schedule (constant or ramping arrival
//! rate) whatever the server does, each handed to a free VU with its
//! scheduled start; with no VU free it is counted in `dropped_iterations`.
//! The schedule is the test's; a process starts the iterations its segment
//! owns, at the times the whole test would.
//!
//! Starts are handed out by a pacer thread of the scenario's own, which
//! sleeps with the OS's high-resolution timer: tokio's timer wheel has 1 ms
//! granularity, so at 20,000 iterations/s it would make most starts up to a
//! millisecond late. The pacer naps at least [`MIN_NAP`] at a time, so a
//! start is late by at most that much (plus the kernel's wake-up).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::driver::Driver;
use super::vu::IterationSource;
use crate::plan::Executor;

/// Start offsets of an arrival-rate scenario's iterations.
#[derive(Debug, Clone)]
pub struct ArrivalSchedule {
    /// Rate per second at the start of each segment, its end rate and length.
    segments: Vec<(f64, f64, f64)>,
    /// Iterations started before each segment.
    before: Vec<f64>,
}

impl ArrivalSchedule {
    /// The schedule of an arrival-rate executor (None for other executors).
    pub fn of(e: &Executor) -> Option<Self> {
        let per_sec = |rate: u64, unit: Duration| rate as f64 / unit.as_secs_f64();
        let segments: Vec<(f64, f64, f64)> = match e {
            Executor::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                ..
            } => {
                let r = per_sec(*rate, *time_unit);
                vec![(r, r, duration.as_secs_f64())]
            }
            Executor::RampingArrivalRate {
                start_rate,
                time_unit,
                stages,
                ..
            } => {
                let mut from = per_sec(*start_rate, *time_unit);
                stages
                    .iter()
                    .map(|s| {
                        let to = per_sec(s.target, *time_unit);
                        let seg = (from, to, s.duration.as_secs_f64());
                        from = to;
                        seg
                    })
                    .collect()
            }
            _ => return None,
        };
        let mut before = Vec::with_capacity(segments.len());
        let mut total = 0.0;
        for (a, b, d) in &segments {
            before.push(total);
            total += (a + b) / 2.0 * d;
        }
        Some(ArrivalSchedule { segments, before })
    }

    /// Iterations the whole schedule starts: those whose start lies before
    /// the end.
    pub fn total(&self) -> u64 {
        let mut n = 0;
        while self.start_of(n).is_some() {
            n += 1;
        }
        n
    }

    /// When iteration `i` (from 0) starts, as an offset from the scenario's
    /// start: where the cumulative count of started iterations reaches `i`.
    /// None when that lies at or past the end.
    pub fn start_of(&self, i: u64) -> Option<Duration> {
        let c = i as f64;
        let mut offset = 0.0;
        for (k, &(a, b, d)) in self.segments.iter().enumerate() {
            let in_seg = (a + b) / 2.0 * d;
            let local = c - self.before[k];
            if local < in_seg - 1e-9 || (local == 0.0 && in_seg > 0.0) {
                let tau = if (b - a).abs() < 1e-12 {
                    local / a
                } else {
                    // Solve a*t + (b-a)/(2d) * t^2 = local.
                    let slope = (b - a) / d;
                    (-a + (a * a + 2.0 * slope * local).max(0.0).sqrt()) / slope
                };
                return Some(Duration::from_secs_f64(offset + tau.clamp(0.0, d)));
            }
            offset += d;
        }
        None
    }
}

/// Runs an arrival-rate scenario: pre-allocates its VUs, then hands out
/// scheduled starts until the schedule ends, then stops with `grace`.
pub async fn drive(
    d: &Driver,
    executor: &Executor,
    start: Instant,
    grace: Duration,
    dropped: &Arc<AtomicU64>,
) {
    let Some((pre, max)) = d.run.segment.pool_of(executor) else {
        unreachable!("closed models are driven by executors::closed")
    };
    let Some(schedule) = ArrivalSchedule::of(executor) else {
        return;
    };
    let (tx, rx) = async_channel::unbounded::<Instant>();
    let pool = Pool {
        tickets: rx,
        idle: Arc::new(AtomicU64::new(0)),
        spawned: pre,
        max,
    };
    for _ in 0..pre {
        d.spawn_vu(pool.source());
    }
    // Like k6's init phase: pre-allocated VUs are ready before the first
    // iteration is due, so instantiation does not count as dropped load.
    while pool.idle.load(Ordering::Acquire) < d.alive().min(pre) && d.alive() > 0 {
        if d.abort.reason().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now().max(start);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    // Stops the pacer if this future is dropped before it ends (the run
    // giving up on its drivers).
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let pacer = Pacer {
        d: d.clone(),
        schedule,
        t0,
        tickets: tx,
        pool,
        dropped: dropped.clone(),
        cancelled: cancel.0.clone(),
    };
    if let Err(e) = std::thread::Builder::new()
        .name("wasm-slo-pacer".into())
        .spawn(move || {
            pacer.run();
            let _ = done_tx.send(());
        })
    {
        // Surfaces as a failed scenario driver, like any driver panic.
        panic!("could not start the arrival-rate pacer thread: {e}");
    }
    if done_rx.await.is_err() {
        panic!("the arrival-rate pacer thread panicked");
    }
    drop(cancel);
    // The pacer dropped the sender: idle VUs see the closed channel and
    // leave; busy ones get `grace`.
    d.stop(grace).await;
}

/// Raises its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The scenario's VU pool as the pacer sees it.
struct Pool {
    tickets: async_channel::Receiver<Instant>,
    /// VUs waiting for a ticket.
    idle: Arc<AtomicU64>,
    spawned: u64,
    max: u64,
}

impl Pool {
    fn source(&self) -> IterationSource {
        IterationSource::Scheduled {
            tickets: self.tickets.clone(),
            idle: self.idle.clone(),
        }
    }
}

/// Hands out the scenario's scheduled starts on a thread of its own.
struct Pacer {
    d: Driver,
    schedule: ArrivalSchedule,
    t0: Instant,
    tickets: async_channel::Sender<Instant>,
    pool: Pool,
    dropped: Arc<AtomicU64>,
    /// Set when the scenario's driver is gone.
    cancelled: Arc<AtomicBool>,
}

/// Longest sleep between looks at the run's abort signal.
const ABORT_POLL: Duration = Duration::from_millis(10);
/// Shortest sleep: at high rates the pacer wakes at most this often and
/// hands out every start due by then, so it does not steal a context
/// switch per iteration from the VUs sharing its core.
const MIN_NAP: Duration = Duration::from_micros(200);

impl Pacer {
    fn run(mut self) {
        precise_sleeps();
        let d = &self.d;
        // The k-th iteration of this segment is the test's `nth(k)`.
        let mut k = 0u64;
        while let Some(offset) = self.schedule.start_of(d.run.segment.nth(k)) {
            let at = self.t0 + offset;
            if !self.sleep_until(at) {
                break;
            }
            let free = self
                .pool
                .idle
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok();
            if free {
                let _ = self.tickets.try_send(at);
            } else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if self.pool.spawned < self.pool.max {
                    // Grow the pool for the iterations to come.
                    d.spawn_vu(self.pool.source());
                    self.pool.spawned += 1;
                }
            }
            k += 1;
        }
    }

    /// Sleeps until `at` unless the run aborts first; false on abort. A
    /// schedule running behind does not sleep but still looks for an abort.
    fn sleep_until(&self, at: Instant) -> bool {
        loop {
            if self.d.abort.reason().is_some() || self.cancelled.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now >= at {
                return true;
            }
            std::thread::sleep((at - now).clamp(MIN_NAP, ABORT_POLL));
        }
    }
}

/// Asks the kernel to wake this thread on time rather than up to its
/// default 50 us timer slack late.
fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Stage;

    fn constant(rate: u64, secs: u64) -> ArrivalSchedule {
        ArrivalSchedule::of(&Executor::ConstantArrivalRate {
            rate,
            time_unit: Duration::from_secs(1),
            duration: Duration::from_secs(secs),
            pre_allocated_vus: 1,
            max_vus: 1,
        })
        .unwrap()
    }

    #[test]
    fn constant_rate_starts_exactly_rate_times_duration() {
        let s = constant(200, 10);
        assert_eq!(s.total(), 2000);
        assert_eq!(s.start_of(0), Some(Duration::ZERO));
        assert_eq!(s.start_of(1), Some(Duration::from_millis(5)));
        assert_eq!(s.start_of(1999), Some(Duration::from_millis(9995)));
        assert_eq!(s.start_of(2000), None);
        let per_minute = ArrivalSchedule::of(&Executor::ConstantArrivalRate {
            rate: 30,
            time_unit: Duration::from_secs(60),
            duration: Duration::from_secs(60),
            pre_allocated_vus: 1,
            max_vus: 1,
        })
        .unwrap();
        assert_eq!(per_minute.total(), 30);
        assert_eq!(per_minute.start_of(1), Some(Duration::from_secs(2)));
    }

    #[test]
    fn ramping_rate_integrates_the_ramp() {
        // 0 -> 100/s over 10 s starts 500 iterations, then 100/s for 5 s 500 more.
        let s = ArrivalSchedule::of(&Executor::RampingArrivalRate {
            start_rate: 0,
            time_unit: Duration::from_secs(1),
            stages: vec![
                Stage {
                    duration: Duration::from_secs(10),
                    target: 100,
                },
                Stage {
                    duration: Duration::from_secs(5),
                    target: 100,
                },
            ],
            pre_allocated_vus: 1,
            max_vus: 1,
        })
        .unwrap();
        let total = s.total();
        assert!((999..=1001).contains(&total), "{total}");
        // Half of the ramp's 500 iterations have started at t = sqrt(0.5) * 10 s.
        let t = s.start_of(250).unwrap().as_secs_f64();
        assert!((t - 7.0711).abs() < 0.01, "{t}");
        // Starts never go backwards.
        let mut last = Duration::ZERO;
        for i in 0..total {
            let at = s.start_of(i).unwrap();
            assert!(at >= last);
            last = at;
        }
    }
}
