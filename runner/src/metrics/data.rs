//! The four metric kinds (k6's counter, gauge, rate, trend) and how their
//! data merges. Trends keep an HDR histogram: fixed memory however many
//! samples, exact merging across intervals, workers and machines.

use anyhow::Context;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Trend values are stored in the histogram as integers of 1/1000 of their
/// unit (microseconds for time trends, which are in milliseconds).
pub const TREND_SCALE: f64 = 1000.0;
/// Nanoseconds in one histogram unit of a time trend (1 ms / [`TREND_SCALE`]).
const NANOS_PER_UNIT: u64 = 1_000;
/// Significant decimal digits kept by every histogram (0.1 % precision).
pub const HISTOGRAM_SIGFIG: u8 = 3;

/// What a metric measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// A sum that only grows (requests, bytes).
    Counter,
    /// The latest value of something (VUs).
    Gauge,
    /// The share of observations that passed (failures, checks).
    Rate,
    /// A distribution of values (durations).
    Trend,
}

/// Accumulated data of one series.
#[derive(Debug, Clone)]
pub enum MetricData {
    /// Sum of added values.
    Counter { sum: f64 },
    /// Latest value and its extremes.
    Gauge { value: f64, min: f64, max: f64 },
    /// Observations that passed, of all.
    Rate { passes: u64, total: u64 },
    /// A distribution.
    Trend(Trend),
}

impl MetricData {
    /// Empty data of `kind` (`is_time` only matters for trends).
    pub fn new(kind: MetricKind, is_time: bool) -> Self {
        match kind {
            MetricKind::Counter => MetricData::Counter { sum: 0.0 },
            MetricKind::Gauge => MetricData::Gauge {
                value: f64::NAN,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            MetricKind::Rate => MetricData::Rate {
                passes: 0,
                total: 0,
            },
            MetricKind::Trend => MetricData::Trend(Trend::new(is_time)),
        }
    }

    /// The kind of this data.
    pub fn kind(&self) -> MetricKind {
        match self {
            MetricData::Counter { .. } => MetricKind::Counter,
            MetricData::Gauge { .. } => MetricKind::Gauge,
            MetricData::Rate { .. } => MetricKind::Rate,
            MetricData::Trend(_) => MetricKind::Trend,
        }
    }

    /// Adds `other` into `self`; `other` is the later of the two for gauges.
    /// Data of different kinds does not merge (returns false).
    pub fn merge(&mut self, other: &MetricData) -> bool {
        match (self, other) {
            (MetricData::Counter { sum }, MetricData::Counter { sum: o }) => *sum += o,
            (
                MetricData::Gauge { value, min, max },
                MetricData::Gauge {
                    value: ov,
                    min: omin,
                    max: omax,
                },
            ) => {
                if !ov.is_nan() {
                    *value = *ov;
                }
                *min = min.min(*omin);
                *max = max.max(*omax);
            }
            (
                MetricData::Rate { passes, total },
                MetricData::Rate {
                    passes: op,
                    total: ot,
                },
            ) => {
                *passes += op;
                *total += ot;
            }
            (MetricData::Trend(t), MetricData::Trend(o)) => t.merge(o),
            _ => return false,
        }
        true
    }

    /// Records one observation of a custom metric.
    pub fn observe(&mut self, value: f64) {
        match self {
            MetricData::Counter { sum } => *sum += value,
            MetricData::Gauge { value: v, min, max } => {
                *v = value;
                *min = min.min(value);
                *max = max.max(value);
            }
            MetricData::Rate { passes, total } => {
                *total += 1;
                if value != 0.0 {
                    *passes += 1;
                }
            }
            MetricData::Trend(t) => t.record(value),
        }
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        match self {
            MetricData::Counter { sum } => *sum == 0.0,
            MetricData::Gauge { value, .. } => value.is_nan(),
            MetricData::Rate { total, .. } => *total == 0,
            MetricData::Trend(t) => t.count() == 0,
        }
    }
}

/// A distribution: HDR histogram plus exact count, sum, min and max.
#[derive(Debug, Clone)]
pub struct Trend {
    hist: Histogram<u64>,
    sum: f64,
    min: f64,
    max: f64,
    /// Values are milliseconds.
    pub is_time: bool,
}

impl Trend {
    /// An empty trend.
    pub fn new(is_time: bool) -> Self {
        Trend {
            hist: Histogram::new(HISTOGRAM_SIGFIG).expect("3 significant figures is valid"),
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            is_time,
        }
    }

    /// Records `value` (negative and non-finite values are clamped to 0).
    pub fn record(&mut self, value: f64) {
        let value = if value.is_finite() && value > 0.0 {
            value
        } else {
            0.0
        };
        self.observe((value * TREND_SCALE).round() as u64, value);
    }

    /// Records a duration, in milliseconds.
    pub fn record_duration(&mut self, d: std::time::Duration) {
        // Integer rounding to the histogram's unit (1 us): `f64::round` is a
        // software call on baseline x86-64, and requests record seven of
        // these. Not `as_nanos()`: u128 arithmetic costs calls too.
        let ns = d
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(d.subsec_nanos()));
        let units = ns.saturating_add(NANOS_PER_UNIT / 2) / NANOS_PER_UNIT;
        self.observe(
            units,
            d.as_secs() as f64 * 1e3 + f64::from(d.subsec_nanos()) / 1e6,
        );
    }

    /// One observation: `units` of 1/[`TREND_SCALE`] for the histogram,
    /// `value` exact for the sum, min and max.
    #[inline]
    fn observe(&mut self, units: u64, value: f64) {
        // Auto-resizing histogram: recording cannot fail for u64 values.
        let _ = self.hist.record(units);
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds `other`'s observations.
    pub fn merge(&mut self, other: &Trend) {
        let _ = self.hist.add(&other.hist);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Exact mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        if self.count() == 0 {
            f64::NAN
        } else {
            self.sum / self.count() as f64
        }
    }

    /// Exact minimum (NaN when empty).
    pub fn min(&self) -> f64 {
        if self.count() == 0 {
            f64::NAN
        } else {
            self.min
        }
    }

    /// Exact maximum (NaN when empty).
    pub fn max(&self) -> f64 {
        if self.count() == 0 {
            f64::NAN
        } else {
            self.max
        }
    }

    /// Sum of all values.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The value at percentile `p` (0-100), within HDR precision; NaN when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.count() == 0 {
            return f64::NAN;
        }
        let v = self.hist.value_at_quantile((p / 100.0).clamp(0.0, 1.0)) as f64 / TREND_SCALE;
        // The histogram reports bucket edges; the exact extremes are known.
        v.clamp(self.min, self.max)
    }

    /// The histogram, in stored units (1/1000 of the trend's unit).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// The histogram in HdrHistogram's V2 compressed format, base64: the
    /// same encoding other HDR tools read.
    pub fn encode_histogram(&self) -> anyhow::Result<String> {
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.hist, &mut buf)
            .map_err(|e| anyhow::anyhow!("serializing a histogram: {e:?}"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(buf))
    }

    /// Rebuilds a trend from its encoded histogram and exact figures.
    pub fn decode(
        encoded: &str,
        sum: f64,
        min: f64,
        max: f64,
        is_time: bool,
    ) -> anyhow::Result<Trend> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .context("histogram is not valid base64")?;
        let mut hist: Histogram<u64> = Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| anyhow::anyhow!("histogram is not a valid HDR V2 encoding: {e:?}"))?;
        hist.auto(true);
        Ok(Trend {
            hist,
            sum,
            min: if min.is_nan() { f64::INFINITY } else { min },
            max: if max.is_nan() { f64::NEG_INFINITY } else { max },
            is_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_percentiles_within_hdr_precision() {
        let mut t = Trend::new(true);
        for i in 1..=1000 {
            t.record(i as f64);
        }
        assert_eq!(t.count(), 1000);
        assert_eq!(t.min(), 1.0);
        assert_eq!(t.max(), 1000.0);
        assert!((t.mean() - 500.5).abs() < 1e-9);
        assert!((t.percentile(95.0) - 950.0).abs() <= 950.0 * 0.001);
        assert!((t.percentile(50.0) - 500.0).abs() <= 500.0 * 0.001);
    }

    #[test]
    fn durations_land_where_their_milliseconds_do() {
        let (mut by_duration, mut by_ms) = (Trend::new(true), Trend::new(true));
        // Zero, below one unit, either side of a half unit, the usual
        // request range, and hours.
        let nanos = [0, 300, 1_499, 1_501, 87_654, 12_345_678, 7_200_000_000_123];
        for ns in nanos {
            let d = std::time::Duration::from_nanos(ns);
            by_duration.record_duration(d);
            by_ms.record(ns as f64 / 1e6);
        }
        assert_eq!(by_duration.hist, by_ms.hist);
        assert_eq!(
            (by_duration.min(), by_duration.max()),
            (by_ms.min(), by_ms.max())
        );
        assert!((by_duration.sum() - by_ms.sum()).abs() < 1e-6);
        assert_eq!(by_duration.percentile(0.0), 0.0);
        assert_eq!(by_duration.max(), 7_200_000.000123);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Trend::new(true), Trend::new(true), Trend::new(true));
        for i in 0..500 {
            a.record(i as f64 * 0.37);
            all.record(i as f64 * 0.37);
            b.record(i as f64 * 3.1);
            all.record(i as f64 * 3.1);
        }
        a.merge(&b);
        assert_eq!(a.histogram(), all.histogram());
        assert_eq!(a.count(), all.count());
        assert_eq!(a.max(), all.max());
    }

    #[test]
    fn histogram_encoding_round_trips() {
        let mut t = Trend::new(true);
        for i in 0..10_000 {
            t.record((i % 977) as f64 / 7.0);
        }
        let enc = t.encode_histogram().unwrap();
        let back = Trend::decode(&enc, t.sum(), t.min(), t.max(), true).unwrap();
        assert_eq!(back.histogram(), t.histogram());
        assert_eq!(back.percentile(99.0), t.percentile(99.0));
        assert!(Trend::decode("not base64!", 0.0, 0.0, 0.0, true).is_err());
    }

    #[test]
    fn kinds_merge_and_refuse_mismatch() {
        let mut r = MetricData::new(MetricKind::Rate, false);
        r.observe(1.0);
        r.observe(0.0);
        let mut r2 = MetricData::new(MetricKind::Rate, false);
        r2.observe(1.0);
        assert!(r.merge(&r2));
        assert!(matches!(
            r,
            MetricData::Rate {
                passes: 2,
                total: 3
            }
        ));
        assert!(!r.merge(&MetricData::new(MetricKind::Counter, false)));
        let mut g = MetricData::new(MetricKind::Gauge, false);
        g.observe(5.0);
        g.observe(2.0);
        assert!(
            matches!(g, MetricData::Gauge { value, min, max } if value == 2.0 && min == 2.0 && max == 5.0)
        );
    }

    #[test]
    fn negative_and_nan_values_clamp_to_zero() {
        let mut t = Trend::new(false);
        t.record(-3.0);
        t.record(f64::NAN);
        assert_eq!(t.count(), 2);
        assert_eq!(t.max(), 0.0);
    }
}
