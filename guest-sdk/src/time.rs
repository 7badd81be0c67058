//! Think time and the runner's clock.
//!
//! [`sleep`] suspends the VU in the runner (a sleeping VU holds no thread);
//! [`think`] sleeps a uniformly random time like Locust's
//! `wait_time = between(1, 3)`. [`format_duration`] writes durations the way
//! the runner's options expect them (`"30s"`, `"1m30s"`, `"500ms"`).

use std::time::Duration;

use crate::convert;
use crate::random;
use crate::wit::wasm_slo::scenario::timing as wit;

/// Suspends this VU for `duration`.
pub fn sleep(duration: Duration) {
    if !duration.is_zero() {
        wit::sleep(convert::nanos(duration));
    }
}

/// A uniformly random duration in `[min, max]` (Locust's `between`);
/// `min` when `max <= min`.
pub fn between(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let span = convert::nanos(max - min);
    min + Duration::from_nanos(random::range(0..=span))
}

/// Sleeps a random time between `min` and `max`: `think(1s, 3s)` is
/// Locust's `wait_time = between(1, 3)`.
pub fn think(min: Duration, max: Duration) {
    sleep(between(min, max));
}

/// Monotonic time since the test started, as the runner keeps it.
pub fn now() -> Duration {
    convert::duration(wit::now())
}

/// Formats a duration in the shortest form the runner parses back exactly:
/// `0s`, `750ms`, `1.5s`, `30s`, `2m`, `1m30s`, `1h5m`, `1m0.5s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if secs == 0 {
        return match nanos {
            0 => "0s".to_owned(),
            1..1_000 => format!("{nanos}ns"),
            1_000..1_000_000 => format!("{}us", decimal(u64::from(nanos), 1_000)),
            _ => format!("{}ms", decimal(u64::from(nanos), 1_000_000)),
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
        // Under a minute of nanoseconds fits in u64.
        let in_minute = seconds * 1_000_000_000 + u64::from(nanos);
        out.push_str(&format!("{}s", decimal(in_minute, 1_000_000_000)));
    }
    out
}

/// `value / divisor` (a power of ten) with the fewest decimals that keep it
/// exact.
fn decimal(value: u64, divisor: u64) -> String {
    let (int, mut frac) = (value / divisor, value % divisor);
    if frac == 0 {
        return int.to_string();
    }
    let mut width = divisor.ilog10() as usize;
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    format!("{int}.{frac:0width$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_runner() {
        let ms = Duration::from_millis;
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_500), "1.5us"),
            (ms(500), "500ms"),
            (Duration::from_micros(2_500), "2.5ms"),
            (ms(1_000), "1s"),
            (ms(1_500), "1.5s"),
            (ms(30_000), "30s"),
            (ms(90_000), "1m30s"),
            (ms(120_000), "2m"),
            (ms(600_000), "10m"),
            (ms(3_600_000), "1h"),
            (ms(3_905_000), "1h5m5s"),
            (ms(60_500), "1m0.5s"),
            (ms(90_000_000), "25h"),
        ];
        for (d, want) in cases {
            assert_eq!(format_duration(d), want, "{d:?}");
        }
    }
}
