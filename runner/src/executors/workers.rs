//! Worker threads: each runs a current-thread tokio runtime with a
//! `LocalSet`, hosts the VUs given to it, and hands its metrics shard to the
//! coordinator at every interval (the shard is thread-local, so recording
//! never takes a lock).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::metrics::recorder::{self, Shard};

/// A unit of work for a worker: typically one VU's whole life.
pub type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A worker's hand-over of its shard: everything recorded since its last
/// report, attributed to the interval that just ended.
pub struct WorkerReport {
    /// Which worker.
    pub worker: usize,
    /// Index of the interval that ended (interval k spans [k*I, (k+1)*I)).
    pub interval: u64,
    /// Whether this is the worker's last report.
    pub last: bool,
    /// The samples.
    pub shard: Shard,
}

/// The pool of worker threads.
pub struct WorkerPool {
    spawner: Arc<Spawner>,
    threads: Vec<JoinHandle<()>>,
}

/// Hands jobs to workers round robin; shared by the scenario drivers.
pub struct Spawner {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl Spawner {
    /// Runs `job` on the next worker.
    pub fn spawn(&self, job: Job) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        // A worker only goes away after `shutdown`, so the send succeeds.
        let _ = self.senders[i].send(job);
    }
}

impl WorkerPool {
    /// Starts `n` workers; each sends its shard on `shards` every `interval`
    /// (aligned to `epoch`) and once more when it stops.
    pub fn start(
        n: usize,
        epoch: Instant,
        interval: Duration,
        shards: mpsc::UnboundedSender<WorkerReport>,
    ) -> anyhow::Result<Self> {
        let mut senders = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n.max(1) {
            let (tx, rx) = mpsc::unbounded_channel::<Job>();
            let shards = shards.clone();
            let thread = std::thread::Builder::new()
                .name(format!("wasm-slo-worker-{i}"))
                .spawn(move || worker_main(i, rx, epoch, interval, shards))?;
            senders.push(tx);
            threads.push(thread);
        }
        Ok(WorkerPool {
            spawner: Arc::new(Spawner {
                senders,
                next: AtomicUsize::new(0),
            }),
            threads,
        })
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Whether the pool has no worker.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// A handle to spawn jobs with.
    pub fn spawner(&self) -> Arc<Spawner> {
        self.spawner.clone()
    }

    /// Lets the workers finish their jobs, flush and exit; waits for them on
    /// a blocking thread so the caller's runtime keeps running. Every
    /// spawner handle must be dropped first.
    pub async fn shutdown(self) {
        drop(self.spawner);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Index of the interval that ended most recently at `now`.
fn ended_interval(epoch: Instant, interval: Duration, now: Instant) -> u64 {
    let n = (now.saturating_duration_since(epoch).as_nanos() / interval.as_nanos().max(1)) as u64;
    n.saturating_sub(1)
}

fn worker_main(
    worker: usize,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    epoch: Instant,
    interval: Duration,
    shards: mpsc::UnboundedSender<WorkerReport>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start a worker runtime: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let flusher = {
            let shards = shards.clone();
            tokio::task::spawn_local(async move {
                let start = tokio::time::Instant::from_std(epoch) + interval;
                let mut tick = tokio::time::interval_at(start, interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    // Reported even when empty: the coordinator closes an
                    // interval once every worker has reported past it.
                    let report = WorkerReport {
                        worker,
                        interval: ended_interval(epoch, interval, Instant::now()),
                        last: false,
                        shard: recorder::take_shard(),
                    };
                    if shards.send(report).is_err() {
                        break;
                    }
                }
            })
        };
        let mut running = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                job = jobs.recv() => match job {
                    Some(job) => { running.spawn_local(job()); }
                    None => break,
                },
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        while running.join_next().await.is_some() {}
        flusher.abort();
        let now = Instant::now();
        let _ = shards.send(WorkerReport {
            worker,
            // The partial interval the load ended in.
            interval: ended_interval(epoch, interval, now + interval),
            last: true,
            shard: recorder::take_shard(),
        });
    });
}
