//! The aggregate: every series of every metric, keyed by metric name and tag
//! set, merged from worker shards. This is what verdicts and outputs read.

use std::collections::BTreeMap;

use super::catalog as m;
use super::data::{MetricData, MetricKind, Trend};
use super::recorder::{Shard, split_other_key};
use super::tags::TagSet;
use crate::wasm::trap::TrapCause;

/// Identifies one series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Metric name, e.g. `http_req_duration`.
    pub metric: String,
    /// The series' tags.
    pub tags: TagSet,
}

/// All series, merged.
#[derive(Debug, Clone, Default)]
pub struct MetricStore {
    series: BTreeMap<SeriesKey, MetricData>,
    /// Custom samples dropped for contradicting a metric's kind.
    pub kind_conflicts: u64,
}

impl MetricStore {
    /// Merges `data` into the series `metric{tags}`.
    pub fn add(&mut self, metric: &str, tags: &TagSet, data: MetricData) {
        let key = SeriesKey {
            metric: metric.to_owned(),
            tags: tags.clone(),
        };
        match self.series.get_mut(&key) {
            Some(existing) => {
                if !existing.merge(&data) {
                    self.kind_conflicts += 1;
                }
            }
            None => {
                self.series.insert(key, data);
            }
        }
    }

    /// Sets a gauge series to `value`.
    pub fn set_gauge(&mut self, metric: &str, tags: &TagSet, value: f64) {
        let mut g = MetricData::new(MetricKind::Gauge, false);
        g.observe(value);
        self.add(metric, tags, g);
    }

    /// Merges a worker's shard, expanding grouped HTTP and iteration figures
    /// into their k6 metrics.
    pub fn add_shard(&mut self, shard: Shard) {
        for (tags, s) in shard.http {
            let tags = TagSet::from_canonical(&tags);
            self.add(
                m::HTTP_REQS,
                &tags,
                MetricData::Counter { sum: s.reqs as f64 },
            );
            self.add(
                m::HTTP_REQ_FAILED,
                &tags,
                MetricData::Rate {
                    passes: s.failed,
                    total: s.reqs,
                },
            );
            // The status is part of the series, so its class is too.
            let class = tags
                .get("status")
                .and_then(|st| st.as_bytes().first().copied());
            for (metric, digit) in [(m::HTTP_REQ_4XX, b'4'), (m::HTTP_REQ_5XX, b'5')] {
                let passes = if class == Some(digit) { s.reqs } else { 0 };
                self.add(
                    metric,
                    &tags,
                    MetricData::Rate {
                        passes,
                        total: s.reqs,
                    },
                );
            }
            self.add(m::HTTP_REQ_DURATION, &tags, MetricData::Trend(s.duration));
            self.add(m::HTTP_REQ_BLOCKED, &tags, MetricData::Trend(s.blocked));
            self.add(
                m::HTTP_REQ_CONNECTING,
                &tags,
                MetricData::Trend(s.connecting),
            );
            self.add(
                m::HTTP_REQ_TLS_HANDSHAKING,
                &tags,
                MetricData::Trend(s.tls_handshaking),
            );
            self.add(m::HTTP_REQ_SENDING, &tags, MetricData::Trend(s.sending));
            self.add(m::HTTP_REQ_WAITING, &tags, MetricData::Trend(s.waiting));
            self.add(m::HTTP_REQ_RECEIVING, &tags, MetricData::Trend(s.receiving));
            if let Some(st) = s.service_time {
                self.add(m::HTTP_REQ_SERVICE_TIME, &tags, MetricData::Trend(*st));
            }
            self.add(
                m::DATA_SENT,
                &tags,
                MetricData::Counter {
                    sum: s.bytes_sent as f64,
                },
            );
            self.add(
                m::DATA_RECEIVED,
                &tags,
                MetricData::Counter {
                    sum: s.bytes_received as f64,
                },
            );
        }
        for (tags, s) in shard.iterations {
            let tags = TagSet::from_canonical(&tags);
            self.add(
                m::ITERATIONS,
                &tags,
                MetricData::Counter {
                    sum: s.count as f64,
                },
            );
            self.add(m::ITERATION_DURATION, &tags, MetricData::Trend(s.duration));
            if let Some(open) = s.open {
                let (service, delay) = *open;
                self.add(m::ITERATION_SERVICE_TIME, &tags, MetricData::Trend(service));
                self.add(m::ITERATION_START_DELAY, &tags, MetricData::Trend(delay));
            }
            if s.errors > 0 {
                let tagged = TagSet::from_pairs(tags.pairs().chain([("kind", "error")]));
                self.add(
                    m::ITERATION_ERRORS,
                    &tagged,
                    MetricData::Counter {
                        sum: s.errors as f64,
                    },
                );
            }
            for (cause, n) in TrapCause::ALL.iter().zip(s.traps) {
                if n > 0 {
                    let tagged = TagSet::from_pairs(
                        tags.pairs()
                            .chain([("kind", "trap"), ("cause", cause.as_str())]),
                    );
                    self.add(
                        m::ITERATION_ERRORS,
                        &tagged,
                        MetricData::Counter { sum: n as f64 },
                    );
                }
            }
        }
        for (key, data) in shard.other {
            let (metric, tags) = split_other_key(&key);
            self.add(metric, &tags, data);
        }
        self.kind_conflicts += shard.kind_conflicts;
    }

    /// Merges another store (e.g. an interval into the totals).
    pub fn merge(&mut self, other: &MetricStore) {
        for (k, d) in &other.series {
            self.add(&k.metric, &k.tags, d.clone());
        }
        self.kind_conflicts += other.kind_conflicts;
    }

    /// Every series, ordered by metric then tags.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &MetricData)> {
        self.series.iter()
    }

    /// Distinct metric names with their kind.
    pub fn metrics(&self) -> BTreeMap<&str, MetricKind> {
        self.series
            .iter()
            .map(|(k, d)| (k.metric.as_str(), d.kind()))
            .collect()
    }

    /// All series of `metric` whose tags include `wanted`, merged into one;
    /// None when no series matches.
    pub fn select(&self, metric: &str, wanted: &[(String, String)]) -> Option<MetricData> {
        let mut merged: Option<MetricData> = None;
        for (k, d) in self.series_of(metric) {
            if !k.tags.contains_all(wanted) {
                continue;
            }
            match &mut merged {
                Some(m) => {
                    m.merge(d);
                }
                None => merged = Some(d.clone()),
            }
        }
        merged
    }

    /// The sum of counter `metric` over all its series (0 when absent).
    pub fn counter_sum(&self, metric: &str) -> f64 {
        match self.select(metric, &[]) {
            Some(MetricData::Counter { sum }) => sum,
            _ => 0.0,
        }
    }

    /// Series of `metric` merged by the value of tag `by` (series without it
    /// are left out), e.g. `http_req_duration` by `name`.
    pub fn group_by(&self, metric: &str, by: &str) -> BTreeMap<String, MetricData> {
        let mut out: BTreeMap<String, MetricData> = BTreeMap::new();
        for (k, d) in self.series_of(metric) {
            let Some(v) = k.tags.get(by) else { continue };
            match out.get_mut(v) {
                Some(m) => {
                    m.merge(d);
                }
                None => {
                    out.insert(v.to_owned(), d.clone());
                }
            }
        }
        out
    }

    /// Per request name, its `http_req_duration` and failed count; with
    /// `all`, a last row named "all" for every request together.
    pub fn requests_by_name(&self, all: bool) -> Vec<(String, Trend, u64)> {
        let failed = self.group_by(m::HTTP_REQ_FAILED, "name");
        let failures = |d: Option<&MetricData>| match d {
            Some(MetricData::Rate { passes, .. }) => *passes,
            _ => 0,
        };
        let mut rows: Vec<(String, Trend, u64)> = self
            .group_by(m::HTTP_REQ_DURATION, "name")
            .into_iter()
            .filter_map(|(name, d)| match d {
                MetricData::Trend(t) => {
                    let f = failures(failed.get(&name));
                    Some((name, t, f))
                }
                _ => None,
            })
            .collect();
        if all && let Some(MetricData::Trend(t)) = self.select(m::HTTP_REQ_DURATION, &[]) {
            let f = failures(self.select(m::HTTP_REQ_FAILED, &[]).as_ref());
            rows.push(("all".into(), t, f));
        }
        rows
    }

    fn series_of<'a>(
        &'a self,
        metric: &'a str,
    ) -> impl Iterator<Item = (&'a SeriesKey, &'a MetricData)> + 'a {
        let start = SeriesKey {
            metric: metric.to_owned(),
            tags: TagSet::empty(),
        };
        self.series
            .range(start..)
            .take_while(move |(k, _)| k.metric == metric)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether there is no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::data::Trend;

    fn trend(values: &[f64]) -> MetricData {
        let mut t = Trend::new(true);
        values.iter().for_each(|v| t.record(*v));
        MetricData::Trend(t)
    }

    #[test]
    fn select_merges_matching_series_only() {
        let mut s = MetricStore::default();
        let a = TagSet::from_pairs([("name", "a"), ("status", "200")]);
        let a500 = TagSet::from_pairs([("name", "a"), ("status", "500")]);
        let b = TagSet::from_pairs([("name", "b"), ("status", "200")]);
        s.add("http_req_duration", &a, trend(&[1.0, 2.0]));
        s.add("http_req_duration", &a500, trend(&[3.0]));
        s.add("http_req_duration", &b, trend(&[100.0]));
        s.add("http_reqs", &a, MetricData::Counter { sum: 2.0 });
        let Some(MetricData::Trend(t)) =
            s.select("http_req_duration", &[("name".into(), "a".into())])
        else {
            panic!("expected a trend")
        };
        assert_eq!(t.count(), 3);
        assert_eq!(t.max(), 3.0);
        assert!(
            s.select("http_req_duration", &[("name".into(), "zzz".into())])
                .is_none()
        );
        assert!(s.select("nope", &[]).is_none());
        let by_name = s.group_by("http_req_duration", "name");
        assert_eq!(by_name.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(s.metrics().len(), 2);
    }
}
