//! `wasm-slo merge`: read the results files of a test's segments, add them
//! into the whole test ([`crate::merge`]), judge the thresholds, phase
//! objectives and an optional baseline on the whole, print the summary,
//! write the outputs and exit with the verdict, as `run` does.

use super::MergeArgs;
use super::run::{conclude, parse_outs, read_slo_and_baseline};
use crate::baseline;
use crate::exit::{Outcome, bad_input};
use crate::merge::{self, Part, check::SEGMENT_KEY};
use crate::report::RunReport;
use crate::report::json::Results;
use crate::slo;

pub(super) fn merge(args: MergeArgs) -> anyhow::Result<Outcome> {
    let outs = parse_outs(&args.outs)?;
    if let Some(streamed) = outs.iter().find(|o| o.kind.is_streamed()) {
        return Err(bad_input(format!(
            "--out {:?}={}: the time-series files are streamed by each `run`; merge writes json, html, junit and markdown",
            streamed.kind,
            streamed.path.display()
        )));
    }
    let (slo_file, baseline_results) =
        read_slo_and_baseline(args.slo.as_deref(), args.baseline.as_deref())?;
    let parts = args
        .files
        .iter()
        .map(|path| {
            Ok(Part {
                path: path.clone(),
                results: baseline::load(path)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let merged = merge::merge(&parts, args.allow_partial)?;
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    let plan = match &slo_file {
        Some(f) => merged.plan.judged_by(f)?,
        None => merged.plan,
    };
    let mut verdict = slo::evaluate(&plan, &merged.metrics, merged.duration);
    verdict.results.extend(slo::phases::evaluate(
        &plan.phases,
        &plan.scenarios,
        &merged.intervals,
        merged.interval,
        merged.duration,
    ));
    let (outcome, reason) = match merged.ended {
        Some((outcome, why)) => (outcome, Some(why)),
        None if !verdict.passed()
            || (args.report.strict && verdict.level() == slo::Level::Warn) =>
        {
            (Outcome::SlosFailed, None)
        }
        None => (Outcome::Passed, None),
    };
    let report = RunReport {
        module: merged.module,
        plan,
        started_at: merged.started_at,
        duration: merged.duration,
        metrics: merged.metrics,
        verdict,
        intervals: merged.intervals,
        interval: merged.interval,
        vu_init_failures: merged.vu_init_failures,
        aborted: reason,
        outcome,
    };
    let mut results = Results::from_report(&report)?;
    if let Some(config) = results.config.as_object_mut() {
        config.insert(SEGMENT_KEY.into(), serde_json::to_value(&merged.share)?);
    }
    if !args.quiet {
        println!(
            "\nmerged {} results file(s): segment(s) {} of {}",
            parts.len(),
            merged.share.list(),
            merged.share.sequence
        );
    }
    let options = args.report.options();
    conclude(
        &report,
        results,
        &outs,
        args.baseline.as_deref().zip(baseline_results.as_ref()),
        args.quiet,
        &options,
        Ok(()),
    )
}
