//! `wasm-slo run`: load the module, resolve the plan, run setup, the load
//! and teardown, then verdict, summary and outputs.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{RunArgs, parse_env, start_at};
use crate::baseline;
use crate::executors::{LoadInputs, run_load};
use crate::exit::{Outcome, bad_input};
use crate::host::http_client::{ClientConfig, HostGate, tls_config};
use crate::host::sandbox;
use crate::host::{AbortCause, AbortSignal, ErrorLog, HostState, RunShared};
use crate::interrupt;
use crate::metrics::recorder;
use crate::plan::options::OptionsLayer;
use crate::plan::segment::ExecutionTuple;
use crate::plan::{self, HttpSettings, PlanInputs, SloFile};
use crate::report::json::Results;
use crate::report::live::LiveOutputs;
use crate::report::live::metrics_server::MetricsServer;
pub(super) use crate::report::outputs::parse_outs;
use crate::report::outputs::{self, OutputSpec, RenderOptions};
use crate::report::{ModuleInfo, RunReport, summary};
use crate::slo;
use crate::wasm::bindings::WIT_PACKAGE;
use crate::wasm::cache::CompileCache;
use crate::wasm::engine::{AllocationPlan, CodegenProfile, EpochTicker, build_engine};
use crate::wasm::instance::{CallError, ScenarioInstance, ScenarioRuntime};
use crate::wasm::module::{self, ModuleSource};
use crate::wasm::shape::ComponentShape;

/// Aggregation interval.
const INTERVAL: Duration = Duration::from_secs(1);

/// Sets the aggregation interval in place of [`INTERVAL`]. For profiling
/// only: under valgrind a run is 50-100 times slower, so a 1 s interval
/// falls every few dozen requests and its work weighs that much more per
/// request than at full speed (`bench/instructions.sh` sets it).
const INTERVAL_ENV: &str = "WASM_SLO_INTERVAL";

/// [`INTERVAL`], or what [`INTERVAL_ENV`] says (from 100 ms to 1 h), read
/// as every other duration of a run is.
fn aggregation_interval() -> anyhow::Result<Duration> {
    let Some(value) = std::env::var_os(INTERVAL_ENV) else {
        return Ok(INTERVAL);
    };
    let text = value.to_string_lossy();
    let interval = plan::duration::parse_duration(&text).map_err(|e| {
        bad_input(format!(
            "{INTERVAL_ENV}={text} is not a duration ({e}); give one such as 100s, or unset it for the default 1s"
        ))
    })?;
    if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&interval) {
        return Err(bad_input(format!(
            "{INTERVAL_ENV}={text} is out of range: give 100ms to 1h, or unset it for the default 1s"
        )));
    }
    Ok(interval)
}

/// What `run` and `merge` do once the verdict is in: the summary, the
/// judgement against a baseline (a regression turns a pass into exit 99, in
/// the results too) and the outputs, which never depend on the verdict.
/// `streamed` is how the outputs streamed during the load fared.
pub(super) fn conclude(
    report: &RunReport,
    mut results: Results,
    outs: &[OutputSpec],
    baseline: Option<(&std::path::Path, &Results)>,
    quiet: bool,
    options: &RenderOptions,
    streamed: Result<(), String>,
) -> anyhow::Result<Outcome> {
    if !quiet {
        print!("{}", summary::render(report, &options.trend_stats));
    }
    let mut outcome = report.outcome;
    if let Some((path, base)) = baseline {
        let comparison = baseline::compare(base, &results, &report.plan.regression);
        if !quiet {
            println!(
                "  BASELINE {}\n{}",
                path.display(),
                baseline::render_table(&comparison)
            );
        }
        if outcome == Outcome::Passed && !comparison.passed() {
            outcome = comparison.outcome();
            results.outcome.verdict = "fail".into();
            results.outcome.exit_code = outcome.code();
            results.outcome.reason = Some(format!(
                "{} regression(s) against the baseline {}",
                comparison.regressions,
                path.display()
            ));
        }
    }
    let written = outputs::write_final(outs, &results, options);
    match (written, streamed) {
        (Ok(()), Ok(())) => Ok(outcome),
        (Err(e), Ok(())) => Err(e),
        (Ok(()), Err(s)) => Err(anyhow::anyhow!("{s}")),
        (Err(e), Err(s)) => Err(anyhow::anyhow!("{e:#}; {s}")),
    }
}

/// Reads `--slo` and `--baseline` (`run` and `merge` take both): a bad file
/// is refused before any load, not after it.
pub(super) fn read_slo_and_baseline(
    slo: Option<&std::path::Path>,
    baseline: Option<&std::path::Path>,
) -> anyhow::Result<(Option<SloFile>, Option<Results>)> {
    Ok((
        slo.map(plan::options::read_config_file::<SloFile>)
            .transpose()?,
        baseline.map(baseline::load).transpose()?,
    ))
}

/// A module compiled, linked, and instantiated once for describe, setup and
/// teardown (VU 0).
pub(super) struct Prepared {
    pub source: ModuleSource,
    pub cache: CompileCache,
    pub wit_version: String,
    pub control: ScenarioInstance,
    _ticker: EpochTicker,
}

/// Loads `path` and instantiates its control instance with `shared`.
pub(super) async fn prepare(
    path: &std::path::Path,
    no_cache: bool,
    cpu_limit: Option<Duration>,
    shared: Arc<RunShared>,
) -> anyhow::Result<Prepared> {
    let source = ModuleSource::read(path)?;
    let control = AllocationPlan::control();
    let profile = CodegenProfile::for_allocation(&control, shared.vu_memory as u64)?;
    let cache = if no_cache {
        CompileCache::disabled()
    } else {
        CompileCache::default_location()
    };
    let engine = build_engine(&profile, &control)?;
    let component = module::compile(&engine, &profile, &source, &cache)?;
    let wit_version = module::exported_version(&engine, &component).unwrap_or_default();
    let runtime = ScenarioRuntime::new(
        &engine,
        &component,
        &source.path,
        cpu_limit.unwrap_or(plan::DEFAULT_ITERATION_CPU_LIMIT),
    )?;
    let ticker = EpochTicker::start(&engine);
    let control = runtime
        .instantiate(HostState::new(shared.clone(), 0, Arc::from("setup")))
        .await?;
    Ok(Prepared {
        source,
        cache,
        wit_version,
        control,
        _ticker: ticker,
    })
}

/// Builds the run-wide state from flags.
pub(super) fn shared_state(
    env: std::collections::BTreeMap<String, String>,
    http: &HttpSettings,
    vu_memory_mib: u64,
) -> anyhow::Result<Arc<RunShared>> {
    if !(1..=4096).contains(&vu_memory_mib) {
        return Err(bad_input(format!(
            "--vu-memory {vu_memory_mib}: give between 1 and 4096 MiB"
        )));
    }
    let mut pems = Vec::new();
    for f in &http.ca_files {
        pems.push(
            std::fs::read_to_string(f).map_err(|e| {
                bad_input(format!("--ca-cert {}: cannot read it: {e}", f.display()))
            })?,
        );
    }
    let tls = tls_config(&pems, http.insecure_skip_tls_verify)
        .map_err(|e| bad_input(format!("TLS settings: {e:#}")))?;
    Ok(Arc::new(RunShared {
        env: Arc::new(env),
        started: Instant::now(),
        http: Arc::new(ClientConfig {
            tls,
            default_timeout: http.default_timeout,
            max_conns_per_origin: 6,
            user_agent: format!("wasm-slo/{}", env!("CARGO_PKG_VERSION")),
            // Settled once the plan is resolved; until then nothing may go out.
            hosts: HostGate::default(),
        }),
        abort: AbortSignal::default(),
        status_policy: Default::default(),
        vu_memory: usize::try_from(vu_memory_mib << 20).unwrap_or(usize::MAX),
        errors: ErrorLog::default(),
        stderr_budget: Default::default(),
    }))
}

pub(super) async fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let outs = parse_outs(&args.outs)?;
    let interval = aggregation_interval()?;
    let segment = ExecutionTuple::from_flags(
        args.segment.as_deref(),
        args.execution_segment.as_deref(),
        args.execution_segment_sequence.as_deref(),
    )?;
    if args.baseline.is_some() && !segment.is_whole() {
        return Err(bad_input(
            "--baseline judges the whole test, not one segment; give it to `wasm-slo merge`",
        ));
    }
    let start_at = args
        .start_at
        .as_deref()
        .map(|t| start_at::parse(t, SystemTime::now()))
        .transpose()?;
    let env = parse_env(&args.env)?;
    let http = HttpSettings {
        default_timeout: args.http_timeout,
        insecure_skip_tls_verify: args.insecure_skip_tls_verify,
        ca_files: args.ca_certs.clone(),
    };
    let config = args
        .config
        .as_deref()
        .map(OptionsLayer::from_file)
        .transpose()?;
    let (slo_file, baseline_results) =
        read_slo_and_baseline(args.slo.as_deref(), args.baseline.as_deref())?;
    let shared = shared_state(env.clone(), &http, args.vu_memory)?;
    let _signals = interrupt::listen(shared.abort.clone())?;
    let mut prepared = prepare(
        &args.module,
        args.no_cache,
        args.iteration_cpu_limit,
        shared.clone(),
    )
    .await?;
    let defaults = prepared.control.describe().await?;
    let module_info = ModuleInfo {
        path: args.module.display().to_string(),
        sha256: prepared.source.sha256.clone(),
        wit: format!("{WIT_PACKAGE}@{}", prepared.wit_version),
        name: defaults.name.clone(),
    };
    let mut plan = plan::resolve(PlanInputs {
        module: defaults,
        config,
        slo: slo_file,
        cli: OptionsLayer {
            vus: args.vus,
            duration: args.duration,
            iterations: args.iterations,
            max_duration: args.max_duration,
            graceful_stop: args.graceful_stop,
            stages: (!args.stages.is_empty()).then(|| args.stages.clone()),
            scenarios: None,
            thresholds: None,
            allowed_hosts: (!args.allow_hosts.is_empty()).then(|| args.allow_hosts.clone()),
            iteration_cpu_limit: args.iteration_cpu_limit,
            ..Default::default()
        },
        flow_filter: args.flows.clone(),
        scenario_filter: args.scenarios.clone(),
        env,
        http,
    })?;
    plan.segment = segment;

    let _ = shared.status_policy.set(plan.status_policy.clone());
    sandbox::apply(&plan.sandbox, &shared, &mut prepared.control);

    // The load engine is sized for the plan's VUs; the component comes from
    // the cache the control engine just filled.
    // `prepare` compiled the module, so what is wrong with a broken one has
    // been said; only `run` sizes an allocator by its memories.
    let shape = ComponentShape::of(&prepared.source.bytes)?;
    let alloc = AllocationPlan::for_vus(plan.max_vus(), shape)?;
    let profile = CodegenProfile::for_allocation(&alloc, shared.vu_memory as u64)?;
    let engine = build_engine(&profile, &alloc)?;
    let component = module::compile(&engine, &profile, &prepared.source, &prepared.cache)?;
    let runtime = ScenarioRuntime::new(
        &engine,
        &component,
        &prepared.source.path,
        plan.sandbox.iteration_cpu_limit,
    )?;
    let _ticker = EpochTicker::start(&engine);

    // A run interrupted before its load runs no setup (and so no teardown).
    let setup = match shared.abort.reason() {
        Some(_) => None,
        None => interrupt::unless_stopped_at_once(&shared.abort, prepared.control.setup()).await,
    };
    let setup_data: Arc<[u8]> = match &setup {
        Some(Ok(d)) => Arc::from(d.as_slice()),
        Some(Err(e)) => {
            return Err(anyhow::anyhow!(
                "setup() failed, so no load was started: {}",
                call_error_text(e)
            ));
        }
        None => Arc::from(Vec::new()),
    };

    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    if let Some(at) = start_at {
        start_at::wait_until(at, args.quiet).await;
    }
    let metrics_server = match args.metrics_listen {
        Some(addr) => Some(MetricsServer::start(addr).await?),
        None => None,
    };
    let started_at = SystemTime::now();
    let mut live = LiveOutputs::open(&outs, started_at, interval)?;
    if !args.quiet && !args.no_progress {
        live = live.with_progress(&plan, interval);
    }
    if let Some(server) = &metrics_server {
        live = live.with_metrics(server.published());
    }
    let load = run_load(LoadInputs {
        plan: &plan,
        runtime,
        shared: shared.clone(),
        setup_data: setup_data.clone(),
        workers,
        interval,
        observer: &mut live,
    })
    .await;
    // The streamed files hold what was measured even if the load failed.
    let streamed = live.finish();
    drop(metrics_server);
    let load = load?;

    prepared.control.state().scenario = Arc::from("teardown");
    if setup.is_some()
        && let Some(Err(e)) =
            interrupt::unless_stopped_at_once(&shared.abort, prepared.control.teardown(&setup_data))
                .await
    {
        eprintln!("warning: teardown() failed: {}", call_error_text(&e));
    }
    let mut metrics = load.metrics;
    // Setup and teardown ran on this thread; their samples count too.
    metrics.add_shard(recorder::take_shard());

    let mut verdict = slo::evaluate(&plan, &metrics, load.duration);
    verdict.results.extend(slo::phases::evaluate(
        &plan.phases,
        &plan.scenarios,
        &load.intervals,
        interval,
        load.duration,
    ));
    let iterations = metrics.counter_sum(crate::metrics::catalog::ITERATIONS);
    let (outcome, reason) = if let Some((outcome, reason)) = interrupt::outcome(&shared.abort) {
        (outcome, Some(reason))
    } else if let Some(r) = shared.abort.reason() {
        let outcome = match shared.abort.cause() {
            Some(AbortCause::Threshold) => Outcome::AbortedByThreshold,
            _ => Outcome::AbortedByScenario,
        };
        (outcome, Some(r.to_owned()))
    } else if iterations == 0.0 && load.init_failures > 0 {
        (
            Outcome::RuntimeFailure,
            Some(format!(
                "no VU could start, so nothing was measured; first failure: {}",
                load.first_init_failure.as_deref().unwrap_or("unknown")
            )),
        )
    } else if let Some(reason) = slo::failures::every_iteration_failed(&metrics, &shared.errors) {
        (Outcome::RuntimeFailure, Some(reason))
    } else if plan.segment.is_whole()
        && (!verdict.passed() || (args.report.strict && verdict.level() == slo::Level::Warn))
    {
        // A segment's figures cannot judge the whole test: `merge` does.
        (Outcome::SlosFailed, None)
    } else {
        (Outcome::Passed, None)
    };

    let report = RunReport {
        module: module_info,
        plan,
        started_at,
        duration: load.duration,
        metrics,
        verdict,
        intervals: load.intervals,
        interval,
        vu_init_failures: load.init_failures,
        aborted: reason,
        outcome,
    };
    let results = Results::from_report(&report)?;
    let options = args.report.options();
    conclude(
        &report,
        results,
        &outs,
        args.baseline.as_deref().zip(baseline_results.as_ref()),
        args.quiet,
        &options,
        streamed,
    )
}

fn call_error_text(e: &CallError) -> String {
    match e {
        CallError::Guest(msg) => msg.clone(),
        CallError::Trap(t) => format!("trapped: {t:#}"),
    }
}
