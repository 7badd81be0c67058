//! Header values the runner adds to every request (`Host`, `User-Agent`),
//! made once per process and never freed, so that putting one on a request
//! copies two words.
//!
//! A `HeaderValue` made at run time holds shared bytes: each request's
//! clone of it increments an atomic count and its drop decrements it, two
//! locked instructions on a line that is cold by the VU's next turn. One
//! made from a `&'static str` clones and drops as a plain copy. The values
//! come from the scenario's origins and the configured user agent, so there
//! are few; past [`MAX_VALUES`] distinct ones (a scenario spreading over
//! that many hosts) values are made the ordinary way, so memory stays
//! bounded.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use hyper::header::{HeaderValue, InvalidHeaderValue};

/// Distinct values kept for the process's life, at most.
pub(crate) const MAX_VALUES: usize = 4096;

/// The kept values, each a copy leaked for the process's life.
type Kept = Mutex<HashSet<&'static str>>;

/// `value` as a header value, validated as `HeaderValue::from_str` does.
/// Called when an origin or a client is set up, not per request: it takes a
/// lock.
pub(crate) fn header_value(value: &str) -> Result<HeaderValue, InvalidHeaderValue> {
    static KEPT: OnceLock<Kept> = OnceLock::new();
    header_value_in(KEPT.get_or_init(Default::default), MAX_VALUES, value)
}

fn header_value_in(
    kept: &Kept,
    max: usize,
    value: &str,
) -> Result<HeaderValue, InvalidHeaderValue> {
    let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
    // Only values that passed `from_str` are kept, so `from_static` (which
    // panics on what `from_str` refuses) is safe on them.
    if let Some(&s) = kept.get(value) {
        return Ok(HeaderValue::from_static(s));
    }
    let checked = HeaderValue::from_str(value)?;
    if kept.len() >= max {
        return Ok(checked);
    }
    let s: &'static str = Box::leak(value.into());
    kept.insert(s);
    Ok(HeaderValue::from_static(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_checked_and_kept_once() {
        let kept = Kept::default();
        let a = header_value_in(&kept, 8, "example.test:8080").unwrap();
        let b = header_value_in(&kept, 8, "example.test:8080").unwrap();
        assert_eq!(a, "example.test:8080");
        // Both point at the one kept copy.
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
        assert!(header_value_in(&kept, 8, "bad\nvalue").is_err());
        assert_eq!(kept.lock().unwrap().len(), 1);
    }

    #[test]
    fn past_the_limit_values_are_made_the_ordinary_way() {
        let kept = Kept::default();
        for host in ["a.test", "b.test"] {
            header_value_in(&kept, 2, host).unwrap();
        }
        let a = header_value_in(&kept, 2, "c.test").unwrap();
        let b = header_value_in(&kept, 2, "c.test").unwrap();
        assert_eq!(a, b);
        assert_ne!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
        assert_eq!(kept.lock().unwrap().len(), 2);
        // What was kept still is.
        let again = header_value_in(&kept, 2, "a.test").unwrap();
        let first = *kept.lock().unwrap().get("a.test").unwrap();
        assert_eq!(again.as_bytes().as_ptr(), first.as_ptr());
    }

    #[test]
    fn the_process_wide_table_gives_the_same_copy_each_time() {
        let a = header_value("lasting.test:1").unwrap();
        let b = header_value("lasting.test:1").unwrap();
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
    }
}
