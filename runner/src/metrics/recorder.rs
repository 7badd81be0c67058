//! The hot path: samples recorded into the current worker thread's own
//! shard, with no lock and, once a series exists, no allocation.
//!
//! Every worker thread runs a current-thread tokio runtime, and host calls
//! of the VUs it drives run on that thread, so a thread-local shard is never
//! shared. The worker hands its shard to the aggregator at each interval
//! with [`take_shard`].

use std::cell::RefCell;
use std::time::Duration;

use hashbrown::HashMap;

use super::data::{MetricData, MetricKind, Trend};
use super::tags::{self, TagSet};
use crate::wasm::trap::TrapCause;

/// One finished HTTP exchange, as the host saw it.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpSample {
    /// Whether the exchange counts as failed (`http_req_failed`).
    pub failed: bool,
    /// In open models, the plain service time (`duration` then counts from
    /// the iteration's scheduled start).
    pub service_time: Option<Duration>,
    /// Phases (k6's `http_req_*`).
    pub blocked: Duration,
    /// TCP connect.
    pub connecting: Duration,
    /// TLS handshake.
    pub tls_handshaking: Duration,
    /// Writing the request.
    pub sending: Duration,
    /// Time to first byte.
    pub waiting: Duration,
    /// Reading the body.
    pub receiving: Duration,
    /// sending + waiting + receiving, or measured from the scheduled start.
    pub duration: Duration,
    /// Wire bytes written.
    pub bytes_sent: u64,
    /// Wire bytes read.
    pub bytes_received: u64,
}

/// All HTTP figures of one tag set, kept together so a request costs one
/// hash lookup.
#[derive(Debug, Clone)]
pub struct HttpSeries {
    /// Requests.
    pub reqs: u64,
    /// Failed requests.
    pub failed: u64,
    /// `http_req_duration`.
    pub duration: Trend,
    /// `http_req_blocked`.
    pub blocked: Trend,
    /// `http_req_connecting`.
    pub connecting: Trend,
    /// `http_req_tls_handshaking`.
    pub tls_handshaking: Trend,
    /// `http_req_sending`.
    pub sending: Trend,
    /// `http_req_waiting`.
    pub waiting: Trend,
    /// `http_req_receiving`.
    pub receiving: Trend,
    /// `http_req_service_time` (open models only).
    pub service_time: Option<Box<Trend>>,
    /// `data_sent`.
    pub bytes_sent: u64,
    /// `data_received`.
    pub bytes_received: u64,
}

impl HttpSeries {
    fn new() -> Self {
        HttpSeries {
            reqs: 0,
            failed: 0,
            duration: Trend::new(true),
            blocked: Trend::new(true),
            connecting: Trend::new(true),
            tls_handshaking: Trend::new(true),
            sending: Trend::new(true),
            waiting: Trend::new(true),
            receiving: Trend::new(true),
            service_time: None,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }
}

/// Iteration figures of one tag set (scenario, flow).
#[derive(Debug, Clone)]
pub struct IterationSeries {
    /// Iterations completed.
    pub count: u64,
    /// Of which ended with an error returned by the guest.
    pub errors: u64,
    /// Of which ended in a trap, by cause (in [`TrapCause::ALL`] order).
    pub traps: [u64; TrapCause::ALL.len()],
    /// `iteration_duration`.
    pub duration: Trend,
    /// `iteration_service_time` and `iteration_start_delay` (open models).
    pub open: Option<Box<(Trend, Trend)>>,
}

/// Everything one thread recorded since its last hand-over.
#[derive(Debug, Default)]
pub struct Shard {
    /// HTTP series by canonical tag set.
    pub http: HashMap<Box<str>, HttpSeries>,
    /// Iteration series by canonical tag set.
    pub iterations: HashMap<Box<str>, IterationSeries>,
    /// Checks and custom metrics by `metric` U+001E `tags`.
    pub other: HashMap<Box<str>, MetricData>,
    /// Custom samples dropped because their kind contradicted an earlier one.
    pub kind_conflicts: u64,
    /// Iterations started (completed or not).
    pub iterations_started: u64,
    keys: KeyCache,
}

/// Canonical keys by the tag lists as samples bring them (unsorted, with
/// any duplicates). A VU's samples repeat a few lists, and finding one by
/// its raw bytes skips sorting, scanning and encoding it again.
#[derive(Debug, Default)]
struct KeyCache {
    /// The list being looked up: each string as its length, then its bytes,
    /// so that no two different lists read the same.
    raw: Vec<u8>,
    keys: HashMap<Box<[u8]>, Box<str>>,
}

/// Lists a thread remembers before its cache starts over, so tags that take
/// ever new values cannot grow it (1,024 lists of usual tags are a few
/// hundred KiB).
const KEY_CACHE_MAX: usize = 1024;

impl KeyCache {
    /// The canonical key of `pairs`, after `metric` and [`NAME_SEP`] when a
    /// metric is given. Sorts `pairs` when it has to encode them.
    fn key(&mut self, metric: Option<&str>, pairs: &mut [(&str, &str)]) -> &str {
        let raw = &mut self.raw;
        raw.clear();
        raw.push(u8::from(metric.is_some()));
        let mut push = |s: &str| {
            raw.extend_from_slice(&s.len().to_le_bytes());
            raw.extend_from_slice(s.as_bytes());
        };
        if let Some(metric) = metric {
            push(metric);
        }
        for (k, v) in pairs.iter() {
            push(k);
            push(v);
        }
        if self.keys.len() >= KEY_CACHE_MAX && !self.keys.contains_key(self.raw.as_slice()) {
            self.keys.clear();
        }
        self.keys.entry_ref(self.raw.as_slice()).or_insert_with(|| {
            let mut key = String::new();
            if let Some(metric) = metric {
                key.push_str(metric);
                key.push(NAME_SEP);
            }
            tags::encode_onto(&mut key, pairs);
            key.into_boxed_str()
        })
    }
}

/// Separates the metric name from its tags in [`Shard::other`] keys.
pub const NAME_SEP: char = '\u{1e}';

impl Shard {
    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.http.is_empty()
            && self.iterations.is_empty()
            && self.other.is_empty()
            && self.iterations_started == 0
    }

    fn record_http(&mut self, tags: &mut [(&str, &str)], s: &HttpSample) {
        let key = self.keys.key(None, tags);
        let series = match self.http.get_mut(key) {
            Some(series) => series,
            None => self
                .http
                .entry(Box::from(key))
                .or_insert_with(HttpSeries::new),
        };
        series.reqs += 1;
        series.failed += u64::from(s.failed);
        series.duration.record_duration(s.duration);
        series.blocked.record_duration(s.blocked);
        series.connecting.record_duration(s.connecting);
        series.tls_handshaking.record_duration(s.tls_handshaking);
        series.sending.record_duration(s.sending);
        series.waiting.record_duration(s.waiting);
        series.receiving.record_duration(s.receiving);
        if let Some(st) = s.service_time {
            series
                .service_time
                .get_or_insert_with(|| Box::new(Trend::new(true)))
                .record_duration(st);
        }
        series.bytes_sent += s.bytes_sent;
        series.bytes_received += s.bytes_received;
    }

    fn record_iteration(
        &mut self,
        tags: &mut [(&str, &str)],
        service: Duration,
        start_delay: Option<Duration>,
        outcome: IterationOutcome,
    ) {
        let key = self.keys.key(None, tags);
        let series = match self.iterations.get_mut(key) {
            Some(series) => series,
            None => self
                .iterations
                .entry(Box::from(key))
                .or_insert_with(|| IterationSeries {
                    count: 0,
                    errors: 0,
                    traps: [0; TrapCause::ALL.len()],
                    duration: Trend::new(true),
                    open: None,
                }),
        };
        series.count += 1;
        series.errors += u64::from(outcome == IterationOutcome::Error);
        if let IterationOutcome::Trap(cause) = outcome {
            series.traps[cause as usize] += 1;
        }
        series
            .duration
            .record_duration(service + start_delay.unwrap_or_default());
        if let Some(delay) = start_delay {
            let open = series
                .open
                .get_or_insert_with(|| Box::new((Trend::new(true), Trend::new(true))));
            open.0.record_duration(service);
            open.1.record_duration(delay);
        }
    }

    fn record_other(
        &mut self,
        metric: &str,
        kind: MetricKind,
        is_time: bool,
        tags: &mut [(&str, &str)],
        value: f64,
    ) {
        let key = self.keys.key(Some(metric), tags);
        let data = match self.other.get_mut(key) {
            Some(data) => data,
            None => self
                .other
                .entry(Box::from(key))
                .or_insert_with(|| MetricData::new(kind, is_time)),
        };
        if data.kind() == kind {
            data.observe(value);
        } else {
            self.kind_conflicts += 1;
        }
    }
}

/// How an iteration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IterationOutcome {
    /// `run` returned Ok.
    Ok,
    /// `run` returned an error.
    Error,
    /// The guest trapped (panic, limit, stopped).
    Trap(TrapCause),
}

thread_local! {
    static SHARD: RefCell<Shard> = RefCell::new(Shard::default());
}

/// Records an HTTP exchange on this thread. `tags`: scenario, name, method,
/// status, expected_response, error_code and the request's own.
pub fn record_http(tags: &mut [(&str, &str)], sample: &HttpSample) {
    SHARD.with_borrow_mut(|s| s.record_http(tags, sample));
}

/// Records a finished iteration on this thread: its service time and, in
/// open models, how late it started after its scheduled time.
pub fn record_iteration(
    tags: &mut [(&str, &str)],
    service: Duration,
    start_delay: Option<Duration>,
    outcome: IterationOutcome,
) {
    SHARD.with_borrow_mut(|s| s.record_iteration(tags, service, start_delay, outcome));
}

/// Counts an iteration started on this thread (for the time series).
pub fn count_iteration_start() {
    SHARD.with_borrow_mut(|s| s.iterations_started += 1);
}

/// Records one observation of a check or custom metric on this thread.
pub fn record_other(
    metric: &str,
    kind: MetricKind,
    is_time: bool,
    tags: &mut [(&str, &str)],
    value: f64,
) {
    SHARD.with_borrow_mut(|s| s.record_other(metric, kind, is_time, tags, value));
}

/// Takes everything this thread recorded so far, leaving an empty shard.
pub fn take_shard() -> Shard {
    SHARD.with_borrow_mut(|s| {
        let mut fresh = Shard::default();
        // The key cache stays with the thread.
        std::mem::swap(&mut fresh.keys, &mut s.keys);
        std::mem::replace(s, fresh)
    })
}

/// Splits a [`Shard::other`] key into the metric name and its tags.
pub fn split_other_key(key: &str) -> (&str, TagSet) {
    match key.split_once(NAME_SEP) {
        Some((name, tags)) => (name, TagSet::from_canonical(tags)),
        None => (key, TagSet::empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HttpSample {
        HttpSample {
            duration: Duration::from_millis(3),
            ..HttpSample::default()
        }
    }

    #[test]
    fn reordered_and_repeated_tag_lists_share_their_series() {
        let mut shard = Shard::default();
        shard.record_http(&mut [("name", "a"), ("status", "200")], &sample());
        shard.record_http(&mut [("status", "200"), ("name", "a")], &sample());
        // Last one wins among duplicates, cached or not.
        for _ in 0..2 {
            shard.record_http(
                &mut [("name", "x"), ("status", "200"), ("name", "a")],
                &sample(),
            );
        }
        shard.record_http(&mut [("name", "a"), ("status", "500")], &sample());
        let ok = TagSet::from_pairs([("name", "a"), ("status", "200")]);
        assert_eq!(shard.http.len(), 2);
        assert_eq!(shard.http[ok.as_str()].reqs, 4);
    }

    #[test]
    fn tag_lists_that_run_together_alike_stay_apart() {
        let mut shard = Shard::default();
        shard.record_http(&mut [("ab", "c")], &sample());
        shard.record_http(&mut [("a", "bc")], &sample());
        shard.record_other("ab", MetricKind::Counter, false, &mut [("c", "d")], 1.0);
        shard.record_other("a", MetricKind::Counter, false, &mut [("bc", "d")], 1.0);
        shard.record_other("a", MetricKind::Counter, false, &mut [("b", "cd")], 1.0);
        assert_eq!(shard.http.len(), 2);
        assert_eq!(shard.other.len(), 3);
        for (key, data) in &shard.other {
            let (name, tags) = split_other_key(key);
            assert!(name == "ab" || name == "a", "{key:?}");
            assert_eq!(tags.pairs().count(), 1, "{key:?}");
            assert!(matches!(data, MetricData::Counter { .. }));
        }
    }

    #[test]
    fn the_key_cache_starts_over_when_full_and_keys_stay_canonical() {
        let mut shard = Shard::default();
        let values: Vec<String> = (0..KEY_CACHE_MAX + 10).map(|i| i.to_string()).collect();
        for round in 0..2 {
            for v in &values {
                shard.record_http(&mut [("status", "200"), ("name", v)], &sample());
                assert!(shard.keys.keys.len() <= KEY_CACHE_MAX);
            }
            assert_eq!(shard.http.len(), values.len(), "round {round}");
        }
        for v in &values {
            let key = TagSet::from_pairs([("name", v.as_str()), ("status", "200")]);
            assert_eq!(shard.http[key.as_str()].reqs, 2, "{v}");
        }
    }

    #[test]
    fn samples_with_equal_tags_share_a_series_and_take_empties() {
        let _ = take_shard();
        for status in ["200", "200", "500"] {
            let mut tags = [("name", "GET /x"), ("status", status)];
            record_http(
                &mut tags,
                &HttpSample {
                    service_time: None,
                    failed: status != "200",
                    blocked: Duration::ZERO,
                    connecting: Duration::ZERO,
                    tls_handshaking: Duration::ZERO,
                    sending: Duration::from_micros(10),
                    waiting: Duration::from_millis(5),
                    receiving: Duration::from_micros(10),
                    duration: Duration::from_millis(5),
                    bytes_sent: 100,
                    bytes_received: 200,
                },
            );
        }
        record_other(
            "checks",
            MetricKind::Rate,
            false,
            &mut [("check", "ok")],
            1.0,
        );
        record_other(
            "checks",
            MetricKind::Rate,
            false,
            &mut [("check", "ok")],
            0.0,
        );
        record_other(
            "checks",
            MetricKind::Counter,
            false,
            &mut [("check", "ok")],
            1.0,
        );
        let shard = take_shard();
        assert_eq!(shard.http.len(), 2);
        let ok = TagSet::from_pairs([("name", "GET /x"), ("status", "200")]);
        let s = &shard.http[ok.as_str()];
        assert_eq!((s.reqs, s.failed, s.bytes_sent), (2, 0, 200));
        assert_eq!(s.duration.count(), 2);
        assert_eq!(shard.kind_conflicts, 1);
        let (key, data) = shard.other.iter().next().unwrap();
        let (name, tags) = split_other_key(key);
        assert_eq!((name, tags.get("check")), ("checks", Some("ok")));
        assert!(matches!(
            data,
            MetricData::Rate {
                passes: 1,
                total: 2
            }
        ));
        assert!(take_shard().is_empty());
    }
}
