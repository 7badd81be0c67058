//! The `--out KIND=PATH` list: which files a run writes, parsed once and
//! split into the ones streamed while the load runs (CSV, NDJSON) and the
//! ones written from the finished results (JSON, HTML, JUnit, Markdown).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::json::Results;
use super::trend_stats::TrendStats;
use crate::exit::bad_input;

/// A kind of output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// The results file (`wasm-slo/results/v1`).
    Json,
    /// The self-contained HTML report.
    Html,
    /// JUnit XML, one test case per objective.
    Junit,
    /// A Markdown summary for CI job summaries and PR comments.
    Markdown,
    /// The time series as CSV, one row per interval and series, streamed.
    Csv,
    /// The time series as NDJSON, one line per interval and series, streamed.
    Ndjson,
}

impl OutputKind {
    const ALL: [(&'static str, OutputKind); 7] = [
        ("json", OutputKind::Json),
        ("html", OutputKind::Html),
        ("junit", OutputKind::Junit),
        ("markdown", OutputKind::Markdown),
        ("md", OutputKind::Markdown),
        ("csv", OutputKind::Csv),
        ("ndjson", OutputKind::Ndjson),
    ];

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, k)| *k)
    }

    /// Whether the file is written while the load runs.
    pub fn is_streamed(self) -> bool {
        matches!(self, OutputKind::Csv | OutputKind::Ndjson)
    }
}

/// One `--out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// What to write.
    pub kind: OutputKind,
    /// Where.
    pub path: PathBuf,
}

/// Parses `--out` items; two outputs to one path are refused (one would
/// overwrite the other).
pub fn parse_outs(items: &[String]) -> anyhow::Result<Vec<OutputSpec>> {
    let kinds = "json, html, junit, markdown (md), csv, ndjson";
    let mut specs: Vec<OutputSpec> = Vec::new();
    for item in items {
        let Some((kind, path)) = item.split_once('=') else {
            return Err(bad_input(format!(
                "--out {item}: expected KIND=PATH, e.g. --out json=results.json (kinds: {kinds})"
            )));
        };
        let Some(kind) = OutputKind::parse(kind.trim()) else {
            return Err(bad_input(format!(
                "--out {item}: unknown output kind \"{kind}\"; available: {kinds}"
            )));
        };
        if path.is_empty() {
            return Err(bad_input(format!(
                "--out {item}: the path is empty, e.g. --out {}=out.file",
                item.split('=').next().unwrap_or_default()
            )));
        }
        let path = PathBuf::from(path);
        if let Some(other) = specs.iter().find(|s| s.path == path) {
            return Err(bad_input(format!(
                "--out {item}: {} is already the path of the {:?} output; give each output its own file",
                path.display(),
                other.kind
            )));
        }
        specs.push(OutputSpec { kind, path });
    }
    Ok(specs)
}

/// How the finished-results files are rendered.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Columns of the per-name tables.
    pub trend_stats: TrendStats,
    /// Whether WARN verdicts count as failures (`--strict`).
    pub strict: bool,
}

/// Writes every non-streamed output from the finished results. Each file is
/// written atomically; one failing does not stop the others, and every
/// failure is reported.
pub fn write_final(
    specs: &[OutputSpec],
    results: &Results,
    options: &RenderOptions,
) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for spec in specs.iter().filter(|s| !s.kind.is_streamed()) {
        if let Err(e) = write_one(spec, results, options) {
            failures.push(format!("{e:#}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", failures.join("; "))
    }
}

fn write_one(spec: &OutputSpec, results: &Results, options: &RenderOptions) -> anyhow::Result<()> {
    let bytes = match spec.kind {
        OutputKind::Json => return results.write(&spec.path),
        OutputKind::Html => super::html::render(results, options)?.into_bytes(),
        OutputKind::Junit => super::junit::render(results, options)?.into_bytes(),
        OutputKind::Markdown => super::markdown::render(results, options)?.into_bytes(),
        OutputKind::Csv | OutputKind::Ndjson => return Ok(()),
    };
    write_file(&spec.path, &bytes)
}

/// Writes `bytes` to `path` atomically, naming the file on failure.
pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::atomic_file::write(path, bytes)
        .with_context(|| format!("cannot write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_bad_items_are_refused() {
        let specs = parse_outs(&[
            "json=r.json".into(),
            "HTML=r.html".into(),
            "md=s.md".into(),
            "csv=s.csv".into(),
        ])
        .unwrap();
        let kinds: Vec<_> = specs.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                OutputKind::Json,
                OutputKind::Html,
                OutputKind::Markdown,
                OutputKind::Csv
            ]
        );
        let e = parse_outs(&["xml=r.xml".into()]).unwrap_err().to_string();
        assert!(e.contains("unknown output kind \"xml\""), "{e}");
        assert!(parse_outs(&["json".into()]).is_err());
        assert!(parse_outs(&["json=".into()]).is_err());
        let e = parse_outs(&["json=a".into(), "html=a".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("already the path"), "{e}");
    }
}
