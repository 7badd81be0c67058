//! A small pseudo-random generator for think times and test data, so
//! scenarios need no `rand` crate (and no WASI randomness).
//!
//! Each VU instance seeds it on first use from its VU id and the runner's
//! clock; [`seed`] makes a sequence reproducible. Not for cryptography.

use std::cell::Cell;
use std::ops::{Bound, RangeBounds};

use crate::wit::wasm_slo::scenario::{runtime, timing};

thread_local! {
    static STATE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Restarts the sequence from `seed`.
pub fn seed(seed: u64) {
    STATE.with(|s| s.set(Some(seed)));
}

/// A random `u64`.
pub fn u64() -> u64 {
    STATE.with(|s| {
        let state = s.get().unwrap_or_else(initial_seed);
        let (next, out) = splitmix64(state);
        s.set(Some(next));
        out
    })
}

/// A random integer in `range`: `random::range(1..=20)`.
///
/// # Panics
///
/// If the range is empty.
pub fn range(range: impl RangeBounds<u64>) -> u64 {
    let min = match range.start_bound() {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => s.checked_add(1),
        Bound::Unbounded => Some(0),
    };
    let max = match range.end_bound() {
        Bound::Included(&e) => Some(e),
        Bound::Excluded(&e) => e.checked_sub(1),
        Bound::Unbounded => Some(u64::MAX),
    };
    match (min, max) {
        (Some(min), Some(max)) if min <= max => match (max - min).checked_add(1) {
            Some(span) => min + below(span),
            None => u64(),
        },
        _ => panic!("random::range called with an empty range"),
    }
}

/// A random float in `[0, 1)`.
pub fn float() -> f64 {
    (u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `true` with probability `p` (clamped to `[0, 1]`).
pub fn chance(p: f64) -> bool {
    float() < p
}

/// A random element of `items`; `None` if it is empty.
pub fn choose<T>(items: &[T]) -> Option<&T> {
    if items.is_empty() {
        return None;
    }
    let index = below(items.len() as u64) as usize;
    items.get(index)
}

/// Uniform in `[0, n)` for `n > 0` (Lemire's multiply-and-reject).
fn below(n: u64) -> u64 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(u64()) * u128::from(n);
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
}

fn initial_seed() -> u64 {
    let vu = runtime::vu_id();
    let now = timing::now();
    splitmix64(vu.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ now).1
}

/// One step of SplitMix64: the next state and an output.
fn splitmix64(state: u64) -> (u64, u64) {
    let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (next, z ^ (z >> 31))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ranges_stay_in_bounds_and_cover_them() {
        seed(42);
        let mut seen = [false; 20];
        for _ in 0..2_000 {
            let n = range(1..=20);
            assert!((1..=20).contains(&n));
            seen[(n - 1) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(range(7..8), 7);
        let _ = range(..);
        for _ in 0..1_000 {
            let f = float();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(choose::<u8>(&[]), None);
        assert_eq!(choose(&[5]), Some(&5));
    }

    #[test]
    fn seed_makes_sequences_repeat() {
        seed(7);
        let a: Vec<u64> = (0..5).map(|_| u64()).collect();
        seed(7);
        let b: Vec<u64> = (0..5).map(|_| u64()).collect();
        assert_eq!(a, b);
    }

    #[test]
    #[should_panic(expected = "empty range")]
    fn empty_ranges_panic() {
        seed(1);
        range(5..5);
    }
}
