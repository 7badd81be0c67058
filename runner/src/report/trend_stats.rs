//! `--summary-trend-stats`: which figures of a trend the summaries show,
//! in k6's spelling (`avg,min,med,max,p(90),p(95)`) or the short one
//! (`p50,p95,p99.9,max`).

use std::fmt;
use std::str::FromStr;

use crate::metrics::data::Trend;

/// One figure of a trend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrendStat {
    /// Number of values.
    Count,
    /// Mean.
    Avg,
    /// Smallest.
    Min,
    /// Median.
    Med,
    /// Largest.
    Max,
    /// A percentile in (0, 100].
    Percentile(f64),
}

impl TrendStat {
    /// The figure of `t`.
    pub fn of(self, t: &Trend) -> f64 {
        match self {
            TrendStat::Count => t.count() as f64,
            TrendStat::Avg => t.mean(),
            TrendStat::Min => t.min(),
            TrendStat::Med => t.percentile(50.0),
            TrendStat::Max => t.max(),
            TrendStat::Percentile(p) => t.percentile(p),
        }
    }

    /// Whether the figure is in the trend's unit (not a count).
    pub fn is_value(self) -> bool {
        !matches!(self, TrendStat::Count)
    }
}

impl fmt::Display for TrendStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrendStat::Count => f.write_str("count"),
            TrendStat::Avg => f.write_str("avg"),
            TrendStat::Min => f.write_str("min"),
            TrendStat::Med => f.write_str("med"),
            TrendStat::Max => f.write_str("max"),
            TrendStat::Percentile(p) => write!(f, "p{p}"),
        }
    }
}

impl FromStr for TrendStat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "count" => TrendStat::Count,
            "avg" | "mean" => TrendStat::Avg,
            "min" => TrendStat::Min,
            "med" | "median" => TrendStat::Med,
            "max" => TrendStat::Max,
            _ => {
                let num = t
                    .strip_prefix("p(")
                    .and_then(|r| r.strip_suffix(')'))
                    .or_else(|| t.strip_prefix('p'))
                    .ok_or_else(|| unknown(s))?;
                let p: f64 = num.trim().parse().map_err(|_| unknown(s))?;
                if !(p > 0.0 && p <= 100.0) {
                    return Err(format!(
                        "{s:?}: a percentile must be above 0 and at most 100"
                    ));
                }
                TrendStat::Percentile(p)
            }
        })
    }
}

fn unknown(s: &str) -> String {
    format!(
        "{s:?} is not a trend figure; use avg, min, med, max, count, or a percentile such as p95, p99.9 or p(90)"
    )
}

/// The figures shown, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendStats(pub Vec<TrendStat>);

impl Default for TrendStats {
    /// min, avg, p50, p90, p95, p99, max.
    fn default() -> Self {
        TrendStats(vec![
            TrendStat::Min,
            TrendStat::Avg,
            TrendStat::Percentile(50.0),
            TrendStat::Percentile(90.0),
            TrendStat::Percentile(95.0),
            TrendStat::Percentile(99.0),
            TrendStat::Max,
        ])
    }
}

impl FromStr for TrendStats {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let stats = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if stats.is_empty() {
            return Err("give at least one figure, e.g. p50,p95,p99,max".into());
        }
        Ok(TrendStats(stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_parse() {
        let s: TrendStats = "p50,p(95),p99.9, max,avg,med,min,count".parse().unwrap();
        assert_eq!(
            s.0,
            [
                TrendStat::Percentile(50.0),
                TrendStat::Percentile(95.0),
                TrendStat::Percentile(99.9),
                TrendStat::Max,
                TrendStat::Avg,
                TrendStat::Med,
                TrendStat::Min,
                TrendStat::Count
            ]
        );
        assert_eq!(s.0[2].to_string(), "p99.9");
        for bad in ["", "p", "p101", "p0", "q50", "p(9x)"] {
            assert!(bad.parse::<TrendStats>().is_err(), "{bad}");
        }
    }

    #[test]
    fn figures_come_from_the_histogram() {
        let mut t = Trend::new(true);
        for v in 1..=100 {
            t.record(v as f64);
        }
        assert_eq!(TrendStat::Count.of(&t), 100.0);
        assert_eq!(TrendStat::Max.of(&t), 100.0);
        assert!((TrendStat::Percentile(95.0).of(&t) - 95.0).abs() < 0.1);
    }
}
