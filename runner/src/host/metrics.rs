//! `metrics`: custom counters, gauges, rates and trends, and checks,
//! recorded into the thread's shard with the VU's scenario tag.

use super::HostState;
use crate::metrics::catalog;
use crate::metrics::data::MetricKind;
use crate::metrics::recorder;
use crate::metrics::tags::{TagPairs, scenario_tags};
use crate::wasm::bindings::metrics::Host;

type Tags = Vec<(String, String)>;

/// What sets one check's tag list apart from another's of the same VU, for
/// the VU's memo of their keys.
#[derive(Debug)]
pub(crate) struct CheckTags {
    name: String,
    tags: Tags,
}

impl HostState {
    /// The scenario's name and tags, which every sample of this VU carries;
    /// tags given with a sample come after them and so win.
    #[inline]
    pub fn base_tags(&self) -> TagPairs<'_> {
        scenario_tags(&self.scenario, &self.tags)
    }

    fn record_custom(
        &mut self,
        name: &str,
        kind: MetricKind,
        is_time: bool,
        tags: &Tags,
        value: f64,
    ) {
        if let Some(problem) = invalid_name(name) {
            self.warn_once(name, || {
                format!("custom metric {name:?} ignored: {problem}")
            });
            return;
        }
        let mut pairs = self.base_tags();
        pairs.extend(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        recorder::record_other(name, kind, is_time, &mut pairs, value);
    }
}

/// Why `name` cannot be a custom metric (k6's naming rule, and built-ins are
/// reserved), or None.
fn invalid_name(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || name.len() > 128 {
        return Some(
            "names are 1-128 characters of letters, digits and _, not starting with a digit",
        );
    }
    if catalog::builtin(name).is_some() {
        return Some("the name belongs to a built-in metric");
    }
    None
}

impl Host for HostState {
    fn counter_add(&mut self, name: String, value: f64, tags: Tags) -> wasmtime::Result<()> {
        self.record_custom(&name, MetricKind::Counter, false, &tags, value);
        Ok(())
    }

    fn gauge_set(&mut self, name: String, value: f64, tags: Tags) -> wasmtime::Result<()> {
        self.record_custom(&name, MetricKind::Gauge, false, &tags, value);
        Ok(())
    }

    fn rate_add(&mut self, name: String, passed: bool, tags: Tags) -> wasmtime::Result<()> {
        self.record_custom(
            &name,
            MetricKind::Rate,
            false,
            &tags,
            f64::from(u8::from(passed)),
        );
        Ok(())
    }

    fn trend_add(
        &mut self,
        name: String,
        value: f64,
        is_time: bool,
        tags: Tags,
    ) -> wasmtime::Result<()> {
        self.record_custom(&name, MetricKind::Trend, is_time, &tags, value);
        Ok(())
    }

    fn check(&mut self, name: String, passed: bool, tags: Tags) -> wasmtime::Result<bool> {
        let key = self.check_keys.key(
            |t| t.name == name && t.tags == tags,
            || {
                let mut pairs = scenario_tags(&self.scenario, &self.tags);
                pairs.extend(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                pairs.push(("check", &name));
                let key = recorder::series_key(Some(catalog::CHECKS), &mut pairs);
                let what = CheckTags {
                    name: name.clone(),
                    tags: tags.clone(),
                };
                (what, key)
            },
        );
        recorder::record_other_at(key, MetricKind::Rate, false, f64::from(u8::from(passed)));
        Ok(passed)
    }
}

#[cfg(test)]
mod tests {
    use super::invalid_name;

    #[test]
    fn metric_names() {
        assert!(invalid_name("items_created").is_none());
        assert!(invalid_name("_x1").is_none());
        assert!(invalid_name("1x").is_some());
        assert!(invalid_name("a-b").is_some());
        assert!(invalid_name("").is_some());
        assert!(invalid_name("http_reqs").is_some());
    }
}
