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
//! start is late by at most that much (plus the kernel's wake-up). Each start
//! goes to the VU that went idle last ([`super::idle_vus`]).
//!
//! When a start finds no VU free, the pool grows toward `max_vus`, one VU at
//! a time as k6 does: the next VU is spawned only once the last one is up.
//! A VU is instantiated, and opens its first connection, on the same workers
//! that run the load, so growing by one VU per dropped start made a short
//! stall drop more starts, which spawned more VUs: at 20,000 starts/s with 5
//! VUs pre-allocated and 1,000 allowed, the pool ran up to 1,000 and 3.5 %
//! of the starts were dropped (now 0.3 %, with the pool at 69 VUs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::driver::Driver;
use super::idle_vus::IdleVus;
use super::iterations::IterationSource;
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
    let pool = Pool::new(pre, max);
    for _ in 0..pre {
        d.spawn_vu(pool.source(None));
    }
    // Like k6's init phase: pre-allocated VUs are ready before the first
    // iteration is due, so instantiation does not count as dropped load.
    while (pool.vus.idle() as u64) < d.alive().min(pre) && d.alive() > 0 {
        if d.abort.reason().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now().max(start);
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let cancelled = Arc::new(AtomicBool::new(false));
    let pacer = Pacer {
        d: d.clone(),
        schedule,
        t0,
        pool,
        dropped: dropped.clone(),
        cancelled: cancelled.clone(),
    };
    let thread = match std::thread::Builder::new()
        .name("wasm-slo-pacer".into())
        .spawn(move || {
            pacer.run();
            let _ = done_tx.send(());
        }) {
        Ok(handle) => handle.thread().clone(),
        // Surfaces as a failed scenario driver, like any driver panic.
        Err(e) => panic!("could not start the arrival-rate pacer thread: {e}"),
    };
    // Stops the pacer if this future is dropped before it ends (the run
    // giving up on its drivers).
    let cancel = CancelOnDrop { cancelled, thread };
    let ended = tokio::select! {
        ended = &mut done_rx => ended,
        () = d.abort.raised() => {
            // Wakes the pacer from its nap to see the abort now.
            cancel.thread.unpark();
            done_rx.await
        }
    };
    if ended.is_err() {
        panic!("the arrival-rate pacer thread panicked");
    }
    drop(cancel);
    // The pacer closed the pool: idle VUs leave; busy ones get `grace`.
    d.stop(grace).await;
}

/// Tells the pacer to stop when dropped, and wakes it to see that.
struct CancelOnDrop {
    cancelled: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
        self.thread.unpark();
    }
}

/// The scenario's VU pool as the pacer sees it.
struct Pool {
    /// VUs waiting for a start.
    vus: Arc<IdleVus>,
    /// Raised while a VU spawned to grow the pool is starting.
    starting: Arc<AtomicBool>,
    spawned: u64,
    max: u64,
    /// Whether the user was told that the pool is at `max`.
    warned: bool,
}

impl Pool {
    /// A pool of `pre` VUs (about to be spawned) that may grow to `max`.
    fn new(pre: u64, max: u64) -> Self {
        Pool {
            vus: IdleVus::new(),
            starting: Arc::new(AtomicBool::new(false)),
            spawned: pre,
            max,
            warned: false,
        }
    }

    fn source(&self, starting: Option<Starting>) -> IterationSource {
        IterationSource::Scheduled {
            seat: self.vus.seat(),
            starting,
        }
    }

    /// Whether the pool grows by one VU now, after a start found none free.
    fn grow(&mut self) -> Growth {
        if self.spawned >= self.max {
            let first = !self.warned;
            self.warned = true;
            return Growth::Full { first };
        }
        if self.starting.swap(true, Ordering::AcqRel) {
            return Growth::Busy;
        }
        self.spawned += 1;
        Growth::Spawn(Starting(self.starting.clone()))
    }
}

/// What a start that found no VU free does to the pool.
#[derive(Debug)]
enum Growth {
    /// Spawn one more VU, which holds this until it is up.
    Spawn(Starting),
    /// Nothing: the VU spawned last is still starting.
    Busy,
    /// Nothing: the pool is at `max_vus` (`first` the first time).
    Full { first: bool },
}

/// Held by a VU spawned to grow the pool until it first waits for a start,
/// or ends without getting that far: then the pool may grow again.
#[derive(Debug)]
pub struct Starting(pub(super) Arc<AtomicBool>);

impl Drop for Starting {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Hands out the scenario's scheduled starts on a thread of its own.
struct Pacer {
    d: Driver,
    schedule: ArrivalSchedule,
    t0: Instant,
    pool: Pool,
    dropped: Arc<AtomicU64>,
    /// Set when the scenario's driver is gone.
    cancelled: Arc<AtomicBool>,
}

/// Longest nap: an abort or a cancel wakes the pacer at once, so this only
/// bounds a wake-up that was missed.
const LONGEST_NAP: Duration = Duration::from_secs(1);
/// Shortest sleep: at high rates the pacer wakes at most this often and
/// hands out every start due by then, so it does not steal a context
/// switch per iteration from the VUs sharing its core.
const MIN_NAP: Duration = Duration::from_micros(200);

impl Pacer {
    fn run(mut self) {
        precise_sleeps();
        // The k-th iteration of this segment is the test's `nth(k)`.
        let mut k = 0u64;
        while let Some(offset) = self.schedule.start_of(self.d.run.segment.nth(k)) {
            let at = self.t0 + offset;
            if !self.sleep_until(at) {
                break;
            }
            if !self.pool.vus.hand(at) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.grow();
            }
            k += 1;
        }
    }

    /// Adds a VU for the starts to come, if the pool may grow now.
    fn grow(&mut self) {
        match self.pool.grow() {
            Growth::Spawn(starting) => {
                let source = self.pool.source(Some(starting));
                self.d.spawn_vu(source);
            }
            Growth::Full { first: true } => eprintln!(
                "warning: scenario \"{}\" has all {} of its VUs busy (max_vus): \
                 starts that find no VU free are dropped and counted in dropped_iterations",
                self.d.scenario.name, self.pool.max
            ),
            Growth::Full { first: false } | Growth::Busy => {}
        }
    }

    /// Sleeps until `at` unless the run aborts first; false on abort. A
    /// schedule running behind does not sleep but still looks for an abort.
    /// The driver unparks the pacer on an abort or a cancel, so it parks
    /// rather than sleeps; an early or spurious wake-up only loops.
    fn sleep_until(&self, at: Instant) -> bool {
        loop {
            if self.d.abort.reason().is_some() || self.cancelled.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now >= at {
                return true;
            }
            std::thread::park_timeout((at - now).clamp(MIN_NAP, LONGEST_NAP));
        }
    }
}

impl Drop for Pacer {
    /// However the pacer ends, idle VUs are told no more starts come.
    fn drop(&mut self) {
        self.pool.vus.close();
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

    #[test]
    fn the_pool_grows_one_starting_vu_at_a_time_up_to_its_limit() {
        let mut p = Pool::new(1, 3);
        let Growth::Spawn(first) = p.grow() else {
            panic!("a pool below its limit grows")
        };
        // Starts dropped while that VU is starting add no more VUs.
        for _ in 0..100 {
            assert!(matches!(p.grow(), Growth::Busy));
        }
        assert_eq!(p.spawned, 2);
        drop(first);
        let Growth::Spawn(second) = p.grow() else {
            panic!("once the VU is up the pool grows again")
        };
        drop(second);
        assert_eq!(p.spawned, 3);
        assert!(matches!(p.grow(), Growth::Full { first: true }));
        assert!(matches!(p.grow(), Growth::Full { first: false }));
        assert_eq!(p.spawned, 3);
    }

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
