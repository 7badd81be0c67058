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
use crate::executor::{Executor, ExecutorKind, OrderedMap, Stage};
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
///
/// # Load shape
///
/// The load is shaped one of two ways, not both (the runner refuses options
/// that mix them):
///
/// - a single scenario through the shortcuts: [`vus`](Self::vus) with
///   [`duration`](Self::duration) (constant VUs) or
///   [`iterations`](Self::iterations) (shared iterations), or
///   [`stages`](Self::stages) (ramping VUs from `vus`, else 0);
/// - named [`scenario`](Self::scenario)s, each with its
///   [`Executor`], run together.
///
/// ```
/// use wasm_slo_sdk::{Description, Executor, Stage};
///
/// let ramp = Description::new("shop")
///     .flow("browse", 1)
///     .stages(&[Stage::new("30s", 10), Stage::new("1m", 10)]);
/// assert_eq!(
///     ramp.options_json(),
///     r#"{"stages":[{"duration":"30s","target":10},{"duration":"1m","target":10}]}"#
/// );
///
/// let mixed = Description::new("shop")
///     .flow("browse", 1)
///     .flow("buy", 1)
///     .scenario("browsers", Executor::constant_vus(5, "2m").flow("browse"))
///     .scenario(
///         "buyers",
///         Executor::constant_arrival_rate(10, "2m", 5).flow("buy"),
///     );
/// assert_eq!(
///     mixed.options_json(),
///     r#"{"scenarios":{"browsers":{"executor":"constant-vus","vus":5,"duration":"2m","flow":"browse"},"buyers":{"executor":"constant-arrival-rate","rate":10,"duration":"2m","pre_allocated_vus":5,"flow":"buy"}}}"#
/// );
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Description {
    name: String,
    flows: Vec<Flow>,
    /// Options in the order they were first set.
    options: Vec<(String, Value)>,
    /// Scenario name -> its JSON object (text), in the order first added.
    scenarios: OrderedMap<String>,
    /// `(metric selector, conditions)` in the order first added.
    thresholds: Vec<(String, Vec<String>)>,
}

/// Options with their own builder methods, in the order they are written
/// (`scenarios` and `thresholds` come after them).
const KNOWN_OPTIONS: &[&str] = &[
    "vus",
    "duration",
    "iterations",
    "max_duration",
    "graceful_stop",
    "stages",
];

impl Description {
    /// A description named `name` (e.g. `"task-api"`), without flows or
    /// options yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            flows: Vec::new(),
            options: Vec::new(),
            scenarios: OrderedMap::default(),
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

    /// Ramps VUs through `stages` (k6's `stages` shortcut), starting from
    /// [`vus`](Self::vus), else 0; the stages set the length, so do not
    /// combine them with [`duration`](Self::duration),
    /// [`iterations`](Self::iterations) or [`scenario`](Self::scenario).
    /// Replaces earlier stages.
    ///
    /// `.stages(&[Stage::new("30s", 10), Stage::new("1m", 10), Stage::new("10s", 0)])`
    pub fn stages(self, stages: &[Stage]) -> Self {
        let value = serde_json::to_value(stages).expect("stages always serialize to JSON");
        self.option("stages", value)
    }

    /// Allows requests to hosts matching `pattern`: `"api.example.com"`
    /// (any port), `"127.0.0.1:8080"`, `"[::1]:8080"`, `"*.example.com"`
    /// (every subdomain) or `"*"` (every host). Calling it again adds a
    /// pattern.
    ///
    /// The runner refuses requests to any host that neither the module
    /// allows nor the command line (`--allow-host`); with no pattern at all
    /// every request fails with [`ErrorKind::ForbiddenHost`].
    ///
    /// [`ErrorKind::ForbiddenHost`]: crate::http::ErrorKind::ForbiddenHost
    pub fn allow_host(mut self, pattern: impl Into<String>) -> Self {
        let pattern = Value::from(pattern.into());
        match self.options.iter_mut().find(|(k, _)| k == "allowed_hosts") {
            Some((_, Value::Array(list))) => {
                if !list.contains(&pattern) {
                    list.push(pattern);
                }
            }
            Some((_, slot)) => *slot = Value::Array(vec![pattern]),
            None => self
                .options
                .push(("allowed_hosts".into(), Value::Array(vec![pattern]))),
        }
        self
    }

    /// Allows requests to the host and port of `url` (the port of its
    /// scheme when it names none): `.allow_url(&env_or("BASE_URL", ...))`
    /// lets the module reach the service it is pointed at. Text that is not
    /// an `http(s)://` URL is passed on as a pattern for the runner to judge.
    ///
    /// ```
    /// use wasm_slo_sdk::Description;
    ///
    /// let d = Description::new("api")
    ///     .allow_url("https://user@api.example.com/v1?x=1")
    ///     .allow_url("http://[::1]:8080/")
    ///     .allow_host("*.cdn.example.com");
    /// assert_eq!(
    ///     d.options_json(),
    ///     r#"{"allowed_hosts":["api.example.com:443","[::1]:8080","*.cdn.example.com"]}"#
    /// );
    /// ```
    pub fn allow_url(self, url: &str) -> Self {
        let pattern = host_of_url(url).unwrap_or_else(|| url.to_owned());
        self.allow_host(pattern)
    }

    /// The most CPU time the scenario's own code may use in one iteration
    /// (or one `init_vu`, `setup`, `teardown`) before the runner stops it
    /// with a trap; the runner's default is 60 s. Time spent in
    /// [`sleep`](crate::sleep) or waiting for HTTP does not count.
    pub fn iteration_cpu_limit(self, limit: impl DurationOption) -> Self {
        self.option("iteration_cpu_limit", limit.to_option_string())
    }

    /// Adds a named scenario (an entry of k6's `scenarios`) run by
    /// `executor`; adding a name again replaces its scenario. Scenarios are
    /// an alternative to the [`duration`](Self::duration),
    /// [`iterations`](Self::iterations) and [`stages`](Self::stages)
    /// shortcuts: the runner refuses options that set both.
    ///
    /// `.scenario("smoke", Executor::constant_vus(1, "30s").flow("health"))`
    pub fn scenario<K: ExecutorKind>(
        mut self,
        name: impl Into<String>,
        executor: Executor<K>,
    ) -> Self {
        self.scenarios.insert(name.into(), executor.to_json());
        self
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

    /// Sets any option of the runner's schema, replacing an earlier value
    /// of the key. Setting `"scenarios"` or `"thresholds"` this way replaces
    /// those added with [`scenario`](Self::scenario) or
    /// [`threshold`](Self::threshold).
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
    /// `graceful_stop`, `stages`, `scenarios`, `thresholds`), then other
    /// options in the order set.
    pub fn options_json(&self) -> String {
        /// `{"key":json,...}` from keys and their JSON texts.
        fn object<'a>(entries: impl IntoIterator<Item = (&'a str, String)>) -> String {
            let body = entries
                .into_iter()
                .map(|(key, json)| format!("{}:{json}", Value::from(key)))
                .collect::<Vec<_>>()
                .join(",");
            format!("{{{body}}}")
        }
        let set = |key: &str| {
            self.options
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.to_string())
        };
        let mut entries: Vec<(&str, String)> = KNOWN_OPTIONS
            .iter()
            .filter_map(|key| Some((*key, set(key)?)))
            .collect();
        // Set with `option` wins over the builder methods.
        let scenarios = set("scenarios").or_else(|| {
            (!self.scenarios.is_empty()).then(|| {
                object(
                    self.scenarios
                        .iter()
                        .map(|(name, json)| (name.as_str(), json.clone())),
                )
            })
        });
        let thresholds = set("thresholds").or_else(|| {
            (!self.thresholds.is_empty()).then(|| {
                object(self.thresholds.iter().map(|(metric, conditions)| {
                    (metric.as_str(), Value::from(conditions.clone()).to_string())
                }))
            })
        });
        entries.extend(scenarios.map(|json| ("scenarios", json)));
        entries.extend(thresholds.map(|json| ("thresholds", json)));
        entries.extend(
            self.options
                .iter()
                .filter(|(k, _)| {
                    !KNOWN_OPTIONS.contains(&k.as_str()) && k != "scenarios" && k != "thresholds"
                })
                .map(|(k, v)| (k.as_str(), v.to_string())),
        );
        object(entries)
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

/// `host:port` of an `http://` or `https://` URL.
fn host_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    // A port follows the last `:`, unless that `:` is inside an IPv6 `[...]`.
    let has_port = match host_port.rfind(':') {
        Some(i) => !host_port[i..].contains(']'),
        None => false,
    };
    Some(if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(host_of_url("http://a.b").as_deref(), Some("a.b:80"));
        assert_eq!(host_of_url("HTTPS://a.b/x").as_deref(), Some("a.b:443"));
        assert_eq!(
            host_of_url("http://127.0.0.1:9/x").as_deref(),
            Some("127.0.0.1:9")
        );
        assert_eq!(host_of_url("http://[::1]/").as_deref(), Some("[::1]:80"));
        assert_eq!(host_of_url("http://u:p@h:1#f").as_deref(), Some("h:1"));
        assert_eq!(host_of_url("ftp://h"), None);
        assert_eq!(host_of_url("h:1"), None);
        assert_eq!(host_of_url("http:///x"), None);
        let d = Description::new("x")
            .allow_host("a")
            .allow_host("a")
            .allow_url("nonsense")
            .iteration_cpu_limit(Duration::from_secs(5));
        assert_eq!(
            d.options_json(),
            r#"{"allowed_hosts":["a","nonsense"],"iteration_cpu_limit":"5s"}"#
        );
    }

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
    fn stages_shortcut() {
        let d = Description::new("x")
            .threshold("checks", &["rate>0.99"])
            .stages(&[Stage::new("1s", 1)])
            .vus(2)
            .stages(&[
                Stage::new("30s", 10),
                Stage::new(Duration::from_secs(60), 10),
                Stage::new("500ms", 0),
            ])
            .graceful_stop("5s");
        assert_eq!(
            d.options_json(),
            r#"{"vus":2,"graceful_stop":"5s","stages":[{"duration":"30s","target":10},{"duration":"1m","target":10},{"duration":"500ms","target":0}],"thresholds":{"checks":["rate>0.99"]}}"#
        );
    }

    #[test]
    fn scenarios_of_every_executor() {
        let d = Description::new("content-api")
            .flow("health", 1)
            .flow("generate", 1)
            .flow("mixed", 1)
            .threshold("http_req_failed", &["rate<0.01"])
            .scenario(
                "health",
                Executor::constant_vus(5, "2m")
                    .flow("health")
                    .tag("class", "health"),
            )
            .scenario(
                "spike",
                Executor::ramping_vus(0, &[Stage::new("10s", 100), Stage::new("2m", 100)])
                    .graceful_ramp_down("30s")
                    .start_time("30s"),
            )
            .scenario(
                "open",
                Executor::constant_arrival_rate(200, "10m", 50)
                    .time_unit("1s")
                    .max_vus(200)
                    .flows(&[("mixed", 3), ("health", 1)])
                    .env("TOPIC", "news"),
            )
            .scenario(
                "ramp-rate",
                Executor::ramping_arrival_rate(0, &[Stage::new("1m", 50)], 10)
                    .time_unit(Duration::from_secs(60))
                    .graceful_stop("10s"),
            )
            .scenario("once", Executor::per_vu_iterations(3, 1))
            .scenario(
                "batch",
                Executor::shared_iterations(2, 100).max_duration("1m"),
            );
        let expected = json!({
            "scenarios": {
                "health": {
                    "executor": "constant-vus", "vus": 5, "duration": "2m",
                    "flow": "health", "tags": {"class": "health"}
                },
                "spike": {
                    "executor": "ramping-vus", "start_vus": 0,
                    "stages": [{"duration": "10s", "target": 100}, {"duration": "2m", "target": 100}],
                    "graceful_ramp_down": "30s", "start_time": "30s"
                },
                "open": {
                    "executor": "constant-arrival-rate", "rate": 200, "time_unit": "1s",
                    "duration": "10m", "pre_allocated_vus": 50, "max_vus": 200,
                    "flows": {"mixed": 3, "health": 1}, "env": {"TOPIC": "news"}
                },
                "ramp-rate": {
                    "executor": "ramping-arrival-rate", "start_rate": 0, "time_unit": "1m",
                    "stages": [{"duration": "1m", "target": 50}], "pre_allocated_vus": 10,
                    "graceful_stop": "10s"
                },
                "once": {"executor": "per-vu-iterations", "vus": 3, "iterations": 1},
                "batch": {
                    "executor": "shared-iterations", "vus": 2, "iterations": 100,
                    "max_duration": "1m"
                }
            },
            "thresholds": {"http_req_failed": ["rate<0.01"]}
        });
        let json = d.options_json();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), expected);
        // Scenarios keep the order they were added in, before thresholds.
        let at = |needle: &str| json.find(needle).unwrap();
        assert!(json.starts_with(r#"{"scenarios":{"health":{"executor":"constant-vus","vus":5,"duration":"2m","flow":"health","tags":{"class":"health"}},"spike":"#));
        assert!(at("\"spike\"") < at("\"open\"") && at("\"ramp-rate\"") < at("\"once\""));
        assert!(at("\"batch\"") < at("\"thresholds\""));
    }

    #[test]
    fn scenarios_replace_by_name_and_yield_to_the_escape_hatch() {
        let d = Description::new("x")
            .scenario("a", Executor::constant_vus(1, "1s"))
            .scenario("b", Executor::per_vu_iterations(1, 1))
            .scenario("a", Executor::shared_iterations(2, 2))
            .vus(3);
        assert_eq!(
            d.options_json(),
            r#"{"vus":3,"scenarios":{"a":{"executor":"shared-iterations","vus":2,"iterations":2},"b":{"executor":"per-vu-iterations","vus":1,"iterations":1}}}"#
        );
        let d = d.option("scenarios", json!({"c": {"executor": "constant-vus"}}));
        assert_eq!(
            d.options_json(),
            r#"{"vus":3,"scenarios":{"c":{"executor":"constant-vus"}}}"#
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
