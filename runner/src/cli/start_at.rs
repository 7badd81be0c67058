//! `--start-at`: the wall-clock instant the load starts, so that segments of
//! one test started on different machines (each after its own set-up) begin
//! together. Machines' clocks are assumed synchronised (NTP), as in any
//! cluster.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exit::bad_input;
use crate::plan::duration::format_duration;

/// How far ahead a start may lie; more is taken for a mistake.
const MAX_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// How late a start may be before it is worth a warning: one interval of
/// the time series, by which the parts' series are aligned when merged.
const LATE: Duration = Duration::from_secs(1);

/// Parses `--start-at`: RFC 3339 (`2026-01-01T12:00:00Z`, also with
/// `+02:00` or fractional seconds) or Unix seconds (`1767268800`), checked
/// against `now`.
pub fn parse(text: &str, now: SystemTime) -> anyhow::Result<SystemTime> {
    let t = text.trim();
    let bad = || {
        bad_input(format!(
            "--start-at {t}: expected an RFC 3339 time such as 2026-01-01T12:00:00Z or Unix \
             seconds such as 1767268800 (e.g. $(date -u -d '+1 min' +%s))"
        ))
    };
    let at = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = t.parse().map_err(|_| bad())?;
        UNIX_EPOCH
            .checked_add(Duration::try_from_secs_f64(secs).map_err(|_| bad())?)
            .ok_or_else(bad)?
    } else {
        rfc3339(t).ok_or_else(bad)?
    };
    if let Ok(ahead) = at.duration_since(now)
        && ahead > MAX_AHEAD
    {
        return Err(bad_input(format!(
            "--start-at {t} is {} away; give a time within 24 hours",
            format_duration(Duration::from_secs(ahead.as_secs()))
        )));
    }
    Ok(at)
}

/// RFC 3339 with `Z` or a numeric offset; humantime reads the UTC form.
fn rfc3339(t: &str) -> Option<SystemTime> {
    if t.ends_with(['Z', 'z']) {
        return humantime::parse_rfc3339_weak(&t[..t.len() - 1]).ok();
    }
    // `...+02:00` / `...-05:30`: the local time minus its offset is UTC.
    let (local, offset) = t.split_at(t.len().checked_sub(6)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = offset[1..].split_once(':')?;
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 || !local.contains('T') {
        return None;
    }
    let base = humantime::parse_rfc3339_weak(local).ok()?;
    let shift = Duration::from_secs(h * 3600 + m * 60);
    if sign > 0 {
        base.checked_sub(shift)
    } else {
        base.checked_add(shift)
    }
}

/// Sleeps until `at`; a start already past is taken now, with a warning
/// when it is late enough to matter.
pub async fn wait_until(at: SystemTime, quiet: bool) {
    let now = SystemTime::now();
    match at.duration_since(now) {
        Ok(ahead) => {
            if !quiet {
                eprintln!(
                    "waiting {} for --start-at {}",
                    format_duration(Duration::from_millis(ahead.as_millis() as u64)),
                    humantime::format_rfc3339_millis(at)
                );
            }
            tokio::time::sleep(ahead).await;
        }
        Err(late) if late.duration() > LATE => eprintln!(
            "warning: --start-at {} passed {} ago (set-up took longer); starting now, later \
             than the other segments",
            humantime::format_rfc3339_millis(at),
            format_duration(Duration::from_millis(late.duration().as_millis() as u64))
        ),
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn reads_rfc3339_and_unix_seconds() {
        let now = at(1_767_268_000);
        let noon = at(1_767_268_800); // 2026-01-01T12:00:00Z
        assert_eq!(parse("2026-01-01T12:00:00Z", now).unwrap(), noon);
        assert_eq!(parse("2026-01-01T14:00:00+02:00", now).unwrap(), noon);
        assert_eq!(parse("2026-01-01T06:30:00-05:30", now).unwrap(), noon);
        assert_eq!(parse("1767268800", now).unwrap(), noon);
        assert_eq!(
            parse("1767268800.25", now).unwrap(),
            noon + Duration::from_millis(250)
        );
        assert_eq!(
            parse("2026-01-01T12:00:00.5Z", now).unwrap(),
            noon + Duration::from_millis(500)
        );
        // In the past: accepted (the wait then starts at once).
        assert_eq!(parse("1767268800", at(1_767_269_000)).unwrap(), noon);
    }

    #[test]
    fn refuses_nonsense_and_far_futures() {
        let now = at(1_767_268_000);
        for bad in [
            "",
            "soon",
            "2026-01-01",
            "12:00",
            "2026-01-01T12:00:00+2",
            "1.2.3",
        ] {
            let err = parse(bad, now).unwrap_err();
            assert!(crate::exit::is_bad_input(&err), "{bad}");
            assert!(err.to_string().contains("RFC 3339"), "{bad}: {err}");
        }
        let err = parse("1767400000", now).unwrap_err();
        assert!(err.to_string().contains("within 24 hours"), "{err}");
    }
}
