//! `--out markdown=summary.md`: the verdict, the SLO table and the
//! per-request table in GitHub-flavoured Markdown, sized for a CI job
//! summary (`$GITHUB_STEP_SUMMARY`) or a pull-request comment.

use std::fmt::Write as _;

use super::format::{millis, number, percent};
use super::json::Results;
use super::outputs::RenderOptions;
use crate::slo::Level;

/// Renders the Markdown summary.
pub fn render(results: &Results, options: &RenderOptions) -> anyhow::Result<String> {
    let mut out = String::new();
    let o = &results.outcome;
    let (icon, word) = verdict_word(&o.verdict);
    let _ = writeln!(
        out,
        "## {icon} wasm-slo: {word} · {}\n",
        cell(&results.module.name)
    );
    let _ = writeln!(
        out,
        "`{}` · sha256 `{}` · started {} · ran {} · exit code {}",
        cell(&results.module.path),
        &results.module.sha256[..results.module.sha256.len().min(12)],
        results.started_at,
        millis(results.duration_s * 1000.0),
        o.exit_code
    );
    if let Some(reason) = &o.reason {
        let _ = writeln!(out, "\n> **{word}:** {}", cell(reason));
    }

    if !results.thresholds.is_empty() {
        let failed = results
            .thresholds
            .iter()
            .filter(|t| t.verdict == Level::Fail)
            .count();
        let _ = writeln!(
            out,
            "\n### SLOs ({} of {} met)\n",
            results.thresholds.len() - failed,
            results.thresholds.len()
        );
        let _ = writeln!(out, "| Verdict | Objective | Measured | Bound |");
        let _ = writeln!(out, "|:--|:--|--:|--:|");
        for t in &results.thresholds {
            let icon = match t.verdict {
                Level::Pass => "✅",
                Level::Warn if options.strict => "❌",
                Level::Warn => "⚠️",
                Level::Fail => "❌",
            };
            let phase = t
                .phase
                .as_deref()
                .map(|p| format!(" (phase {})", cell(p)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {icon} {} | `{}` `{}`{phase} | {}={} | {} |",
                t.verdict.label(),
                code(&t.selector),
                code(&t.expression),
                t.aggregation,
                cell(&results.threshold_measured(t)),
                cell(&results.threshold_bound(t))
            );
        }
    }

    let store = results.to_store()?;
    let rows = store.requests_by_name(true);
    if !rows.is_empty() {
        let stats = &options.trend_stats.0;
        let _ = writeln!(out, "\n### Requests\n");
        let mut header = "| Name | Requests | req/s | Errors |".to_string();
        let mut align = "|:--|--:|--:|--:|".to_string();
        for s in stats {
            let _ = write!(header, " {s} |");
            align.push_str("--:|");
        }
        let _ = writeln!(out, "{header}\n{align}");
        let secs = results.duration_s.max(1e-9);
        for (name, t, errors) in rows {
            let n = t.count();
            let mut line = format!(
                "| {} | {n} | {:.1} | {} ({}) |",
                cell(&name),
                n as f64 / secs,
                errors,
                percent(if n == 0 {
                    0.0
                } else {
                    errors as f64 / n as f64
                })
            );
            for s in stats {
                let v = s.of(&t);
                let text = if s.is_value() { millis(v) } else { number(v) };
                let _ = write!(line, " {text} |");
            }
            let _ = writeln!(out, "{line}");
        }
    }
    let iterations: f64 = results
        .metrics
        .iter()
        .filter(|m| m.name == crate::metrics::catalog::ITERATIONS)
        .filter_map(|m| m.values.get("count"))
        .sum();
    let _ = writeln!(
        out,
        "\n{} iterations · {} interrupted · {} VUs could not start\n",
        number(iterations),
        o.interrupted_iterations,
        o.vu_init_failures
    );
    Ok(out)
}

/// Icon and word of a results verdict.
pub fn verdict_word(verdict: &str) -> (&'static str, String) {
    let icon = match verdict {
        "pass" => "✅",
        "fail" => "❌",
        "aborted" | "interrupted" => "⛔",
        _ => "💥",
    };
    (icon, verdict.to_ascii_uppercase())
}

/// Text safe inside a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Text safe inside an inline code span in a table cell.
fn code(s: &str) -> String {
    cell(&s.replace('`', "'"))
}
