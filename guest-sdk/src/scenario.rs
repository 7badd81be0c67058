//! What a scenario is: the [`Scenario`] trait (a Locust user / a k6 script's
//! lifecycle functions) and its [`Description`] (flows, load profile,
//! thresholds), exported with [`export_scenario!`](crate::export_scenario).
//!
//! Lifecycle, per test: [`Scenario::describe`] when the module is loaded,
//! [`Scenario::setup`] once, then per VU [`Scenario::init_vu`] once and
//! [`Scenario::run`] for each iteration with a flow picked by weight, and
//! finally [`Scenario::teardown`] once.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::time::format_duration;
use crate::wit::exports::wasm_slo::scenario::scenario as wit;

/// A load-test scenario: what one virtual user does.
///
/// The implementing type is the state of one VU (Locust's `HttpUser`
/// instance): [`init_vu`](Scenario::init_vu) builds it, and each
/// [`run`](Scenario::run) gets it mutably.
pub trait Scenario: Sized + 'static {
    /// Defaults: name, flows with weights, options (load profile,
    /// thresholds). The SLO file and the command line override them. May read
    /// [`env`](crate::env).
    fn describe() -> Description;

    /// Once before the load; returned bytes reach every VU as [`SetupData`].
    /// Default: empty.
    fn setup() -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    /// Once per VU before its first iteration (Locust's `on_start`, e.g. log
    /// in); the returned value is this VU's state. An error fails the VU.
    fn init_vu(setup: &SetupData) -> Result<Self>;

    /// One iteration of `flow`. Answer a flow you do not know with
    /// `Err(Error::unknown_flow(flow))`.
    fn run(&mut self, flow: &str) -> Result<()>;

    /// Once after the load. Default: nothing.
    fn teardown(setup: &SetupData) -> Result<()> {
        let _ = setup;
        Ok(())
    }
}

/// The bytes [`Scenario::setup`] returned, as handed to every VU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupData {
    bytes: Vec<u8>,
}

impl SetupData {
    /// Wraps setup bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self { bytes }
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The raw bytes, taking ownership.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Whether setup returned nothing.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.bytes)
            .map_err(|e| Error::new(e).context("setup data is not UTF-8"))
    }

    /// The bytes parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.bytes)
            .map_err(|e| Error::new(e).context("setup data is not the expected JSON"))
    }
}

/// A duration option: a [`Duration`] (written as `"1m30s"`) or a string
/// passed as given (`"30s"`, `"500ms"`).
pub trait DurationOption {
    /// The duration as the runner's options expect it.
    fn to_option_string(&self) -> String;
}

impl DurationOption for Duration {
    fn to_option_string(&self) -> String {
        format_duration(*self)
    }
}

impl DurationOption for &str {
    fn to_option_string(&self) -> String {
        (*self).to_owned()
    }
}

impl DurationOption for String {
    fn to_option_string(&self) -> String {
        self.clone()
    }
}

/// A flow (a Locust task) and its relative weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The name [`Scenario::run`] receives.
    pub name: String,
    /// Relative weight: a VU picks `weight / sum of weights` of its
    /// iterations from this flow.
    pub weight: u32,
}

/// The scenario's defaults: its name, flows and options.
///
/// ```
/// use std::time::Duration;
/// use wasm_slo_sdk::Description;
///
/// let d = Description::new("task-api")
///     .flow("list", 3)
///     .flow("get", 2)
///     .vus(10)
///     .duration(Duration::from_secs(90))
///     .threshold("http_req_duration{name:\"GET /tasks\"}", &["p(95)<500ms"])
///     .threshold("http_req_failed", &["rate<0.01"]);
/// assert_eq!(
///     d.options_json(),
///     r#"{"vus":10,"duration":"1m30s","thresholds":{"http_req_duration{name:\"GET /tasks\"}":["p(95)<500ms"],"http_req_failed":["rate<0.01"]}}"#
/// );
/// ```
///
/// Options become a JSON object in the runner's options schema; keys that
/// were not set are left out, so the runner's own defaults apply.
#[derive(Clone, Debug)]
#[must_use]
pub struct Description {
    name: String,
    flows: Vec<Flow>,
    /// Options in the order they were first set.
    options: Vec<(String, Value)>,
    /// `(metric selector, conditions)` in the order first added.
    thresholds: Vec<(String, Vec<String>)>,
}

/// Options with their own builder methods, in the order they are written.
const KNOWN_OPTIONS: &[&str] = &[
    "vus",
    "duration",
    "iterations",
    "max_duration",
    "graceful_stop",
];

impl Description {
    /// A description named `name` (e.g. `"task-api"`), without flows or
    /// options yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            flows: Vec::new(),
            options: Vec::new(),
            thresholds: Vec::new(),
        }
    }

    /// Adds a flow with a relative weight (Locust's `@task(weight)`). Adding
    /// a name again replaces its weight.
    pub fn flow(mut self, name: impl Into<String>, weight: u32) -> Self {
        let name = name.into();
        match self.flows.iter_mut().find(|f| f.name == name) {
            Some(flow) => flow.weight = weight,
            None => self.flows.push(Flow { name, weight }),
        }
        self
    }

    /// Number of concurrent VUs.
    pub fn vus(self, vus: u64) -> Self {
        self.option("vus", vus)
    }

    /// How long the load runs: `Duration::from_secs(30)` or `"30s"`.
    pub fn duration(self, duration: impl DurationOption) -> Self {
        self.option("duration", duration.to_option_string())
    }

    /// Total iterations (shared by the VUs).
    pub fn iterations(self, iterations: u64) -> Self {
        self.option("iterations", iterations)
    }

    /// Upper bound on the run time when running by iterations.
    pub fn max_duration(self, duration: impl DurationOption) -> Self {
        self.option("max_duration", duration.to_option_string())
    }

    /// Time in-flight iterations get to finish when the load stops.
    pub fn graceful_stop(self, duration: impl DurationOption) -> Self {
        self.option("graceful_stop", duration.to_option_string())
    }

    /// Adds threshold conditions on a metric, in k6's syntax:
    /// `.threshold("http_req_duration{name:\"GET /tasks\"}", &["p(95)<500ms"])`.
    /// Calling it again for the same metric adds to its conditions.
    pub fn threshold(mut self, metric: impl Into<String>, conditions: &[&str]) -> Self {
        let metric = metric.into();
        let conditions = conditions.iter().map(|c| (*c).to_owned());
        match self.thresholds.iter_mut().find(|(m, _)| *m == metric) {
            Some((_, existing)) => existing.extend(conditions),
            None => self.thresholds.push((metric, conditions.collect())),
        }
        self
    }

    /// Sets any option of the runner's schema (e.g. `stages`, `scenarios`),
    /// replacing an earlier value of the key. Setting `"thresholds"` this way
    /// replaces those added with [`threshold`](Self::threshold).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        let value = value.into();
        match self.options.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.options.push((key, value)),
        }
        self
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The flows in the order they were added.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// The options as the JSON object handed to the runner: the known keys
    /// first (`vus`, `duration`, `iterations`, `max_duration`,
    /// `graceful_stop`, `thresholds`), then other options in the order set.
    pub fn options_json(&self) -> String {
        let mut entries: Vec<(&str, Value)> = Vec::new();
        for key in KNOWN_OPTIONS {
            if let Some((_, v)) = self.options.iter().find(|(k, _)| k == key) {
                entries.push((key, v.clone()));
            }
        }
        let explicit_thresholds = self.options.iter().any(|(k, _)| k == "thresholds");
        let mut out = String::from("{");
        let mut first = true;
        let mut push = |out: &mut String, key: &str, value_json: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&Value::from(key).to_string());
            out.push(':');
            out.push_str(value_json);
        };
        for (key, value) in &entries {
            push(&mut out, key, &value.to_string());
        }
        if !explicit_thresholds && !self.thresholds.is_empty() {
            let mut t = String::from("{");
            for (i, (metric, conditions)) in self.thresholds.iter().enumerate() {
                if i > 0 {
                    t.push(',');
                }
                t.push_str(&Value::from(metric.as_str()).to_string());
                t.push(':');
                t.push_str(&Value::from(conditions.clone()).to_string());
            }
            t.push('}');
            push(&mut out, "thresholds", &t);
        }
        for (key, value) in &self.options {
            if !KNOWN_OPTIONS.contains(&key.as_str()) {
                push(&mut out, key, &value.to_string());
            }
        }
        out.push('}');
        out
    }

    pub(crate) fn into_wit(self) -> wit::Description {
        let options = self.options_json();
        wit::Description {
            name: self.name,
            flows: self
                .flows
                .into_iter()
                .map(|f| wit::Flow {
                    name: f.name,
                    weight: f.weight,
                })
                .collect(),
            options,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_follow_the_schema_and_omit_unset_keys() {
        let d = Description::new("x");
        assert_eq!(d.options_json(), "{}");

        let d = Description::new("x")
            .threshold("http_req_failed", &["rate<0.01"])
            .graceful_stop("30s")
            .max_duration(Duration::from_secs(600))
            .iterations(100)
            .duration(Duration::from_secs(30))
            .vus(10)
            .threshold("http_req_duration", &["p(95)<500ms"])
            .threshold("http_req_failed", &["rate<0.05"]);
        assert_eq!(
            d.options_json(),
            r#"{"vus":10,"duration":"30s","iterations":100,"max_duration":"10m","graceful_stop":"30s","thresholds":{"http_req_failed":["rate<0.01","rate<0.05"],"http_req_duration":["p(95)<500ms"]}}"#
        );
        let parsed: Value = serde_json::from_str(&d.options_json()).unwrap();
        assert_eq!(parsed["thresholds"]["http_req_duration"][0], "p(95)<500ms");
    }

    #[test]
    fn escape_hatch_options() {
        let d = Description::new("x")
            .option("stages", json!([{"duration": "1m", "target": 10}]))
            .vus(1)
            .option("vus", 2)
            .threshold("checks", &["rate>0.99"])
            .option("thresholds", json!({"a": ["count>0"]}));
        assert_eq!(
            d.options_json(),
            r#"{"vus":2,"stages":[{"duration":"1m","target":10}],"thresholds":{"a":["count>0"]}}"#
        );
    }

    #[test]
    fn flows_keep_order_and_replace_weights() {
        let d = Description::new("x").flow("a", 1).flow("b", 2).flow("a", 3);
        let w = d.into_wit();
        assert_eq!(w.name, "x");
        assert_eq!(
            w.flows
                .iter()
                .map(|f| (f.name.as_str(), f.weight))
                .collect::<Vec<_>>(),
            vec![("a", 3), ("b", 2)]
        );
    }

    #[test]
    fn setup_data_reads_json() {
        let s = SetupData::new(br#"{"started":true}"#.to_vec());
        let v: Value = s.json().unwrap();
        assert_eq!(v["started"], true);
        assert!(SetupData::default().is_empty());
        assert!(SetupData::new(b"x".to_vec()).json::<Value>().is_err());
    }
}
