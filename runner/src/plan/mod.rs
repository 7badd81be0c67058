//! The resolved test plan: what to run, how hard and against which
//! thresholds, from the module's defaults, the option and SLO files and the
//! command line (later wins). Everything after planning reads only a [`Plan`].

pub mod conflicts;
pub mod duration;
pub mod hosts;
pub mod options;
pub mod segment;
pub mod slo_file;
pub mod threshold;

#[cfg(test)]
mod proptests;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use self::options::OptionsLayer;
use self::slo_file::ThresholdEntry;
use self::threshold::{Expression, MetricSelector, check_applies};
use crate::exit::bad_input;
use crate::metrics::catalog;

/// A named kind of iteration and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Name passed to the module's `run`.
    pub name: String,
    /// Relative weight; a VU picks a flow per iteration in proportion.
    pub weight: u32,
}

/// What the module's `describe` declared.
#[derive(Debug, Clone)]
pub struct ModuleDefaults {
    /// The scenario's name.
    pub name: String,
    /// Its flows.
    pub flows: Vec<Flow>,
    /// Its option defaults.
    pub options: OptionsLayer,
}

/// A stage of a ramping executor: reach `target` linearly over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// How long the stage lasts.
    #[serde(with = "duration::serde_str")]
    pub duration: Duration,
    /// VUs (ramping-vus) or iterations per time unit (ramping-arrival-rate).
    pub target: u64,
}

/// The value a sequence of stages starting at `start` has at `t`.
pub fn stage_value(start: u64, stages: &[Stage], t: Duration) -> f64 {
    let mut from = start as f64;
    let mut elapsed = Duration::ZERO;
    for s in stages {
        let end = elapsed + s.duration;
        if t < end {
            let frac = if s.duration.is_zero() {
                1.0
            } else {
                (t - elapsed).as_secs_f64() / s.duration.as_secs_f64()
            };
            return from + (s.target as f64 - from) * frac;
        }
        from = s.target as f64;
        elapsed = end;
    }
    from
}

/// How a scenario schedules its iterations (k6's executors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum Executor {
    /// `vus` VUs loop over iterations for `duration`.
    ConstantVus {
        /// VUs.
        vus: u64,
        /// Length of the load.
        #[serde(with = "duration::serde_str")]
        duration: Duration,
    },
    /// VUs follow the stages; VUs removed by a ramp-down finish their
    /// iteration within `graceful_ramp_down`.
    RampingVus {
        /// VUs at the start.
        start_vus: u64,
        /// The stages.
        stages: Vec<Stage>,
        /// Grace of VUs removed by a ramp-down.
        #[serde(with = "duration::serde_str")]
        graceful_ramp_down: Duration,
    },
    /// `vus` VUs share `iterations` iterations in total.
    SharedIterations {
        /// VUs.
        vus: u64,
        /// Iterations across all VUs.
        iterations: u64,
        /// Hard limit on the load's length.
        #[serde(with = "duration::serde_str")]
        max_duration: Duration,
    },
    /// Each of `vus` VUs runs `iterations` iterations.
    PerVuIterations {
        /// VUs.
        vus: u64,
        /// Iterations per VU.
        iterations: u64,
        /// Hard limit on the load's length.
        #[serde(with = "duration::serde_str")]
        max_duration: Duration,
    },
    /// `rate` iterations start per `time_unit` whatever the server does.
    ConstantArrivalRate {
        /// Iterations per time unit.
        rate: u64,
        /// The unit of `rate`.
        #[serde(with = "duration::serde_str")]
        time_unit: Duration,
        /// Length of the load.
        #[serde(with = "duration::serde_str")]
        duration: Duration,
        /// VUs ready before the start.
        pre_allocated_vus: u64,
        /// Most VUs.
        max_vus: u64,
    },
    /// The start rate follows the stages.
    RampingArrivalRate {
        /// Iterations per time unit at the start.
        start_rate: u64,
        /// The unit of the rates.
        #[serde(with = "duration::serde_str")]
        time_unit: Duration,
        /// The stages (targets are rates).
        stages: Vec<Stage>,
        /// VUs ready before the start.
        pre_allocated_vus: u64,
        /// Most VUs.
        max_vus: u64,
    },
}

impl Executor {
    /// The most VUs this executor runs at once.
    pub fn max_vus(&self) -> u64 {
        match self {
            Executor::ConstantVus { vus, .. }
            | Executor::SharedIterations { vus, .. }
            | Executor::PerVuIterations { vus, .. } => *vus,
            Executor::RampingVus {
                start_vus, stages, ..
            } => stages.iter().map(|s| s.target).fold(*start_vus, u64::max),
            Executor::ConstantArrivalRate { max_vus, .. }
            | Executor::RampingArrivalRate { max_vus, .. } => *max_vus,
        }
    }

    /// The planned length of the load, before any graceful stop.
    pub fn planned_duration(&self) -> Duration {
        match self {
            Executor::ConstantVus { duration, .. }
            | Executor::ConstantArrivalRate { duration, .. } => *duration,
            Executor::SharedIterations { max_duration, .. }
            | Executor::PerVuIterations { max_duration, .. } => *max_duration,
            Executor::RampingVus { stages, .. } | Executor::RampingArrivalRate { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
        }
    }

    /// k6's name of the executor.
    pub fn name(&self) -> &'static str {
        match self {
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
            Executor::SharedIterations { .. } => "shared-iterations",
            Executor::PerVuIterations { .. } => "per-vu-iterations",
            Executor::ConstantArrivalRate { .. } => "constant-arrival-rate",
            Executor::RampingArrivalRate { .. } => "ramping-arrival-rate",
        }
    }

    /// Whether iterations start on a schedule (open model).
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. }
        )
    }
}

/// One scenario of the test: an executor driving the module's flows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioPlan {
    /// Scenario name (k6's `default` for the single-scenario shortcut).
    pub name: String,
    /// How iterations are scheduled.
    #[serde(flatten)]
    pub executor: Executor,
    /// Delay from the test's start.
    #[serde(with = "duration::serde_str")]
    pub start_time: Duration,
    /// Time in-flight iterations get to finish once the load ends.
    #[serde(with = "duration::serde_str")]
    pub graceful_stop: Duration,
    /// Flows with their weights.
    pub flows: Vec<Flow>,
    /// Tags on every sample of the scenario.
    pub tags: BTreeMap<String, String>,
    /// Variables its VUs see (`-e` ones overlaid with the scenario's).
    pub env: BTreeMap<String, String>,
}

impl ScenarioPlan {
    /// When the scenario's load ends, from the test's start.
    pub fn end(&self) -> Duration {
        self.start_time + self.executor.planned_duration()
    }
}

/// Where a threshold was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The module's `describe`.
    Module,
    /// `--config` options file.
    Config,
    /// `--slo` file.
    SloFile,
}

/// One condition on a selector, with its levels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Objective {
    /// Must hold, else FAIL.
    pub expr: Expression,
    /// When it fails while `expr` holds: WARN.
    pub warning: Option<Expression>,
    /// Stop the test as soon as `expr` fails.
    pub abort_on_fail: bool,
    /// Time from the start before `abort_on_fail` is evaluated.
    #[serde(with = "duration::serde_str")]
    pub delay_abort_eval: Duration,
}

/// The thresholds on one selector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdPlan {
    /// What is measured.
    pub selector: MetricSelector,
    /// Conditions that must all hold.
    pub expressions: Vec<Objective>,
    /// Where they were declared.
    pub source: Source,
}

/// HTTP settings of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpSettings {
    /// Timeout of a request that sets none.
    #[serde(with = "duration::serde_str")]
    pub default_timeout: Duration,
    /// Accept any TLS certificate (k6's insecureSkipTLSVerify).
    pub insecure_skip_tls_verify: bool,
    /// Extra trusted CA certificates (PEM file paths).
    pub ca_files: Vec<std::path::PathBuf>,
}

/// What the sandbox grants the module beyond its own memory: hosts, and
/// time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SandboxPlan {
    /// Hosts requests may go to: the module's, the options file's and
    /// `--allow-host`'s patterns together.
    pub allowed_hosts: hosts::AllowedHosts,
    /// CPU time the guest's own code may use per call (an iteration,
    /// `init-vu`, `setup`, `teardown`) before it is stopped with a trap.
    #[serde(with = "duration::serde_str")]
    pub iteration_cpu_limit: Duration,
    /// Wall-clock limit of `setup` (k6's `setupTimeout`).
    #[serde(with = "duration::serde_str")]
    pub setup_timeout: Duration,
    /// Wall-clock limit of `teardown` (k6's `teardownTimeout`).
    #[serde(with = "duration::serde_str")]
    pub teardown_timeout: Duration,
}

/// Everything a run needs to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The module's scenario name.
    pub module_name: String,
    /// Scenarios run together.
    pub scenarios: Vec<ScenarioPlan>,
    /// Thresholds, by selector.
    pub thresholds: Vec<ThresholdPlan>,
    /// Statuses accepted as success beyond each request's expected ones.
    pub status_policy: slo_file::StatusPolicy,
    /// Rules for comparing with a baseline.
    pub regression: crate::baseline::RegressionRules,
    /// Phases and objectives over them.
    pub phases: crate::slo::phases::PhaseSpec,
    /// Variables given with `-e`.
    pub env: BTreeMap<String, String>,
    /// HTTP settings.
    pub http: HttpSettings,
    /// Allowed hosts and CPU limit.
    #[serde(default)]
    pub sandbox: SandboxPlan,
    /// The share of the test this process runs: the whole test unless
    /// `--segment` or `--execution-segment` chose a segment. Recorded in the
    /// results as the [`segment::Share`] it covers.
    #[serde(serialize_with = "segment::serialize_tuple", skip_deserializing)]
    pub segment: segment::ExecutionTuple,
}

impl Plan {
    /// The most VUs this process may run at once across all scenarios:
    /// its segment's share.
    pub fn max_vus(&self) -> u64 {
        self.scenarios
            .iter()
            .map(|s| self.segment.max_vus(&s.executor))
            .sum()
    }

    /// When the last scenario's load ends (before graceful stops).
    pub fn load_end(&self) -> Duration {
        self.scenarios
            .iter()
            .map(ScenarioPlan::end)
            .max()
            .unwrap_or_default()
    }
}

pub use slo_file::SloFile;

/// The inputs a plan is resolved from, in increasing precedence.
pub struct PlanInputs {
    /// From `describe`.
    pub module: ModuleDefaults,
    /// From `--config`.
    pub config: Option<OptionsLayer>,
    /// From `--slo`.
    pub slo: Option<SloFile>,
    /// From flags (`--vus`, `--duration`, `--iterations`, ...).
    pub cli: OptionsLayer,
    /// `--flow NAME` or `--flow NAME=WEIGHT`: run only these flows.
    pub flow_filter: Vec<String>,
    /// `--scenario NAME`: run only these scenarios.
    pub scenario_filter: Vec<String>,
    /// `-e KEY=VALUE`.
    pub env: BTreeMap<String, String>,
    /// HTTP settings from flags.
    pub http: HttpSettings,
}

/// Default time in-flight iterations get when the load ends (as in k6).
pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(30);
/// Default limit of iteration-based runs (as in k6).
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(600);
/// Default CPU time per iteration: far beyond any sane iteration, yet it
/// stops a runaway loop.
pub const DEFAULT_ITERATION_CPU_LIMIT: Duration = Duration::from_secs(60);
/// Default wall-clock limit of `setup` and of `teardown` (as in k6).
pub const DEFAULT_LIFECYCLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Resolves the layers into a plan, validating everything a user can get wrong.
pub fn resolve(inputs: PlanInputs) -> anyhow::Result<Plan> {
    let PlanInputs {
        module,
        config,
        slo,
        cli,
        flow_filter,
        scenario_filter,
        env,
        http,
    } = inputs;

    // Track the layer each threshold selector finally comes from; a later
    // layer replaces a selector's list (k6 keys thresholds by selector).
    // Selectors are compared in canonical form.
    let mut thresholds: BTreeMap<String, (String, Vec<ThresholdEntry>, Source)> = BTreeMap::new();
    let mut add_thresholds = |layer: Option<&BTreeMap<String, Vec<ThresholdEntry>>>, src| {
        for (k, v) in layer.into_iter().flatten() {
            thresholds.insert(canonical(k), (k.clone(), v.clone(), src));
        }
    };
    add_thresholds(module.options.thresholds.as_ref(), Source::Module);
    add_thresholds(
        config.as_ref().and_then(|c| c.thresholds.as_ref()),
        Source::Config,
    );
    let (slo_thresholds, status_policy) = match &slo {
        Some(f) => f.compile()?,
        None => Default::default(),
    };
    add_thresholds(Some(&slo_thresholds), Source::SloFile);

    let mut allowed_hosts = hosts::AllowedHosts::default();
    for (source, layer) in [
        ("describe() allowed_hosts", Some(&module.options)),
        ("the options file's allowed_hosts", config.as_ref()),
        ("--allow-host", Some(&cli)),
    ] {
        if let Some(items) = layer.and_then(|l| l.allowed_hosts.as_ref()) {
            allowed_hosts.add(source, items)?;
        }
    }

    let mut opts = module.options.clone();
    if let Some(c) = &config {
        opts = opts.overridden_by(c);
    }
    opts = opts.overridden_by(&cli);
    conflicts::check(&cli, &opts, &scenario_filter, &http)?;
    let iteration_cpu_limit = match opts.iteration_cpu_limit {
        Some(d) if d.is_zero() => {
            return Err(bad_input(
                "the iteration CPU limit must be above 0s (e.g. --iteration-cpu-limit 30s)",
            ));
        }
        d => d.unwrap_or(DEFAULT_ITERATION_CPU_LIMIT),
    };
    let lifecycle_timeout = |d: Option<Duration>, name: &str| match d {
        Some(d) if d.is_zero() => Err(bad_input(format!("{name} must be above 0s"))),
        d => Ok(d.unwrap_or(DEFAULT_LIFECYCLE_TIMEOUT)),
    };
    let setup_timeout = lifecycle_timeout(opts.setup_timeout, "setup_timeout")?;
    let teardown_timeout = lifecycle_timeout(opts.teardown_timeout, "teardown_timeout")?;

    let scenarios = scenarios_from(&opts, &cli, &module.flows, &flow_filter, &env)?;
    let scenarios = filter_scenarios(scenarios, &scenario_filter)?;

    let phases = phase_spec(slo.as_ref());
    crate::slo::phases::validate(&phases, &scenarios)?;

    let mut planned = Vec::new();
    for (_, (key, entries, source)) in thresholds {
        if entries.is_empty() {
            continue;
        }
        planned.push(parse_threshold(&key, &entries, source)?);
    }

    Ok(Plan {
        module_name: module.name,
        scenarios,
        thresholds: planned,
        status_policy,
        regression: slo
            .as_ref()
            .and_then(|f| f.regression.clone())
            .unwrap_or_default(),
        phases,
        env,
        http,
        sandbox: SandboxPlan {
            allowed_hosts,
            iteration_cpu_limit,
            setup_timeout,
            teardown_timeout,
        },
        segment: segment::ExecutionTuple::whole(),
    })
}

/// A selector in canonical form, so that differently written selectors of
/// the same series are one key; an unparsable selector keeps its text (and
/// `parse_threshold` reports it).
fn canonical(key: &str) -> String {
    MetricSelector::parse(key)
        .map(|s| s.to_string())
        .unwrap_or_else(|_| key.to_owned())
}

fn phase_spec(slo: Option<&SloFile>) -> crate::slo::phases::PhaseSpec {
    crate::slo::phases::PhaseSpec {
        phases: slo.map(|f| f.phases.clone()).unwrap_or_default(),
        objectives: slo.map(|f| f.phase_objectives.clone()).unwrap_or_default(),
    }
}

impl Plan {
    /// The plan judged by another SLO file once the load is over (`merge
    /// --slo`): the file's thresholds replace the recorded ones of the same
    /// selectors (an empty list removes them), and its phases and regression
    /// rules replace the recorded ones. Accepted statuses were applied while
    /// measuring, so a file that sets other ones is refused.
    pub fn judged_by(mut self, slo: &SloFile) -> anyhow::Result<Plan> {
        let (file_thresholds, policy) = slo.compile()?;
        if !policy.is_empty() && policy != self.status_policy {
            return Err(bad_input(
                "the SLO file's accept_statuses differ from those the results were measured \
                 with; statuses are classified while the test runs, so rerun it with this \
                 SLO file (or remove accept_statuses from it)",
            ));
        }
        let mut by_selector: BTreeMap<String, ThresholdPlan> = self
            .thresholds
            .drain(..)
            .map(|t| (t.selector.to_string(), t))
            .collect();
        for (key, entries) in &file_thresholds {
            if entries.is_empty() {
                by_selector.remove(&canonical(key));
            } else {
                let parsed = parse_threshold(key, entries, Source::SloFile)?;
                by_selector.insert(canonical(key), parsed);
            }
        }
        self.thresholds = by_selector.into_values().collect();
        self.phases = phase_spec(Some(slo));
        crate::slo::phases::validate(&self.phases, &self.scenarios)?;
        self.regression = slo.regression.clone().unwrap_or_default();
        Ok(self)
    }
}

fn scenarios_from(
    o: &OptionsLayer,
    cli: &OptionsLayer,
    module_flows: &[Flow],
    flow_filter: &[String],
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<ScenarioPlan>> {
    let shortcut = o.duration.is_some() || o.iterations.is_some() || o.stages.is_some();
    let Some(declared) = &o.scenarios else {
        let scenario = ScenarioPlan {
            name: "default".into(),
            executor: shortcut_executor(o)?,
            start_time: Duration::ZERO,
            graceful_stop: o.graceful_stop.unwrap_or(DEFAULT_GRACEFUL_STOP),
            flows: select_flows(module_flows, flow_filter)?,
            tags: BTreeMap::new(),
            env: env.clone(),
        };
        return Ok(vec![scenario]);
    };
    if shortcut {
        return Err(bad_input(
            "options set both `scenarios` and the shortcut `duration`/`iterations`/`stages`; use one or the other",
        ));
    }
    if cli.vus.is_some() {
        return Err(bad_input(
            "--vus alone cannot apply to the declared scenarios; give --duration, --iterations or \
             --stage with it to replace them, or set vus per scenario in an options file",
        ));
    }
    if declared.is_empty() {
        return Err(bad_input(
            "`scenarios` is empty; declare at least one scenario",
        ));
    }
    if !flow_filter.is_empty()
        && declared
            .values()
            .all(|c| c.flow.is_some() || c.flows.is_some())
    {
        return Err(bad_input(
            "--flow has no effect: every declared scenario sets its own `flow` or `flows`; \
             change them in the options file, or run one scenario with --scenario",
        ));
    }
    declared
        .iter()
        .map(|(name, c)| scenario_plan(name, c, o, module_flows, flow_filter, env))
        .collect()
}

fn shortcut_executor(o: &OptionsLayer) -> anyhow::Result<Executor> {
    if let Some(stages) = &o.stages {
        if o.duration.is_some() || o.iterations.is_some() {
            return Err(bad_input(
                "stages cannot be combined with duration or iterations; stages set the length",
            ));
        }
        return Ok(Executor::RampingVus {
            start_vus: o.vus.unwrap_or(0),
            stages: stages_from("stages", stages)?,
            graceful_ramp_down: o.graceful_stop.unwrap_or(DEFAULT_GRACEFUL_STOP),
        });
    }
    let vus = o.vus.unwrap_or(1);
    if vus == 0 {
        return Err(bad_input("--vus must be at least 1"));
    }
    Ok(match (o.iterations, o.duration) {
        (Some(0), _) => return Err(bad_input("--iterations must be at least 1")),
        // As in k6: iterations (with or without a duration, which then caps
        // the run) mean shared iterations.
        (Some(iterations), duration) => {
            if iterations < vus {
                return Err(bad_input(format!(
                    "{iterations} iterations cannot keep {vus} VUs busy; \
                     lower --vus to at most {iterations} or raise --iterations"
                )));
            }
            Executor::SharedIterations {
                vus,
                iterations,
                max_duration: duration.or(o.max_duration).unwrap_or(DEFAULT_MAX_DURATION),
            }
        }
        (None, Some(d)) if d.is_zero() => return Err(bad_input("--duration must be above 0")),
        (None, Some(duration)) => Executor::ConstantVus { vus, duration },
        // Nothing given: one iteration per VU, k6's default.
        (None, None) => Executor::PerVuIterations {
            vus,
            iterations: 1,
            max_duration: o.max_duration.unwrap_or(DEFAULT_MAX_DURATION),
        },
    })
}

fn stages_from(what: &str, stages: &[options::StageConfig]) -> anyhow::Result<Vec<Stage>> {
    if stages.is_empty() {
        return Err(bad_input(format!("{what}: give at least one stage")));
    }
    if stages.iter().all(|s| s.duration.is_zero()) {
        return Err(bad_input(format!("{what}: the stages last 0s in total")));
    }
    Ok(stages
        .iter()
        .map(|s| Stage {
            duration: s.duration,
            target: s.target,
        })
        .collect())
}

/// Default unit of arrival rates.
pub const DEFAULT_TIME_UNIT: Duration = Duration::from_secs(1);

fn scenario_plan(
    name: &str,
    c: &options::ScenarioConfig,
    o: &OptionsLayer,
    module_flows: &[Flow],
    flow_filter: &[String],
    global_env: &BTreeMap<String, String>,
) -> anyhow::Result<ScenarioPlan> {
    let ctx = |msg: String| bad_input(format!("scenario \"{name}\" ({}): {msg}", c.executor));
    let set: [(&str, bool); 12] = [
        ("vus", c.vus.is_some()),
        ("duration", c.duration.is_some()),
        ("iterations", c.iterations.is_some()),
        ("max_duration", c.max_duration.is_some()),
        ("start_vus", c.start_vus.is_some()),
        ("stages", c.stages.is_some()),
        ("graceful_ramp_down", c.graceful_ramp_down.is_some()),
        ("rate", c.rate.is_some()),
        ("start_rate", c.start_rate.is_some()),
        ("time_unit", c.time_unit.is_some()),
        ("pre_allocated_vus", c.pre_allocated_vus.is_some()),
        ("max_vus", c.max_vus.is_some()),
    ];
    let allowed: &[&str] = match c.executor.as_str() {
        "constant-vus" => &["vus", "duration"],
        "ramping-vus" => &["start_vus", "stages", "graceful_ramp_down"],
        "shared-iterations" | "per-vu-iterations" => &["vus", "iterations", "max_duration"],
        "constant-arrival-rate" => &[
            "rate",
            "time_unit",
            "duration",
            "pre_allocated_vus",
            "max_vus",
        ],
        "ramping-arrival-rate" => &[
            "start_rate",
            "time_unit",
            "stages",
            "pre_allocated_vus",
            "max_vus",
        ],
        other => {
            return Err(bad_input(format!(
                "scenario \"{name}\": unknown executor \"{other}\"; use constant-vus, ramping-vus, \
                 per-vu-iterations, shared-iterations, constant-arrival-rate or ramping-arrival-rate"
            )));
        }
    };
    if let Some((field, _)) = set.iter().find(|(f, on)| *on && !allowed.contains(f)) {
        return Err(ctx(format!(
            "`{field}` does not apply; this executor takes {}",
            allowed.join(", ")
        )));
    }
    let need = |v: Option<u64>, field: &str| -> anyhow::Result<u64> {
        match v {
            Some(0) => Err(ctx(format!("`{field}` must be at least 1"))),
            Some(v) => Ok(v),
            None => Err(ctx(format!("`{field}` is required"))),
        }
    };
    let need_duration = |v: Option<Duration>, field: &str| -> anyhow::Result<Duration> {
        match v {
            Some(d) if d.is_zero() => Err(ctx(format!("`{field}` must be above 0s"))),
            Some(d) => Ok(d),
            None => Err(ctx(format!("`{field}` is required"))),
        }
    };
    let pool = |pre: Option<u64>, max: Option<u64>| -> anyhow::Result<(u64, u64)> {
        let pre = need(pre, "pre_allocated_vus")?;
        let max = max.unwrap_or(pre);
        if max < pre {
            return Err(ctx(format!(
                "max_vus ({max}) is below pre_allocated_vus ({pre})"
            )));
        }
        Ok((pre, max))
    };
    let time_unit = match c.time_unit {
        Some(t) if t.is_zero() => return Err(ctx("`time_unit` must be above 0s".into())),
        t => t.unwrap_or(DEFAULT_TIME_UNIT),
    };
    let executor = match c.executor.as_str() {
        "constant-vus" => Executor::ConstantVus {
            vus: need(c.vus, "vus")?,
            duration: need_duration(c.duration, "duration")?,
        },
        "ramping-vus" => Executor::RampingVus {
            start_vus: c.start_vus.unwrap_or(0),
            stages: stages_from(
                &format!("scenario \"{name}\""),
                c.stages.as_deref().unwrap_or_default(),
            )?,
            graceful_ramp_down: c.graceful_ramp_down.unwrap_or(DEFAULT_GRACEFUL_STOP),
        },
        "shared-iterations" | "per-vu-iterations" => {
            let vus = c.vus.unwrap_or(1);
            let iterations = c.iterations.unwrap_or(1);
            if vus == 0 || iterations == 0 {
                return Err(ctx("`vus` and `iterations` must be at least 1".into()));
            }
            let max_duration = c.max_duration.unwrap_or(DEFAULT_MAX_DURATION);
            if c.executor == "shared-iterations" {
                if iterations < vus {
                    return Err(ctx(format!(
                        "{iterations} iterations cannot keep {vus} VUs busy"
                    )));
                }
                Executor::SharedIterations {
                    vus,
                    iterations,
                    max_duration,
                }
            } else {
                Executor::PerVuIterations {
                    vus,
                    iterations,
                    max_duration,
                }
            }
        }
        "constant-arrival-rate" => {
            let (pre_allocated_vus, max_vus) = pool(c.pre_allocated_vus, c.max_vus)?;
            Executor::ConstantArrivalRate {
                rate: need(c.rate, "rate")?,
                time_unit,
                duration: need_duration(c.duration, "duration")?,
                pre_allocated_vus,
                max_vus,
            }
        }
        _ => {
            let (pre_allocated_vus, max_vus) = pool(c.pre_allocated_vus, c.max_vus)?;
            Executor::RampingArrivalRate {
                start_rate: c.start_rate.unwrap_or(0),
                time_unit,
                stages: stages_from(
                    &format!("scenario \"{name}\""),
                    c.stages.as_deref().unwrap_or_default(),
                )?,
                pre_allocated_vus,
                max_vus,
            }
        }
    };
    let flows = match (&c.flow, &c.flows) {
        (Some(_), Some(_)) => return Err(ctx("set `flow` or `flows`, not both".into())),
        (Some(f), None) => select_flows(module_flows, std::slice::from_ref(f))?,
        (None, Some(map)) => select_flows(
            module_flows,
            &map.iter()
                .map(|(k, w)| format!("{k}={w}"))
                .collect::<Vec<_>>(),
        )?,
        (None, None) => select_flows(module_flows, flow_filter)?,
    };
    let mut env = global_env.clone();
    env.extend(c.env.clone().unwrap_or_default());
    Ok(ScenarioPlan {
        name: name.to_owned(),
        executor,
        start_time: c.start_time.unwrap_or_default(),
        graceful_stop: c
            .graceful_stop
            .or(o.graceful_stop)
            .unwrap_or(DEFAULT_GRACEFUL_STOP),
        flows,
        tags: c.tags.clone().unwrap_or_default(),
        env,
    })
}

fn filter_scenarios(all: Vec<ScenarioPlan>, only: &[String]) -> anyhow::Result<Vec<ScenarioPlan>> {
    if only.is_empty() {
        return Ok(all);
    }
    for name in only {
        if !all.iter().any(|s| &s.name == name) {
            let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
            return Err(bad_input(format!(
                "unknown scenario \"{name}\"; the plan has: {}",
                names.join(", ")
            )));
        }
    }
    Ok(all.into_iter().filter(|s| only.contains(&s.name)).collect())
}

fn select_flows(declared: &[Flow], filter: &[String]) -> anyhow::Result<Vec<Flow>> {
    let names = || {
        declared
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if declared.is_empty() {
        return Err(bad_input(
            "the module declares no flows in describe(); add at least one flow with a weight",
        ));
    }
    let flows: Vec<Flow> = if filter.is_empty() {
        declared.to_vec()
    } else {
        let mut out = Vec::new();
        for item in filter {
            let (name, weight) = match item.split_once('=') {
                Some((n, w)) => {
                    let w: u32 = w.trim().parse().map_err(|_| {
                        bad_input(format!(
                            "--flow {item}: weight must be a whole number, e.g. --flow {n}=3"
                        ))
                    })?;
                    (n.trim(), Some(w))
                }
                None => (item.trim(), None),
            };
            let Some(found) = declared.iter().find(|f| f.name == name) else {
                return Err(bad_input(format!(
                    "unknown flow \"{name}\"; the module defines: {}",
                    names()
                )));
            };
            out.push(Flow {
                name: found.name.clone(),
                weight: weight.unwrap_or(found.weight.max(1)),
            });
        }
        out
    };
    if flows.iter().all(|f| f.weight == 0) {
        return Err(bad_input(format!(
            "every selected flow has weight 0 ({}); give at least one a weight above 0",
            names()
        )));
    }
    Ok(flows.into_iter().filter(|f| f.weight > 0).collect())
}

fn parse_threshold(
    key: &str,
    entries: &[ThresholdEntry],
    source: Source,
) -> anyhow::Result<ThresholdPlan> {
    let selector = MetricSelector::parse(key).map_err(|e| bad_input(e.to_string()))?;
    let parse = |text: &str| -> anyhow::Result<Expression> {
        let expr =
            Expression::parse(text).map_err(|err| bad_input(format!("{selector}: {err}")))?;
        if let Some((kind, _)) = catalog::builtin(&selector.metric) {
            check_applies(&expr, &selector.metric, kind.into())
                .map_err(|err| bad_input(err.to_string()))?;
        }
        Ok(expr)
    };
    let mut expressions = Vec::new();
    for entry in entries {
        let o = entry.to_object();
        expressions.push(Objective {
            expr: parse(&o.threshold)?,
            warning: o.warning.as_deref().map(parse).transpose()?,
            abort_on_fail: o.abort_on_fail,
            delay_abort_eval: o.delay_abort_eval.unwrap_or_default(),
        });
    }
    Ok(ThresholdPlan {
        selector,
        expressions,
        source,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Inputs with a module of two flows (`list` 3, `get` 2) defaulting
    /// to 4 VUs for 30 s and a p95 threshold, and `cli` as the command line.
    pub(super) fn inputs(cli: OptionsLayer) -> PlanInputs {
        PlanInputs {
            module: ModuleDefaults {
                name: "m".into(),
                flows: vec![
                    Flow {
                        name: "list".into(),
                        weight: 3,
                    },
                    Flow {
                        name: "get".into(),
                        weight: 2,
                    },
                ],
                options: OptionsLayer {
                    vus: Some(4),
                    duration: Some(Duration::from_secs(30)),
                    thresholds: Some(BTreeMap::from([(
                        "http_req_duration".to_string(),
                        vec![ThresholdEntry::Expr("p(95)<200".to_string())],
                    )])),
                    ..Default::default()
                },
            },
            config: None,
            slo: None,
            cli,
            flow_filter: vec![],
            scenario_filter: vec![],
            env: BTreeMap::new(),
            http: HttpSettings {
                default_timeout: Duration::from_secs(60),
                insecure_skip_tls_verify: false,
                ca_files: vec![],
            },
        }
    }

    #[test]
    fn module_defaults_then_cli_overrides() {
        let plan = resolve(inputs(OptionsLayer::default())).unwrap();
        assert_eq!(
            plan.scenarios[0].executor,
            Executor::ConstantVus {
                vus: 4,
                duration: Duration::from_secs(30)
            }
        );
        let plan = resolve(inputs(OptionsLayer {
            iterations: Some(10),
            vus: Some(2),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            plan.scenarios[0].executor,
            Executor::SharedIterations {
                vus: 2,
                iterations: 10,
                max_duration: DEFAULT_MAX_DURATION
            }
        );
        assert_eq!(plan.thresholds[0].source, Source::Module);
    }

    #[test]
    fn slo_file_overrides_module_thresholds() {
        let mut i = inputs(OptionsLayer::default());
        i.slo = Some(SloFile {
            thresholds: BTreeMap::from([
                (
                    "http_req_duration".to_string(),
                    vec![ThresholdEntry::Expr("p(99)<1s".to_string())],
                ),
                (
                    "http_req_failed".to_string(),
                    vec![ThresholdEntry::Expr("rate<0.01".to_string())],
                ),
            ]),
            ..Default::default()
        });
        let plan = resolve(i).unwrap();
        assert_eq!(plan.thresholds.len(), 2);
        let d = &plan.thresholds[0];
        assert_eq!(d.selector.metric, "http_req_duration");
        assert_eq!(d.expressions[0].expr.source, "p(99)<1s");
        assert_eq!(d.source, Source::SloFile);
    }

    #[test]
    fn flow_filter_and_errors() {
        let mut i = inputs(OptionsLayer::default());
        i.flow_filter = vec!["get=7".into()];
        let plan = resolve(i).unwrap();
        assert_eq!(
            plan.scenarios[0].flows,
            vec![Flow {
                name: "get".into(),
                weight: 7
            }]
        );
        let mut i = inputs(OptionsLayer::default());
        i.flow_filter = vec!["nope".into()];
        let err = resolve(i).unwrap_err();
        assert!(crate::exit::is_bad_input(&err));
        assert_eq!(
            err.to_string(),
            "unknown flow \"nope\"; the module defines: list, get"
        );
    }

    #[test]
    fn invalid_thresholds_and_load_are_bad_input() {
        for (key, expr) in [
            ("http_req_duration", "p(95)<<200"),
            ("http_reqs", "p(95)<200"),
            ("http_req_duration{name", "p(95)<200"),
        ] {
            let mut i = inputs(OptionsLayer::default());
            i.slo = Some(SloFile {
                thresholds: BTreeMap::from([(
                    key.to_string(),
                    vec![ThresholdEntry::Expr(expr.to_string())],
                )]),
                ..Default::default()
            });
            let err = resolve(i).unwrap_err();
            assert!(crate::exit::is_bad_input(&err), "{key} {expr}: {err:#}");
        }
        let err = resolve(inputs(OptionsLayer {
            vus: Some(0),
            ..Default::default()
        }))
        .unwrap_err();
        assert!(crate::exit::is_bad_input(&err));
        let err = resolve(inputs(OptionsLayer {
            vus: Some(5),
            iterations: Some(2),
            ..Default::default()
        }))
        .unwrap_err();
        assert!(err.to_string().contains("cannot keep 5 VUs busy"));
    }

    fn scenario(executor: &str) -> options::ScenarioConfig {
        options::ScenarioConfig {
            executor: executor.into(),
            ..Default::default()
        }
    }

    #[test]
    fn declared_scenarios_and_their_replacement_by_shortcuts() {
        let mut i = inputs(OptionsLayer::default());
        let mut a = scenario("constant-vus");
        a.vus = Some(3);
        a.duration = Some(Duration::from_secs(5));
        a.env = Some(BTreeMap::from([("K".to_string(), "scenario".to_string())]));
        a.tags = Some(BTreeMap::from([("class".to_string(), "a".to_string())]));
        let mut b = scenario("constant-arrival-rate");
        b.rate = Some(10);
        b.duration = Some(Duration::from_secs(5));
        b.pre_allocated_vus = Some(4);
        b.start_time = Some(Duration::from_secs(2));
        i.config = Some(OptionsLayer {
            scenarios: Some(BTreeMap::from([("a".to_string(), a), ("b".to_string(), b)])),
            ..Default::default()
        });
        i.env = BTreeMap::from([
            ("K".to_string(), "global".to_string()),
            ("G".to_string(), "1".to_string()),
        ]);
        let plan = resolve(i).unwrap();
        assert_eq!(plan.scenarios.len(), 2);
        let (a, b) = (&plan.scenarios[0], &plan.scenarios[1]);
        assert_eq!(a.env["K"], "scenario");
        assert_eq!(a.env["G"], "1");
        assert_eq!(a.tags["class"], "a");
        assert_eq!(b.executor.max_vus(), 4);
        assert!(b.executor.is_open());
        assert_eq!(b.end(), Duration::from_secs(7));
        assert_eq!(plan.load_end(), Duration::from_secs(7));
        assert_eq!(plan.max_vus(), 7);

        // A --stage on the command line replaces the declared scenarios.
        let mut i = inputs(OptionsLayer {
            stages: Some(vec![options::StageConfig {
                duration: Duration::from_secs(10),
                target: 50,
            }]),
            ..Default::default()
        });
        i.config = Some(OptionsLayer {
            scenarios: Some(BTreeMap::from([(
                "a".to_string(),
                scenario("constant-vus"),
            )])),
            ..Default::default()
        });
        let plan = resolve(i).unwrap();
        assert_eq!(plan.scenarios[0].name, "default");
        assert_eq!(plan.scenarios[0].executor.name(), "ramping-vus");
        assert_eq!(plan.scenarios[0].executor.max_vus(), 50);
    }

    #[test]
    fn conflicting_load_shapes_are_bad_input() {
        // --vus alone cannot resize declared scenarios.
        let mut i = inputs(OptionsLayer {
            vus: Some(9),
            ..Default::default()
        });
        let mut a = scenario("constant-vus");
        a.vus = Some(1);
        a.duration = Some(Duration::from_secs(1));
        i.config = Some(OptionsLayer {
            scenarios: Some(BTreeMap::from([("a".to_string(), a)])),
            ..Default::default()
        });
        let err = resolve(i).unwrap_err();
        assert!(err.to_string().contains("--vus alone"), "{err}");
        // One layer naming both scenarios and a shortcut.
        let mut i = inputs(OptionsLayer::default());
        i.config = Some(OptionsLayer {
            duration: Some(Duration::from_secs(1)),
            scenarios: Some(BTreeMap::new()),
            ..Default::default()
        });
        let err = resolve(i).unwrap_err();
        assert!(
            err.to_string().contains("either") || err.to_string().contains("one or the other"),
            "{err}"
        );
        // max_vus below the pre-allocated pool.
        let mut i = inputs(OptionsLayer::default());
        let mut b = scenario("ramping-arrival-rate");
        b.stages = Some(vec![options::StageConfig {
            duration: Duration::from_secs(1),
            target: 5,
        }]);
        b.pre_allocated_vus = Some(10);
        b.max_vus = Some(2);
        i.config = Some(OptionsLayer {
            scenarios: Some(BTreeMap::from([("b".to_string(), b)])),
            ..Default::default()
        });
        let err = resolve(i).unwrap_err();
        assert!(
            err.to_string()
                .contains("max_vus (2) is below pre_allocated_vus (10)"),
            "{err}"
        );
    }

    #[test]
    fn plans_read_back_from_results_and_are_judged_by_another_slo_file() {
        let mut i = inputs(OptionsLayer::default());
        i.config = Some(
            toml::from_str(
                r#"
                [scenarios.a]
                executor = "constant-vus"
                vus = 3
                duration = "5s"
                tags = { class = "a" }
                [scenarios.b]
                executor = "ramping-vus"
                stages = [{ duration = "2s", target = 4 }]
                [scenarios.c]
                executor = "shared-iterations"
                vus = 2
                iterations = 9
                [scenarios.d]
                executor = "per-vu-iterations"
                vus = 2
                iterations = 3
                [scenarios.e]
                executor = "constant-arrival-rate"
                rate = 7
                duration = "3s"
                pre_allocated_vus = 2
                [scenarios.f]
                executor = "ramping-arrival-rate"
                time_unit = "1m"
                stages = [{ duration = "1s", target = 60 }]
                pre_allocated_vus = 1
                max_vus = 4
                start_time = "1s"
                "#,
            )
            .unwrap(),
        );
        i.slo = Some(
            toml::from_str(
                r#"
                [thresholds]
                http_req_duration = [{ threshold = "p(95)<200ms", warning = "p(95)<150ms", abort_on_fail = true, delay_abort_eval = "10s" }]
                [[objectives]]
                name = "GET /x"
                p99 = "1s"
                accept_statuses = [429]
                [[phases]]
                name = "w"
                scenario = "b"
                stage = 1
                [[phase_objectives]]
                figure = "p95"
                phase = "w"
                below = "300ms"
                [regression]
                p95_increase = "10%"
                "#,
            )
            .unwrap(),
        );
        let plan = resolve(i).unwrap();
        let json = serde_json::to_value(&plan).unwrap();
        let back: Plan = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        assert_eq!(back.scenarios.len(), 6);
        assert_eq!(
            back.thresholds[0].expressions[0].warning,
            plan.thresholds[0].expressions[0].warning
        );

        // Another SLO file: its selectors replace, an empty list removes.
        let other: SloFile = toml::from_str(
            r#"
            [thresholds]
            http_req_duration = []
            http_reqs = ["count>10"]
            "#,
        )
        .unwrap();
        let judged = back.clone().judged_by(&other).unwrap();
        let selectors: Vec<String> = judged
            .thresholds
            .iter()
            .map(|t| t.selector.to_string())
            .collect();
        assert_eq!(
            selectors,
            ["http_req_duration{name:\"GET /x\"}", "http_reqs"]
        );
        assert!(judged.phases.objectives.is_empty());
        assert_eq!(
            judged.regression,
            crate::baseline::RegressionRules::default()
        );
        assert_eq!(judged.status_policy, plan.status_policy);
        let statuses: SloFile = toml::from_str(
            r#"
            [[objectives]]
            name = "GET /x"
            accept_statuses = [503]
            "#,
        )
        .unwrap();
        let err = back.judged_by(&statuses).unwrap_err();
        assert!(crate::exit::is_bad_input(&err));
        assert!(err.to_string().contains("accept_statuses differ"), "{err}");
    }

    #[test]
    fn stage_values_interpolate() {
        let stages = [
            Stage {
                duration: Duration::from_secs(10),
                target: 100,
            },
            Stage {
                duration: Duration::ZERO,
                target: 7,
            },
        ];
        assert_eq!(stage_value(0, &stages, Duration::from_secs(5)), 50.0);
        assert_eq!(stage_value(0, &stages, Duration::from_secs(10)), 7.0);
    }
}
