//! The live aggregates in the OpenMetrics text format (which Prometheus
//! scrapes): counters, gauges, rates as pass/total counters plus their
//! ratio, time trends as histograms in seconds with cumulative buckets,
//! other trends as summaries.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::metrics::data::{MetricData, TREND_SCALE, Trend};
use crate::metrics::store::MetricStore;
use crate::metrics::tags::TagSet;

/// Upper bounds (seconds) of the buckets of time trends; the spacing of
/// Prometheus' client defaults, stretched to a minute for slow endpoints.
pub const BUCKETS_S: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// Quantiles of non-time trends.
const QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Renders every series of `totals`, plus the elapsed time, ending in `# EOF`.
pub fn render(totals: &MetricStore, elapsed_s: f64) -> String {
    let mut families: BTreeMap<&str, Vec<(&TagSet, &MetricData)>> = BTreeMap::new();
    for (k, d) in totals.iter() {
        families.entry(&k.metric).or_default().push((&k.tags, d));
    }
    let mut out = String::new();
    let _ = writeln!(out, "# TYPE wasm_slo_elapsed_seconds gauge");
    let _ = writeln!(out, "# UNIT wasm_slo_elapsed_seconds seconds");
    let _ = writeln!(
        out,
        "# HELP wasm_slo_elapsed_seconds Time since the load started."
    );
    let _ = writeln!(out, "wasm_slo_elapsed_seconds {}", num(elapsed_s));
    for (metric, series) in families {
        family(&mut out, metric, &series);
    }
    out.push_str("# EOF\n");
    out
}

fn family(out: &mut String, metric: &str, series: &[(&TagSet, &MetricData)]) {
    let base = format!("wasm_slo_{}", sanitize(metric));
    match series[0].1 {
        MetricData::Counter { .. } => {
            let (name, unit) = if crate::metrics::catalog::is_bytes(metric) {
                (format!("{base}_bytes"), Some("bytes"))
            } else {
                (base, None)
            };
            header(out, &name, "counter", unit, metric);
            for (tags, d) in series {
                if let MetricData::Counter { sum } = d {
                    sample(out, &format!("{name}_total"), tags, None, *sum);
                }
            }
        }
        MetricData::Gauge { .. } => {
            header(out, &base, "gauge", None, metric);
            for (tags, d) in series {
                if let MetricData::Gauge { value, .. } = d
                    && value.is_finite()
                {
                    sample(out, &base, tags, None, *value);
                }
            }
        }
        MetricData::Rate { .. } => {
            type Figure = fn(u64, u64) -> Option<f64>;
            let figures: [(&str, &str, Figure); 3] = [
                ("passes", "counter", |p, _| Some(p as f64)),
                ("observations", "counter", |_, t| Some(t as f64)),
                ("ratio", "gauge", |p, t| {
                    (t > 0).then(|| p as f64 / t as f64)
                }),
            ];
            for (suffix, kind, figure) in figures {
                let name = format!("{base}_{suffix}");
                header(out, &name, kind, None, metric);
                let sample_name = if kind == "counter" {
                    format!("{name}_total")
                } else {
                    name
                };
                for (tags, d) in series {
                    if let MetricData::Rate { passes, total } = d
                        && let Some(v) = figure(*passes, *total)
                    {
                        sample(out, &sample_name, tags, None, v);
                    }
                }
            }
        }
        MetricData::Trend(first) if first.is_time => {
            let name = format!("{base}_seconds");
            header(out, &name, "histogram", Some("seconds"), metric);
            for (tags, d) in series {
                if let MetricData::Trend(t) = d {
                    histogram(out, &name, tags, t);
                }
            }
        }
        MetricData::Trend(_) => {
            header(out, &base, "summary", None, metric);
            for (tags, d) in series {
                if let MetricData::Trend(t) = d {
                    for q in QUANTILES {
                        if t.count() > 0 {
                            sample(
                                out,
                                &base,
                                tags,
                                Some(("quantile", &num(q))),
                                t.percentile(q * 100.0),
                            );
                        }
                    }
                    sample(out, &format!("{base}_count"), tags, None, t.count() as f64);
                    sample(out, &format!("{base}_sum"), tags, None, t.sum());
                }
            }
        }
    }
}

fn histogram(out: &mut String, name: &str, tags: &TagSet, t: &Trend) {
    let h = t.histogram();
    for b in BUCKETS_S {
        // Stored units are 1/TREND_SCALE of a millisecond.
        let bound = (b * 1000.0 * TREND_SCALE) as u64;
        let count = if t.count() == 0 {
            0
        } else {
            h.count_between(0, bound)
        };
        sample(
            out,
            &format!("{name}_bucket"),
            tags,
            Some(("le", &num(b))),
            count as f64,
        );
    }
    let n = t.count() as f64;
    sample(
        out,
        &format!("{name}_bucket"),
        tags,
        Some(("le", "+Inf")),
        n,
    );
    sample(out, &format!("{name}_count"), tags, None, n);
    sample(out, &format!("{name}_sum"), tags, None, t.sum() / 1000.0);
}

fn header(out: &mut String, name: &str, kind: &str, unit: Option<&str>, metric: &str) {
    let _ = writeln!(out, "# TYPE {name} {kind}");
    if let Some(u) = unit {
        let _ = writeln!(out, "# UNIT {name} {u}");
    }
    let _ = writeln!(out, "# HELP {name} wasm-slo metric {}.", escape(metric));
}

fn sample(out: &mut String, name: &str, tags: &TagSet, extra: Option<(&str, &str)>, v: f64) {
    out.push_str(name);
    let mut labels: Vec<(String, &str)> = tags
        .pairs()
        .map(|(k, v)| {
            let k = sanitize(k);
            // Tags may not take the names OpenMetrics reserves.
            let k = if matches!(k.as_str(), "le" | "quantile") || k.starts_with("__") {
                format!("tag_{k}")
            } else {
                k
            };
            (k, v)
        })
        .collect();
    if let Some((k, v)) = extra {
        labels.push((k.to_owned(), v));
    }
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", num(v));
}

/// A metric or label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::catalog as m;

    #[test]
    fn families_buckets_and_labels() {
        let mut s = MetricStore::default();
        let tags = TagSet::from_pairs([("name", "GET \"/x\""), ("le", "odd"), ("status", "200")]);
        let mut t = Trend::new(true);
        for ms in [0.5, 3.0, 40.0, 700.0] {
            t.record(ms);
        }
        s.add(m::HTTP_REQ_DURATION, &tags, MetricData::Trend(t));
        s.add(m::HTTP_REQS, &tags, MetricData::Counter { sum: 4.0 });
        s.add(
            m::CHECKS,
            &TagSet::empty(),
            MetricData::Rate {
                passes: 3,
                total: 4,
            },
        );
        s.set_gauge(m::VUS, &TagSet::empty(), 7.0);
        let text = render(&s, 2.0);
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains("# TYPE wasm_slo_http_req_duration_seconds histogram"));
        let bucket = |le: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("wasm_slo_http_req_duration_seconds_bucket")
                        && l.contains(&format!("le=\"{le}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .map(|v| v.parse::<f64>().unwrap())
        };
        assert_eq!(bucket("0.001"), Some(1.0));
        assert_eq!(bucket("0.005"), Some(2.0));
        assert_eq!(bucket("0.05"), Some(3.0));
        assert_eq!(bucket("1"), Some(4.0));
        assert_eq!(bucket("+Inf"), Some(4.0));
        assert!(text.contains("tag_le=\"odd\""), "{text}");
        assert!(text.contains("name=\"GET \\\"/x\\\"\""), "{text}");
        assert!(text.contains("wasm_slo_http_reqs_total{"));
        assert!(text.contains("wasm_slo_checks_passes_total 3\n"));
        assert!(text.contains("wasm_slo_checks_observations_total 4\n"));
        assert!(text.contains("wasm_slo_checks_ratio 0.75\n"));
        assert!(text.contains("wasm_slo_vus 7\n"));
    }
}
