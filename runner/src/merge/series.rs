//! The parts' time series on one clock: each part's intervals shifted by
//! its start's offset from the earliest part's, in whole intervals, then
//! the intervals that start at the same time added: counts and VUs summed,
//! each request name's histogram added and its figures taken from the sum.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::metrics::data::Trend;
use crate::metrics::timeline::{IntervalRecord, NameInterval};

/// One part's series and how many intervals after the earliest part it
/// started.
pub struct Shifted<'a> {
    /// The part's intervals.
    pub intervals: &'a [IntervalRecord],
    /// Its start's offset, in intervals.
    pub shift: u64,
}

#[derive(Default)]
struct Sum {
    vus_by_scenario: BTreeMap<String, u64>,
    vus: u64,
    iterations_started: u64,
    iterations: u64,
    dropped_iterations: u64,
    interrupted_iterations: u64,
    requests: u64,
    errors: u64,
    by_name: BTreeMap<String, (Trend, u64)>,
}

/// Adds the series interval by interval.
pub fn merge(parts: &[Shifted<'_>], interval: Duration) -> anyhow::Result<Vec<IntervalRecord>> {
    let mut sums: BTreeMap<u64, Sum> = BTreeMap::new();
    for part in parts {
        for rec in part.intervals {
            let s = sums.entry(rec.index + part.shift).or_default();
            for (scenario, n) in &rec.vus_by_scenario {
                *s.vus_by_scenario.entry(scenario.clone()).or_default() += n;
            }
            s.vus += rec.vus;
            s.iterations_started += rec.iterations_started;
            s.iterations += rec.iterations;
            s.dropped_iterations += rec.dropped_iterations;
            s.interrupted_iterations += rec.interrupted_iterations;
            s.requests += rec.requests;
            s.errors += rec.errors;
            for (name, ni) in &rec.by_name {
                let t = ni.trend().map_err(|e| {
                    anyhow::anyhow!("interval {} of request {name:?}: {e:#}", rec.index)
                })?;
                let (sum, errors) = s
                    .by_name
                    .entry(name.clone())
                    .or_insert_with(|| (Trend::new(true), 0));
                sum.merge(&t);
                *errors += ni.errors;
            }
        }
    }
    let secs = interval.as_secs_f64();
    Ok(sums
        .into_iter()
        .map(|(index, s)| IntervalRecord {
            index,
            t: (index + 1) as f64 * secs,
            vus: s.vus,
            vus_by_scenario: s.vus_by_scenario,
            iterations_started: s.iterations_started,
            iterations: s.iterations,
            dropped_iterations: s.dropped_iterations,
            interrupted_iterations: s.interrupted_iterations,
            requests: s.requests,
            errors: s.errors,
            by_name: s
                .by_name
                .into_iter()
                .map(|(name, (t, errors))| (name, NameInterval::from_trend(&t, errors)))
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64, vus: u64, latencies: &[f64]) -> IntervalRecord {
        let mut t = Trend::new(true);
        latencies.iter().for_each(|v| t.record(*v));
        IntervalRecord {
            index,
            t: (index + 1) as f64,
            vus,
            vus_by_scenario: BTreeMap::from([("a".to_string(), vus)]),
            iterations_started: latencies.len() as u64,
            iterations: latencies.len() as u64,
            dropped_iterations: 1,
            interrupted_iterations: 0,
            requests: latencies.len() as u64,
            errors: 1,
            by_name: BTreeMap::from([("x".to_string(), NameInterval::from_trend(&t, 1))]),
        }
    }

    #[test]
    fn intervals_with_the_same_start_add_up() {
        let a = [record(0, 2, &[1.0, 2.0]), record(1, 2, &[3.0])];
        // Started one interval later: its interval 0 is the common interval 1.
        let b = [record(0, 3, &[10.0, 20.0, 30.0]), record(1, 1, &[4.0])];
        let merged = merge(
            &[
                Shifted {
                    intervals: &a,
                    shift: 0,
                },
                Shifted {
                    intervals: &b,
                    shift: 1,
                },
            ],
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(merged.len(), 3);
        assert_eq!(
            merged.iter().map(|r| r.index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(merged[1].vus, 5);
        assert_eq!(merged[1].vus_by_scenario["a"], 5);
        assert_eq!(merged[1].requests, 4);
        assert_eq!(merged[1].errors, 2);
        assert_eq!(merged[1].dropped_iterations, 2);
        assert_eq!(merged[2].t, 3.0);
        let x = &merged[1].by_name["x"];
        assert_eq!(x.requests, 4);
        assert_eq!(x.errors, 2);
        assert_eq!(x.max, 30.0);
        assert!((x.mean - 15.75).abs() < 1e-9);
        // The histogram is the sum of both, exactly.
        let mut all = Trend::new(true);
        [3.0, 10.0, 20.0, 30.0].iter().for_each(|v| all.record(*v));
        assert_eq!(x.trend().unwrap().histogram(), all.histogram());
    }
}
