//! Load shapes beyond `vus` + `duration`: ramping [`Stage`]s and named
//! scenarios driven by an [`Executor`] (k6's `stages` and `scenarios`).
//!
//! Each of k6's six executors has a constructor on [`Executor`] taking the
//! fields it needs; the fields it may take besides have their own methods,
//! which exist only on that executor's type, so a description cannot carry a
//! field the runner would refuse. The settings every executor shares (start
//! time, graceful stop, flows, tags, environment) are methods of any
//! [`Executor`].
//!
//! | k6 executor (required fields)                             | constructor                           | optional fields                    |
//! |------------------------------------------------------------|---------------------------------------|------------------------------------|
//! | `constant-vus` (`vus`, `duration`)                         | [`Executor::constant_vus`]            |                                    |
//! | `ramping-vus` (`startVUs`, `stages`)                       | [`Executor::ramping_vus`]             | `graceful_ramp_down`               |
//! | `per-vu-iterations` (`vus`, `iterations`)                  | [`Executor::per_vu_iterations`]       | `max_duration`                     |
//! | `shared-iterations` (`vus`, `iterations`)                  | [`Executor::shared_iterations`]       | `max_duration`                     |
//! | `constant-arrival-rate` (`rate`, `duration`, `preAllocatedVUs`) | [`Executor::constant_arrival_rate`] | `time_unit`, `max_vus`            |
//! | `ramping-arrival-rate` (`startRate`, `stages`, `preAllocatedVUs`) | [`Executor::ramping_arrival_rate`] | `time_unit`, `max_vus`          |
//!
//! Any executor also takes [`start_time`](Executor::start_time),
//! [`graceful_stop`](Executor::graceful_stop), [`flow`](Executor::flow)
//! (k6's `exec`) or [`flows`](Executor::flows), [`tag`](Executor::tag) and
//! [`env`](Executor::env).
//!
//! ```
//! use wasm_slo_sdk::{Description, Executor, Stage};
//!
//! let d = Description::new("content-api")
//!     .flow("health", 1)
//!     .flow("mixed", 1)
//!     .scenario(
//!         "health",
//!         Executor::constant_vus(5, "2m").flow("health").tag("class", "health"),
//!     )
//!     .scenario(
//!         "spike",
//!         Executor::ramping_vus(0, &[Stage::new("10s", 100), Stage::new("2m", 100)])
//!             .graceful_ramp_down("30s")
//!             .start_time("2m"),
//!     )
//!     .scenario(
//!         "open",
//!         Executor::constant_arrival_rate(200, "10m", 50)
//!             .max_vus(200)
//!             .flows(&[("mixed", 3), ("health", 1)])
//!             .env("TOPIC", "news"),
//!     );
//! assert!(d.options_json().starts_with(
//!     r#"{"scenarios":{"health":{"executor":"constant-vus","vus":5,"duration":"2m","flow":"health","tags":{"class":"health"}},"#
//! ));
//! ```
//!
//! `scenarios` and the single-scenario shortcuts (`duration`, `iterations`,
//! `stages`) are alternatives: the runner refuses options that set both.
//!
//! [`Description::stages`]: crate::Description::stages

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::scenario::DurationOption;

/// One ramping stage: move linearly to `target` over `duration`.
///
/// The target is a number of VUs in [`Description::stages`] and
/// [`Executor::ramping_vus`], and iterations per time unit in
/// [`Executor::ramping_arrival_rate`]. Serialized as
/// `{"duration": "30s", "target": 10}`.
///
/// [`Description::stages`]: crate::Description::stages
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Stage {
    duration: String,
    target: u64,
}

impl Stage {
    /// A stage reaching `target` after `duration`:
    /// `Stage::new("30s", 100)` or `Stage::new(Duration::from_secs(30), 100)`.
    pub fn new(duration: impl DurationOption, target: u64) -> Self {
        Self {
            duration: duration.to_option_string(),
            target,
        }
    }

    /// The stage's length as the runner's options write it (`"30s"`).
    pub fn duration(&self) -> &str {
        &self.duration
    }

    /// The value reached at the end of the stage.
    pub fn target(&self) -> u64 {
        self.target
    }
}

/// One named scenario of the `scenarios` option: an executor (how the load
/// is shaped) with its settings.
///
/// Build it with the constructor of its kind ([`constant_vus`],
/// [`ramping_vus`], [`per_vu_iterations`], [`shared_iterations`],
/// [`constant_arrival_rate`], [`ramping_arrival_rate`]), set optional
/// fields with methods, and hand it to
/// [`Description::scenario`](crate::Description::scenario). The type
/// parameter is the executor's kind; methods that only apply to some kinds
/// exist only for them.
///
/// Serialized as the runner's scenario object, with `executor` first and
/// unset optional fields left out.
///
/// [`constant_vus`]: Executor::constant_vus
/// [`ramping_vus`]: Executor::ramping_vus
/// [`per_vu_iterations`]: Executor::per_vu_iterations
/// [`shared_iterations`]: Executor::shared_iterations
/// [`constant_arrival_rate`]: Executor::constant_arrival_rate
/// [`ramping_arrival_rate`]: Executor::ramping_arrival_rate
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Executor<K> {
    kind: K,
    common: Common,
}

/// The kind of an [`Executor`]: one of [`ConstantVus`], [`RampingVus`],
/// [`PerVuIterations`], [`SharedIterations`], [`ConstantArrivalRate`],
/// [`RampingArrivalRate`]. Sealed.
pub trait ExecutorKind: Serialize + sealed::Sealed {
    /// The `executor` value in the runner's options (`"constant-vus"`).
    const NAME: &'static str;
}

mod sealed {
    pub trait Sealed {}
}

/// A fixed number of VUs looping for a duration (`constant-vus`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConstantVus {
    vus: u64,
    duration: String,
}

/// VUs ramped through stages (`ramping-vus`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RampingVus {
    start_vus: u64,
    stages: Vec<Stage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graceful_ramp_down: Option<String>,
}

/// Each VU runs a fixed number of iterations (`per-vu-iterations`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PerVuIterations {
    vus: u64,
    iterations: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_duration: Option<String>,
}

/// VUs share a fixed number of iterations (`shared-iterations`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SharedIterations {
    vus: u64,
    iterations: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_duration: Option<String>,
}

/// A fixed rate of iteration starts, whatever the server does
/// (`constant-arrival-rate`, an open model).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConstantArrivalRate {
    rate: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_unit: Option<String>,
    duration: String,
    pre_allocated_vus: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_vus: Option<u64>,
}

/// A rate of iteration starts ramped through stages
/// (`ramping-arrival-rate`, an open model).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RampingArrivalRate {
    start_rate: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_unit: Option<String>,
    stages: Vec<Stage>,
    pre_allocated_vus: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_vus: Option<u64>,
}

macro_rules! executor_kinds {
    ($($kind:ident => $name:literal),* $(,)?) => {
        $(
            impl sealed::Sealed for $kind {}
            impl ExecutorKind for $kind {
                const NAME: &'static str = $name;
            }
        )*
    };
}

executor_kinds! {
    ConstantVus => "constant-vus",
    RampingVus => "ramping-vus",
    PerVuIterations => "per-vu-iterations",
    SharedIterations => "shared-iterations",
    ConstantArrivalRate => "constant-arrival-rate",
    RampingArrivalRate => "ramping-arrival-rate",
}

/// Settings every executor takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
struct Common {
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graceful_stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow: Option<String>,
    #[serde(skip_serializing_if = "OrderedMap::is_empty")]
    flows: OrderedMap<u32>,
    #[serde(skip_serializing_if = "OrderedMap::is_empty")]
    tags: OrderedMap<String>,
    #[serde(skip_serializing_if = "OrderedMap::is_empty")]
    env: OrderedMap<String>,
}

/// A JSON object kept in insertion order; inserting a key again replaces
/// its value in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderedMap<V>(Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    pub(crate) fn insert(&mut self, key: String, value: V) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.0.push((key, value)),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(String, V)> {
        self.0.iter()
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<K: ExecutorKind> Serialize for Executor<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Object<'a, K> {
            executor: &'static str,
            #[serde(flatten)]
            kind: &'a K,
            #[serde(flatten)]
            common: &'a Common,
        }
        Object {
            executor: K::NAME,
            kind: &self.kind,
            common: &self.common,
        }
        .serialize(serializer)
    }
}

impl<K: ExecutorKind> Executor<K> {
    fn of(kind: K) -> Self {
        Self {
            kind,
            common: Common::default(),
        }
    }

    /// The `executor` value this scenario is written with
    /// (`"constant-vus"`, ...).
    pub fn name(&self) -> &'static str {
        K::NAME
    }

    /// The scenario as the runner's JSON scenario object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a scenario always serializes to JSON")
    }

    /// Delay from the test's start before this scenario begins (k6's
    /// `startTime`); default `0s`.
    pub fn start_time(mut self, delay: impl DurationOption) -> Self {
        self.common.start_time = Some(delay.to_option_string());
        self
    }

    /// Time in-flight iterations get to finish when this scenario ends;
    /// default the top-level `graceful_stop`, else the runner's default.
    pub fn graceful_stop(mut self, duration: impl DurationOption) -> Self {
        self.common.graceful_stop = Some(duration.to_option_string());
        self
    }

    /// Runs only this flow of the module (k6's `exec`). Replaces weights
    /// set with [`flows`](Self::flows). Without `flow` or `flows` the
    /// scenario runs all the module's flows with their weights.
    pub fn flow(mut self, name: impl Into<String>) -> Self {
        self.common.flow = Some(name.into());
        self.common.flows = OrderedMap::default();
        self
    }

    /// Runs these flows of the module with these relative weights:
    /// `.flows(&[("mixed", 3), ("health", 1)])`. Calling it again adds
    /// flows (or replaces their weights); replaces a single
    /// [`flow`](Self::flow).
    pub fn flows(mut self, flows: &[(&str, u32)]) -> Self {
        self.common.flow = None;
        for (name, weight) in flows {
            self.common.flows.insert((*name).to_owned(), *weight);
        }
        self
    }

    /// Adds a tag to every sample of this scenario; setting a key again
    /// replaces its value.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.common.tags.insert(key.into(), value.into());
        self
    }

    /// Sets a variable for this scenario's VUs ([`env`](crate::env)), over
    /// the `-e` ones; setting a key again replaces its value.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.common.env.insert(key.into(), value.into());
        self
    }
}

impl Executor<ConstantVus> {
    /// `vus` VUs loop over their iterations for `duration`
    /// (`constant-vus`): `Executor::constant_vus(10, "1m")`.
    pub fn constant_vus(vus: u64, duration: impl DurationOption) -> Self {
        Self::of(ConstantVus {
            vus,
            duration: duration.to_option_string(),
        })
    }
}

impl Executor<RampingVus> {
    /// VUs start at `start_vus` and follow `stages` (targets are VU counts;
    /// `ramping-vus`): `Executor::ramping_vus(0, &[Stage::new("30s", 50)])`.
    pub fn ramping_vus(start_vus: u64, stages: &[Stage]) -> Self {
        Self::of(RampingVus {
            start_vus,
            stages: stages.to_vec(),
            graceful_ramp_down: None,
        })
    }

    /// Time a VU removed by a ramp-down gets to finish its iteration.
    pub fn graceful_ramp_down(mut self, duration: impl DurationOption) -> Self {
        self.kind.graceful_ramp_down = Some(duration.to_option_string());
        self
    }
}

impl Executor<PerVuIterations> {
    /// Each of `vus` VUs runs `iterations` iterations
    /// (`per-vu-iterations`).
    pub fn per_vu_iterations(vus: u64, iterations: u64) -> Self {
        Self::of(PerVuIterations {
            vus,
            iterations,
            max_duration: None,
        })
    }

    /// Upper bound on the scenario's run time.
    pub fn max_duration(mut self, duration: impl DurationOption) -> Self {
        self.kind.max_duration = Some(duration.to_option_string());
        self
    }
}

impl Executor<SharedIterations> {
    /// `vus` VUs share `iterations` iterations, each taking the next one
    /// when free (`shared-iterations`).
    pub fn shared_iterations(vus: u64, iterations: u64) -> Self {
        Self::of(SharedIterations {
            vus,
            iterations,
            max_duration: None,
        })
    }

    /// Upper bound on the scenario's run time.
    pub fn max_duration(mut self, duration: impl DurationOption) -> Self {
        self.kind.max_duration = Some(duration.to_option_string());
        self
    }
}

impl Executor<ConstantArrivalRate> {
    /// Starts `rate` iterations per time unit (default 1 s) for
    /// `duration`, whatever the server's latency, from a pool of
    /// `pre_allocated_vus` VUs initialised beforehand
    /// (`constant-arrival-rate`):
    /// `Executor::constant_arrival_rate(200, "10m", 50).max_vus(200)`.
    pub fn constant_arrival_rate(
        rate: u64,
        duration: impl DurationOption,
        pre_allocated_vus: u64,
    ) -> Self {
        Self::of(ConstantArrivalRate {
            rate,
            time_unit: None,
            duration: duration.to_option_string(),
            pre_allocated_vus,
            max_vus: None,
        })
    }

    /// The period `rate` counts iterations in; default `1s`
    /// (`.time_unit("1m")` makes the rate per minute).
    pub fn time_unit(mut self, unit: impl DurationOption) -> Self {
        self.kind.time_unit = Some(unit.to_option_string());
        self
    }

    /// Most VUs the pool may grow to when the pre-allocated ones are all
    /// busy; default `pre_allocated_vus`.
    pub fn max_vus(mut self, max_vus: u64) -> Self {
        self.kind.max_vus = Some(max_vus);
        self
    }
}

impl Executor<RampingArrivalRate> {
    /// Starts iterations at `start_rate` per time unit (default 1 s), then
    /// follows `stages` (targets are rates), from a pool of
    /// `pre_allocated_vus` VUs initialised beforehand
    /// (`ramping-arrival-rate`).
    pub fn ramping_arrival_rate(start_rate: u64, stages: &[Stage], pre_allocated_vus: u64) -> Self {
        Self::of(RampingArrivalRate {
            start_rate,
            time_unit: None,
            stages: stages.to_vec(),
            pre_allocated_vus,
            max_vus: None,
        })
    }

    /// The period rates count iterations in; default `1s`.
    pub fn time_unit(mut self, unit: impl DurationOption) -> Self {
        self.kind.time_unit = Some(unit.to_option_string());
        self
    }

    /// Most VUs the pool may grow to when the pre-allocated ones are all
    /// busy; default `pre_allocated_vus`.
    pub fn max_vus(mut self, max_vus: u64) -> Self {
        self.kind.max_vus = Some(max_vus);
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn constant_vus() {
        assert_eq!(
            Executor::constant_vus(5, Duration::from_secs(120)).to_json(),
            r#"{"executor":"constant-vus","vus":5,"duration":"2m"}"#
        );
    }

    #[test]
    fn ramping_vus() {
        let stages = [
            Stage::new("10s", 100),
            Stage::new(Duration::from_secs(90), 0),
        ];
        let e = Executor::ramping_vus(0, &stages);
        assert_eq!(
            e.to_json(),
            r#"{"executor":"ramping-vus","start_vus":0,"stages":[{"duration":"10s","target":100},{"duration":"1m30s","target":0}]}"#
        );
        assert_eq!(
            e.graceful_ramp_down("30s").to_json(),
            r#"{"executor":"ramping-vus","start_vus":0,"stages":[{"duration":"10s","target":100},{"duration":"1m30s","target":0}],"graceful_ramp_down":"30s"}"#
        );
    }

    #[test]
    fn iterations_executors() {
        assert_eq!(
            Executor::per_vu_iterations(2, 10).to_json(),
            r#"{"executor":"per-vu-iterations","vus":2,"iterations":10}"#
        );
        assert_eq!(
            Executor::per_vu_iterations(2, 10)
                .max_duration("5m")
                .to_json(),
            r#"{"executor":"per-vu-iterations","vus":2,"iterations":10,"max_duration":"5m"}"#
        );
        assert_eq!(
            Executor::shared_iterations(4, 100)
                .max_duration(Duration::from_millis(1500))
                .to_json(),
            r#"{"executor":"shared-iterations","vus":4,"iterations":100,"max_duration":"1.5s"}"#
        );
    }

    #[test]
    fn constant_arrival_rate() {
        assert_eq!(
            Executor::constant_arrival_rate(200, "10m", 50).to_json(),
            r#"{"executor":"constant-arrival-rate","rate":200,"duration":"10m","pre_allocated_vus":50}"#
        );
        assert_eq!(
            Executor::constant_arrival_rate(200, "10m", 50)
                .max_vus(200)
                .time_unit("1s")
                .to_json(),
            r#"{"executor":"constant-arrival-rate","rate":200,"time_unit":"1s","duration":"10m","pre_allocated_vus":50,"max_vus":200}"#
        );
    }

    #[test]
    fn ramping_arrival_rate() {
        let e = Executor::ramping_arrival_rate(10, &[Stage::new("1m", 300)], 20);
        assert_eq!(
            e.to_json(),
            r#"{"executor":"ramping-arrival-rate","start_rate":10,"stages":[{"duration":"1m","target":300}],"pre_allocated_vus":20}"#
        );
        assert_eq!(
            e.time_unit(Duration::from_secs(60)).max_vus(500).to_json(),
            r#"{"executor":"ramping-arrival-rate","start_rate":10,"time_unit":"1m","stages":[{"duration":"1m","target":300}],"pre_allocated_vus":20,"max_vus":500}"#
        );
    }

    #[test]
    fn common_settings_follow_the_executor_fields() {
        let e = Executor::constant_vus(1, "1s")
            .env("TOPIC", "news")
            .tag("class", "health")
            .start_time("30s")
            .graceful_stop(Duration::from_secs(5))
            .tag("class", "probe")
            .tag("team", "web")
            .flow("health");
        assert_eq!(
            e.to_json(),
            r#"{"executor":"constant-vus","vus":1,"duration":"1s","start_time":"30s","graceful_stop":"5s","flow":"health","tags":{"class":"probe","team":"web"},"env":{"TOPIC":"news"}}"#
        );
        assert_eq!(e.name(), "constant-vus");
    }

    #[test]
    fn flow_and_flows_replace_each_other() {
        let e = Executor::shared_iterations(1, 1)
            .flow("a")
            .flows(&[("mixed", 3), ("health", 1)])
            .flows(&[("mixed", 2), ("slow", 0)]);
        assert_eq!(
            e.to_json(),
            r#"{"executor":"shared-iterations","vus":1,"iterations":1,"flows":{"mixed":2,"health":1,"slow":0}}"#
        );
        assert_eq!(
            e.flow("health").to_json(),
            r#"{"executor":"shared-iterations","vus":1,"iterations":1,"flow":"health"}"#
        );
    }

    #[test]
    fn stage_accessors() {
        let s = Stage::new(Duration::from_millis(500), 7);
        assert_eq!((s.duration(), s.target()), ("500ms", 7));
    }
}
