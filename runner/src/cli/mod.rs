//! The command line: flags parsed by clap, then dispatched to one module per
//! command. `main` calls [`quiet_error_backtraces`] and then [`main`] here.

mod backtraces;
mod compare;
mod inspect;
mod merge;
mod report;
mod run;
mod start_at;
mod trend;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use self::backtraces::quiet_error_backtraces;
use crate::exit::{Outcome, is_bad_input};

/// Load tests and SLO verdicts from WebAssembly scenario modules.
#[derive(Debug, Parser)]
#[command(name = "wasm-slo", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario module and verify its SLOs.
    Run(Box<RunArgs>),
    /// Show what a module declares: WIT version, flows, defaults.
    Inspect(InspectArgs),
    /// Compare a results file with a baseline; exit 99 on a regression.
    Compare(CompareArgs),
    /// Show the trend of a figure over several results files.
    Trend(TrendArgs),
    /// Render a results file as an HTML report, JUnit XML or Markdown.
    Report(ReportArgs),
    /// Merge the results of a test's segments and judge the whole test.
    Merge(MergeArgs),
}

/// Flags of `wasm-slo run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario component (.wasm).
    pub module: PathBuf,
    /// Concurrent virtual users.
    #[arg(short = 'u', long)]
    pub vus: Option<u64>,
    /// Run with constant VUs for this long (e.g. 30s, 2m).
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Run this many iterations shared by all VUs.
    #[arg(short = 'i', long)]
    pub iterations: Option<u64>,
    /// Ramping-VU stage DURATION:TARGET (repeatable), e.g. --stage 30s:100 --stage 1m:100.
    #[arg(short = 's', long = "stage", value_name = "DURATION:TARGET", value_parser = parse_stage)]
    pub stages: Vec<crate::plan::options::StageConfig>,
    /// Run only this scenario of the plan (repeatable).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Upper bound of an iteration-based run.
    #[arg(long, value_parser = parse_duration)]
    pub max_duration: Option<Duration>,
    /// Time in-flight iterations get to finish when the load ends.
    #[arg(long, value_parser = parse_duration)]
    pub graceful_stop: Option<Duration>,
    /// SLO file with thresholds (TOML); overrides the module's.
    #[arg(long)]
    pub slo: Option<PathBuf>,
    /// Options file (TOML or JSON, the schema of describe()'s options).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Variable for the scenario, KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Run only this flow, optionally with a weight: NAME or NAME=WEIGHT (repeatable).
    #[arg(long = "flow", value_name = "NAME[=WEIGHT]")]
    pub flows: Vec<String>,
    /// Output, KIND=PATH (repeatable). Kinds: json, html, junit, markdown,
    /// csv, ndjson (csv and ndjson are streamed as the test runs).
    #[arg(short = 'o', long = "out", value_name = "KIND=PATH")]
    pub outs: Vec<String>,
    /// Serve the live metrics in OpenMetrics text at http://ADDR/metrics
    /// for Prometheus to scrape during the run, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// No live progress (the summary is still printed).
    #[arg(long)]
    pub no_progress: bool,
    /// Worker threads driving the VUs (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Timeout of requests that set none.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub http_timeout: Duration,
    /// Accept any TLS certificate.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Extra trusted CA certificate, PEM (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
    /// Linear-memory cap per VU, in MiB.
    #[arg(long, default_value_t = 64)]
    pub vu_memory: u64,
    /// Also allow requests to this host: HOST, HOST:PORT, *.DOMAIN or * (repeatable).
    #[arg(long = "allow-host", value_name = "PATTERN")]
    pub allow_hosts: Vec<String>,
    /// CPU time the scenario's own code may use per iteration (default 60s).
    #[arg(long, value_parser = parse_duration)]
    pub iteration_cpu_limit: Option<Duration>,
    /// Do not use the compiled-module cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Print neither progress nor summary.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub report: ReportFlags,
    /// Compare with this baseline results file and fail (exit 99) on a
    /// regression (rules: the SLO file's `[regression]`, else seed 003's).
    #[arg(long, value_name = "RESULTS.json")]
    pub baseline: Option<PathBuf>,
    /// Run only the K-th of N equal parts of the test (e.g. 2/4); merge the
    /// parts' results with `wasm-slo merge`.
    #[arg(long, value_name = "K/N")]
    pub segment: Option<String>,
    /// k6's form of --segment: run only this segment of the test, FROM:TO
    /// (e.g. 1/4:1/2).
    #[arg(long, value_name = "FROM:TO")]
    pub execution_segment: Option<String>,
    /// k6's sequence all parts of the test are cut from, e.g. 0,1/4,1/2,3/4,1.
    #[arg(long, value_name = "POINTS")]
    pub execution_segment_sequence: Option<String>,
    /// Start the load at this time (RFC 3339 or Unix seconds), after set-up,
    /// so that the segments of a test begin together.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

/// Flags of the commands that judge and report (`run`, `merge`, `report`).
#[derive(Debug, Clone, Args)]
pub struct ReportFlags {
    /// Fail (exit 99) on WARN verdicts too; the reports show them as failures.
    #[arg(long)]
    pub strict: bool,
    /// Trend figures of the summary and reports, e.g. p50,p95,p99,p99.9,max
    /// (also k6's avg,min,med,max,p(90),count).
    #[arg(
        long,
        value_name = "STATS",
        default_value = "min,avg,p50,p90,p95,p99,max"
    )]
    pub summary_trend_stats: crate::report::trend_stats::TrendStats,
}

impl ReportFlags {
    /// How the report files are rendered.
    pub fn options(&self) -> crate::report::outputs::RenderOptions {
        crate::report::outputs::RenderOptions {
            trend_stats: self.summary_trend_stats.clone(),
            strict: self.strict,
        }
    }
}

/// Flags of `wasm-slo report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results file written by `run --out json=...`.
    pub results: PathBuf,
    /// Write the HTML report here.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the Markdown summary here (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportFlags,
}

/// Flags of `wasm-slo inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The scenario component (.wasm).
    pub module: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Variable for describe(), KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
}

/// Flags of `wasm-slo compare`. Limits are percentages (`10%`), ratios
/// (`0.1`) or `off`; unset ones keep seed 003's rules.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline results file (e.g. from the main branch).
    pub baseline: PathBuf,
    /// The results file to judge.
    pub current: PathBuf,
    /// Largest allowed p50 increase (default: off).
    #[arg(long, value_name = "PCT", value_parser = crate::baseline::parse_relative_limit)]
    pub max_p50_increase: Option<crate::baseline::Limit>,
    /// Largest allowed p95 increase (default: 20%).
    #[arg(long, value_name = "PCT", value_parser = crate::baseline::parse_relative_limit)]
    pub max_p95_increase: Option<crate::baseline::Limit>,
    /// Largest allowed p99 increase (default: off).
    #[arg(long, value_name = "PCT", value_parser = crate::baseline::parse_relative_limit)]
    pub max_p99_increase: Option<crate::baseline::Limit>,
    /// Largest allowed decrease of requests per second (default: 15%).
    #[arg(long, value_name = "PCT", value_parser = crate::baseline::parse_relative_limit)]
    pub max_rps_decrease: Option<crate::baseline::Limit>,
    /// Largest allowed error-rate increase in percentage points (default: 5pp).
    #[arg(long, value_name = "PP", value_parser = crate::baseline::parse_points_limit)]
    pub max_error_rate_increase: Option<crate::baseline::Limit>,
    /// Compare only this request name (repeatable; `all` is the aggregate).
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `wasm-slo trend`.
#[derive(Debug, Args)]
pub struct TrendArgs {
    /// Results files, in any order (sorted by their start).
    #[arg(required = true, value_name = "RESULTS")]
    pub files: Vec<PathBuf>,
    /// The figure: p50, p95, p99, mean, rps or error_rate.
    #[arg(long, default_value = "p95")]
    pub metric: crate::baseline::Metric,
    /// The request name (`all` is the aggregate).
    #[arg(long, default_value = "all")]
    pub name: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `wasm-slo merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results files of the segments (`--out json=...` of each `run --segment`).
    #[arg(required = true, value_name = "RESULTS")]
    pub files: Vec<PathBuf>,
    /// Output, KIND=PATH (repeatable): json, html, junit, markdown (the
    /// streamed csv and ndjson are written by each `run`).
    #[arg(short = 'o', long = "out", value_name = "KIND=PATH")]
    pub outs: Vec<String>,
    /// Judge with this SLO file instead of the thresholds the parts recorded.
    #[arg(long)]
    pub slo: Option<PathBuf>,
    /// Compare the whole test with this baseline results file; exit 99 on a
    /// regression.
    #[arg(long, value_name = "RESULTS.json")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportFlags,
    /// Merge even when segments are missing (with a warning).
    #[arg(long)]
    pub allow_partial: bool,
    /// Print no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_stage(s: &str) -> Result<crate::plan::options::StageConfig, String> {
    let (d, t) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected DURATION:TARGET such as 30s:100, got {s:?}"))?;
    Ok(crate::plan::options::StageConfig {
        duration: parse_duration(d)?,
        target: t
            .trim()
            .parse()
            .map_err(|_| format!("the target of stage {s:?} must be a whole number"))?,
    })
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::plan::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Parses the command line, runs the command, prints any error as one line
/// and maps the outcome to the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return Outcome::RuntimeFailure.into();
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(*args).await,
            Command::Inspect(args) => inspect::inspect(args).await,
            Command::Compare(args) => compare::compare(args),
            Command::Trend(args) => trend::trend(args),
            Command::Report(args) => report::report(args),
            Command::Merge(args) => merge::merge(args),
        }
    });
    match result {
        Ok(outcome) => outcome.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            if is_bad_input(&err) {
                Outcome::BadInput.into()
            } else {
                Outcome::RuntimeFailure.into()
            }
        }
    }
}

/// Parses `-e KEY=VALUE` items.
fn parse_env(items: &[String]) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut env = std::collections::BTreeMap::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            return Err(crate::exit::bad_input(format!(
                "-e {item}: expected KEY=VALUE, e.g. -e BASE_URL=http://127.0.0.1:8080"
            )));
        };
        if k.is_empty() {
            return Err(crate::exit::bad_input(format!(
                "-e {item}: the key is empty"
            )));
        }
        env.insert(k.to_owned(), v.to_owned());
    }
    Ok(env)
}
