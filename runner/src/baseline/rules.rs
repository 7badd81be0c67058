//! Regression rules: how much worse than the baseline a run may get.
//!
//! Each rule is an optional limit. Latency and throughput limits are
//! *relative* (a ratio of the baseline figure: `0.2` = 20 %), the error-rate
//! limit is *absolute* (percentage points, since an error rate is already a
//! share: `0.05` = 5 points, so 1 % -> 6 % is exactly at the limit).
//!
//! In files (TOML `[regression]`, JSON) and on the command line a limit is
//! written as
//! - a percent string: `"20%"` (relative rules), `"5pp"` or `"5%"` (the
//!   error-rate rule, both meaning percentage points),
//! - a ratio as a float: `0.2`, `0.05` (integers other than `0` are refused,
//!   because `p95_increase = 20` almost certainly meant 20 %, not 2000 %),
//! - `"off"` (or `false`, or JSON `null`) to disable a rule.
//!
//! Fields left out keep [`RegressionRules::default`] (seed 003's rules), so a
//! file only states what it changes. Limits serialize as ratios, disabled
//! ones as `"off"`, which reads back to the same rules.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Limits on how much worse than the baseline a run may be; `None` disables a
/// rule. A figure breaking a limit is a regression.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegressionRules {
    /// Largest allowed relative increase of the median (ratio).
    #[serde(with = "relative")]
    pub p50_increase: Option<f64>,
    /// Largest allowed relative increase of p95 (ratio, e.g. 0.20).
    #[serde(with = "relative")]
    pub p95_increase: Option<f64>,
    /// Largest allowed relative increase of p99 (ratio).
    #[serde(with = "relative")]
    pub p99_increase: Option<f64>,
    /// Largest allowed relative decrease of requests per second (ratio).
    #[serde(with = "relative")]
    pub rps_decrease: Option<f64>,
    /// Largest allowed absolute increase of the error rate (0.05 = 5 points).
    #[serde(with = "points")]
    pub error_rate_increase: Option<f64>,
}

impl Default for RegressionRules {
    /// Seed 003's rules: p95 +20 %, RPS -15 %, error rate +5 points.
    fn default() -> Self {
        RegressionRules {
            p50_increase: None,
            p95_increase: Some(0.20),
            p99_increase: None,
            rps_decrease: Some(0.15),
            error_rate_increase: Some(0.05),
        }
    }
}

/// A limit as given on the command line: a value, or `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// The rule is disabled.
    Off,
    /// The rule's ratio (relative) or share (points).
    At(f64),
}

impl Limit {
    /// The limit as stored in [`RegressionRules`].
    pub fn into_option(self) -> Option<f64> {
        match self {
            Limit::Off => None,
            Limit::At(v) => Some(v),
        }
    }
}

/// Whether a limit is relative to the baseline or in percentage points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Relative,
    Points,
}

/// Parses a relative limit: `20%`, `12.5 %`, `0.2`, or `off`.
pub fn parse_relative_limit(s: &str) -> Result<Limit, String> {
    parse_text(s, Kind::Relative)
}

/// Parses an error-rate limit in percentage points: `5pp`, `5%`, `0.05`, or
/// `off`.
pub fn parse_points_limit(s: &str) -> Result<Limit, String> {
    parse_text(s, Kind::Points)
}

fn parse_text(s: &str, kind: Kind) -> Result<Limit, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(Limit::Off);
    }
    let example = match kind {
        Kind::Relative => "20%",
        Kind::Points => "5pp",
    };
    // Divide rather than multiply by 0.01: "10%" must give exactly 0.1.
    let (number, divisor) = if let Some(n) = t.strip_suffix("pp") {
        if kind == Kind::Relative {
            return Err(format!(
                "{s:?}: percentage points (pp) apply to the error rate only; \
                 write a relative limit as {example:?}"
            ));
        }
        (n, 100.0)
    } else if let Some(n) = t.strip_suffix('%') {
        (n, 100.0)
    } else {
        (t, 1.0)
    };
    let n = number.trim();
    let value: f64 = n
        .strip_prefix('+')
        .unwrap_or(n)
        .parse()
        .map_err(|_| format!("{s:?} is not a limit; expected e.g. {example:?}, 0.2 or off"))?;
    check(value / divisor, s)
}

fn check(value: f64, shown: &str) -> Result<Limit, String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "{shown:?}: a limit must be a finite amount of at least 0"
        ));
    }
    Ok(Limit::At(value))
}

/// The serde side shared by both kinds.
struct LimitVisitor(Kind);

impl<'de> Visitor<'de> for LimitVisitor {
    type Value = Option<f64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            Kind::Relative => f.write_str("a relative limit such as \"20%\" or 0.2, or \"off\""),
            Kind::Points => f.write_str(
                "an error-rate limit in percentage points such as \"5pp\" or 0.05, or \"off\"",
            ),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_text(v, self.0)
            .map(Limit::into_option)
            .map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        check(v, &v.to_string())
            .map(Limit::into_option)
            .map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v == 0 {
            return Ok(Some(0.0));
        }
        let example = match self.0 {
            Kind::Relative => format!("\"{v}%\""),
            Kind::Points => format!("\"{v}pp\""),
        };
        Err(E::custom(format!(
            "{v} is ambiguous: write {example} for percent, or a ratio such as {}",
            v as f64 / 100.0
        )))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::custom(format!("{v} is not a limit"))),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        if v {
            Err(E::custom(
                "`true` is not a limit; give a value such as \"20%\", or `false`/\"off\"",
            ))
        } else {
            Ok(None)
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

fn serialize_limit<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => s.serialize_f64(*x),
        // TOML has no null: "off" reads back in every format.
        None => s.serialize_str("off"),
    }
}

mod relative {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        serialize_limit(v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(LimitVisitor(Kind::Relative))
    }
}

mod points {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        serialize_limit(v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(LimitVisitor(Kind::Points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml_rules(text: &str) -> Result<RegressionRules, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn default_is_seed_003() {
        let r = RegressionRules::default();
        assert_eq!(r.p95_increase, Some(0.20));
        assert_eq!(r.rps_decrease, Some(0.15));
        assert_eq!(r.error_rate_increase, Some(0.05));
        assert_eq!(r.p50_increase, None);
        assert_eq!(r.p99_increase, None);
        assert_eq!(toml_rules("").unwrap(), r);
    }

    #[test]
    fn parses_percent_strings_ratios_and_off() {
        let r = toml_rules(
            r#"
            p95_increase = "10%"
            p99_increase = 0.25
            p50_increase = "+12.5 %"
            rps_decrease = "off"
            error_rate_increase = "2pp"
            "#,
        )
        .unwrap();
        assert_eq!(r.p95_increase, Some(0.10));
        assert_eq!(r.p99_increase, Some(0.25));
        assert_eq!(r.p50_increase, Some(0.125));
        assert_eq!(r.rps_decrease, None);
        assert_eq!(r.error_rate_increase, Some(0.02));
        // "%" on the error rate means points too.
        let r = toml_rules("error_rate_increase = \"5%\"\nrps_decrease = false").unwrap();
        assert_eq!(r.error_rate_increase, Some(0.05));
        assert_eq!(r.rps_decrease, None);
        // JSON null disables; fields left out keep the defaults.
        let r: RegressionRules = serde_json::from_str(r#"{"p95_increase": null}"#).unwrap();
        assert_eq!(r.p95_increase, None);
        assert_eq!(r.rps_decrease, Some(0.15));
    }

    #[test]
    fn refuses_bad_limits_with_a_reason() {
        let err = toml_rules("p95_increase = 20").unwrap_err();
        assert!(err.contains("\"20%\""), "{err}");
        let err = toml_rules("p95_increase = \"5pp\"").unwrap_err();
        assert!(err.contains("error rate only"), "{err}");
        let err = toml_rules("p95_increase = \"-5%\"").unwrap_err();
        assert!(err.contains("at least 0"), "{err}");
        let err = toml_rules("p95_increase = \"fast\"").unwrap_err();
        assert!(err.contains("not a limit"), "{err}");
        let err = toml_rules("p95_increase = true").unwrap_err();
        assert!(err.contains("not a limit"), "{err}");
        let err = toml_rules("p95 = \"5%\"").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
        assert_eq!(
            toml_rules("p95_increase = 0").unwrap().p95_increase,
            Some(0.0)
        );
    }

    #[test]
    fn round_trips_through_json_and_toml() {
        let rules = RegressionRules {
            p50_increase: Some(0.1),
            p99_increase: None,
            ..RegressionRules::default()
        };
        let json = serde_json::to_string(&rules).unwrap();
        assert_eq!(
            serde_json::from_str::<RegressionRules>(&json).unwrap(),
            rules
        );
        let text = toml::to_string(&rules).unwrap();
        assert_eq!(toml_rules(&text).unwrap(), rules);
    }

    #[test]
    fn command_line_forms() {
        assert_eq!(parse_relative_limit("10%"), Ok(Limit::At(0.1)));
        assert_eq!(parse_relative_limit(" 0.3 "), Ok(Limit::At(0.3)));
        assert_eq!(parse_relative_limit("OFF"), Ok(Limit::Off));
        assert_eq!(parse_points_limit("5pp"), Ok(Limit::At(0.05)));
        assert_eq!(parse_points_limit("0.5%"), Ok(Limit::At(0.005)));
        assert!(parse_relative_limit("1pp").is_err());
        assert!(parse_relative_limit("").is_err());
        assert!(parse_points_limit("NaN").is_err());
        assert!(parse_points_limit("inf%").is_err());
    }
}
