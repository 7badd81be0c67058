//! Tag sets in one canonical, hashable form.
//!
//! A tag set is stored as one string, `key=value` pairs sorted by key and
//! separated by U+001F, so that a sample can find its series by hashing a
//! borrowed `&str` built in a reused buffer: no allocation on the hot path
//! once a series exists.

use std::fmt;

const SEP: char = '\u{1f}';

/// An immutable, canonical set of tags.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TagSet(Box<str>);

impl TagSet {
    /// The empty tag set.
    pub fn empty() -> Self {
        TagSet(Box::from(""))
    }

    /// Builds a tag set from pairs in any order; a later duplicate key wins.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut pairs: smallvec::SmallVec<[(&str, &str); 12]> = pairs.into_iter().collect();
        let mut buf = String::new();
        encode(&mut buf, &mut pairs);
        TagSet(buf.into_boxed_str())
    }

    /// Wraps an already canonical encoding (from [`encode`]).
    pub fn from_canonical(s: &str) -> Self {
        TagSet(Box::from(s))
    }

    /// The canonical encoding.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pairs, sorted by key.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0
            .split(SEP)
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether every `(key, value)` in `wanted` is present with that value.
    pub fn contains_all(&self, wanted: &[(String, String)]) -> bool {
        wanted.iter().all(|(k, v)| self.get(k) == Some(v.as_str()))
    }

    /// This set without `key`.
    pub fn without(&self, key: &str) -> TagSet {
        TagSet::from_pairs(self.pairs().filter(|(k, _)| *k != key))
    }
}

impl fmt::Debug for TagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pairs()).finish()
    }
}

impl fmt::Display for TagSet {
    /// k6's selector form: `{key:"value",other:"x"}`, empty for no tags.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (k, v)) in self.pairs().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}:{v:?}")?;
        }
        f.write_str("}")
    }
}

impl serde::Serialize for TagSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.pairs() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for TagSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        Ok(TagSet::from_pairs(
            map.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }
}

/// Tag pairs borrowed for one sample; inline up to a dozen, so building
/// them does not allocate.
pub type TagPairs<'a> = smallvec::SmallVec<[(&'a str, &'a str); 12]>;

/// The tags every sample of a scenario carries: its name and its own tags.
/// Tags pushed after these win (see [`encode`]). Inlined: returned by
/// value, the pairs (almost 400 bytes inline) would be copied at each call.
#[inline]
pub fn scenario_tags<'a>(scenario: &'a str, tags: &'a [(String, String)]) -> TagPairs<'a> {
    let mut pairs = TagPairs::new();
    pairs.push(("scenario", scenario));
    pairs.extend(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    pairs
}

/// Writes the canonical encoding of `pairs` into `buf` (cleared first).
/// Sorts `pairs` in place; for duplicate keys the last one wins.
pub fn encode(buf: &mut String, pairs: &mut [(&str, &str)]) {
    buf.clear();
    encode_onto(buf, pairs);
}

/// As [`encode`], appended to what `buf` already holds (a metric name, say,
/// which would otherwise be shifted in front of the tags).
pub fn encode_onto(buf: &mut String, pairs: &mut [(&str, &str)]) {
    // Stable sort keeps insertion order among equal keys, so "last wins" holds.
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut first = true;
    for i in 0..pairs.len() {
        let (k, v) = pairs[i];
        if pairs.get(i + 1).is_some_and(|next| next.0 == k) || k.is_empty() {
            continue;
        }
        if !std::mem::take(&mut first) {
            buf.push(SEP);
        }
        push_clean(buf, k, true);
        buf.push('=');
        push_clean(buf, v, false);
    }
}

/// Separators inside user-supplied tags would corrupt the encoding; they
/// are replaced rather than rejected so a sample is never lost.
fn push_clean(buf: &mut String, s: &str, is_key: bool) {
    // One byte scan: tags are short, and this runs for every sample.
    let dirty = s.bytes().any(|b| b == SEP as u8 || (is_key && b == b'='));
    if !dirty {
        buf.push_str(s);
        return;
    }
    buf.extend(s.chars().map(|c| match c {
        SEP => ' ',
        '=' if is_key => '_',
        c => c,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_regardless_of_order_and_last_duplicate_wins() {
        let a = TagSet::from_pairs([("name", "GET /x"), ("method", "GET"), ("name", "B")]);
        let b = TagSet::from_pairs([("method", "GET"), ("name", "B")]);
        assert_eq!(a, b);
        assert_eq!(a.get("name"), Some("B"));
        assert_eq!(a.to_string(), r#"{method:"GET",name:"B"}"#);
    }

    #[test]
    fn separators_in_user_tags_are_neutralised() {
        let t = TagSet::from_pairs([("a=b", "x\u{1f}y=z")]);
        assert_eq!(t.pairs().collect::<Vec<_>>(), vec![("a_b", "x y=z")]);
    }

    #[test]
    fn contains_all_and_without() {
        let t = TagSet::from_pairs([("name", "n"), ("status", "200")]);
        assert!(t.contains_all(&[("status".into(), "200".into())]));
        assert!(!t.contains_all(&[("status".into(), "500".into())]));
        assert_eq!(t.without("status"), TagSet::from_pairs([("name", "n")]));
        assert!(TagSet::empty().pairs().next().is_none());
    }

    #[test]
    fn serde_round_trip() {
        let t = TagSet::from_pairs([("name", "n"), ("status", "200")]);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"name":"n","status":"200"}"#);
        assert_eq!(serde_json::from_str::<TagSet>(&json).unwrap(), t);
    }
}
