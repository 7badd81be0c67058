//! `wasm-slo trend RESULTS...`: seed 003's trend analysis. Fits a line
//! through one figure of many results files and says whether it is
//! improving, stable or degrading. It reports; it never fails a build.

use anyhow::Context;

use super::TrendArgs;
use crate::baseline;
use crate::exit::{Outcome, bad_input};

pub(super) fn trend(args: TrendArgs) -> anyhow::Result<Outcome> {
    let runs = args
        .files
        .iter()
        .map(|p| baseline::load(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let t =
        baseline::trend(&runs, args.metric, &args.name).map_err(|e| bad_input(e.to_string()))?;
    if args.json {
        let doc = serde_json::to_string_pretty(&t).context("serializing the trend")?;
        println!("{doc}");
    } else {
        print!("{}", baseline::render_trend(&t));
    }
    Ok(Outcome::Passed)
}
