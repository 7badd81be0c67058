//! Small conversions between SDK types and the WIT representation.

use std::time::Duration;

/// Tags as the WIT `tags` type.
pub(crate) type WitTags = Vec<(String, String)>;

/// `&[("k", "v")]` as owned tags.
pub(crate) fn tags(tags: &[(&str, &str)]) -> WitTags {
    tags.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Sets `key` to `value`, replacing an earlier value of the same key.
pub(crate) fn set_tag(tags: &mut WitTags, key: &str, value: &str) {
    match tags.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_owned(),
        None => tags.push((key.to_owned(), value.to_owned())),
    }
}

/// `base` with `extra` applied on top (extra wins on equal keys).
pub(crate) fn merged_tags(base: &WitTags, extra: &[(&str, &str)]) -> WitTags {
    let mut out = base.clone();
    for (k, v) in extra {
        set_tag(&mut out, k, v);
    }
    out
}

/// A duration in WIT nanoseconds, saturating at `u64::MAX` (584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// WIT nanoseconds as a duration.
pub(crate) fn duration(nanos: u64) -> Duration {
    Duration::from_nanos(nanos)
}
