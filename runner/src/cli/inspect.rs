//! `wasm-slo inspect`: what a module is and declares, without running load.

use std::fmt::Write as _;
use std::time::Duration;

use super::run::{prepare, shared_state};
use super::{InspectArgs, parse_env};
use crate::exit::Outcome;
use crate::plan::HttpSettings;
use crate::wasm::bindings::WIT_PACKAGE;

pub(super) async fn inspect(args: InspectArgs) -> anyhow::Result<Outcome> {
    let env = parse_env(&args.env)?;
    let http = HttpSettings {
        default_timeout: Duration::from_secs(60),
        insecure_skip_tls_verify: false,
        ca_files: vec![],
    };
    let shared = shared_state(env, &http, 64)?;
    let mut prepared = prepare(&args.module, false, None, shared).await?;
    let d = prepared.control.describe().await?;
    let wit = format!("{WIT_PACKAGE}@{}", prepared.wit_version);
    if args.json {
        let doc = serde_json::json!({
            "path": args.module.display().to_string(),
            "sha256": prepared.source.sha256,
            "wit": wit,
            "name": d.name,
            "flows": d.flows,
            "options": d.options,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(Outcome::Passed);
    }
    let mut out = String::new();
    let _ = writeln!(out, "module:   {}", args.module.display());
    let _ = writeln!(out, "sha256:   {}", prepared.source.sha256);
    let _ = writeln!(out, "wit:      {wit}");
    let _ = writeln!(out, "scenario: {}", d.name);
    let total: u64 = d.flows.iter().map(|f| u64::from(f.weight)).sum();
    let _ = writeln!(out, "flows:");
    for f in &d.flows {
        let share = if total == 0 {
            0.0
        } else {
            f64::from(f.weight) * 100.0 / total as f64
        };
        let _ = writeln!(out, "  {:<24} weight {:>3} ({share:.1}%)", f.name, f.weight);
    }
    let _ = writeln!(out, "defaults:");
    let json = serde_json::to_string_pretty(&d.options)?;
    for line in json.lines() {
        let _ = writeln!(out, "  {line}");
    }
    print!("{out}");
    Ok(Outcome::Passed)
}
