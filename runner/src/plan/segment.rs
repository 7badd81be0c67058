//! Execution segments: k6's scheme for splitting one test across processes
//! without a coordinator. A segment `(from, to]` is a share of `[0, 1]`; a
//! sequence of segments tiles `[0, 1]`; every process knows the sequence and
//! its own segment and deduces its exact share of every count. Indivisible
//! things (VUs, iterations) are numbered 0, 1, 2, ... for the whole test and
//! dealt out in stripes of the sequence's least common denominator, so the
//! shares of all segments add up to the whole for every count, and each
//! scheduled iteration or VU id belongs to exactly one segment.

use std::fmt;

use num_rational::Ratio;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Executor;
use crate::exit::bad_input;

/// A point of `[0, 1]`, exact.
pub type Fraction = Ratio<u64>;

/// Largest common denominator a sequence may need: its stripe is computed
/// once per process, in time proportional to it.
const MAX_LCD: u64 = 100_000;

/// Parses `1/4`, `0.25`, `25%`, `0` or `1`.
fn parse_fraction(s: &str) -> Result<Fraction, String> {
    let t = s.trim();
    let bad = || format!("{t:?} is not a fraction; write it as 1/4, 0.25 or 25%");
    let decimal = |d: &str| -> Result<Fraction, String> {
        let (int, frac) = d.split_once('.').unwrap_or((d, ""));
        if frac.len() > 9 || (int.is_empty() && frac.is_empty()) {
            return Err(bad());
        }
        let digits = |x: &str| x.is_empty() || x.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || !digits(frac) {
            return Err(bad());
        }
        let scale = 10u64.pow(frac.len() as u32);
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let frac: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        let numer = int
            .checked_mul(scale)
            .and_then(|n| n.checked_add(frac))
            .ok_or_else(bad)?;
        Ok(Fraction::new(numer, scale))
    };
    let f = if let Some(p) = t.strip_suffix('%') {
        decimal(p.trim())? / 100
    } else if let Some((n, d)) = t.split_once('/') {
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        let d: u64 = d.trim().parse().map_err(|_| bad())?;
        if d == 0 {
            return Err(format!("{t:?} divides by zero"));
        }
        Fraction::new(n, d)
    } else {
        decimal(t)?
    };
    if f > Fraction::from_integer(1) {
        return Err(format!("{t:?} is above 1; segments lie within 0 and 1"));
    }
    Ok(f)
}

/// `1/4`, or `0` and `1` for whole numbers.
fn show(f: Fraction) -> String {
    if *f.denom() == 1 {
        f.numer().to_string()
    } else {
        format!("{}/{}", f.numer(), f.denom())
    }
}

/// A share `(from, to]` of the test, `0 <= from < to <= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Segment {
    /// Start (exclusive).
    pub from: Fraction,
    /// End (inclusive).
    pub to: Fraction,
}

impl Segment {
    /// The whole test, `0:1`.
    pub fn whole() -> Self {
        Segment {
            from: Fraction::from_integer(0),
            to: Fraction::from_integer(1),
        }
    }

    /// Parses `FROM:TO` (`1/4:1/2`, `25%:50%`, `0.25:0.5`), or `TO` alone
    /// for `0:TO`, as k6's `--execution-segment` does.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (from, to) = match s.split_once(':') {
            Some((f, t)) => (parse_fraction(f)?, parse_fraction(t)?),
            None => (Fraction::from_integer(0), parse_fraction(s)?),
        };
        if from >= to {
            return Err(format!(
                "segment {s:?} is empty: its start {} is not before its end {}",
                show(from),
                show(to)
            ));
        }
        Ok(Segment { from, to })
    }

    /// Its length, `to - from`.
    pub fn length(&self) -> Fraction {
        self.to - self.from
    }

    /// Whether it is the whole test.
    pub fn is_whole(&self) -> bool {
        *self == Segment::whole()
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", show(self.from), show(self.to))
    }
}

/// Points `0 = p0 < p1 < ... < pn = 1`: the segments `(p0, p1]`, ...,
/// `(pn-1, pn]` that the processes of one test run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    points: Vec<Fraction>,
}

impl Sequence {
    /// One segment, the whole test.
    pub fn whole() -> Self {
        Sequence::even(1)
    }

    /// `n` equal segments: `0, 1/n, 2/n, ..., 1`.
    pub fn even(n: u64) -> Self {
        Sequence {
            points: (0..=n).map(|k| Fraction::new(k, n.max(1))).collect(),
        }
    }

    /// Parses k6's `--execution-segment-sequence`: `0,1/4,1/2,3/4,1`.
    /// Like k6, a sequence that does not start at 0 or end at 1 is filled
    /// with a segment before or after.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut points = s
            .split(',')
            .map(parse_fraction)
            .collect::<Result<Vec<_>, _>>()?;
        if points.len() < 2 {
            return Err(format!(
                "{s:?} has fewer than 2 points; a sequence lists the segments' ends, e.g. 0,1/2,1"
            ));
        }
        if let Some(w) = points.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!(
                "{s:?}: the points must increase, but {} is followed by {}",
                show(w[0]),
                show(w[1])
            ));
        }
        if points[0] != Fraction::from_integer(0) {
            points.insert(0, Fraction::from_integer(0));
        }
        if points.last() != Some(&Fraction::from_integer(1)) {
            points.push(Fraction::from_integer(1));
        }
        Ok(Sequence { points })
    }

    /// k6's sequence for a segment given without one: the segment with the
    /// rest of `[0, 1]` before and after it.
    pub fn around(segment: Segment) -> Self {
        let (zero, one) = (Fraction::from_integer(0), Fraction::from_integer(1));
        let mut points = vec![zero];
        if segment.from > zero {
            points.push(segment.from);
        }
        points.push(segment.to);
        if segment.to < one {
            points.push(one);
        }
        Sequence { points }
    }

    /// Its segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        self.points.windows(2).map(|w| Segment {
            from: w[0],
            to: w[1],
        })
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.points.len() - 1
    }

    /// Whether it has no segment (never: parsing needs two points).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Position of `segment` in the sequence.
    pub fn position(&self, segment: Segment) -> Option<usize> {
        self.segments().position(|s| s == segment)
    }
}

impl fmt::Display for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: Vec<String> = self.points.iter().map(|p| show(*p)).collect();
        f.write_str(&text.join(","))
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One segment of a sequence, with its stripe: what a process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionTuple {
    sequence: Sequence,
    index: usize,
    /// Least common denominator of the segments' lengths: the stripe's period.
    lcd: u64,
    /// The numbers in `0..lcd` this segment owns, ascending.
    owned: Vec<u64>,
}

impl Default for ExecutionTuple {
    fn default() -> Self {
        ExecutionTuple::whole()
    }
}

impl ExecutionTuple {
    /// The whole test in one process.
    pub fn whole() -> Self {
        ExecutionTuple {
            sequence: Sequence::whole(),
            index: 0,
            lcd: 1,
            owned: vec![0],
        }
    }

    /// Segment `index` of `sequence`.
    pub fn new(sequence: Sequence, index: usize) -> Result<Self, String> {
        let lengths: Vec<Fraction> = sequence.segments().map(|s| s.length()).collect();
        if index >= lengths.len() {
            return Err(format!(
                "the sequence {sequence} has {} segments, not {}",
                lengths.len(),
                index + 1
            ));
        }
        let mut lcd = 1u64;
        for l in &lengths {
            let d = *l.denom();
            lcd = (lcd / gcd(lcd, d))
                .checked_mul(d)
                .filter(|v| *v <= MAX_LCD)
                .ok_or_else(|| {
                    format!(
                        "the sequence {sequence} needs a common denominator above {MAX_LCD}; \
                         use simpler fractions such as 1/3 or 1/8"
                    )
                })?;
        }
        // Each segment's share of every `lcd` consecutive numbers.
        let shares: Vec<u64> = lengths
            .iter()
            .map(|l| l.numer() * (lcd / l.denom()))
            .collect();
        // k6's striping: biggest segments choose first (stable on ties); a
        // number goes to the first segment that has not yet had its share of
        // the numbers before it. Spreads each segment's numbers evenly, and
        // every number is taken: if none were eligible, the segments would
        // together have had more than all numbers before it.
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(shares[i]));
        let mut taken = vec![0u64; shares.len()];
        let mut owned = Vec::with_capacity(shares[index] as usize);
        for n in 0..lcd {
            if let Some(&i) = order.iter().find(|&&i| n * shares[i] >= taken[i] * lcd) {
                taken[i] += 1;
                if i == index {
                    owned.push(n);
                }
            }
        }
        Ok(ExecutionTuple {
            sequence,
            index,
            lcd,
            owned,
        })
    }

    /// The tuple chosen by `run`'s flags: `--segment K/N`, or k6's
    /// `--execution-segment` with an optional `--execution-segment-sequence`.
    /// None given: the whole test.
    pub fn from_flags(
        k_of_n: Option<&str>,
        segment: Option<&str>,
        sequence: Option<&str>,
    ) -> anyhow::Result<Self> {
        match (k_of_n, segment, sequence) {
            (None, None, None) => Ok(ExecutionTuple::whole()),
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(bad_input(
                "--segment K/N and --execution-segment/--execution-segment-sequence choose the \
                 same thing; give one of them",
            )),
            (Some(text), None, None) => {
                let parsed = text.split_once('/').and_then(|(k, n)| {
                    Some((k.trim().parse::<u64>().ok()?, n.trim().parse::<u64>().ok()?))
                });
                match parsed {
                    Some((k, n)) if (1..=n).contains(&k) && n <= MAX_LCD => {
                        ExecutionTuple::new(Sequence::even(n), (k - 1) as usize)
                            .map_err(|e| bad_input(format!("--segment {text}: {e}")))
                    }
                    _ => Err(bad_input(format!(
                        "--segment {text}: expected K/N with 1 <= K <= N <= {MAX_LCD}, \
                         e.g. --segment 2/4 for the 2nd of 4 equal parts"
                    ))),
                }
            }
            (None, None, Some(_)) => Err(bad_input(
                "--execution-segment-sequence needs --execution-segment (the part this process runs)",
            )),
            (None, Some(text), seq) => {
                let seg = Segment::parse(text)
                    .map_err(|e| bad_input(format!("--execution-segment {text}: {e}")))?;
                let sequence = match seq {
                    Some(s) => Sequence::parse(s)
                        .map_err(|e| bad_input(format!("--execution-segment-sequence: {e}")))?,
                    None => Sequence::around(seg),
                };
                let Some(index) = sequence.position(seg) else {
                    let list: Vec<String> = sequence.segments().map(|s| s.to_string()).collect();
                    return Err(bad_input(format!(
                        "--execution-segment {seg} is not a segment of the sequence {sequence}; \
                         give one of {}",
                        list.join(", ")
                    )));
                };
                ExecutionTuple::new(sequence, index).map_err(|e| bad_input(e.to_string()))
            }
        }
    }

    /// This process's segment.
    pub fn segment(&self) -> Segment {
        self.sequence
            .segments()
            .nth(self.index)
            .unwrap_or_else(Segment::whole)
    }

    /// The sequence it belongs to.
    pub fn sequence(&self) -> &Sequence {
        &self.sequence
    }

    /// Whether this process runs the whole test.
    pub fn is_whole(&self) -> bool {
        self.segment().is_whole()
    }

    /// How many of the numbers `0..n` this segment owns: its share of a
    /// count `n`. The shares of all segments of the sequence add up to `n`,
    /// and grow with `n`.
    pub fn scale(&self, n: u64) -> u64 {
        let per_period = self.owned.len() as u64;
        let rest = n % self.lcd;
        (n / self.lcd) * per_period + self.owned.iter().take_while(|&&o| o < rest).count() as u64
    }

    /// The `k`-th (from 0) number this segment owns.
    pub fn nth(&self, k: u64) -> u64 {
        let per_period = self.owned.len() as u64;
        (k / per_period) * self.lcd + self.owned[(k % per_period) as usize]
    }

    /// The test-wide id (from 1) of this process's `local`-th VU (from 1):
    /// ids of different segments never collide.
    pub fn vu_id(&self, local: u64) -> u64 {
        self.nth(local.saturating_sub(1)) + 1
    }

    /// This segment's share of `iterations` shared by `vus` VUs: the
    /// iterations are dealt to the test's VU numbers round-robin, and the
    /// segment gets those of its VUs. So a segment without VUs has no
    /// iterations and one with VUs has at least one each.
    pub fn shared_iterations(&self, vus: u64, iterations: u64) -> u64 {
        if vus == 0 {
            return 0;
        }
        self.scale(vus) * (iterations / vus) + self.scale(iterations % vus)
    }

    /// VUs an arrival-rate scenario's pool has in this segment, pre-allocated
    /// and at most: their shares, but at least one, because every segment
    /// owns some of the scheduled iterations.
    pub fn pool(&self, pre_allocated: u64, max: u64) -> (u64, u64) {
        let pre = self.scale(pre_allocated).max(1);
        (pre, self.scale(max).max(pre))
    }

    /// The VU pool (pre-allocated, most) of an arrival-rate executor in
    /// this segment; None for closed-model executors.
    pub fn pool_of(&self, executor: &Executor) -> Option<(u64, u64)> {
        match executor {
            Executor::ConstantArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            }
            | Executor::RampingArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            } => Some(self.pool(*pre_allocated_vus, *max_vus)),
            _ => None,
        }
    }

    /// The most VUs `executor` runs at once in this segment.
    pub fn max_vus(&self, executor: &Executor) -> u64 {
        match self.pool_of(executor) {
            Some((_, max)) => max,
            // Shares grow with the count, so the share of the peak is the
            // peak of the shares.
            None => self.scale(executor.max_vus()),
        }
    }
}

/// Which segments a plan or results file covers, as recorded in the results'
/// `config.segment`: `{"sequence": "0,1/4,1/2,3/4,1", "segments": ["1/4:1/2"]}`.
/// A run covers one segment; a merge the union of its parts'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The sequence the segments come from.
    pub sequence: Sequence,
    /// The segments covered.
    pub segments: Vec<Segment>,
}

impl Share {
    /// The whole test.
    pub fn whole() -> Self {
        Share {
            sequence: Sequence::whole(),
            segments: vec![Segment::whole()],
        }
    }

    /// What one process covers.
    pub fn of(t: &ExecutionTuple) -> Self {
        Share {
            sequence: t.sequence.clone(),
            segments: vec![t.segment()],
        }
    }

    /// Whether it covers the whole test.
    pub fn is_whole(&self) -> bool {
        let mut covered: Vec<Segment> = self.segments.clone();
        covered.sort();
        covered.dedup();
        covered == self.sequence.segments().collect::<Vec<_>>()
    }

    /// The segments, as text: `0:1/4, 1/4:1/2`.
    pub fn list(&self) -> String {
        let list: Vec<String> = self.segments.iter().map(|s| s.to_string()).collect();
        list.join(", ")
    }
}

#[derive(Serialize, Deserialize)]
struct ShareText {
    sequence: String,
    segments: Vec<String>,
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ShareText {
            sequence: self.sequence.to_string(),
            segments: self.segments.iter().map(|x| x.to_string()).collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = ShareText::deserialize(d)?;
        let sequence = Sequence::parse(&text.sequence).map_err(D::Error::custom)?;
        let segments = text
            .segments
            .iter()
            .map(|s| Segment::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(D::Error::custom)?;
        Ok(Share { sequence, segments })
    }
}

/// Serializes a plan's tuple as the [`Share`] it covers.
pub fn serialize_tuple<S: Serializer>(t: &ExecutionTuple, s: S) -> Result<S::Ok, S::Error> {
    Share::of(t).serialize(s)
}

#[cfg(test)]
mod tests;
