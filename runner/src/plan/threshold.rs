//! The k6 threshold language: metric selectors and expressions, parsed and
//! evaluated against figures.
//!
//! Users write thresholds as a map from a *selector* to *expressions*:
//!
//! ```text
//! http_req_duration{name:"GET /tasks",method:GET}: ["p(95)<200ms", "avg<100"]
//! http_req_failed: ["rate<0.1%"]
//! ```
//!
//! A selector names a metric and optionally a set of tags a sample must carry.
//! An expression is `aggregation operator bound`, where the bound may carry a
//! time unit (normalised to milliseconds, the unit k6 reports time metrics in)
//! or `%` (normalised to a ratio). Parsing is pure and never panics; errors
//! quote the input and point at the offending column.

use std::fmt;

/// A threshold selector or expression that could not be parsed, or that does
/// not fit the metric it is attached to. Display is a single readable line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// Malformed expression syntax.
    #[error("invalid threshold {expr:?}: {problem}")]
    Syntax { expr: String, problem: String },
    #[error(
        "unknown aggregation {name:?} in {expr:?}; use avg, min, max, med, p(N), count, rate or value"
    )]
    UnknownAggregation { name: String, expr: String },
    /// `got` is the percentile as written.
    #[error("percentile must be in (0, 100], got {got} in {expr:?}")]
    PercentileRange { got: String, expr: String },
    #[error("invalid metric selector {selector:?}: {problem}")]
    Selector { selector: String, problem: String },
    /// The aggregation is not computed for this kind of metric.
    #[error("{aggregation:?} does not apply to {metric} (a {kind}); use {allowed}")]
    NotApplicable {
        aggregation: String,
        metric: String,
        kind: MetricKind,
        allowed: &'static str,
    },
    /// The bound's unit makes no sense for this kind of metric (`rate<1s`).
    #[error("{expr:?} uses {unit}, which does not apply to {metric} (a {kind}); {hint}")]
    UnitNotApplicable {
        expr: String,
        unit: &'static str,
        metric: String,
        kind: MetricKind,
        hint: &'static str,
    },
}

/// A metric name plus the tags a sample must carry to be counted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricSelector {
    pub metric: String,
    /// Sorted by key; keys are unique.
    pub tags: Vec<(String, String)>,
}

impl MetricSelector {
    /// Parses `metric` or `metric{key:value, key2:"quoted, value"}`.
    pub fn parse(s: &str) -> Result<Self, ThresholdError> {
        let text = s.trim();
        let err = |problem: String| ThresholdError::Selector {
            selector: text.to_string(),
            problem,
        };
        let mut c = Cursor::new(text);
        match c.peek() {
            None => {
                return Err(err(
                    "empty selector; expected a metric name such as http_req_duration".into(),
                ));
            }
            Some(ch) if !(ch.is_alphabetic() || ch == '_') => {
                return Err(err(format!(
                    "metric name must start with a letter or \"_\", found {} at column 1",
                    quote(ch)
                )));
            }
            Some(_) => {}
        }
        let metric = c.take_while(|ch| ch.is_alphanumeric() || matches!(ch, '_' | '.' | '-'));
        c.skip_ws();
        match c.peek() {
            None => {
                return Ok(Self {
                    metric,
                    tags: Vec::new(),
                });
            }
            Some('{') => c.bump(),
            Some(ch) => {
                return Err(err(format!(
                    "unexpected {} at column {}; metric names use letters, digits, _, . and -",
                    quote(ch),
                    c.column()
                )));
            }
        }
        let mut tags = parse_tags(&mut c).map_err(err)?;
        c.skip_ws();
        if c.peek().is_some() {
            return Err(err(format!(
                "unexpected {:?} after \"}}\" at column {}",
                c.rest(),
                c.column()
            )));
        }
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self { metric, tags })
    }

    /// True when `metric` is this selector's metric and every selector tag is
    /// present in `tags` with an equal value (extra sample tags are fine).
    pub fn matches(&self, metric: &str, tags: &[(&str, &str)]) -> bool {
        self.metric == metric
            && self
                .tags
                .iter()
                .all(|(key, value)| tags.iter().any(|(k, v)| k == key && v == value))
    }
}

/// Parses the inside of `{...}` after the opening brace, through the closing one.
fn parse_tags(c: &mut Cursor) -> Result<Vec<(String, String)>, String> {
    const UNCLOSED: &str = "missing closing \"}\"";
    let mut tags: Vec<(String, String)> = Vec::new();
    loop {
        c.skip_ws();
        match c.peek() {
            None => return Err(UNCLOSED.into()),
            Some('}') if tags.is_empty() => {
                return Err("empty tag list \"{}\"; remove the braces or add key:value".into());
            }
            // A trailing comma before the brace is harmless.
            Some('}') => {
                c.bump();
                return Ok(tags);
            }
            Some(_) => {}
        }
        let key_column = c.column();
        let key = c.take_while(|ch| !matches!(ch, ':' | ',' | '{' | '}' | '"'));
        let key = key.trim().to_string();
        if key.is_empty() {
            return Err(format!("expected a tag key at column {key_column}"));
        }
        match c.peek() {
            Some(':') => c.bump(),
            None => return Err(format!("expected \":\" after tag key {key:?}")),
            Some(ch) => {
                return Err(format!(
                    "expected \":\" after tag key {key:?}, found {} at column {}",
                    quote(ch),
                    c.column()
                ));
            }
        }
        c.skip_ws();
        let value = if c.peek() == Some('"') {
            parse_quoted(c)?
        } else {
            let value = c.take_while(|ch| !matches!(ch, ',' | '}' | '"'));
            if c.peek() == Some('"') {
                return Err(format!(
                    "unexpected quote at column {}; quote the whole value, e.g. {key}:\"a b\"",
                    c.column()
                ));
            }
            let value = value.trim().to_string();
            if value.is_empty() {
                return Err(format!(
                    "empty value for tag {key:?}; write {key}:\"\" for an empty value"
                ));
            }
            value
        };
        if tags.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate tag key {key:?}"));
        }
        tags.push((key, value));
        c.skip_ws();
        match c.peek() {
            Some(',') => c.bump(),
            Some('}') => {
                c.bump();
                return Ok(tags);
            }
            None => return Err(UNCLOSED.into()),
            Some(ch) => {
                let key = &tags[tags.len() - 1].0;
                return Err(format!(
                    "expected \",\" or \"}}\" after the value of {key:?}, found {} at column {}",
                    quote(ch),
                    c.column()
                ));
            }
        }
    }
}

/// A character in double quotes, escaped like a Rust string literal so
/// control characters cannot break the one-line message.
fn quote(ch: char) -> String {
    format!("{:?}", ch.to_string())
}

/// Parses a double-quoted value at the cursor, honouring `\"` and `\\`.
fn parse_quoted(c: &mut Cursor) -> Result<String, String> {
    let start = c.column();
    c.bump(); // opening quote
    let mut value = String::new();
    loop {
        match c.next() {
            None => {
                return Err(format!(
                    "unterminated quoted value starting at column {start}"
                ));
            }
            Some('"') => return Ok(value),
            Some('\\') => match c.next() {
                Some(ch @ ('"' | '\\')) => value.push(ch),
                Some(ch) => {
                    return Err(format!(
                        "unsupported escape \"\\{ch}\" at column {}; only \\\" and \\\\ are allowed",
                        c.column() - 2
                    ));
                }
                None => {
                    return Err(format!(
                        "unterminated quoted value starting at column {start}"
                    ));
                }
            },
            Some(ch) => value.push(ch),
        }
    }
}

impl fmt::Display for MetricSelector {
    /// Canonical form: `metric{key:"value",key2:"value2"}`, values always
    /// quoted so any value survives a round trip through `parse`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if self.tags.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (key, value)) in self.tags.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}:\"")?;
            for ch in value.chars() {
                if matches!(ch, '"' | '\\') {
                    f.write_str("\\")?;
                }
                write!(f, "{ch}")?;
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// What an expression computes from a metric's samples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Aggregation {
    Avg,
    Min,
    Max,
    Med,
    /// Percentile in (0, 100].
    Percentile(f64),
    Count,
    Rate,
    Value,
}

impl Aggregation {
    /// The k6 spelling: `avg`, `p(95)`, `p(99.9)`, `rate`, ...
    pub fn label(&self) -> String {
        match self {
            Self::Avg => "avg".into(),
            Self::Min => "min".into(),
            Self::Max => "max".into(),
            Self::Med => "med".into(),
            Self::Percentile(p) => format!("p({p})"),
            Self::Count => "count".into(),
            Self::Rate => "rate".into(),
            Self::Value => "value".into(),
        }
    }
}

/// Comparison between the measured figure (left) and the bound (right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }
}

/// How the bound was written; `Expression::bound` is already converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BoundUnit {
    /// A plain number (for time metrics k6 reads it as milliseconds).
    None,
    /// Written with a time unit and converted to milliseconds.
    Millis,
    /// Written as a percentage (`0.1%`) and converted to a ratio (`0.001`).
    Percent,
}

/// One threshold expression such as `p(95)<200ms`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Expression {
    pub aggregation: Aggregation,
    pub op: CmpOp,
    /// In milliseconds for time units, as a ratio for `%`, else as written.
    pub bound: f64,
    pub unit: BoundUnit,
    /// The trimmed original text.
    pub source: String,
}

impl Expression {
    /// Parses `aggregation op bound[unit]`, e.g. `p(95) < 200ms`, `rate<0.1%`.
    pub fn parse(s: &str) -> Result<Self, ThresholdError> {
        let source = s.trim();
        let mut c = Cursor::new(source);
        let syntax = |problem: String| ThresholdError::Syntax {
            expr: source.to_string(),
            problem,
        };
        if source.is_empty() {
            return Err(syntax("empty expression; expected e.g. p(95)<200".into()));
        }
        let aggregation = parse_aggregation(&mut c, source)?;
        let written_aggregation = c.text_from(0);
        c.skip_ws();
        let op = parse_op(&mut c, &written_aggregation).map_err(syntax)?;
        c.skip_ws();
        let (bound, unit) = parse_bound(&mut c, op).map_err(syntax)?;
        c.skip_ws();
        if c.peek().is_some() {
            return Err(syntax(format!(
                "unexpected trailing text {:?} at column {}",
                c.rest(),
                c.column()
            )));
        }
        Ok(Self {
            aggregation,
            op,
            bound,
            unit,
            source: source.to_string(),
        })
    }

    /// True when `measured` satisfies the expression. NaN (no data, or a
    /// figure that could not be computed) never does, not even for `!=`.
    pub fn holds(&self, measured: f64) -> bool {
        if measured.is_nan() {
            return false;
        }
        match self.op {
            CmpOp::Lt => measured < self.bound,
            CmpOp::Le => measured <= self.bound,
            CmpOp::Gt => measured > self.bound,
            CmpOp::Ge => measured >= self.bound,
            CmpOp::Eq => measured == self.bound,
            CmpOp::Ne => measured != self.bound,
        }
    }
}

/// Read back from a results file's plan by parsing its `source` again, so
/// the text is the one truth and older files read the same.
impl<'de> serde::Deserialize<'de> for Expression {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Written {
            source: String,
        }
        let w = Written::deserialize(d)?;
        Expression::parse(&w.source).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn parse_aggregation(c: &mut Cursor, source: &str) -> Result<Aggregation, ThresholdError> {
    let syntax = |problem: String| ThresholdError::Syntax {
        expr: source.to_string(),
        problem,
    };
    // `.` is part of the word so the shorthand `p99.9` reads as one token.
    let name = c.take_while(|ch| ch.is_alphanumeric() || matches!(ch, '_' | '.'));
    let aggregation = match name.as_str() {
        "" => {
            return Err(syntax(format!(
                "expected an aggregation (avg, min, max, med, p(N), count, rate or value) at column {}",
                c.column()
            )));
        }
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        "count" => Aggregation::Count,
        "rate" => Aggregation::Rate,
        "value" => Aggregation::Value,
        "p" => {
            c.skip_ws();
            if !c.eat('(') {
                return Err(syntax(format!(
                    "expected \"(\" after \"p\" at column {}; write p(N), e.g. p(95)",
                    c.column()
                )));
            }
            c.skip_ws();
            let column = c.column();
            let written = c.take_while(|ch| ch.is_ascii_digit() || matches!(ch, '.' | '-' | '+'));
            let Ok(p) = written.parse::<f64>() else {
                return Err(syntax(format!(
                    "expected a percentile number after \"p(\" at column {column}"
                )));
            };
            c.skip_ws();
            if !c.eat(')') {
                return Err(syntax(format!(
                    "expected \")\" to close \"p(\" at column {}",
                    c.column()
                )));
            }
            percentile(p, &written, source)?
        }
        // Shorthand `p95` / `p99.9`.
        _ => match name.strip_prefix('p') {
            Some(digits)
                if !digits.is_empty()
                    && digits.chars().all(|ch| ch.is_ascii_digit() || ch == '.') =>
            {
                match digits.parse::<f64>() {
                    Ok(p) => percentile(p, digits, source)?,
                    Err(_) => return Err(unknown_aggregation(&name, source)),
                }
            }
            _ => return Err(unknown_aggregation(&name, source)),
        },
    };
    Ok(aggregation)
}

fn unknown_aggregation(name: &str, source: &str) -> ThresholdError {
    ThresholdError::UnknownAggregation {
        name: name.to_string(),
        expr: source.to_string(),
    }
}

fn percentile(p: f64, written: &str, source: &str) -> Result<Aggregation, ThresholdError> {
    if p > 0.0 && p <= 100.0 {
        Ok(Aggregation::Percentile(p))
    } else {
        Err(ThresholdError::PercentileRange {
            got: written.to_string(),
            expr: source.to_string(),
        })
    }
}

fn parse_op(c: &mut Cursor, after: &str) -> Result<CmpOp, String> {
    let column = c.column();
    let expected = || {
        format!(
            "expected a comparison operator (<, <=, >, >=, ==, !=) after {after:?} at column {column}"
        )
    };
    let Some(first) = c.peek() else {
        return Err(expected());
    };
    let equals_follows = c.peek_nth(1) == Some('=');
    let op = match (first, equals_follows) {
        ('<', false) => CmpOp::Lt,
        ('<', true) => CmpOp::Le,
        ('>', false) => CmpOp::Gt,
        ('>', true) => CmpOp::Ge,
        ('=', true) => CmpOp::Eq,
        ('!', true) => CmpOp::Ne,
        ('=', false) => {
            return Err(format!(
                "\"=\" at column {column} is not an operator; use \"==\" to compare for equality"
            ));
        }
        _ => return Err(expected()),
    };
    for _ in 0..op.symbol().len() {
        c.bump();
    }
    Ok(op)
}

/// Parses the bound and its optional unit, returning the converted value.
fn parse_bound(c: &mut Cursor, op: CmpOp) -> Result<(f64, BoundUnit), String> {
    let column = c.column();
    let start = c.pos;
    if matches!(c.peek(), Some('-' | '+')) {
        c.bump();
    }
    let int_digits = c.take_while(|ch| ch.is_ascii_digit());
    let frac_digits = if c.peek() == Some('.') {
        c.bump();
        c.take_while(|ch| ch.is_ascii_digit())
    } else {
        String::new()
    };
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(format!(
            "expected a number after {:?} at column {column}",
            op.symbol()
        ));
    }
    let mantissa = c.text_from(start);
    // Take `e` only when digits follow, so `1e3` is a number but a stray `e`
    // is reported as an unknown unit.
    let mut exponent: i64 = 0;
    let exp_digits_at = match (c.peek(), c.peek_nth(1), c.peek_nth(2)) {
        (Some('e' | 'E'), Some(d), _) if d.is_ascii_digit() => Some(1),
        (Some('e' | 'E'), Some('-' | '+'), Some(d)) if d.is_ascii_digit() => Some(2),
        _ => None,
    };
    if let Some(skip) = exp_digits_at {
        let negative = c.peek_nth(1) == Some('-');
        for _ in 0..skip {
            c.bump();
        }
        // Saturate: beyond ±100000 every f64 is already 0 or infinite.
        let magnitude = c
            .take_while(|ch| ch.is_ascii_digit())
            .parse::<i64>()
            .unwrap_or(i64::MAX)
            .min(100_000);
        exponent = if negative { -magnitude } else { magnitude };
    }

    c.skip_ws();
    let unit_column = c.column();
    // Units as (power-of-ten shift, multiplier) to milliseconds. Shifting the
    // decimal exponent keeps `0.1%` exactly equal to the literal `0.001`.
    let (unit, shift, multiplier) = if c.eat('%') {
        (BoundUnit::Percent, -2, 1.0)
    } else {
        match c.take_while(char::is_alphabetic).as_str() {
            "" => (BoundUnit::None, 0, 1.0),
            "ns" => (BoundUnit::Millis, -6, 1.0),
            "us" | "µs" | "μs" => (BoundUnit::Millis, -3, 1.0),
            "ms" => (BoundUnit::Millis, 0, 1.0),
            "s" => (BoundUnit::Millis, 3, 1.0),
            "m" => (BoundUnit::Millis, 0, 60_000.0),
            "h" => (BoundUnit::Millis, 0, 3_600_000.0),
            other => {
                return Err(format!(
                    "unknown unit {other:?} at column {unit_column}; expected ns, us, µs, ms, s, m, h or %"
                ));
            }
        }
    };
    let bound = format!("{mantissa}e{}", exponent + shift)
        .parse::<f64>()
        .map(|v| v * multiplier)
        .map_err(|_| {
            format!(
                "expected a number after {:?} at column {column}",
                op.symbol()
            )
        })?;
    if !bound.is_finite() {
        return Err(format!("number at column {column} is out of range"));
    }
    Ok((bound, unit))
}

/// The k6 metric types, which decide the aggregations a threshold may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Counter,
    Gauge,
    Rate,
    Trend,
}

impl MetricKind {
    /// The aggregations k6 computes for this kind, for error messages.
    fn allowed(self) -> &'static str {
        match self {
            Self::Counter => "count or rate",
            Self::Gauge => "value, min or max",
            Self::Rate => "rate",
            Self::Trend => "avg, min, max, med or p(N)",
        }
    }

    fn supports(self, aggregation: Aggregation) -> bool {
        use Aggregation as A;
        match self {
            Self::Counter => matches!(aggregation, A::Count | A::Rate),
            Self::Gauge => matches!(aggregation, A::Value | A::Min | A::Max),
            Self::Rate => matches!(aggregation, A::Rate),
            Self::Trend => matches!(
                aggregation,
                A::Avg | A::Min | A::Max | A::Med | A::Percentile(_)
            ),
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Rate => "rate",
            Self::Trend => "trend",
        })
    }
}

/// Checks that `expr` can be evaluated on `metric` of the given kind, using
/// k6's aggregation sets: Counter: count, rate; Gauge: value, min, max;
/// Rate: rate; Trend: avg, min, max, med, p(N). Also rejects bounds whose
/// unit cannot fit the kind: time units on counters and rates (`rate<1s`),
/// percentages on counters (their rate is per second, not a ratio).
pub fn check_applies(
    expr: &Expression,
    metric: &str,
    kind: MetricKind,
) -> Result<(), ThresholdError> {
    if !kind.supports(expr.aggregation) {
        return Err(ThresholdError::NotApplicable {
            aggregation: expr.aggregation.label(),
            metric: metric.to_string(),
            kind,
            allowed: kind.allowed(),
        });
    }
    let unit_problem = match (kind, expr.unit) {
        (MetricKind::Counter, BoundUnit::Millis) => Some("a time unit"),
        (MetricKind::Counter, BoundUnit::Percent) => Some("a percentage"),
        (MetricKind::Rate, BoundUnit::Millis) => Some("a time unit"),
        _ => None,
    };
    match unit_problem {
        None => Ok(()),
        Some(unit) => Err(ThresholdError::UnitNotApplicable {
            expr: expr.source.clone(),
            unit,
            metric: metric.to_string(),
            kind,
            hint: match kind {
                MetricKind::Rate => "rates are ratios, e.g. rate<0.01 or rate<1%",
                _ => "counts are plain numbers and count rates are per second, e.g. rate>50",
            },
        }),
    }
}

/// A character cursor; positions are char indices, so multibyte input such
/// as `µ` can never split a code point, and columns are 1-based chars.
struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn new(s: &str) -> Self {
        Self {
            chars: s.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.peek_nth(0)
    }

    fn peek_nth(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += 1;
        Some(ch)
    }

    fn bump(&mut self) {
        self.next();
    }

    /// Consumes `ch` if it is next.
    fn eat(&mut self, ch: char) -> bool {
        let found = self.peek() == Some(ch);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_ws(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.text_from(start)
    }

    fn text_from(&self, start: usize) -> String {
        self.chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn rest(&self) -> String {
        self.chars
            .get(self.pos..)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn column(&self) -> usize {
        self.pos + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(s: &str) -> Expression {
        Expression::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn expr_err(s: &str) -> String {
        match Expression::parse(s) {
            Ok(e) => panic!("{s} parsed as {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn sel(s: &str) -> MetricSelector {
        MetricSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn sel_err(s: &str) -> String {
        match MetricSelector::parse(s) {
            Ok(x) => panic!("{s} parsed as {x:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_aggregation() {
        let cases = [
            ("avg<100", Aggregation::Avg),
            ("min<100", Aggregation::Min),
            ("max<1s", Aggregation::Max),
            ("med<100", Aggregation::Med),
            ("p(95)<200", Aggregation::Percentile(95.0)),
            ("p(99.9)<=1s", Aggregation::Percentile(99.9)),
            ("p(100)<1", Aggregation::Percentile(100.0)),
            ("p(0.1)<1", Aggregation::Percentile(0.1)),
            ("p95<200", Aggregation::Percentile(95.0)),
            ("p99.9<200", Aggregation::Percentile(99.9)),
            ("count>0", Aggregation::Count),
            ("rate>50", Aggregation::Rate),
            ("value<=100", Aggregation::Value),
        ];
        for (text, want) in cases {
            assert_eq!(expr(text).aggregation, want, "{text}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(Aggregation::Avg.label(), "avg");
        assert_eq!(Aggregation::Min.label(), "min");
        assert_eq!(Aggregation::Max.label(), "max");
        assert_eq!(Aggregation::Med.label(), "med");
        assert_eq!(Aggregation::Percentile(95.0).label(), "p(95)");
        assert_eq!(Aggregation::Percentile(99.9).label(), "p(99.9)");
        assert_eq!(Aggregation::Count.label(), "count");
        assert_eq!(Aggregation::Rate.label(), "rate");
        assert_eq!(Aggregation::Value.label(), "value");
        assert_eq!(expr("p95<1").aggregation.label(), "p(95)");
    }

    #[test]
    fn parses_every_operator() {
        let cases = [
            ("avg<1", CmpOp::Lt),
            ("avg<=1", CmpOp::Le),
            ("avg>1", CmpOp::Gt),
            ("avg>=1", CmpOp::Ge),
            ("avg==1", CmpOp::Eq),
            ("avg!=1", CmpOp::Ne),
        ];
        for (text, want) in cases {
            let e = expr(text);
            assert_eq!(e.op, want, "{text}");
            assert_eq!(e.bound, 1.0, "{text}");
            assert_eq!(format!("avg{}1", want.symbol()), text);
        }
    }

    #[test]
    fn parses_numbers() {
        let cases = [
            ("avg<200", 200.0),
            ("avg<0.5", 0.5),
            ("avg<.5", 0.5),
            ("avg<5.", 5.0),
            ("avg<-5", -5.0),
            ("avg<=-1.25", -1.25),
            ("avg<+3", 3.0),
            ("avg<1e3", 1000.0),
            ("avg<1E3", 1000.0),
            ("avg<2.5e-3", 0.0025),
            ("avg<1e+2", 100.0),
            ("rate<0.001", 0.001),
        ];
        for (text, want) in cases {
            let e = expr(text);
            assert_eq!(e.bound, want, "{text}");
            assert_eq!(e.unit, BoundUnit::None, "{text}");
        }
    }

    #[test]
    fn converts_units() {
        let cases = [
            ("p(95)<200ms", 200.0, BoundUnit::Millis),
            ("max<1s", 1000.0, BoundUnit::Millis),
            ("avg<1.5s", 1500.0, BoundUnit::Millis),
            ("avg<500us", 0.5, BoundUnit::Millis),
            ("avg<500µs", 0.5, BoundUnit::Millis),
            ("avg<500μs", 0.5, BoundUnit::Millis),
            ("avg<250ns", 0.000_25, BoundUnit::Millis),
            ("avg<2m", 120_000.0, BoundUnit::Millis),
            ("avg<0.5m", 30_000.0, BoundUnit::Millis),
            ("avg<1h", 3_600_000.0, BoundUnit::Millis),
            ("avg<1e3ms", 1000.0, BoundUnit::Millis),
            ("avg<1e-3s", 1.0, BoundUnit::Millis),
            ("avg < 200 ms", 200.0, BoundUnit::Millis),
            ("rate<0.1%", 0.001, BoundUnit::Percent),
            ("rate>99%", 0.99, BoundUnit::Percent),
            ("rate<=100 %", 1.0, BoundUnit::Percent),
        ];
        for (text, bound, unit) in cases {
            let e = expr(text);
            assert_eq!((e.bound, e.unit), (bound, unit), "{text}");
        }
    }

    #[test]
    fn allows_whitespace_between_tokens() {
        let e = expr("  p(95) < 200  ");
        assert_eq!(e.aggregation, Aggregation::Percentile(95.0));
        assert_eq!(e.op, CmpOp::Lt);
        assert_eq!(e.bound, 200.0);
        assert_eq!(e.source, "p(95) < 200");
        assert_eq!(expr("p ( 95 ) <= 1s").bound, 1000.0);
        assert_eq!(expr("\tcount\n>\t0").op, CmpOp::Gt);
    }

    #[test]
    fn display_is_the_trimmed_source_and_round_trips() {
        for text in [
            "p(95)<200ms",
            "p95 < 200",
            "rate<0.1%",
            "avg != -1e3",
            "value<=100",
            "p(99.9) >= 2.5s",
        ] {
            let e = expr(&format!("  {text} "));
            assert_eq!(e.to_string(), text);
            assert_eq!(expr(&e.to_string()), e);
        }
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let cases = [
            (
                "p(95)<<200",
                r#"invalid threshold "p(95)<<200": expected a number after "<" at column 7"#,
            ),
            (
                "p95x<200",
                r#"unknown aggregation "p95x" in "p95x<200"; use avg, min, max, med, p(N), count, rate or value"#,
            ),
            (
                "p(150)<1",
                r#"percentile must be in (0, 100], got 150 in "p(150)<1""#,
            ),
            (
                "p(0)<1",
                r#"percentile must be in (0, 100], got 0 in "p(0)<1""#,
            ),
            (
                "p(-5)<1",
                r#"percentile must be in (0, 100], got -5 in "p(-5)<1""#,
            ),
            (
                "p100.5<1",
                r#"percentile must be in (0, 100], got 100.5 in "p100.5<1""#,
            ),
            (
                "p(95)=200",
                r#"invalid threshold "p(95)=200": "=" at column 6 is not an operator; use "==" to compare for equality"#,
            ),
            (
                "",
                r#"invalid threshold "": empty expression; expected e.g. p(95)<200"#,
            ),
            (
                "   ",
                r#"invalid threshold "": empty expression; expected e.g. p(95)<200"#,
            ),
            (
                "<200",
                r#"invalid threshold "<200": expected an aggregation (avg, min, max, med, p(N), count, rate or value) at column 1"#,
            ),
            (
                "avg",
                r#"invalid threshold "avg": expected a comparison operator (<, <=, >, >=, ==, !=) after "avg" at column 4"#,
            ),
            (
                "p(95) 200",
                r#"invalid threshold "p(95) 200": expected a comparison operator (<, <=, >, >=, ==, !=) after "p(95)" at column 7"#,
            ),
            (
                "avg!200",
                r#"invalid threshold "avg!200": expected a comparison operator (<, <=, >, >=, ==, !=) after "avg" at column 4"#,
            ),
            (
                "avg<",
                r#"invalid threshold "avg<": expected a number after "<" at column 5"#,
            ),
            (
                "avg>=abc",
                r#"invalid threshold "avg>=abc": expected a number after ">=" at column 6"#,
            ),
            (
                "avg<-",
                r#"invalid threshold "avg<-": expected a number after "<" at column 5"#,
            ),
            (
                "avg<200xs",
                r#"invalid threshold "avg<200xs": unknown unit "xs" at column 8; expected ns, us, µs, ms, s, m, h or %"#,
            ),
            (
                "avg<1e",
                r#"invalid threshold "avg<1e": unknown unit "e" at column 6; expected ns, us, µs, ms, s, m, h or %"#,
            ),
            (
                "avg<200 300",
                r#"invalid threshold "avg<200 300": unexpected trailing text "300" at column 9"#,
            ),
            (
                "avg<200ms)",
                r#"invalid threshold "avg<200ms)": unexpected trailing text ")" at column 10"#,
            ),
            (
                "avg<1.2.3",
                r#"invalid threshold "avg<1.2.3": unexpected trailing text ".3" at column 8"#,
            ),
            (
                "p<200",
                r#"invalid threshold "p<200": expected "(" after "p" at column 2; write p(N), e.g. p(95)"#,
            ),
            (
                "p()<200",
                r#"invalid threshold "p()<200": expected a percentile number after "p(" at column 3"#,
            ),
            (
                "p(x)<200",
                r#"invalid threshold "p(x)<200": expected a percentile number after "p(" at column 3"#,
            ),
            (
                "p(95<200",
                r#"invalid threshold "p(95<200": expected ")" to close "p(" at column 5"#,
            ),
            (
                "avg<1e999",
                r#"invalid threshold "avg<1e999": number at column 5 is out of range"#,
            ),
            (
                "AVG<1",
                r#"unknown aggregation "AVG" in "AVG<1"; use avg, min, max, med, p(N), count, rate or value"#,
            ),
            (
                "p9.9.9<1",
                r#"unknown aggregation "p9.9.9" in "p9.9.9<1"; use avg, min, max, med, p(N), count, rate or value"#,
            ),
            (
                "µ<1",
                r#"unknown aggregation "µ" in "µ<1"; use avg, min, max, med, p(N), count, rate or value"#,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(expr_err(text), want, "{text}");
        }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(
            expr_err("avg<5µs µ"),
            r#"invalid threshold "avg<5µs µ": unexpected trailing text "µ" at column 9"#
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "p(",
            "p(9",
            "p(95",
            "p(95)",
            "p(95)<",
            "p(95)<1e",
            "p(95)<1e-",
            "p(95)<1e+",
            "p1e3<1",
            "avg<1e99999999999999999999",
            "avg<1e-99999999999999999999",
            "avg<0e0",
            "🙂",
            "avg<🙂",
            "avg<1🙂",
            "p(🙂)<1",
            "avg<=",
            "avg=",
            "avg!",
            "avg<1%%",
            "\u{0}",
            "p.<1",
            "p..<1",
        ] {
            let _ = Expression::parse(text);
        }
        assert_eq!(expr("avg<1e-99999999999999999999").bound, 0.0);
    }

    #[test]
    fn holds_for_each_operator() {
        let check = |text: &str, measured: f64| expr(text).holds(measured);
        assert!(check("avg<200", 199.9));
        assert!(!check("avg<200", 200.0));
        assert!(check("avg<=200", 200.0));
        assert!(!check("avg<=200", 200.1));
        assert!(check("avg>200", 200.1));
        assert!(!check("avg>200", 200.0));
        assert!(check("avg>=200", 200.0));
        assert!(!check("avg>=200", 199.9));
        assert!(check("avg==200", 200.0));
        assert!(!check("avg==200", 200.1));
        assert!(check("avg!=200", 200.1));
        assert!(!check("avg!=200", 200.0));
        // Bounds with units compare against figures in ms / ratios.
        assert!(check("p(95)<1.5s", 1499.0));
        assert!(!check("p(95)<1.5s", 1500.0));
        assert!(check("rate<0.1%", 0.0009));
        assert!(!check("rate<0.1%", 0.001));
        assert!(check("avg<1", f64::NEG_INFINITY));
        assert!(check("avg>1", f64::INFINITY));
    }

    #[test]
    fn nan_never_holds() {
        for op in ["<", "<=", ">", ">=", "==", "!="] {
            assert!(!expr(&format!("avg{op}1")).holds(f64::NAN), "{op}");
        }
    }

    #[test]
    fn parses_plain_selector() {
        assert_eq!(
            sel("http_req_duration"),
            MetricSelector {
                metric: "http_req_duration".into(),
                tags: vec![]
            }
        );
        assert_eq!(sel("  _custom.metric-2  ").metric, "_custom.metric-2");
        assert_eq!(sel("größe").metric, "größe");
    }

    #[test]
    fn parses_selector_tags_sorted_by_key() {
        let s = sel(r#"http_req_duration{name:"GET /tasks",method:GET}"#);
        assert_eq!(s.metric, "http_req_duration");
        assert_eq!(s.tags, tags(&[("method", "GET"), ("name", "GET /tasks")]));
    }

    #[test]
    fn parses_bare_and_quoted_values() {
        assert_eq!(
            sel("m{ status : 200 , scenario: my scenario }").tags,
            tags(&[("scenario", "my scenario"), ("status", "200")])
        );
        assert_eq!(
            sel(r#"m{name:"a,b}c:d"}"#).tags,
            tags(&[("name", "a,b}c:d")])
        );
        assert_eq!(
            sel(r#"m{name:"say \"hi\" \\ bye"}"#).tags,
            tags(&[("name", r#"say "hi" \ bye"#)])
        );
        assert_eq!(sel(r#"m{name:""}"#).tags, tags(&[("name", "")]));
        assert_eq!(
            sel(r#"m{name:" padded "}"#).tags,
            tags(&[("name", " padded ")])
        );
        assert_eq!(
            sel("m{url:http://x/y?a=b}").tags,
            tags(&[("url", "http://x/y?a=b")])
        );
        assert_eq!(sel("m{k:µs}").tags, tags(&[("k", "µs")]));
        assert_eq!(sel("m {a:1,}").tags, tags(&[("a", "1")]));
    }

    #[test]
    fn reports_selector_errors() {
        let cases = [
            (
                "",
                r#"invalid metric selector "": empty selector; expected a metric name such as http_req_duration"#,
            ),
            (
                "1abc",
                r#"invalid metric selector "1abc": metric name must start with a letter or "_", found "1" at column 1"#,
            ),
            (
                "{a:b}",
                r#"invalid metric selector "{a:b}": metric name must start with a letter or "_", found "{" at column 1"#,
            ),
            (
                "my metric",
                r#"invalid metric selector "my metric": unexpected "m" at column 4; metric names use letters, digits, _, . and -"#,
            ),
            (
                "m/x",
                r#"invalid metric selector "m/x": unexpected "/" at column 2; metric names use letters, digits, _, . and -"#,
            ),
            (
                "m{a:1,a:2}",
                r#"invalid metric selector "m{a:1,a:2}": duplicate tag key "a""#,
            ),
            (
                "m{ a :1, a:\"2\"}",
                r#"invalid metric selector "m{ a :1, a:\"2\"}": duplicate tag key "a""#,
            ),
            (
                "m{a:1}x",
                r#"invalid metric selector "m{a:1}x": unexpected "x" after "}" at column 7"#,
            ),
            (
                "m{a:1} {b:2}",
                r#"invalid metric selector "m{a:1} {b:2}": unexpected "{b:2}" after "}" at column 8"#,
            ),
            (
                "m{a:1",
                r#"invalid metric selector "m{a:1": missing closing "}""#,
            ),
            ("m{", r#"invalid metric selector "m{": missing closing "}""#),
            (
                "m{}",
                r#"invalid metric selector "m{}": empty tag list "{}"; remove the braces or add key:value"#,
            ),
            (
                "m{:1}",
                r#"invalid metric selector "m{:1}": expected a tag key at column 3"#,
            ),
            (
                "m{ ,a:1}",
                r#"invalid metric selector "m{ ,a:1}": expected a tag key at column 4"#,
            ),
            (
                "m{a}",
                r#"invalid metric selector "m{a}": expected ":" after tag key "a", found "}" at column 4"#,
            ),
            (
                "m{a",
                r#"invalid metric selector "m{a": expected ":" after tag key "a""#,
            ),
            (
                "m{a:}",
                r#"invalid metric selector "m{a:}": empty value for tag "a"; write a:"" for an empty value"#,
            ),
            (
                "m{a: ,b:1}",
                r#"invalid metric selector "m{a: ,b:1}": empty value for tag "a"; write a:"" for an empty value"#,
            ),
            (
                "m{a:x\"y\"}",
                r#"invalid metric selector "m{a:x\"y\"}": unexpected quote at column 6; quote the whole value, e.g. a:"a b""#,
            ),
            (
                "m{a:\"x\" y}",
                r#"invalid metric selector "m{a:\"x\" y}": expected "," or "}" after the value of "a", found "y" at column 9"#,
            ),
            (
                "m{a:\"x}",
                r#"invalid metric selector "m{a:\"x}": unterminated quoted value starting at column 5"#,
            ),
            (
                "m{a:\"x\\",
                r#"invalid metric selector "m{a:\"x\\": unterminated quoted value starting at column 5"#,
            ),
            (
                "m{a:\"x\\n\"}",
                r#"invalid metric selector "m{a:\"x\\n\"}": unsupported escape "\n" at column 7; only \" and \\ are allowed"#,
            ),
            (
                "m{\"a\":1}",
                r#"invalid metric selector "m{\"a\":1}": expected a tag key at column 3"#,
            ),
            (
                "m{a{:1}",
                r#"invalid metric selector "m{a{:1}": expected ":" after tag key "a", found "{" at column 4"#,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(sel_err(text), want, "{text}");
        }
    }

    #[test]
    fn selector_never_panics_on_odd_input() {
        for text in [
            "µ",
            "m{µ:µ}",
            "m{🙂:\"🙂\"}",
            "m{a:\"\\🙂\"}",
            "m{a:\"",
            "m{a:\"\\",
            "_",
            "m}",
            "m{{",
            "m{a:1}}",
        ] {
            let _ = MetricSelector::parse(text);
        }
    }

    #[test]
    fn selector_display_is_canonical() {
        assert_eq!(sel("http_reqs").to_string(), "http_reqs");
        assert_eq!(
            sel(r#"http_req_duration{ name:"GET /tasks", method : GET }"#).to_string(),
            r#"http_req_duration{method:"GET",name:"GET /tasks"}"#
        );
        assert_eq!(
            sel(r#"m{q:"a \"b\" \\ c,}"}"#).to_string(),
            r#"m{q:"a \"b\" \\ c,}"}"#
        );
    }

    #[test]
    fn selector_display_round_trips() {
        let values = [
            "",
            " ",
            "GET /tasks",
            "a,b",
            "}",
            "{",
            ":",
            "\"",
            "\\",
            "\\\"",
            "a\"b\\c",
            "µs 🙂",
            "x y ",
        ];
        let keys = ["name", "method", "status", "my key", "k.1"];
        let metrics = ["http_req_duration", "_x", "a.b-c", "größe"];
        for (i, metric) in metrics.iter().enumerate() {
            for n in 0..=keys.len() {
                let tags = (0..n)
                    .map(|j| {
                        let value = values[(i * 7 + j * 3 + n) % values.len()];
                        (keys[j].to_string(), value.to_string())
                    })
                    .collect::<Vec<_>>();
                let mut sorted = tags.clone();
                sorted.sort();
                let original = MetricSelector {
                    metric: metric.to_string(),
                    tags: sorted,
                };
                let text = original.to_string();
                assert_eq!(sel(&text), original, "{text}");
                assert_eq!(sel(&text).to_string(), text);
            }
        }
    }

    #[test]
    fn selector_matches_samples() {
        let s = sel(r#"http_req_duration{name:"GET /tasks",method:GET}"#);
        assert!(s.matches(
            "http_req_duration",
            &[("method", "GET"), ("name", "GET /tasks"), ("status", "200")]
        ));
        assert!(s.matches(
            "http_req_duration",
            &[("name", "GET /tasks"), ("method", "GET")]
        ));
        assert!(!s.matches("http_req_duration", &[("name", "GET /tasks")]));
        assert!(!s.matches(
            "http_req_duration",
            &[("name", "GET /tasks"), ("method", "POST")]
        ));
        assert!(!s.matches(
            "http_req_waiting",
            &[("name", "GET /tasks"), ("method", "GET")]
        ));
        assert!(!s.matches("http_req_duration", &[]));

        let plain = sel("http_reqs");
        assert!(plain.matches("http_reqs", &[]));
        assert!(plain.matches("http_reqs", &[("status", "500")]));
        assert!(!plain.matches("http_req", &[]));

        let empty_value = sel(r#"m{group:""}"#);
        assert!(empty_value.matches("m", &[("group", "")]));
        assert!(!empty_value.matches("m", &[]));
    }

    #[test]
    fn check_applies_follows_k6_sets() {
        use MetricKind::*;
        let all = [
            "avg<1", "min<1", "max<1", "med<1", "p(95)<1", "count<1", "rate<1", "value<1",
        ];
        let allowed: [(MetricKind, &[&str]); 4] = [
            (Counter, &["count<1", "rate<1"]),
            (Gauge, &["value<1", "min<1", "max<1"]),
            (Rate, &["rate<1"]),
            (Trend, &["avg<1", "min<1", "max<1", "med<1", "p(95)<1"]),
        ];
        for (kind, ok) in allowed {
            for text in all {
                let result = check_applies(&expr(text), "m", kind);
                assert_eq!(
                    result.is_ok(),
                    ok.contains(&text),
                    "{text} on {kind}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn check_applies_messages() {
        let err = |text: &str, metric: &str, kind| {
            check_applies(&expr(text), metric, kind)
                .expect_err(text)
                .to_string()
        };
        assert_eq!(
            err("p(95)<200", "http_reqs", MetricKind::Counter),
            r#""p(95)" does not apply to http_reqs (a counter); use count or rate"#
        );
        assert_eq!(
            err("avg<1", "checks", MetricKind::Rate),
            r#""avg" does not apply to checks (a rate); use rate"#
        );
        assert_eq!(
            err("rate<1", "vus", MetricKind::Gauge),
            r#""rate" does not apply to vus (a gauge); use value, min or max"#
        );
        assert_eq!(
            err("count>0", "http_req_duration", MetricKind::Trend),
            r#""count" does not apply to http_req_duration (a trend); use avg, min, max, med or p(N)"#
        );
        assert_eq!(
            err("rate<1s", "checks", MetricKind::Rate),
            r#""rate<1s" uses a time unit, which does not apply to checks (a rate); rates are ratios, e.g. rate<0.01 or rate<1%"#
        );
        assert_eq!(
            err("count<5%", "http_reqs", MetricKind::Counter),
            r#""count<5%" uses a percentage, which does not apply to http_reqs (a counter); counts are plain numbers and count rates are per second, e.g. rate>50"#
        );
        assert!(err("rate>1ms", "http_reqs", MetricKind::Counter).contains("uses a time unit"));
        // Units that do fit.
        assert!(check_applies(&expr("rate<0.1%"), "http_req_failed", MetricKind::Rate).is_ok());
        assert!(
            check_applies(&expr("p(95)<200ms"), "http_req_duration", MetricKind::Trend).is_ok()
        );
        assert!(check_applies(&expr("value<=100"), "vus", MetricKind::Gauge).is_ok());
        assert!(check_applies(&expr("max<1s"), "gauge_latency", MetricKind::Gauge).is_ok());
    }

    #[test]
    fn errors_are_std_errors_with_one_line_display() {
        let e: Box<dyn std::error::Error> = Box::new(Expression::parse("avg<<1").unwrap_err());
        assert!(!e.to_string().contains('\n'));
        let e: Box<dyn std::error::Error> = Box::new(MetricSelector::parse("m{a\nb}").unwrap_err());
        assert!(!e.to_string().contains('\n'), "{e}");
    }

    #[test]
    fn serializes_parsed_forms() {
        let json = serde_json::to_value(expr("p(95)<200ms")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "aggregation": {"Percentile": 95.0},
                "op": "Lt",
                "bound": 200.0,
                "unit": "Millis",
                "source": "p(95)<200ms",
            })
        );
        let json = serde_json::to_value(sel("m{b:2,a:1}")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"metric": "m", "tags": [["a", "1"], ["b", "2"]]})
        );
    }
}
