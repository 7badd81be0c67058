//! `--out csv=` and `--out ndjson=`: the time series streamed as the load
//! runs, one record per interval and series, flushed when each interval
//! closes so that a crash or Ctrl-C keeps everything measured before it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::Serialize;

use crate::metrics::data::MetricKind;
use crate::metrics::timeline::ClosedInterval;
use crate::report::json::{MetricRecord, metric_record};

/// CSV columns after the identifying ones, each read from the record's
/// `values` under the given key (empty when the kind has no such figure).
const CSV_VALUES: [(&str, &str); 16] = [
    ("count", "count"),
    ("rate", "rate"),
    ("sum", "sum"),
    ("value", "value"),
    ("min", "min"),
    ("max", "max"),
    ("avg", "avg"),
    ("med", "med"),
    ("p90", "p(90)"),
    ("p95", "p(95)"),
    ("p99", "p(99)"),
    ("p99.9", "p(99.9)"),
    ("p99.99", "p(99.99)"),
    ("passes", "passes"),
    ("fails", "fails"),
    ("total", "total"),
];

/// Which format a [`SeriesWriter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesFormat {
    /// Comma-separated, with a header row.
    Csv,
    /// One JSON object per line, histograms included.
    Ndjson,
}

enum Sink {
    Csv(Box<csv::Writer<File>>),
    Ndjson(BufWriter<File>),
}

/// One streamed file.
pub struct SeriesWriter {
    path: PathBuf,
    sink: Option<Sink>,
    started_at: SystemTime,
    interval: Duration,
    /// The first write failure; the file is not written to after it.
    failure: Option<String>,
}

/// One NDJSON line.
#[derive(Serialize)]
struct Line<'a> {
    interval: u64,
    t: f64,
    time: String,
    #[serde(flatten)]
    series: &'a MetricRecord,
}

impl SeriesWriter {
    /// Creates (truncates) `path` and writes the CSV header.
    pub fn create(
        path: &Path,
        format: SeriesFormat,
        started_at: SystemTime,
        interval: Duration,
    ) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?;
        let sink = match format {
            SeriesFormat::Csv => {
                let mut w = csv::Writer::from_writer(file);
                let mut header = vec!["interval", "t", "time", "metric", "kind", "unit", "tags"];
                header.extend(CSV_VALUES.iter().map(|(c, _)| *c));
                w.write_record(&header)
                    .and_then(|()| w.flush().map_err(Into::into))
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                Sink::Csv(Box::new(w))
            }
            SeriesFormat::Ndjson => Sink::Ndjson(BufWriter::new(file)),
        };
        Ok(SeriesWriter {
            path: path.to_owned(),
            sink: Some(sink),
            started_at,
            interval,
            failure: None,
        })
    }

    /// Appends one record per series of the interval and flushes.
    pub fn write_interval(&mut self, closed: &ClosedInterval<'_>) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        if let Err(e) = write_rows(sink, closed, self.started_at, self.interval) {
            self.failure = Some(format!("cannot write `{}`: {e:#}", self.path.display()));
            self.sink = None;
        }
    }

    /// Flushes and closes the file; the first failure, if any.
    pub fn finish(mut self) -> Result<(), String> {
        if let Some(mut sink) = self.sink.take() {
            let flushed = match &mut sink {
                Sink::Csv(w) => w.flush(),
                Sink::Ndjson(w) => w.flush(),
            };
            if let Err(e) = flushed {
                self.failure
                    .get_or_insert(format!("cannot write `{}`: {e}", self.path.display()));
            }
        }
        self.failure.map_or(Ok(()), Err)
    }
}

fn write_rows(
    sink: &mut Sink,
    closed: &ClosedInterval<'_>,
    started_at: SystemTime,
    interval: Duration,
) -> anyhow::Result<()> {
    let k = closed.record.index;
    let t = closed.record.t;
    let time =
        humantime::format_rfc3339_millis(started_at + Duration::from_secs_f64(t)).to_string();
    let secs = interval.as_secs_f64();
    for (key, data) in closed.metrics.iter() {
        let rec = metric_record(&key.metric, &key.tags, data, secs)?;
        match sink {
            Sink::Csv(w) => {
                let kind = match rec.kind {
                    MetricKind::Counter => "counter",
                    MetricKind::Gauge => "gauge",
                    MetricKind::Rate => "rate",
                    MetricKind::Trend => "trend",
                };
                let mut row = vec![
                    k.to_string(),
                    format!("{t}"),
                    time.clone(),
                    rec.name.clone(),
                    kind.to_owned(),
                    rec.unit.clone().unwrap_or_default(),
                    rec.tags.to_string(),
                ];
                row.extend(CSV_VALUES.iter().map(|(_, v)| {
                    rec.values
                        .get(*v)
                        .map(|x| x.to_string())
                        .unwrap_or_default()
                }));
                w.write_record(&row)?;
            }
            Sink::Ndjson(w) => {
                serde_json::to_writer(
                    &mut *w,
                    &Line {
                        interval: k,
                        t,
                        time: time.clone(),
                        series: &rec,
                    },
                )?;
                w.write_all(b"\n")?;
            }
        }
    }
    match sink {
        Sink::Csv(w) => w.flush()?,
        Sink::Ndjson(w) => w.flush()?,
    }
    Ok(())
}
