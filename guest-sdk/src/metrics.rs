//! Custom metrics, k6's four kinds: [`Counter`], [`Gauge`], [`Rate`] and
//! [`Trend`].
//!
//! A metric is a name plus default tags; creating one is cheap and records
//! nothing, so it can be built where it is used or kept in the VU's state:
//!
//! ```no_run
//! use std::time::Duration;
//! use wasm_slo_sdk::metrics::{Counter, Trend};
//!
//! Counter::new("tasks_created").add(1.0);
//! Counter::new("items").with_tags(&[("kind", "a")]).add(2.0);
//! Trend::new("queue_wait").add_duration(Duration::from_millis(7)); // milliseconds
//! ```
//!
//! Thresholds refer to them by name: `tasks_created: ["count>0"]`.

use std::time::Duration;

use crate::convert::{self, WitTags};
use crate::wit::wasm_slo::scenario::metrics as wit;

macro_rules! metric_common {
    ($ty:ident) => {
        impl $ty {
            /// A metric called `name`, without default tags.
            pub fn new(name: impl Into<String>) -> Self {
                Self {
                    name: name.into(),
                    tags: Vec::new(),
                }
            }

            /// Adds default tags recorded with every sample of this handle.
            pub fn with_tags(mut self, tags: &[(&str, &str)]) -> Self {
                for (k, v) in tags {
                    convert::set_tag(&mut self.tags, k, v);
                }
                self
            }

            /// The metric's name.
            pub fn name(&self) -> &str {
                &self.name
            }

            fn tags_with(&self, extra: &[(&str, &str)]) -> WitTags {
                convert::merged_tags(&self.tags, extra)
            }
        }
    };
}

/// A cumulative sum (k6's `Counter`), e.g. items created.
#[derive(Clone, Debug)]
pub struct Counter {
    name: String,
    tags: WitTags,
}

metric_common!(Counter);

impl Counter {
    /// Adds `value`.
    pub fn add(&self, value: f64) {
        self.add_with_tags(value, &[]);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Adds `value` with extra tags for this sample.
    pub fn add_with_tags(&self, value: f64, tags: &[(&str, &str)]) {
        wit::counter_add(&self.name, value, &self.tags_with(tags));
    }
}

/// The latest value of something (k6's `Gauge`).
#[derive(Clone, Debug)]
pub struct Gauge {
    name: String,
    tags: WitTags,
}

metric_common!(Gauge);

impl Gauge {
    /// Sets the gauge to `value`.
    pub fn set(&self, value: f64) {
        self.set_with_tags(value, &[]);
    }

    /// Sets the gauge with extra tags for this sample.
    pub fn set_with_tags(&self, value: f64, tags: &[(&str, &str)]) {
        wit::gauge_set(&self.name, value, &self.tags_with(tags));
    }
}

/// The share of observations that passed (k6's `Rate`).
#[derive(Clone, Debug)]
pub struct Rate {
    name: String,
    tags: WitTags,
}

metric_common!(Rate);

impl Rate {
    /// Adds one observation.
    pub fn add(&self, passed: bool) {
        self.add_with_tags(passed, &[]);
    }

    /// Adds one observation with extra tags.
    pub fn add_with_tags(&self, passed: bool, tags: &[(&str, &str)]) {
        wit::rate_add(&self.name, passed, &self.tags_with(tags));
    }
}

/// A distribution of values with percentiles (k6's `Trend`).
#[derive(Clone, Debug)]
pub struct Trend {
    name: String,
    tags: WitTags,
}

metric_common!(Trend);

impl Trend {
    /// Adds a plain value (>= 0), not a time.
    pub fn add(&self, value: f64) {
        self.add_with_tags(value, &[]);
    }

    /// Adds a plain value with extra tags.
    pub fn add_with_tags(&self, value: f64, tags: &[(&str, &str)]) {
        wit::trend_add(&self.name, value, false, &self.tags_with(tags));
    }

    /// Adds a time, recorded in milliseconds and shown as a duration.
    pub fn add_duration(&self, duration: Duration) {
        self.add_duration_with_tags(duration, &[]);
    }

    /// Adds a time with extra tags.
    pub fn add_duration_with_tags(&self, duration: Duration, tags: &[(&str, &str)]) {
        let ms = duration.as_secs_f64() * 1_000.0;
        wit::trend_add(&self.name, ms, true, &self.tags_with(tags));
    }
}
