//! One layer of options, as the module's `describe`, an options file, an SLO
//! file or the command line gives it. Layers merge field by field; the
//! later layer wins (module < file < command line, as in k6).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::exit::{BadInputExt, bad_input};

/// Options of one layer; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionsLayer {
    /// Concurrent virtual users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<u64>,
    /// How long constant-VU load lasts.
    #[serde(
        default,
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Iterations shared by all VUs (k6's shared-iterations shortcut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// Upper bound on an iteration-based run.
    #[serde(
        default,
        alias = "maxDuration",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_duration: Option<Duration>,
    /// Time in-flight iterations get to finish when the load ends.
    #[serde(
        default,
        alias = "gracefulStop",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub graceful_stop: Option<Duration>,
    /// Ramping-VU stages of the single-scenario shortcut (k6's `stages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageConfig>>,
    /// Named scenarios run together (k6's `scenarios`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenarios: Option<BTreeMap<String, ScenarioConfig>>,
    /// Selector -> threshold expressions (k6's `thresholds`). Per selector,
    /// a later layer replaces an earlier one; `[]` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<BTreeMap<String, Vec<super::slo_file::ThresholdEntry>>>,
    /// Hosts the scenario's requests may go to (see [`super::hosts`]).
    /// Layers add to each other: the run allows the union.
    #[serde(
        default,
        alias = "allowedHosts",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_hosts: Option<Vec<String>>,
    /// CPU time the guest's own code may use per call (an iteration,
    /// `init-vu`, `setup`, ...) before it is stopped with a trap.
    #[serde(
        default,
        alias = "iterationCpuLimit",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub iteration_cpu_limit: Option<Duration>,
    /// Wall-clock limit of `setup` (k6's `setupTimeout`).
    #[serde(
        default,
        alias = "setupTimeout",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub setup_timeout: Option<Duration>,
    /// Wall-clock limit of `teardown` (k6's `teardownTimeout`).
    #[serde(
        default,
        alias = "teardownTimeout",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub teardown_timeout: Option<Duration>,
}

/// One stage: move linearly to `target` (VUs, or iterations per time unit
/// in ramping-arrival-rate) over `duration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// How long the stage lasts.
    #[serde(with = "super::duration::serde_str")]
    pub duration: Duration,
    /// Value reached at its end.
    pub target: u64,
}

/// A scenario as written in a file or `describe()` (k6's scenario object,
/// snake_case, with k6's camelCase names accepted as aliases). Which fields
/// apply depends on `executor`; the plan checks that.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// constant-vus, ramping-vus, per-vu-iterations, shared-iterations,
    /// constant-arrival-rate or ramping-arrival-rate.
    pub executor: String,
    /// Delay from the test's start.
    #[serde(
        default,
        alias = "startTime",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<Duration>,
    /// Time in-flight iterations get when the scenario ends.
    #[serde(
        default,
        alias = "gracefulStop",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub graceful_stop: Option<Duration>,
    /// Run only this flow (k6's `exec`).
    #[serde(default, alias = "exec", skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Run these flows with these weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<BTreeMap<String, u32>>,
    /// Tags added to every sample of the scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Variables for the scenario's VUs, over the `-e` ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// VUs (constant-vus, per-vu-iterations, shared-iterations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<u64>,
    /// Length (constant-vus, constant-arrival-rate).
    #[serde(
        default,
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Iterations (per VU or shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// Cap of iteration-based executors.
    #[serde(
        default,
        alias = "maxDuration",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_duration: Option<Duration>,
    /// VUs at the start (ramping-vus).
    #[serde(default, alias = "startVUs", skip_serializing_if = "Option::is_none")]
    pub start_vus: Option<u64>,
    /// Stages (ramping-vus, ramping-arrival-rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageConfig>>,
    /// Time a VU removed by a ramp-down gets to finish its iteration.
    #[serde(
        default,
        alias = "gracefulRampDown",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub graceful_ramp_down: Option<Duration>,
    /// Iterations started per `time_unit` (constant-arrival-rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
    /// Rate at the start (ramping-arrival-rate).
    #[serde(default, alias = "startRate", skip_serializing_if = "Option::is_none")]
    pub start_rate: Option<u64>,
    /// The unit of `rate` (default 1s).
    #[serde(
        default,
        alias = "timeUnit",
        with = "super::duration::serde_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_unit: Option<Duration>,
    /// VUs initialised before an arrival-rate scenario starts.
    #[serde(
        default,
        alias = "preAllocatedVUs",
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_allocated_vus: Option<u64>,
    /// Most VUs an arrival-rate scenario may grow to.
    #[serde(default, alias = "maxVUs", skip_serializing_if = "Option::is_none")]
    pub max_vus: Option<u64>,
}

impl OptionsLayer {
    /// Parses the JSON a module's `describe` returns.
    pub fn from_module_json(json: &str) -> anyhow::Result<Self> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(json)
            .bad_input(|| "the module's describe() options are invalid".into())
    }

    /// Reads an options file (TOML, or JSON by extension).
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        read_config_file(path)
    }

    /// `self` overridden by `later`.
    pub fn overridden_by(mut self, later: &OptionsLayer) -> OptionsLayer {
        fn pick<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if b.is_some() {
                a.clone_from(b);
            }
        }
        // `duration`, `iterations`, `stages` and `scenarios` choose the
        // load's shape together: a layer naming any of them replaces all of
        // them, so `--duration 1m` over a module's `iterations = 1` means
        // one minute, and `--stage` replaces a module's scenarios.
        if later.duration.is_some()
            || later.iterations.is_some()
            || later.stages.is_some()
            || later.scenarios.is_some()
        {
            self.duration = None;
            self.iterations = None;
            self.stages = None;
            self.scenarios = None;
        }
        pick(&mut self.vus, &later.vus);
        pick(&mut self.duration, &later.duration);
        pick(&mut self.iterations, &later.iterations);
        pick(&mut self.max_duration, &later.max_duration);
        pick(&mut self.graceful_stop, &later.graceful_stop);
        pick(&mut self.stages, &later.stages);
        pick(&mut self.scenarios, &later.scenarios);
        pick(&mut self.iteration_cpu_limit, &later.iteration_cpu_limit);
        pick(&mut self.setup_timeout, &later.setup_timeout);
        pick(&mut self.teardown_timeout, &later.teardown_timeout);
        if let Some(hosts) = &later.allowed_hosts {
            self.allowed_hosts
                .get_or_insert_with(Vec::new)
                .extend(hosts.iter().cloned());
        }
        if let Some(later_t) = &later.thresholds {
            let t = self.thresholds.get_or_insert_with(BTreeMap::new);
            for (k, v) in later_t {
                t.insert(k.clone(), v.clone());
            }
        }
        self
    }
}

/// Reads a TOML (or `.json`) file into `T`, with errors naming the file and,
/// for TOML, the line and column.
pub fn read_config_file<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).bad_input(|| format!("cannot read `{}`", path.display()))?;
    parse_config(path, &text)
}

/// Parses `text`, the content of `path` (TOML, or JSON by extension).
pub fn parse_config<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> anyhow::Result<T> {
    if path.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(text).map_err(|e| {
            bad_input(format!(
                "`{}` line {} column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        });
    }
    toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let (line, col) = line_col(text, s.start);
                format!(" line {line} column {col}")
            })
            .unwrap_or_default();
        bad_input(format!(
            "`{}`{at}: {}",
            path.display(),
            e.message().trim_end()
        ))
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layer_wins_per_field_and_per_selector() {
        let module = OptionsLayer::from_module_json(
            r#"{"vus": 5, "duration": "10s", "thresholds": {"a": ["p(95)<1"], "b": ["rate<0.1"]}}"#,
        )
        .unwrap();
        let file: OptionsLayer = toml::from_str(
            "vus = 7\ngraceful_stop = \"2s\"\n[thresholds]\na = [\"p(99)<2\"]\nb = []\n",
        )
        .unwrap();
        let merged = module.overridden_by(&file);
        assert_eq!(merged.vus, Some(7));
        assert_eq!(merged.duration, Some(Duration::from_secs(10)));
        assert_eq!(merged.graceful_stop, Some(Duration::from_secs(2)));
        let t = merged.thresholds.unwrap();
        assert_eq!(
            t["a"],
            vec![super::super::slo_file::ThresholdEntry::Expr(
                "p(99)<2".to_string()
            )]
        );
        assert!(t["b"].is_empty());
    }

    #[test]
    fn duration_or_iterations_replace_the_load_shape_together() {
        let module = OptionsLayer {
            iterations: Some(1),
            vus: Some(1),
            ..Default::default()
        };
        let cli = OptionsLayer {
            duration: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let merged = module.clone().overridden_by(&cli);
        assert_eq!(
            (merged.iterations, merged.duration, merged.vus),
            (None, Some(Duration::from_secs(5)), Some(1))
        );
        let merged = module.overridden_by(&OptionsLayer {
            vus: Some(3),
            ..Default::default()
        });
        assert_eq!((merged.iterations, merged.vus), (Some(1), Some(3)));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_bad_input_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.toml");
        std::fs::write(&p, "vus = 3\nvsu = 4\n").unwrap();
        let err = OptionsLayer::from_file(&p).unwrap_err();
        assert!(crate::exit::is_bad_input(&err));
        let msg = format!("{err:#}");
        assert!(msg.contains("line 2 column 1"), "{msg}");
        assert!(msg.contains("unknown field `vsu`"), "{msg}");
        std::fs::write(&p, "duration = \"5x\"\n").unwrap();
        let msg = format!("{:#}", OptionsLayer::from_file(&p).unwrap_err());
        assert!(msg.contains("invalid duration"), "{msg}");
        assert!(OptionsLayer::from_module_json("{\"vus\": -1}").is_err());
        assert_eq!(
            OptionsLayer::from_module_json("").unwrap(),
            OptionsLayer::default()
        );
    }
}
