//! `wasm-slo compare BASELINE CURRENT`: seed 001's CI regression gate. Judges
//! one results file against another with [`crate::baseline`]'s rules, prints
//! the table (or JSON) and exits 99 when any figure regressed.

use anyhow::Context;

use super::CompareArgs;
use crate::baseline::{self, Limit, RegressionRules};
use crate::exit::{Outcome, bad_input};

pub(super) fn compare(args: CompareArgs) -> anyhow::Result<Outcome> {
    let baseline = baseline::load(&args.baseline)?;
    let current = baseline::load(&args.current)?;
    let rules = rules(&args);
    for name in &args.names {
        if !baseline.endpoints.contains_key(name) && !current.endpoints.contains_key(name) {
            let known: std::collections::BTreeSet<&str> = baseline
                .endpoints
                .keys()
                .chain(current.endpoints.keys())
                .map(String::as_str)
                .collect();
            return Err(bad_input(format!(
                "--name {name}: no request of that name in `{}` or `{}`; they have: {}",
                args.baseline.display(),
                args.current.display(),
                known.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let cmp = baseline::compare_names(&baseline, &current, &rules, &args.names);
    if args.json {
        let mut doc = serde_json::to_value(&cmp).context("serializing the comparison")?;
        if let Some(obj) = doc.as_object_mut() {
            obj.insert(
                "baseline".into(),
                args.baseline.display().to_string().into(),
            );
            obj.insert("current".into(), args.current.display().to_string().into());
            obj.insert("passed".into(), cmp.passed().into());
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", baseline::render_table(&cmp));
    }
    Ok(cmp.outcome())
}

/// Seed 003's rules, each replaced by its flag when given.
fn rules(args: &CompareArgs) -> RegressionRules {
    let mut rules = RegressionRules::default();
    let set = |rule: &mut Option<f64>, flag: Option<Limit>| {
        if let Some(limit) = flag {
            *rule = limit.into_option();
        }
    };
    set(&mut rules.p50_increase, args.max_p50_increase);
    set(&mut rules.p95_increase, args.max_p95_increase);
    set(&mut rules.p99_increase, args.max_p99_increase);
    set(&mut rules.rps_decrease, args.max_rps_decrease);
    set(&mut rules.error_rate_increase, args.max_error_rate_increase);
    rules
}
