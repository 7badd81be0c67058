//! Outputs fed while the load runs, as each interval closes: the progress
//! display, the streamed series files and the metrics endpoint.

pub mod metrics_server;
pub mod openmetrics;
pub mod progress;
pub mod series;

use std::time::{Duration, SystemTime};

use self::metrics_server::Published;
use self::progress::Progress;
use self::series::{SeriesFormat, SeriesWriter};
use crate::metrics::store::MetricStore;
use crate::metrics::timeline::{ClosedInterval, IntervalObserver};
use crate::plan::Plan;
use crate::report::outputs::{OutputKind, OutputSpec};

/// Every live output of a run.
#[derive(Default)]
pub struct LiveOutputs {
    progress: Option<Progress>,
    series: Vec<SeriesWriter>,
    metrics: Option<Published>,
}

impl LiveOutputs {
    /// Opens the streamed files among `specs` (refusing the run if one
    /// cannot be created: better before the load than after it).
    pub fn open(
        specs: &[OutputSpec],
        started_at: SystemTime,
        interval: Duration,
    ) -> anyhow::Result<Self> {
        let mut series = Vec::new();
        for spec in specs {
            let format = match spec.kind {
                OutputKind::Csv => SeriesFormat::Csv,
                OutputKind::Ndjson => SeriesFormat::Ndjson,
                _ => continue,
            };
            series.push(
                SeriesWriter::create(&spec.path, format, started_at, interval)
                    .map_err(|e| crate::exit::bad_input(format!("--out: {e:#}")))?,
            );
        }
        Ok(LiveOutputs {
            series,
            ..Default::default()
        })
    }

    /// Shows progress for `plan`.
    pub fn with_progress(mut self, plan: &Plan, interval: Duration) -> Self {
        self.progress = Some(Progress::new(plan, interval));
        self
    }

    /// Publishes the aggregates to a metrics endpoint.
    pub fn with_metrics(mut self, published: Published) -> Self {
        self.metrics = Some(published);
        self
    }

    /// Ends the progress display and closes the files; the streamed files'
    /// write failures, if any.
    pub fn finish(self) -> Result<(), String> {
        if let Some(p) = self.progress {
            p.finish();
        }
        let failures: Vec<String> = self
            .series
            .into_iter()
            .filter_map(|w| w.finish().err())
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

impl IntervalObserver for LiveOutputs {
    fn interval_closed(&mut self, closed: ClosedInterval<'_>, totals: &MetricStore) {
        for w in &mut self.series {
            w.write_interval(&closed);
        }
        if let Some(p) = &self.metrics {
            p.set(openmetrics::render(totals, closed.record.t));
        }
        if let Some(p) = &mut self.progress {
            p.update(&closed, totals);
        }
    }
}
