//! Worker threads: each runs a current-thread tokio runtime with a
//! `LocalSet`, hosts the VUs given to it, and hands its metrics shard to the
//! coordinator at every interval (the shard is thread-local, so recording
//! never takes a lock).

use std::future::Future;
use std::pin::Pin;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::metrics::recorder::{self, Shard};

/// A unit of work for a worker: typically one VU's whole life.
pub type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// The pool of worker threads.
pub struct WorkerPool {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    next: usize,
}

impl WorkerPool {
    /// Starts `n` workers; each sends its shard on `shards` every `interval`
    /// (aligned to `epoch`) and once more when it stops.
    pub fn start(
        n: usize,
        epoch: Instant,
        interval: Duration,
        shards: mpsc::UnboundedSender<Shard>,
    ) -> anyhow::Result<Self> {
        let mut senders = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n.max(1) {
            let (tx, rx) = mpsc::unbounded_channel::<Job>();
            let shards = shards.clone();
            let thread = std::thread::Builder::new()
                .name(format!("wasm-slo-worker-{i}"))
                .spawn(move || worker_main(rx, epoch, interval, shards))?;
            senders.push(tx);
            threads.push(thread);
        }
        Ok(WorkerPool {
            senders,
            threads,
            next: 0,
        })
    }

    /// Runs `job` on the next worker, round robin.
    pub fn spawn(&mut self, job: Job) {
        let i = self.next % self.senders.len();
        self.next = self.next.wrapping_add(1);
        // A worker only goes away after `shutdown`, so the send succeeds.
        let _ = self.senders[i].send(job);
    }

    /// Lets the workers finish their jobs, flush and exit; waits for them on
    /// a blocking thread so the caller's runtime keeps running.
    pub async fn shutdown(self) {
        drop(self.senders);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

fn worker_main(
    mut jobs: mpsc::UnboundedReceiver<Job>,
    epoch: Instant,
    interval: Duration,
    shards: mpsc::UnboundedSender<Shard>,
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
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let shard = recorder::take_shard();
                    if !shard.is_empty() && shards.send(shard).is_err() {
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
        let shard = recorder::take_shard();
        if !shard.is_empty() {
            let _ = shards.send(shard);
        }
    });
}
