//! Human formatting of figures: durations, rates, bytes, percentages.

/// Milliseconds as k6 prints them: `512µs`, `12.34ms`, `1.23s`, `2m3s`.
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() {
        return "-".into();
    }
    if ms < 1.0 {
        format!("{:.0}µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.2}ms")
    } else if ms < 60_000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        format!("{}m{}s", s / 60, s % 60)
    }
}

/// A plain number, compact.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A ratio as a percentage with two decimals.
pub fn percent(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.2}%", ratio * 100.0)
    } else {
        "-".into()
    }
}

/// Bytes with a binary unit.
pub fn bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A figure of threshold `t` (its measured value or its bound) in the
/// threshold's unit; `is_rate` when the metric is a Rate (shown as %).
pub fn threshold_figure(t: &crate::slo::ThresholdResult, v: f64, is_rate: bool) -> String {
    if matches!(t.aggregation.as_str(), "variation" | "rise") {
        percent(v)
    } else if t.is_time {
        millis(v)
    } else if t.aggregation == "rate" && is_rate {
        percent(v)
    } else {
        number(v)
    }
}

/// Threshold `t`'s measured value, or why there is none.
pub fn threshold_measured(t: &crate::slo::ThresholdResult, is_rate: bool) -> String {
    match t.value {
        Some(v) => threshold_figure(t, v, is_rate),
        None => t.note.clone().unwrap_or_else(|| "no value".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(millis(0.512), "512µs");
        assert_eq!(millis(12.345), "12.35ms");
        assert_eq!(millis(1234.0), "1.23s");
        assert_eq!(millis(123_000.0), "2m3s");
        assert_eq!(millis(f64::NAN), "-");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(2.5), "2.500");
        assert_eq!(percent(0.001), "0.10%");
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(bytes(1_500_000.0), "1.5 MB");
    }
}
