//! Whether results files are parts of one test: the same scenario, module
//! build, configuration and interval, cut from one segment sequence with
//! each segment given once; and which segments are missing.

use std::path::Path;

use serde_json::Value;

use super::Part;
use crate::exit::bad_input;
use crate::plan::segment::{Segment, Share};

/// The key of the results' `config` that says which segment a file covers;
/// the only one allowed to differ between parts.
pub const SEGMENT_KEY: &str = "segment";

/// The share a results file covers; files from before segments existed
/// cover the whole test.
pub fn share_of(path: &Path, config: &Value) -> anyhow::Result<Share> {
    match config.get(SEGMENT_KEY) {
        None => Ok(Share::whole()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            bad_input(format!(
                "`{}`: its config.segment cannot be read ({e}); was it edited?",
                path.display()
            ))
        }),
    }
}

/// Checks that `parts` belong to one test and returns the share they cover
/// together, plus warnings. Missing segments are refused unless
/// `allow_partial`, then they are a warning.
pub fn check(parts: &[Part], allow_partial: bool) -> anyhow::Result<(Share, Vec<String>)> {
    let Some(first) = parts.first() else {
        return Err(bad_input("give at least one results file to merge"));
    };
    let mut warnings = Vec::new();
    let name = |p: &Part| p.path.display().to_string();
    for p in &parts[1..] {
        let (a, b) = (&first.results, &p.results);
        if a.module.name != b.module.name {
            return Err(bad_input(format!(
                "`{}` ran scenario `{}` but `{}` ran `{}`; merge only the parts of one test",
                name(first),
                a.module.name,
                name(p),
                b.module.name
            )));
        }
        if a.module.sha256 != b.module.sha256 {
            return Err(bad_input(format!(
                "`{}` and `{}` ran different builds of module `{}` (sha256 {} vs {}); run every \
                 segment with the same .wasm",
                name(first),
                name(p),
                a.module.name,
                short(&a.module.sha256),
                short(&b.module.sha256)
            )));
        }
        if let Some((at, x, y)) =
            difference(&without_segment(&a.config), &without_segment(&b.config), "")
        {
            return Err(bad_input(format!(
                "`{}` and `{}` were run with different configurations (config{at}: {x} vs {y}); \
                 run every segment with the same options, SLO file and -e variables",
                name(first),
                name(p)
            )));
        }
        if a.interval_s != b.interval_s {
            return Err(bad_input(format!(
                "`{}` and `{}` have different intervals ({} s vs {} s)",
                name(first),
                name(p),
                a.interval_s,
                b.interval_s
            )));
        }
        if a.runner.version != b.runner.version {
            warnings.push(format!(
                "`{}` comes from wasm-slo {} and `{}` from {}",
                name(first),
                a.runner.version,
                name(p),
                b.runner.version
            ));
        }
    }

    let shares: Vec<Share> = parts
        .iter()
        .map(|p| share_of(&p.path, &p.results.config))
        .collect::<anyhow::Result<_>>()?;
    if parts.len() > 1
        && let Some((p, _)) = parts.iter().zip(&shares).find(|(_, s)| s.is_whole())
    {
        return Err(bad_input(format!(
            "`{}` holds the whole test (run without --segment), so there is nothing to add \
             to it; merge the results of segment runs only",
            name(p)
        )));
    }
    let sequence = shares[0].sequence.clone();
    for (p, s) in parts.iter().zip(&shares).skip(1) {
        if s.sequence != sequence {
            return Err(bad_input(format!(
                "`{}` was cut from the segment sequence {} but `{}` from {}; give every part \
                 the same --execution-segment-sequence (or use --segment K/N)",
                name(first),
                sequence,
                name(p),
                s.sequence
            )));
        }
    }
    let mut covered: Vec<(Segment, &Part)> = Vec::new();
    for (p, s) in parts.iter().zip(&shares) {
        for seg in &s.segments {
            if let Some((_, other)) = covered.iter().find(|(c, _)| c == seg) {
                return Err(bad_input(format!(
                    "segment {seg} is in both `{}` and `{}`; give each segment's results once",
                    name(other),
                    name(p)
                )));
            }
            covered.push((*seg, p));
        }
    }
    let missing: Vec<String> = sequence
        .segments()
        .filter(|s| !covered.iter().any(|(c, _)| c == s))
        .map(|s| s.to_string())
        .collect();
    if !missing.is_empty() {
        let text = format!(
            "{} of the {} segments of {sequence} {} missing: {}",
            missing.len(),
            sequence.len(),
            if missing.len() == 1 { "is" } else { "are" },
            missing.join(", ")
        );
        if !allow_partial {
            return Err(bad_input(format!(
                "{text}; add their results files, or pass --allow-partial to merge the others"
            )));
        }
        warnings.push(format!(
            "{text}; the totals and verdicts cover only the segments given"
        ));
    }
    let mut segments: Vec<Segment> = covered.into_iter().map(|(s, _)| s).collect();
    segments.sort();
    Ok((Share { sequence, segments }, warnings))
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn without_segment(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(map) = c.as_object_mut() {
        map.remove(SEGMENT_KEY);
    }
    c
}

/// The first place two JSON values differ: its path (`.scenarios[0].vus`)
/// and both values, shortened.
fn difference(a: &Value, b: &Value, at: &str) -> Option<(String, String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                difference(va, vb, &format!("{at}.{k}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| difference(va, vb, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some((at.to_owned(), shown(a), shown(b))),
    }
}

fn shown(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_the_first_path() {
        let a = json!({"scenarios": [{"vus": 5, "name": "a"}], "env": {"X": "1"}});
        let b = json!({"scenarios": [{"vus": 6, "name": "a"}], "env": {"X": "1"}});
        assert_eq!(
            difference(&a, &b, ""),
            Some((".scenarios[0].vus".into(), "5".into(), "6".into()))
        );
        let c = json!({"scenarios": [{"vus": 5, "name": "a"}], "env": {}});
        assert_eq!(
            difference(&a, &c, ""),
            Some((".env.X".into(), "\"1\"".into(), "null".into()))
        );
        assert_eq!(difference(&a, &a.clone(), ""), None);
        let long = json!("x".repeat(100));
        assert!(shown(&long).ends_with("..."));
        assert_eq!(
            without_segment(&json!({"segment": 1, "a": 2})),
            json!({"a": 2})
        );
    }
}
