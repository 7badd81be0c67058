//! `wasm-slo report RESULTS.json --html report.html ...`: renders the files
//! of `run --out` afterwards, from a results file alone.

use super::ReportArgs;
use crate::baseline;
use crate::exit::{Outcome, bad_input};
use crate::report::outputs::{self, OutputKind, OutputSpec};

pub(super) fn report(args: ReportArgs) -> anyhow::Result<Outcome> {
    let results = baseline::load(&args.results)?;
    let options = args.report.options();
    let mut specs = Vec::new();
    let mut printed = false;
    for (kind, path) in [
        (OutputKind::Html, args.html),
        (OutputKind::Junit, args.junit),
        (OutputKind::Markdown, args.markdown),
    ] {
        match path {
            // Markdown to standard output, for `>> $GITHUB_STEP_SUMMARY`.
            Some(p) if kind == OutputKind::Markdown && p.as_os_str() == "-" => {
                print!("{}", crate::report::markdown::render(&results, &options)?);
                printed = true;
            }
            Some(path) => specs.push(OutputSpec { kind, path }),
            None => {}
        }
    }
    if specs.is_empty() && !printed {
        return Err(bad_input(
            "nothing to render: give --html PATH, --junit PATH or --markdown PATH",
        ));
    }
    outputs::write_final(&specs, &results, &options)?;
    Ok(Outcome::Passed)
}
