//! Parsing and formatting of the human durations used in options, stages and
//! CLI flags (`30s`, `1m30s`, `1.5s`, `500ms`).
//!
//! Compound and long forms (`1h30m`, `1h 30m`, `2 hours`) are accepted.
//! Integer forms are computed by `humantime`; decimal forms (`1.5s`, `0.25m`,
//! `1m2.5s`) are computed here with exact integer arithmetic, so
//! `format_duration` output always parses back to the same `Duration`. Bare numbers are
//! rejected: `90` could mean seconds or milliseconds depending on where the
//! user learned load testing, and guessing wrong silently skews a test.

use std::fmt;
use std::time::Duration;

/// The forms quoted in error messages.
const EXPECTED: &str = "expected a number with a unit such as 500ms, 30s, 2m, 1h30m";

/// Accepted units in nanoseconds: humantime's names, minus months and years
/// (their length is a convention, and `M` is too easily meant as minutes).
const UNITS: &[(&[&str], u128)] = &[
    (&["ns", "nsec", "nanos"], 1),
    // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU look identical.
    (&["us", "µs", "μs", "usec"], 1_000),
    (&["ms", "msec", "millis"], 1_000_000),
    (&["s", "sec", "secs", "second", "seconds"], 1_000_000_000),
    (&["m", "min", "mins", "minute", "minutes"], 60_000_000_000),
    (&["h", "hr", "hrs", "hour", "hours"], 3_600_000_000_000),
    (&["d", "day", "days"], 86_400_000_000_000),
    (&["w", "wk", "wks", "week", "weeks"], 604_800_000_000_000),
];

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationErrorKind {
    /// Nothing but whitespace.
    Empty,
    /// A number without a unit, e.g. `90` or the `30` in `1m30`.
    MissingUnit { number: String },
    /// A unit that is not recognised (or is ambiguous, like `M`).
    UnknownUnit { unit: String },
    /// A leading minus sign: durations cannot be negative.
    Negative,
    /// A malformed number such as `1.2.3` or `1.`.
    BadNumber { number: String },
    /// A character that cannot start a number or a unit.
    Unexpected { found: char },
    /// Larger than `Duration::MAX`.
    TooLarge,
}

/// A duration string that could not be parsed; its Display names the input,
/// the problem and the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {}", describe(kind))]
pub struct DurationError {
    /// The input as given (untrimmed).
    pub input: String,
    pub kind: DurationErrorKind,
}

fn describe(kind: &DurationErrorKind) -> String {
    match kind {
        DurationErrorKind::Empty => EXPECTED.to_string(),
        DurationErrorKind::MissingUnit { number } => format!(
            "missing unit after {number}; durations need a unit, e.g. {number}ms, {number}s or {number}m"
        ),
        DurationErrorKind::UnknownUnit { unit } if unit == "M" => {
            // Minutes or months? humantime would say months.
            "ambiguous unit \"M\"; write m for minutes".to_string()
        }
        DurationErrorKind::UnknownUnit { unit } => format!("unknown unit {unit:?}; {EXPECTED}"),
        DurationErrorKind::Negative => format!("durations cannot be negative; {EXPECTED}"),
        DurationErrorKind::BadNumber { number } => {
            format!("malformed number {number:?}; {EXPECTED}")
        }
        DurationErrorKind::Unexpected { found } => format!("unexpected {found:?}; {EXPECTED}"),
        DurationErrorKind::TooLarge => "too large to represent".to_string(),
    }
}

/// One `<number><unit>` piece of a (possibly compound) duration.
struct Segment<'a> {
    number: &'a str,
    unit: &'a str,
}

/// Parses a human duration: `30s`, `1m30s`, `2m`, `1h`, `500ms`, `250us`,
/// `1.5s`, `0.25m`, `1h 30m`. Surrounding whitespace is ignored; bare numbers
/// are rejected because their unit would be a guess.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let err = |kind| DurationError {
        input: s.to_string(),
        kind,
    };
    let segments = split_segments(s.trim()).map_err(err)?;
    if let Some(seg) = segments.iter().find(|seg| unit_nanos(seg.unit).is_none()) {
        return Err(err(DurationErrorKind::UnknownUnit {
            unit: seg.unit.to_string(),
        }));
    }
    if segments.iter().any(|seg| seg.number.contains('.')) {
        return decimal_duration(&segments).map_err(err);
    }
    // Rebuild a normalised string so humantime sees neither stray whitespace
    // (it would read "1 5s" as 15s) nor the Greek mu it does not know.
    let normalised: String = segments
        .iter()
        .flat_map(|seg| [seg.number, if seg.unit == "μs" { "µs" } else { seg.unit }])
        .collect();
    humantime::parse_duration(&normalised).map_err(|e| {
        err(match e {
            humantime::DurationError::NumberOverflow => DurationErrorKind::TooLarge,
            // Units and shapes were validated above; anything else falls back
            // to the generic "expected a number with a unit" message.
            _ => DurationErrorKind::Empty,
        })
    })
}

/// Nanoseconds per `unit`, or None when the unit is not accepted.
fn unit_nanos(unit: &str) -> Option<u128> {
    UNITS
        .iter()
        .find(|(names, _)| names.contains(&unit))
        .map(|&(_, nanos)| nanos)
}

/// Splits `1h 30m` / `1m2.5s` into segments, validating the shape of each
/// number and requiring a unit after every one.
fn split_segments(s: &str) -> Result<Vec<Segment<'_>>, DurationErrorKind> {
    if s.is_empty() {
        return Err(DurationErrorKind::Empty);
    }
    let mut segments = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        let Some(first) = rest.chars().next() else {
            return Ok(segments);
        };
        if first == '-' {
            return Err(DurationErrorKind::Negative);
        }
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(if first.is_alphabetic() {
                // A unit with no number in front of it, e.g. "s" or "1h m".
                DurationErrorKind::UnknownUnit {
                    unit: leading_word(rest).to_string(),
                }
            } else {
                DurationErrorKind::Unexpected { found: first }
            });
        }
        let (number, after) = rest.split_at(number_len);
        if !is_valid_number(number) {
            return Err(DurationErrorKind::BadNumber {
                number: number.to_string(),
            });
        }
        let after = after.trim_start();
        let unit = leading_word(after);
        if unit.is_empty() {
            return Err(match after.chars().next() {
                Some(c) if !c.is_ascii_digit() => DurationErrorKind::Unexpected { found: c },
                _ => DurationErrorKind::MissingUnit {
                    number: number.to_string(),
                },
            });
        }
        segments.push(Segment { number, unit });
        rest = &after[unit.len()..];
    }
}

/// The leading run of letters (including µ/μ) of `s`.
fn leading_word(s: &str) -> &str {
    let end = s.find(|c: char| !c.is_alphabetic()).unwrap_or(s.len());
    &s[..end]
}

/// `n` is made of ASCII digits and dots; allow at most one dot with digits
/// after it (`.5` is fine, `1.` and `.` are not).
fn is_valid_number(n: &str) -> bool {
    match n.split_once('.') {
        None => !n.is_empty(),
        Some((_, frac)) => !frac.is_empty() && !frac.contains('.'),
    }
}

/// Sums decimal segments exactly in nanoseconds; digits finer than a
/// nanosecond are truncated.
fn decimal_duration(segments: &[Segment<'_>]) -> Result<Duration, DurationErrorKind> {
    let mut total: u128 = 0;
    for seg in segments {
        // Units were validated by the caller; treat a miss as unknown anyway.
        let per_unit = unit_nanos(seg.unit).ok_or_else(|| DurationErrorKind::UnknownUnit {
            unit: seg.unit.to_string(),
        })?;
        let (int, frac) = seg.number.split_once('.').unwrap_or((seg.number, ""));
        let int_nanos = parse_digits(int)
            .and_then(|n| n.checked_mul(per_unit))
            .ok_or(DurationErrorKind::TooLarge)?;
        // 18 fractional digits are finer than a nanosecond for every unit
        // (a week is 6.048e14ns), and keep the product below 1e33.
        let frac = &frac[..frac.len().min(18)];
        let scale = 10u128.pow(frac.len() as u32);
        let frac_nanos = parse_digits(frac).unwrap_or(0) * per_unit / scale;
        total = total
            .checked_add(int_nanos)
            .and_then(|t| t.checked_add(frac_nanos))
            .ok_or(DurationErrorKind::TooLarge)?;
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| DurationErrorKind::TooLarge)?;
    // Remainder of a division by 1e9 always fits in u32.
    let nanos = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Parses ASCII digits into a u128; empty is 0, overflow is None.
fn parse_digits(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |acc, b| {
        acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
    })
}

/// Formats a duration in its shortest readable form: `0s`, `750ms`, `1.5s`,
/// `30s`, `2m`, `2m30s`, `1h`, `1h5m`. Sub-second remainders of longer
/// durations are written as decimal seconds (`1m0.5s`), so the output always
/// parses back to the same value.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if secs == 0 {
        return match nanos {
            0 => "0s".to_string(),
            1..1_000 => format!("{nanos}ns"),
            1_000..1_000_000 => format!("{}us", Decimal(u64::from(nanos), 1_000)),
            _ => format!("{}ms", Decimal(u64::from(nanos), 1_000_000)),
        };
    }
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || nanos > 0 {
        let nanos_in_minute = u128::from(seconds) * NANOS_PER_SEC + u128::from(nanos);
        // Fits: under a minute of nanoseconds is < 6e10.
        out.push_str(&format!(
            "{}s",
            Decimal(nanos_in_minute as u64, 1_000_000_000)
        ));
    }
    out
}

/// `value / divisor` written with the fewest decimals that keep it exact
/// (`divisor` is a power of ten).
struct Decimal(u64, u64);

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Decimal(value, divisor) = *self;
        let (int, mut frac) = (value / divisor, value % divisor);
        write!(f, "{int}")?;
        if frac == 0 {
            return Ok(());
        }
        let mut width = divisor.ilog10() as usize;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        write!(f, ".{frac:0width$}")
    }
}

/// Serde helpers for a `Duration` field written as a string:
/// `#[serde(with = "crate::plan::duration::serde_str")]`.
pub mod serde_str {
    use std::fmt;
    use std::time::Duration;

    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_str(DurationVisitor)
    }

    struct DurationVisitor;

    impl de::Visitor<'_> for DurationVisitor {
        type Value = Duration;

        // Numbers are refused on purpose (their unit would be a guess); serde
        // turns this into "invalid type: integer `500`, expected ...".
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration string with a unit, such as \"500ms\", \"30s\" or \"1m30s\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            super::parse_duration(v).map_err(E::custom)
        }
    }
}

/// Serde helpers for an `Option<Duration>` field written as a string or null:
/// `#[serde(default, with = "crate::plan::duration::serde_opt")]` (the
/// `default` lets the field be omitted).
pub mod serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        d: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serde_str::serialize(d, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Str(#[serde(with = "super::serde_str")] Duration);
        Ok(Option::<Str>::deserialize(deserializer)?.map(|Str(d)| d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn kind(s: &str) -> DurationErrorKind {
        parse_duration(s).expect_err(s).kind
    }

    #[test]
    fn parses_integer_forms() {
        assert_eq!(parse_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("250μs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("1d"), Ok(ms(86_400_000)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_humantime_long_and_spaced_forms() {
        assert_eq!(parse_duration("1h 30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("2 hours"), Ok(ms(7_200_000)));
        assert_eq!(parse_duration("5min 3sec"), Ok(ms(303_000)));
        assert_eq!(parse_duration("  45s\t"), Ok(ms(45_000)));
    }

    #[test]
    fn parses_decimal_forms_exactly() {
        assert_eq!(parse_duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(parse_duration("0.25m"), Ok(ms(15_000)));
        assert_eq!(parse_duration("0.5m"), Ok(ms(30_000)));
        assert_eq!(parse_duration("2.5ms"), Ok(Duration::from_micros(2_500)));
        assert_eq!(parse_duration("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("1.5us"), Ok(Duration::from_nanos(1_500)));
        assert_eq!(parse_duration("1.5µs"), Ok(Duration::from_nanos(1_500)));
        assert_eq!(parse_duration("1m2.5s"), Ok(ms(62_500)));
        assert_eq!(parse_duration("1h 0.5s"), Ok(ms(3_600_500)));
        assert_eq!(parse_duration("1.5 hours"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("0.5w"), Ok(ms(302_400_000)));
        assert_eq!(parse_duration("1.5d"), Ok(ms(129_600_000)));
        assert_eq!(parse_duration("0.1s"), Ok(ms(100)));
        // Thirds are not exact in decimal; the remainder below 1ns is dropped.
        assert_eq!(
            parse_duration("0.333333333333s"),
            Ok(Duration::from_nanos(333_333_333))
        );
        assert_eq!(parse_duration("1.5ns"), Ok(Duration::from_nanos(1)));
        assert_eq!(
            parse_duration("1.12345678901234567890123s"),
            Ok(Duration::new(1, 123_456_789))
        );
    }

    #[test]
    fn rejects_bare_numbers_asking_for_a_unit() {
        for input in ["90", "0", "1.5", " 42 "] {
            let err = parse_duration(input).expect_err(input);
            assert!(
                matches!(err.kind, DurationErrorKind::MissingUnit { .. }),
                "{input}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains("missing unit"), "{msg}");
            assert!(msg.contains(&format!("{:?}", input)), "{msg}");
        }
        assert_eq!(
            parse_duration("90").unwrap_err().to_string(),
            "invalid duration \"90\": missing unit after 90; durations need a unit, e.g. 90ms, 90s or 90m"
        );
        // A unitless tail of a compound value is rejected too.
        assert_eq!(
            kind("1m30"),
            DurationErrorKind::MissingUnit {
                number: "30".into()
            }
        );
        // humantime would read this as 15s.
        assert_eq!(
            kind("1 5s"),
            DurationErrorKind::MissingUnit { number: "1".into() }
        );
    }

    #[test]
    fn rejects_malformed_input_with_clear_messages() {
        assert_eq!(
            parse_duration("5x").unwrap_err().to_string(),
            "invalid duration \"5x\": unknown unit \"x\"; expected a number with a unit such as 500ms, 30s, 2m, 1h30m"
        );
        assert_eq!(
            parse_duration("").unwrap_err().to_string(),
            "invalid duration \"\": expected a number with a unit such as 500ms, 30s, 2m, 1h30m"
        );
        assert_eq!(kind("   "), DurationErrorKind::Empty);
        assert_eq!(kind("-5s"), DurationErrorKind::Negative);
        assert_eq!(
            kind("1.5x"),
            DurationErrorKind::UnknownUnit { unit: "x".into() }
        );
        assert_eq!(
            kind("1.5 fortnights"),
            DurationErrorKind::UnknownUnit {
                unit: "fortnights".into()
            }
        );
        assert_eq!(
            kind("s"),
            DurationErrorKind::UnknownUnit { unit: "s".into() }
        );
        assert_eq!(
            kind("1.2.3s"),
            DurationErrorKind::BadNumber {
                number: "1.2.3".into()
            }
        );
        assert_eq!(
            kind("1.s"),
            DurationErrorKind::BadNumber {
                number: "1.".into()
            }
        );
        assert_eq!(
            kind(".s"),
            DurationErrorKind::BadNumber { number: ".".into() }
        );
        assert_eq!(kind("5s!"), DurationErrorKind::Unexpected { found: '!' });
        assert_eq!(kind("5 !"), DurationErrorKind::Unexpected { found: '!' });
        assert_eq!(kind("+5s"), DurationErrorKind::Unexpected { found: '+' });
        assert_eq!(kind("5m-3s"), DurationErrorKind::Negative);
        assert_eq!(parse_duration("1w"), Ok(ms(7 * 86_400_000)));
        // Calendar units humantime knows are refused; `M` gets a hint.
        assert_eq!(
            kind("1y"),
            DurationErrorKind::UnknownUnit { unit: "y".into() }
        );
        assert_eq!(
            kind("2 months"),
            DurationErrorKind::UnknownUnit {
                unit: "months".into()
            }
        );
        let month = parse_duration("5M").unwrap_err().to_string();
        assert!(month.contains("ambiguous unit \"M\""), "{month}");
    }

    #[test]
    fn rejects_overflow_without_panicking() {
        assert_eq!(
            kind("99999999999999999999999h"),
            DurationErrorKind::TooLarge
        );
        assert_eq!(
            kind("99999999999999999999999.5h"),
            DurationErrorKind::TooLarge
        );
        assert_eq!(
            kind("9999999999999999999999999999999999999999999.5s"),
            DurationErrorKind::TooLarge
        );
        assert_eq!(kind("18446744073709551616s"), DurationErrorKind::TooLarge);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for input in [
            "µ",
            "µs",
            "1µ",
            "1.µs",
            "é5s",
            "5sé",
            "1h\u{0}",
            "..",
            "1..5s",
            "1e3s",
            "∞s",
            "🙂",
            "1🙂s",
            "5 s 3",
            "0.0000000000000000000000000000001h",
        ] {
            let _ = parse_duration(input);
        }
    }

    #[test]
    fn formats_shortest_readable_form() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_500), "1.5us"),
            (Duration::from_micros(250), "250us"),
            (ms(750), "750ms"),
            (Duration::from_micros(2_500), "2.5ms"),
            (Duration::from_nanos(1_000_001), "1.000001ms"),
            (ms(1_000), "1s"),
            (ms(1_500), "1.5s"),
            (ms(30_000), "30s"),
            (ms(59_999), "59.999s"),
            (ms(120_000), "2m"),
            (ms(150_000), "2m30s"),
            (ms(3_600_000), "1h"),
            (ms(3_900_000), "1h5m"),
            (ms(3_605_000), "1h5s"),
            (ms(60_500), "1m0.5s"),
            (ms(90_000_000), "25h"),
            (Duration::new(60, 1), "1m0.000000001s"),
        ];
        for (d, want) in cases {
            assert_eq!(format_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn round_trips_format_and_parse() {
        let mut fixed = vec![
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999_999_999),
            Duration::new(59, 999_999_999),
            Duration::new(3_599, 1),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ];
        // Deterministic pseudo-random spread over many magnitudes.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x >> (i % 64);
            let nanos = (x % 1_000_000_000) as u32;
            fixed.push(Duration::new(secs, if i % 3 == 0 { 0 } else { nanos }));
            fixed.push(Duration::from_millis(x % 10_000_000));
        }
        for d in fixed {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{text}");
        }
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Opts {
        #[serde(with = "serde_str")]
        duration: Duration,
        #[serde(default, with = "serde_opt")]
        grace: Option<Duration>,
    }

    #[test]
    fn serde_helpers_use_strings() {
        let opts = Opts {
            duration: ms(90_000),
            grace: Some(ms(1_500)),
        };
        let json = serde_json::to_string(&opts).unwrap();
        assert_eq!(json, r#"{"duration":"1m30s","grace":"1.5s"}"#);
        assert_eq!(serde_json::from_str::<Opts>(&json).unwrap(), opts);

        let none = Opts {
            duration: ms(1),
            grace: None,
        };
        let json = serde_json::to_string(&none).unwrap();
        assert_eq!(json, r#"{"duration":"1ms","grace":null}"#);
        assert_eq!(serde_json::from_str::<Opts>(&json).unwrap(), none);
        assert_eq!(
            serde_json::from_str::<Opts>(r#"{"duration":"2m"}"#).unwrap(),
            Opts {
                duration: ms(120_000),
                grace: None
            }
        );
    }

    #[test]
    fn serde_helpers_reject_numbers_and_bad_strings() {
        let err = serde_json::from_str::<Opts>(r#"{"duration":500}"#).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("invalid type: integer `500`"), "{msg}");
        assert!(msg.contains("a duration string with a unit"), "{msg}");

        let err = serde_json::from_str::<Opts>(r#"{"duration":"1s","grace":1.5}"#).unwrap_err();
        assert!(
            err.to_string().contains("a duration string with a unit"),
            "{err}"
        );

        let err = serde_json::from_str::<Opts>(r#"{"duration":"5x"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"invalid duration "5x": unknown unit "x""#),
            "{err}"
        );
    }
}
