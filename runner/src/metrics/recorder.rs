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

/// Canonical keys by the tag lists as custom metrics' samples bring them
/// (unsorted, with any duplicates). A VU's samples repeat a few lists, and
/// finding one by its raw bytes skips sorting, scanning and encoding it
/// again. HTTP, check and iteration samples come keyed by their callers,
/// who can tell a repeated list more cheaply still.
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
        self.keys
            .entry_ref(self.raw.as_slice())
            .or_insert_with(|| series_key(metric, pairs))
    }
}

/// The canonical key of `pairs` (sorted here), after `metric` and
/// [`NAME_SEP`] when a metric is given: what the `*_at` functions take.
pub fn series_key(metric: Option<&str>, pairs: &mut [(&str, &str)]) -> Box<str> {
    let mut key = String::new();
    if let Some(metric) = metric {
        key.push_str(metric);
        key.push(NAME_SEP);
    }
    tags::encode_onto(&mut key, pairs);
    key.into_boxed_str()
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

    fn record_other(
        &mut self,
        metric: &str,
        kind: MetricKind,
        is_time: bool,
        tags: &mut [(&str, &str)],
        value: f64,
    ) {
        let key = self.keys.key(Some(metric), tags);
        observe_other(
            &mut self.other,
            &mut self.kind_conflicts,
            key,
            kind,
            is_time,
            value,
        );
    }
}

/// One observation into `other`'s series `key`, or one more conflict when
/// the series is of another kind.
fn observe_other(
    other: &mut HashMap<Box<str>, MetricData>,
    kind_conflicts: &mut u64,
    key: &str,
    kind: MetricKind,
    is_time: bool,
    value: f64,
) {
    let data = other
        .entry_ref(key)
        .or_insert_with(|| MetricData::new(kind, is_time));
    if data.kind() == kind {
        data.observe(value);
    } else {
        *kind_conflicts += 1;
    }
}

impl HttpSeries {
    /// Adds one exchange.
    fn record(&mut self, s: &HttpSample) {
        self.reqs += 1;
        self.failed += u64::from(s.failed);
        self.duration.record_duration(s.duration);
        self.blocked.record_duration(s.blocked);
        self.connecting.record_duration(s.connecting);
        self.tls_handshaking.record_duration(s.tls_handshaking);
        self.sending.record_duration(s.sending);
        self.waiting.record_duration(s.waiting);
        self.receiving.record_duration(s.receiving);
        if let Some(st) = s.service_time {
            self.service_time
                .get_or_insert_with(|| Box::new(Trend::new(true)))
                .record_duration(st);
        }
        self.bytes_sent += s.bytes_sent;
        self.bytes_received += s.bytes_received;
    }
}

impl IterationSeries {
    fn new() -> Self {
        IterationSeries {
            count: 0,
            errors: 0,
            traps: [0; TrapCause::ALL.len()],
            duration: Trend::new(true),
            open: None,
        }
    }

    /// Adds one iteration.
    fn record(
        &mut self,
        service: Duration,
        start_delay: Option<Duration>,
        outcome: IterationOutcome,
    ) {
        self.count += 1;
        self.errors += u64::from(outcome == IterationOutcome::Error);
        if let IterationOutcome::Trap(cause) = outcome {
            self.traps[cause as usize] += 1;
        }
        self.duration
            .record_duration(service + start_delay.unwrap_or_default());
        if let Some(delay) = start_delay {
            let open = self
                .open
                .get_or_insert_with(|| Box::new((Trend::new(true), Trend::new(true))));
            open.0.record_duration(service);
            open.1.record_duration(delay);
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

/// Records an HTTP exchange on this thread in the series `key`: the
/// [`series_key`] of scenario, name, method, status, expected_response,
/// error_code and the request's own tags. Callers keep the keys of the
/// lists they repeat ([`super::key_memo`]).
pub fn record_http_at(key: &str, sample: &HttpSample) {
    SHARD.with_borrow_mut(|s| {
        let series = match s.http.get_mut(key) {
            Some(series) => series,
            None => new_series(&mut s.http, key, HttpSeries::new),
        };
        series.record(sample)
    });
}

/// Adds the series `key` to `map`. Out of line and cold: a new series is
/// built on the stack before it moves into the map, and inlined into the
/// recording call that space would widen the frame of every host call,
/// which runs on the VU's own fiber stack (cold in cache when hundreds of
/// VUs take turns).
#[cold]
#[inline(never)]
fn new_series<'a, S>(
    map: &'a mut HashMap<Box<str>, S>,
    key: &str,
    new: impl FnOnce() -> S,
) -> &'a mut S {
    map.entry_ref(key).or_insert_with(new)
}

/// Records a finished iteration on this thread in the series `key` (the
/// [`series_key`] of scenario, its tags and flow): its service time and, in
/// open models, how late it started after its scheduled time.
pub fn record_iteration_at(
    key: &str,
    service: Duration,
    start_delay: Option<Duration>,
    outcome: IterationOutcome,
) {
    SHARD.with_borrow_mut(|s| {
        let series = match s.iterations.get_mut(key) {
            Some(series) => series,
            None => new_series(&mut s.iterations, key, IterationSeries::new),
        };
        series.record(service, start_delay, outcome)
    });
}

/// Counts an iteration started on this thread (for the time series).
pub fn count_iteration_start() {
    SHARD.with_borrow_mut(|s| s.iterations_started += 1);
}

/// Records one observation of a check or custom metric on this thread,
/// under `tags` as the sample brings them.
pub fn record_other(
    metric: &str,
    kind: MetricKind,
    is_time: bool,
    tags: &mut [(&str, &str)],
    value: f64,
) {
    SHARD.with_borrow_mut(|s| s.record_other(metric, kind, is_time, tags, value));
}

/// As [`record_other`], for a metric and tags whose key ([`series_key`]
/// with the metric) the caller kept.
pub fn record_other_at(key: &str, kind: MetricKind, is_time: bool, value: f64) {
    SHARD.with_borrow_mut(|s| {
        observe_other(
            &mut s.other,
            &mut s.kind_conflicts,
            key,
            kind,
            is_time,
            value,
        )
    });
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

    fn count(shard: &mut Shard, tags: &mut [(&str, &str)]) {
        shard.record_other("m", MetricKind::Counter, false, tags, 1.0);
    }

    fn counted(shard: &Shard, tags: &[(&str, &str)]) -> f64 {
        let key = format!(
            "m{NAME_SEP}{}",
            TagSet::from_pairs(tags.iter().copied()).as_str()
        );
        match shard.other[key.as_str()] {
            MetricData::Counter { sum } => sum,
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reordered_and_repeated_tag_lists_share_their_series() {
        let mut shard = Shard::default();
        count(&mut shard, &mut [("name", "a"), ("status", "200")]);
        count(&mut shard, &mut [("status", "200"), ("name", "a")]);
        // Last one wins among duplicates, cached or not.
        for _ in 0..2 {
            count(
                &mut shard,
                &mut [("name", "x"), ("status", "200"), ("name", "a")],
            );
        }
        count(&mut shard, &mut [("name", "a"), ("status", "500")]);
        assert_eq!(shard.other.len(), 2);
        assert_eq!(counted(&shard, &[("name", "a"), ("status", "200")]), 4.0);
        // A key made by the caller names the same series.
        let mut pairs = [("status", "200"), ("name", "a"), ("name", "a")];
        let key = series_key(Some("m"), &mut pairs);
        assert!(shard.other.contains_key(&key));
    }

    #[test]
    fn tag_lists_that_run_together_alike_stay_apart() {
        let mut shard = Shard::default();
        count(&mut shard, &mut [("ab", "c")]);
        count(&mut shard, &mut [("a", "bc")]);
        shard.record_other("ab", MetricKind::Counter, false, &mut [("c", "d")], 1.0);
        shard.record_other("a", MetricKind::Counter, false, &mut [("bc", "d")], 1.0);
        shard.record_other("a", MetricKind::Counter, false, &mut [("b", "cd")], 1.0);
        assert_eq!(shard.other.len(), 5);
        for (key, data) in &shard.other {
            let (name, tags) = split_other_key(key);
            assert!(name == "ab" || name == "a" || name == "m", "{key:?}");
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
                count(&mut shard, &mut [("status", "200"), ("name", v)]);
                assert!(shard.keys.keys.len() <= KEY_CACHE_MAX);
            }
            assert_eq!(shard.other.len(), values.len(), "round {round}");
        }
        for v in &values {
            assert_eq!(
                counted(&shard, &[("name", v), ("status", "200")]),
                2.0,
                "{v}"
            );
        }
    }

    #[test]
    fn samples_with_equal_tags_share_a_series_and_take_empties() {
        let _ = take_shard();
        for status in ["200", "200", "500"] {
            let mut tags = [("name", "GET /x"), ("status", status)];
            record_http_at(
                &series_key(None, &mut tags),
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
