//! `--out html=report.html` and `wasm-slo report --html`: one self-contained
//! page (no network, no external script or style) with the SLO verdicts on
//! top, latency percentiles, request and error rates and active VUs over
//! time, the latency distribution and the per-name tables. Charts are SVG
//! drawn here ([`chart`]); the chart data is also embedded as JSON.

pub mod chart;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use self::chart::{LineChart, Series, Unit, XAxis};
use super::format::{millis, number, percent};
use super::json::Results;
use super::markdown::verdict_word;
use super::outputs::RenderOptions;
use crate::metrics::catalog as m;
use crate::metrics::data::{MetricData, Trend};
use crate::slo::Level;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// Percentile positions of the distribution chart: x = -log10(1 - q).
const SPECTRUM_STEPS: u32 = 50;
const SPECTRUM_MAX_X: f64 = 5.0;

/// Renders the page.
pub fn render(results: &Results, options: &RenderOptions) -> anyhow::Result<String> {
    let store = results.to_store()?;
    let charts = charts(results, &store);
    let mut body = String::new();
    header(&mut body, results);
    slo_table(&mut body, results, options);
    let _ = write!(body, r#"<section><h2>Over time</h2><div class="charts">"#);
    for c in charts.iter().filter(|c| c.x == XAxis::Seconds) {
        figure(&mut body, c);
    }
    let _ = write!(
        body,
        r#"</div></section><section><h2>Latency distribution</h2><div class="charts">"#
    );
    for c in charts.iter().filter(|c| c.x == XAxis::Percentile) {
        figure(&mut body, c);
    }
    body.push_str("</div></section>");
    requests_table(&mut body, results, &store, options);
    checks_table(&mut body, &store);
    run_details(&mut body, results);

    let data = serde_json::to_string(&chart_data(&charts))?.replace("</", "<\\/");
    let title = format!(
        "wasm-slo {} · {}",
        results.module.name,
        results.outcome.verdict.to_ascii_uppercase()
    );
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="wasm-slo {version}">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
{body}
</main>
<script type="application/json" id="chart-data">{data}</script>
<script>{SCRIPT}</script>
</body>
</html>
"#,
        version = env!("CARGO_PKG_VERSION"),
        title = esc(&title),
    ))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn header(out: &mut String, r: &Results) {
    let (_, word) = verdict_word(&r.outcome.verdict);
    let class = r.outcome.verdict.as_str();
    let _ = write!(
        out,
        r#"<header class="verdict {class}"><h1>{word} <small>{}</small></h1><p><code>{}</code> · {} · started {} · ran {} · exit code {}</p>"#,
        esc(&r.module.name),
        esc(&r.module.path),
        esc(&r.module.wit),
        esc(&r.started_at),
        millis(r.duration_s * 1000.0),
        r.outcome.exit_code
    );
    if let Some(reason) = &r.outcome.reason {
        let _ = write!(out, r#"<p class="reason">{}</p>"#, esc(reason));
    }
    out.push_str("</header>");
}

fn slo_table(out: &mut String, r: &Results, options: &RenderOptions) {
    let _ = write!(out, r#"<section id="slos"><h2>SLOs</h2>"#);
    if r.thresholds.is_empty() {
        out.push_str("<p>No thresholds were set.</p></section>");
        return;
    }
    out.push_str(
        r#"<table class="slo"><thead><tr><th>Verdict</th><th>Objective</th><th>Phase</th><th class="num">Measured</th><th class="num">Bound</th></tr></thead><tbody>"#,
    );
    for t in &r.thresholds {
        let level = if options.strict && t.verdict == Level::Warn {
            Level::Fail
        } else {
            t.verdict
        };
        let _ = write!(
            out,
            r#"<tr class="{}"><td><b>{}</b></td><td><code>{}</code> <code>{}</code></td><td>{}</td><td class="num">{}={}</td><td class="num">{}</td></tr>"#,
            level.label().to_ascii_lowercase(),
            t.verdict.label(),
            esc(&t.selector),
            esc(&t.expression),
            esc(t.phase.as_deref().unwrap_or("")),
            esc(&t.aggregation),
            esc(&r.threshold_measured(t)),
            esc(&r.threshold_bound(t))
        );
    }
    out.push_str("</tbody></table></section>");
}

fn figure(out: &mut String, c: &LineChart) {
    let _ = write!(
        out,
        r#"<figure><figcaption>{}</figcaption>{}</figure>"#,
        esc(&c.title),
        c.svg()
    );
}

/// Every chart of the page.
fn charts(r: &Results, store: &crate::metrics::store::MetricStore) -> Vec<LineChart> {
    let mut charts = Vec::new();
    let names: Vec<String> = {
        let mut set = std::collections::BTreeSet::new();
        for i in &r.intervals {
            set.extend(i.by_name.keys().cloned());
        }
        set.into_iter().collect()
    };
    let interval = r.interval_s.max(1e-9);
    type Figure = fn(&crate::metrics::timeline::NameInterval) -> f64;
    let figures: [(&str, Figure); 4] = [
        ("p50", |n| n.p50),
        ("p90", |n| n.p90),
        ("p95", |n| n.p95),
        ("p99", |n| n.p99),
    ];
    for (idx, name) in names.iter().enumerate() {
        let series = figures
            .iter()
            .map(|(label, f)| Series {
                name: (*label).into(),
                points: r
                    .intervals
                    .iter()
                    .filter_map(|i| i.by_name.get(name).map(|n| (i.t, f(n))))
                    .collect(),
            })
            .collect();
        charts.push(LineChart {
            id: format!("latency-{idx}"),
            title: format!("Latency over time · {name}"),
            series,
            unit: Unit::Millis,
            x: XAxis::Seconds,
        });
    }
    if names.len() > 1 {
        charts.push(LineChart {
            id: "p95-by-name".into(),
            title: "p95 latency by request name".into(),
            series: names
                .iter()
                .map(|name| Series {
                    name: name.clone(),
                    points: r
                        .intervals
                        .iter()
                        .filter_map(|i| i.by_name.get(name).map(|n| (i.t, n.p95)))
                        .collect(),
                })
                .collect(),
            unit: Unit::Millis,
            x: XAxis::Seconds,
        });
    }
    let mut rate = vec![
        Series {
            name: "requests/s".into(),
            points: r
                .intervals
                .iter()
                .map(|i| (i.t, i.requests as f64 / interval))
                .collect(),
        },
        Series {
            name: "errors/s".into(),
            points: r
                .intervals
                .iter()
                .map(|i| (i.t, i.errors as f64 / interval))
                .collect(),
        },
    ];
    if r.intervals.iter().any(|i| i.dropped_iterations > 0) {
        rate.push(Series {
            name: "dropped iterations/s".into(),
            points: r
                .intervals
                .iter()
                .map(|i| (i.t, i.dropped_iterations as f64 / interval))
                .collect(),
        });
    }
    charts.push(LineChart {
        id: "rates".into(),
        title: "Requests and errors per second".into(),
        series: rate,
        unit: Unit::Plain,
        x: XAxis::Seconds,
    });
    let mut vus = vec![Series {
        name: "all scenarios".into(),
        points: r.intervals.iter().map(|i| (i.t, i.vus as f64)).collect(),
    }];
    let scenarios: BTreeMap<&str, ()> = r
        .intervals
        .iter()
        .flat_map(|i| i.vus_by_scenario.keys().map(|k| (k.as_str(), ())))
        .collect();
    if scenarios.len() > 1 {
        for s in scenarios.keys() {
            vus.push(Series {
                name: (*s).to_owned(),
                points: r
                    .intervals
                    .iter()
                    .map(|i| (i.t, i.vus_by_scenario.get(*s).copied().unwrap_or(0) as f64))
                    .collect(),
            });
        }
    }
    charts.push(LineChart {
        id: "vus".into(),
        title: "Active VUs".into(),
        series: vus,
        unit: Unit::Plain,
        x: XAxis::Seconds,
    });
    let spectrum: Vec<Series> = store
        .requests_by_name(true)
        .into_iter()
        .filter(|(_, t, _)| t.count() > 0)
        .map(|(name, t, _)| Series {
            name,
            points: spectrum_points(&t),
        })
        .collect();
    charts.push(LineChart {
        id: "distribution".into(),
        title: "Latency by percentile (http_req_duration)".into(),
        series: spectrum,
        unit: Unit::Millis,
        x: XAxis::Percentile,
    });
    // A chart with nothing to draw (no requests at all) is left out.
    charts.retain(|c| c.series.iter().any(|s| !s.points.is_empty()));
    charts
}

/// Latency at percentiles spread evenly on the -log10(1 - q) scale, up to
/// what the number of samples can resolve.
fn spectrum_points(t: &Trend) -> Vec<(f64, f64)> {
    let resolvable = (t.count() as f64).log10().clamp(1.0, SPECTRUM_MAX_X);
    (0..=SPECTRUM_STEPS)
        .map(|i| f64::from(i) * SPECTRUM_MAX_X / f64::from(SPECTRUM_STEPS))
        .filter(|x| *x <= resolvable + 1e-9)
        .map(|x| (x, t.percentile(100.0 * (1.0 - 10f64.powf(-x)))))
        .collect()
}

/// The charts' data as embedded JSON: `{chart id: {title, series: {name: [[x, y], ...]}}}`.
fn chart_data(charts: &[LineChart]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for c in charts {
        let series: serde_json::Map<String, serde_json::Value> = c
            .series
            .iter()
            .map(|s| {
                let pts: Vec<[f64; 2]> = s
                    .points
                    .iter()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .map(|(x, y)| [*x, *y])
                    .collect();
                (s.name.clone(), serde_json::json!(pts))
            })
            .collect();
        map.insert(
            c.id.clone(),
            serde_json::json!({ "title": c.title, "series": series }),
        );
    }
    serde_json::Value::Object(map)
}

fn requests_table(
    out: &mut String,
    r: &Results,
    store: &crate::metrics::store::MetricStore,
    options: &RenderOptions,
) {
    let rows = store.requests_by_name(true);
    let _ = write!(out, r#"<section id="requests"><h2>Requests by name</h2>"#);
    if rows.is_empty() {
        out.push_str("<p>No HTTP requests were made.</p></section>");
        return;
    }
    out.push_str(r#"<table><thead><tr><th>Name</th><th class="num">Requests</th><th class="num">req/s</th><th class="num">Errors</th>"#);
    for s in &options.trend_stats.0 {
        let _ = write!(out, r#"<th class="num">{s}</th>"#);
    }
    out.push_str("</tr></thead><tbody>");
    let secs = r.duration_s.max(1e-9);
    for (name, t, errors) in rows {
        let n = t.count();
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="num">{n}</td><td class="num">{:.1}</td><td class="num">{errors} ({})</td>"#,
            esc(&name),
            n as f64 / secs,
            percent(if n == 0 {
                0.0
            } else {
                errors as f64 / n as f64
            })
        );
        for s in &options.trend_stats.0 {
            let v = s.of(&t);
            let text = if s.is_value() { millis(v) } else { number(v) };
            let _ = write!(out, r#"<td class="num">{text}</td>"#);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

fn checks_table(out: &mut String, store: &crate::metrics::store::MetricStore) {
    let checks = store.group_by(m::CHECKS, "check");
    if checks.is_empty() {
        return;
    }
    out.push_str(r#"<section id="checks"><h2>Checks</h2><table><thead><tr><th>Check</th><th class="num">Passed</th><th class="num">Rate</th></tr></thead><tbody>"#);
    for (name, d) in &checks {
        if let MetricData::Rate { passes, total } = d {
            let class = if passes == total { "pass" } else { "fail" };
            let _ = write!(
                out,
                r#"<tr class="{class}"><td>{}</td><td class="num">{passes}/{total}</td><td class="num">{}</td></tr>"#,
                esc(name),
                percent(*passes as f64 / (*total).max(1) as f64)
            );
        }
    }
    out.push_str("</tbody></table></section>");
}

fn run_details(out: &mut String, r: &Results) {
    let config = serde_json::to_string_pretty(&r.config).unwrap_or_default();
    let _ = write!(
        out,
        r#"<section id="details"><h2>Run</h2><p>module sha256 <code>{}</code> · runner {} {} · {} intervals of {}s · {} interrupted iterations · {} VUs could not start</p><details><summary>Resolved plan</summary><pre>{}</pre></details></section>"#,
        esc(&r.module.sha256),
        esc(&r.runner.name),
        esc(&r.runner.version),
        r.intervals.len(),
        r.interval_s,
        r.outcome.interrupted_iterations,
        r.outcome.vu_init_failures,
        esc(&config)
    );
}
