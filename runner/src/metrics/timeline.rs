//! The time series: worker shards and coordinator samples gathered per
//! interval, each interval closed once every worker has reported past it,
//! summarised (VUs, iterations, requests, errors, latency per request name,
//! with histograms for exact merging) and added to the totals.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::catalog as m;
use super::data::{MetricData, Trend};
use super::recorder::Shard;
use super::store::MetricStore;
use super::tags::TagSet;

/// One interval of the time series.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntervalRecord {
    /// Interval index k: it spans [k*I, (k+1)*I) from the load's start.
    pub index: u64,
    /// End of the interval, seconds from the load's start.
    pub t: f64,
    /// VUs alive at the end of the interval.
    pub vus: u64,
    /// The same per scenario.
    pub vus_by_scenario: BTreeMap<String, u64>,
    /// Iterations started during the interval.
    pub iterations_started: u64,
    /// Iterations completed during the interval.
    pub iterations: u64,
    /// Open-model iterations that found no free VU.
    pub dropped_iterations: u64,
    /// Iterations cut off by a graceful stop or ramp-down.
    pub interrupted_iterations: u64,
    /// Requests completed.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Per request name.
    pub by_name: BTreeMap<String, NameInterval>,
}

/// One request name in one interval (durations in milliseconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NameInterval {
    /// Requests completed.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Mean `http_req_duration`.
    pub mean: f64,
    /// p50.
    pub p50: f64,
    /// p90.
    pub p90: f64,
    /// p95.
    pub p95: f64,
    /// p99.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// The interval's `http_req_duration` histogram (HDR V2, base64).
    pub histogram: String,
}

impl NameInterval {
    /// The figures of one name's requests in an interval.
    pub fn from_trend(t: &Trend, errors: u64) -> Self {
        NameInterval {
            requests: t.count(),
            errors,
            mean: t.mean(),
            p50: t.percentile(50.0),
            p90: t.percentile(90.0),
            p95: t.percentile(95.0),
            p99: t.percentile(99.0),
            max: t.max(),
            histogram: t.encode_histogram().unwrap_or_default(),
        }
    }

    /// The interval's `http_req_duration` back as a trend, for adding
    /// intervals up (the minimum is not kept per interval: 0 stands in).
    pub fn trend(&self) -> anyhow::Result<Trend> {
        Trend::decode(
            &self.histogram,
            self.mean * self.requests as f64,
            0.0,
            self.max,
            true,
        )
    }
}

#[derive(Default)]
struct Pending {
    store: MetricStore,
    started: u64,
    vus: BTreeMap<String, u64>,
}

/// Something that watches intervals close as the load runs (the live
/// outputs: progress, streamed series, the metrics endpoint).
pub trait IntervalObserver {
    /// Called once per interval, in order, as soon as it closes.
    fn interval_closed(&mut self, closed: ClosedInterval<'_>, totals: &MetricStore);
}

/// Watches nothing.
impl IntervalObserver for () {
    fn interval_closed(&mut self, _: ClosedInterval<'_>, _: &MetricStore) {}
}

/// Gathers reports into intervals and totals.
pub struct Timeline {
    interval: Duration,
    /// Highest interval each worker has reported, if any.
    reported: Vec<Option<u64>>,
    /// Highest interval the coordinator has sampled.
    sampled: Option<u64>,
    pending: BTreeMap<u64, Pending>,
    /// Intervals below this are closed.
    closed_below: u64,
    totals: MetricStore,
    records: Vec<IntervalRecord>,
    /// Intervals closed since the last [`Timeline::drain_closed`], with their
    /// own metrics, for the live outputs.
    fresh: Vec<MetricStore>,
}

/// One interval as it closes: its record and its own metrics.
pub struct ClosedInterval<'a> {
    /// The summary that goes into the series.
    pub record: &'a IntervalRecord,
    /// Every series of the interval alone.
    pub metrics: &'a MetricStore,
}

impl Timeline {
    /// A timeline for `workers` workers reporting every `interval`.
    pub fn new(workers: usize, interval: Duration) -> Self {
        Timeline {
            interval,
            reported: vec![None; workers],
            sampled: None,
            pending: BTreeMap::new(),
            closed_below: 0,
            totals: MetricStore::default(),
            records: Vec::new(),
            fresh: Vec::new(),
        }
    }

    fn slot(&mut self, k: u64) -> &mut Pending {
        // A report for a closed interval (a late worker) joins the oldest
        // open one: its samples count, a little late.
        let k = k.max(self.closed_below);
        self.pending.entry(k).or_default()
    }

    /// Adds a worker's shard for interval `k`.
    pub fn add_report(&mut self, worker: usize, k: u64, mut shard: Shard) {
        let started = std::mem::take(&mut shard.iterations_started);
        let slot = self.slot(k);
        slot.started += started;
        slot.store.add_shard(shard);
        if let Some(r) = self.reported.get_mut(worker) {
            *r = Some(r.map_or(k, |prev| prev.max(k)));
        }
        self.close_ready();
    }

    /// Adds the coordinator's samples for interval `k`: VUs per scenario at
    /// its end and open-model iterations dropped during it.
    pub fn add_sample(
        &mut self,
        k: u64,
        vus: BTreeMap<String, u64>,
        dropped: &BTreeMap<String, u64>,
    ) {
        let slot = self.slot(k);
        let total: u64 = vus.values().sum();
        slot.store.set_gauge(m::VUS, &TagSet::empty(), total as f64);
        for (scenario, n) in dropped.iter().filter(|(_, n)| **n > 0) {
            slot.store.add(
                m::DROPPED_ITERATIONS,
                &TagSet::from_pairs([("scenario", scenario.as_str())]),
                MetricData::Counter { sum: *n as f64 },
            );
        }
        slot.vus = vus;
        self.sampled = Some(self.sampled.map_or(k, |p| p.max(k)));
        self.close_ready();
    }

    /// Adds data that belongs to no interval (setup, teardown) to the totals.
    pub fn add_untimed(&mut self, shard: Shard) {
        self.totals.add_shard(shard);
    }

    fn close_ready(&mut self) {
        let workers_done = self
            .reported
            .iter()
            .map(|r| r.map_or(-1, |k| k as i128))
            .min()
            .unwrap_or(-1);
        let ready = workers_done.min(self.sampled.map_or(-1, |k| k as i128));
        while let Some((&k, _)) = self.pending.first_key_value() {
            if (k as i128) > ready {
                break;
            }
            self.close(k);
        }
    }

    fn close(&mut self, k: u64) {
        let Some(p) = self.pending.remove(&k) else {
            return;
        };
        self.closed_below = k + 1;
        let record = summarise(k, self.interval, &p);
        self.totals.merge(&p.store);
        self.records.push(record);
        self.fresh.push(p.store);
    }

    /// Hands every interval closed since the last call to `f`, oldest first,
    /// with the totals so far (those after the newest of them: intervals
    /// close one at a time unless a worker was late).
    pub fn drain_closed(&mut self, mut f: impl FnMut(ClosedInterval<'_>, &MetricStore)) {
        let fresh = std::mem::take(&mut self.fresh);
        let first = self.records.len() - fresh.len();
        for (record, metrics) in self.records[first..].iter().zip(&fresh) {
            f(ClosedInterval { record, metrics }, &self.totals);
        }
    }

    /// Closes every open interval (the end of the load).
    pub fn close_all(&mut self) {
        let keys: Vec<u64> = self.pending.keys().copied().collect();
        for k in keys {
            self.close(k);
        }
    }

    /// Totals of the intervals closed so far.
    pub fn totals(&self) -> &MetricStore {
        &self.totals
    }

    /// Number of intervals closed so far.
    pub fn closed(&self) -> usize {
        self.records.len()
    }

    /// Closes every open interval; returns the totals and the series.
    pub fn finish(mut self) -> (MetricStore, Vec<IntervalRecord>) {
        self.close_all();
        (self.totals, self.records)
    }
}

fn summarise(k: u64, interval: Duration, p: &Pending) -> IntervalRecord {
    let s = &p.store;
    let mut by_name = BTreeMap::new();
    for (name, t, errors) in s.requests_by_name(false) {
        by_name.insert(name, NameInterval::from_trend(&t, errors));
    }
    let errors = match s.select(m::HTTP_REQ_FAILED, &[]) {
        Some(MetricData::Rate { passes, .. }) => passes,
        _ => 0,
    };
    IntervalRecord {
        index: k,
        t: (k + 1) as f64 * interval.as_secs_f64(),
        vus: p.vus.values().sum(),
        vus_by_scenario: p.vus.clone(),
        iterations_started: p.started,
        iterations: s.counter_sum(m::ITERATIONS) as u64,
        dropped_iterations: s.counter_sum(m::DROPPED_ITERATIONS) as u64,
        interrupted_iterations: s.counter_sum(m::INTERRUPTED_ITERATIONS) as u64,
        requests: s.counter_sum(m::HTTP_REQS) as u64,
        errors,
        by_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::{self, HttpSample};

    fn shard_with_requests(n: usize) -> Shard {
        let _ = recorder::take_shard();
        for _ in 0..n {
            recorder::record_http_at(
                &recorder::series_key(None, &mut [("name", "x"), ("status", "200")]),
                &HttpSample {
                    duration: Duration::from_millis(3),
                    ..Default::default()
                },
            );
        }
        recorder::take_shard()
    }

    #[test]
    fn intervals_close_when_every_worker_and_the_coordinator_passed_them() {
        let mut tl = Timeline::new(2, Duration::from_secs(1));
        tl.add_report(0, 0, shard_with_requests(3));
        tl.add_sample(0, BTreeMap::from([("a".to_string(), 4)]), &BTreeMap::new());
        assert!(tl.records.is_empty(), "worker 1 has not reported");
        tl.add_report(1, 0, shard_with_requests(2));
        assert_eq!(tl.records.len(), 1);
        assert_eq!(tl.records[0].requests, 5);
        assert_eq!(tl.records[0].vus, 4);
        assert_eq!(tl.records[0].by_name["x"].requests, 5);
        // A late report for interval 0 lands in interval 1.
        tl.add_report(0, 0, shard_with_requests(1));
        tl.add_report(1, 1, shard_with_requests(0));
        tl.add_sample(1, BTreeMap::new(), &BTreeMap::from([("a".to_string(), 7)]));
        let (totals, records) = tl.finish();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].requests, 1);
        assert_eq!(records[1].dropped_iterations, 7);
        assert_eq!(totals.counter_sum(m::HTTP_REQS) as u64, 6);
        let sum: u64 = records.iter().map(|r| r.requests).sum();
        assert_eq!(sum, 6);
    }
}
