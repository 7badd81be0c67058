//! Property tests for the evaluator's building blocks: the trends every
//! latency objective is judged on (percentiles, merging, the histogram
//! encoding of the results file) and the threshold expressions that turn a
//! figure into a verdict.

use proptest::prelude::*;

use crate::metrics::data::Trend;
use crate::plan::threshold::{BoundUnit, CmpOp, Expression};

/// HDR precision (3 significant digits) plus the 1/1000 storage step.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= b.abs() * 0.001 + 0.001
}

fn trend_of(values: &[f64]) -> Trend {
    let mut t = Trend::new(true);
    for v in values {
        t.record(*v);
    }
    t
}

/// Latency-like values in milliseconds: sub-millisecond to minutes.
fn values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.0f64..120_000.0, 1..200)
}

const QUANTILES: [f64; 9] = [0.0, 1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0];

const OPS: [(CmpOp, &str); 6] = [
    (CmpOp::Lt, "<"),
    (CmpOp::Le, "<="),
    (CmpOp::Gt, ">"),
    (CmpOp::Ge, ">="),
    (CmpOp::Eq, "=="),
    (CmpOp::Ne, "!="),
];

fn compare(op: CmpOp, x: f64, bound: f64) -> bool {
    match op {
        CmpOp::Lt => x < bound,
        CmpOp::Le => x <= bound,
        CmpOp::Gt => x > bound,
        CmpOp::Ge => x >= bound,
        CmpOp::Eq => x == bound,
        CmpOp::Ne => x != bound,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every percentile lies within [min, max], min and max are exact, and
    /// percentiles never decrease as q grows.
    #[test]
    fn percentiles_are_bounded_and_monotonic(values in values(), a in 0.0f64..=100.0, b in 0.0f64..=100.0) {
        let t = trend_of(&values);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert_eq!(t.count(), values.len() as u64);
        prop_assert_eq!(t.min(), min);
        prop_assert_eq!(t.max(), max);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        prop_assert!((t.mean() - mean).abs() <= mean.abs() * 1e-9 + 1e-9);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let (p_lo, p_hi) = (t.percentile(lo), t.percentile(hi));
        prop_assert!(p_lo <= p_hi, "p({lo}) = {p_lo} > p({hi}) = {p_hi}");
        for q in QUANTILES.into_iter().chain([lo, hi]) {
            let p = t.percentile(q);
            prop_assert!(min <= p && p <= max, "p({q}) = {p} outside [{min}, {max}]");
        }
        for pair in QUANTILES.windows(2) {
            let (p, next) = (t.percentile(pair[0]), t.percentile(pair[1]));
            prop_assert!(p <= next, "p({}) = {p} > p({}) = {next}", pair[0], pair[1]);
        }
        prop_assert_eq!(t.percentile(100.0), max);
    }

    /// A percentile is, within HDR precision, one of the observed values
    /// around its rank (nearest-rank definition).
    #[test]
    fn percentile_is_near_its_rank(values in values(), q in 0.0f64..=100.0) {
        let t = trend_of(&values);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let rank = ((q / 100.0) * n as f64).ceil() as usize;
        let below = sorted[rank.saturating_sub(2).min(n - 1)];
        let above = sorted[rank.min(n - 1)];
        let p = t.percentile(q);
        prop_assert!(
            (p >= below || close(p, below)) && (p <= above || close(p, above)),
            "p({q}) = {p} not within [{below}, {above}] of {sorted:?}"
        );
    }

    /// Merging two trends is the same as recording every value into one.
    #[test]
    fn merge_equals_recording_everything(a in values(), b in values()) {
        let mut merged = trend_of(&a);
        merged.merge(&trend_of(&b));
        let all: Vec<f64> = a.iter().chain(&b).copied().collect();
        let one = trend_of(&all);
        prop_assert_eq!(merged.count(), one.count());
        prop_assert_eq!(merged.min(), one.min());
        prop_assert_eq!(merged.max(), one.max());
        prop_assert!((merged.sum() - one.sum()).abs() <= one.sum().abs() * 1e-9 + 1e-9);
        for q in QUANTILES {
            prop_assert_eq!(merged.percentile(q), one.percentile(q), "p({})", q);
        }
    }

    /// The results file's histogram encoding round-trips: the decoded trend
    /// answers every figure exactly as the original.
    #[test]
    fn histogram_encoding_round_trips(values in values()) {
        let t = trend_of(&values);
        let encoded = t.encode_histogram().unwrap();
        let back = Trend::decode(&encoded, t.sum(), t.min(), t.max(), true).unwrap();
        prop_assert_eq!(back.count(), t.count());
        prop_assert_eq!(back.min(), t.min());
        prop_assert_eq!(back.max(), t.max());
        prop_assert_eq!(back.mean(), t.mean());
        for q in QUANTILES {
            prop_assert_eq!(back.percentile(q), t.percentile(q), "p({})", q);
        }
        prop_assert_eq!(back.encode_histogram().unwrap(), encoded);
    }

    /// A parsed expression holds exactly when the comparison on f64 does,
    /// at random points and at the bound itself; NaN never holds.
    #[test]
    fn expression_holds_as_the_comparison(
        op in 0..OPS.len(),
        bound in 0.0f64..1e6,
        x in 0.0f64..1e6,
        agg in prop::sample::select(vec!["max", "min", "avg", "med", "p(95)", "p(99.9)", "count", "value"]),
    ) {
        let (op, symbol) = OPS[op];
        let text = format!("{agg}{symbol}{bound}");
        let e = Expression::parse(&text).unwrap();
        prop_assert_eq!(e.op, op);
        prop_assert_eq!(e.unit, BoundUnit::None);
        prop_assert_eq!(e.bound, bound, "{}", text);
        for v in [x, bound, bound * 0.5, bound * 2.0 + 1.0] {
            prop_assert_eq!(e.holds(v), compare(op, v, bound), "{} at {}", text, v);
        }
        prop_assert!(!e.holds(f64::NAN));
    }

    /// Time units convert to milliseconds and `%` to a ratio.
    #[test]
    fn units_convert(n in 0u32..100_000, op in 0..OPS.len()) {
        let (op, symbol) = OPS[op];
        let n = f64::from(n);
        for (unit, factor) in [("ms", 1.0), ("s", 1000.0), ("us", 0.001), ("m", 60_000.0)] {
            let e = Expression::parse(&format!("p(95){symbol}{n}{unit}")).unwrap();
            prop_assert_eq!(e.op, op);
            prop_assert_eq!(e.unit, BoundUnit::Millis);
            prop_assert!(close(e.bound, n * factor), "{}{} -> {}", n, unit, e.bound);
        }
        let e = Expression::parse(&format!("rate{symbol}{n}%")).unwrap();
        prop_assert_eq!(e.unit, BoundUnit::Percent);
        prop_assert!((e.bound - n / 100.0).abs() <= 1e-9 * n.max(1.0));
    }

    /// A rate objective flips at its bound: `<` fails at it, `<=` passes at
    /// it and fails just past it, and `>`/`>=` mirror them.
    #[test]
    fn rate_expression_flips_at_its_bound(thousandths in 1u32..1000) {
        let bound = f64::from(thousandths) / 1000.0;
        let step = 1e-9;
        let lt = Expression::parse(&format!("rate<{bound}")).unwrap();
        prop_assert!(lt.holds(bound - step) && !lt.holds(bound));
        let le = Expression::parse(&format!("rate<={bound}")).unwrap();
        prop_assert!(le.holds(bound) && !le.holds(bound + step));
        let gt = Expression::parse(&format!("rate>{bound}")).unwrap();
        prop_assert!(gt.holds(bound + step) && !gt.holds(bound));
        let ge = Expression::parse(&format!("rate>={bound}")).unwrap();
        prop_assert!(ge.holds(bound) && !ge.holds(bound - step));
        // The same bound as a percentage.
        let pct = Expression::parse(&format!("rate<{}%", f64::from(thousandths) / 10.0)).unwrap();
        prop_assert!(pct.holds(bound - 1e-6) && !pct.holds(bound + 1e-6));
    }
}
