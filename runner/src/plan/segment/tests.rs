//! Segment arithmetic: parsing, striping, and every executor's shares adding
//! up exactly to the whole test for 1..16 segments and odd counts.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::executors::closed::target_vus;
use crate::executors::open::ArrivalSchedule;
use crate::plan::Stage;

fn even(n: u64) -> Vec<ExecutionTuple> {
    (0..n as usize)
        .map(|i| ExecutionTuple::new(Sequence::even(n), i).unwrap())
        .collect()
}

fn of(sequence: &str) -> Vec<ExecutionTuple> {
    let seq = Sequence::parse(sequence).unwrap();
    (0..seq.len())
        .map(|i| ExecutionTuple::new(seq.clone(), i).unwrap())
        .collect()
}

fn stage(secs: u64, target: u64) -> Stage {
    Stage {
        duration: Duration::from_secs(secs),
        target,
    }
}

#[test]
fn fractions_segments_and_sequences_parse_as_k6_writes_them() {
    let s = Segment::parse("1/4:1/2").unwrap();
    assert_eq!(s.to_string(), "1/4:1/2");
    assert_eq!(Segment::parse("25%:50%").unwrap(), s);
    assert_eq!(Segment::parse("0.25:0.5").unwrap(), s);
    assert_eq!(Segment::parse("2/8:0.5").unwrap(), s);
    assert_eq!(Segment::parse("1/3").unwrap().to_string(), "0:1/3");
    for bad in [
        "1/2:1/4", "1/2:1/2", "x", "1/0", "3/2", "0:1.5", "-1:1", "1/4:",
    ] {
        assert!(Segment::parse(bad).is_err(), "{bad}");
    }
    assert!(Segment::parse("0:1").unwrap().is_whole());

    let seq = Sequence::parse("0,1/4,1/2,3/4,1").unwrap();
    assert_eq!(seq, Sequence::even(4));
    assert_eq!(seq.to_string(), "0,1/4,1/2,3/4,1");
    assert_eq!(seq.position(s), Some(1));
    // Filled at both ends, as in k6.
    assert_eq!(
        Sequence::parse("1/3,2/3").unwrap().to_string(),
        "0,1/3,2/3,1"
    );
    for bad in ["1/2", "0,1/2,1/4,1", "0,1/2,1/2,1", "0,2"] {
        assert!(Sequence::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Sequence::around(s).to_string(), "0,1/4,1/2,1");
    assert_eq!(
        Sequence::around(Segment::parse("0:1/2").unwrap()).to_string(),
        "0,1/2,1"
    );
    assert_eq!(Sequence::around(Segment::whole()).to_string(), "0,1");
}

#[test]
fn stripes_follow_k6() {
    // Equal thirds: segment k owns k, k+3, k+6, ...
    let thirds = of("0,1/3,2/3,1");
    for (k, t) in thirds.iter().enumerate() {
        assert_eq!(
            (0..4).map(|i| t.nth(i)).collect::<Vec<_>>(),
            vec![k as u64, k as u64 + 3, k as u64 + 6, k as u64 + 9]
        );
    }
    // Half, quarter, quarter: the half owns every other number.
    let t = of("0,1/2,3/4,1");
    assert_eq!(
        (0..4).map(|i| t[0].nth(i)).collect::<Vec<_>>(),
        [0, 2, 4, 6]
    );
    assert_eq!((0..3).map(|i| t[1].nth(i)).collect::<Vec<_>>(), [1, 5, 9]);
    assert_eq!((0..3).map(|i| t[2].nth(i)).collect::<Vec<_>>(), [3, 7, 11]);
    assert_eq!(t[0].scale(5), 3);
    assert_eq!(t[1].scale(5), 1);
    assert_eq!(t[2].scale(5), 1);
}

/// Every number below `n` is owned by exactly one segment, `scale` counts
/// them, and `nth` enumerates them.
fn assert_partition(tuples: &[ExecutionTuple], n: u64) {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for t in tuples {
        let share = t.scale(n);
        total += share;
        for k in 0..share {
            let x = t.nth(k);
            assert!(x < n, "{} owns {x} beyond {n}", t.segment());
            assert!(seen.insert(x), "{x} owned twice");
        }
        if share > 0 {
            assert!(t.nth(share) >= n);
        }
    }
    assert_eq!(total, n);
    assert_eq!(seen.len() as u64, n);
}

#[test]
fn one_to_sixteen_equal_segments_partition_every_count() {
    for segments in 1..=16 {
        let tuples = even(segments);
        for n in 0..=97 {
            assert_partition(&tuples, n);
        }
        for n in [1001, 4099, 65_537] {
            let total: u64 = tuples.iter().map(|t| t.scale(n)).sum();
            assert_eq!(total, n, "{segments} segments of {n}");
        }
        // Shares of equal segments differ by at most one.
        let shares: Vec<u64> = tuples.iter().map(|t| t.scale(1001)).collect();
        assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
    }
}

fn executors(vus: u64, iterations: u64, rate: u64) -> Vec<Executor> {
    vec![
        Executor::ConstantVus {
            vus,
            duration: Duration::from_secs(7),
        },
        Executor::RampingVus {
            start_vus: vus / 3,
            stages: vec![stage(5, vus), stage(3, vus), stage(4, 1)],
            graceful_ramp_down: Duration::ZERO,
        },
        Executor::SharedIterations {
            vus,
            iterations: iterations.max(vus),
            max_duration: Duration::from_secs(60),
        },
        Executor::PerVuIterations {
            vus,
            iterations,
            max_duration: Duration::from_secs(60),
        },
        Executor::ConstantArrivalRate {
            rate,
            time_unit: Duration::from_secs(1),
            duration: Duration::from_secs(3),
            pre_allocated_vus: vus,
            max_vus: vus * 2 + 1,
        },
        Executor::RampingArrivalRate {
            start_rate: rate / 5,
            time_unit: Duration::from_secs(1),
            stages: vec![stage(2, rate), stage(1, rate), stage(2, 0)],
            pre_allocated_vus: vus,
            max_vus: vus + 3,
        },
    ]
}

/// The segment's figures for one executor: VUs at the peak, iterations of
/// iteration-based executors, and the start offsets of arrival-rate ones.
struct LocalShare {
    max_vus: u64,
    iterations: u64,
    ramp: Vec<u64>,
    starts: Vec<Duration>,
}

fn local(t: &ExecutionTuple, e: &Executor) -> LocalShare {
    let mut share = LocalShare {
        max_vus: t.max_vus(e),
        iterations: 0,
        ramp: vec![],
        starts: vec![],
    };
    match e {
        Executor::SharedIterations {
            vus, iterations, ..
        } => share.iterations = t.shared_iterations(*vus, *iterations),
        Executor::PerVuIterations {
            vus, iterations, ..
        } => share.iterations = t.scale(*vus) * iterations,
        Executor::RampingVus {
            start_vus, stages, ..
        } => {
            share.ramp = (0..=130)
                .map(|tenth| {
                    t.scale(target_vus(
                        *start_vus,
                        stages,
                        Duration::from_millis(tenth * 100),
                    ))
                })
                .collect()
        }
        Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. } => {
            let schedule = ArrivalSchedule::of(e).unwrap();
            let mut k = 0;
            while let Some(at) = schedule.start_of(t.nth(k)) {
                share.starts.push(at);
                k += 1;
            }
        }
        Executor::ConstantVus { .. } => {}
    }
    share
}

fn assert_executor_adds_up(tuples: &[ExecutionTuple], e: &Executor) {
    let whole = local(&ExecutionTuple::whole(), e);
    let parts: Vec<LocalShare> = tuples.iter().map(|t| local(t, e)).collect();
    let what = format!("{} segments of {e:?}", tuples.len());
    assert_eq!(
        parts.iter().map(|p| p.iterations).sum::<u64>(),
        whole.iterations,
        "iterations: {what}"
    );
    for (i, w) in whole.ramp.iter().enumerate() {
        assert_eq!(
            parts.iter().map(|p| p.ramp[i]).sum::<u64>(),
            *w,
            "ramp at {i}: {what}"
        );
    }
    let mut starts: Vec<Duration> = parts.iter().flat_map(|p| p.starts.clone()).collect();
    starts.sort();
    assert_eq!(starts, whole.starts, "arrivals: {what}");
    if e.is_open() {
        // Pools: every segment gets at least one VU; with a pool at least as
        // big as the number of segments, the shares add up exactly.
        assert!(parts.iter().all(|p| p.max_vus >= 1), "{what}");
    } else {
        assert_eq!(
            parts.iter().map(|p| p.max_vus).sum::<u64>(),
            e.max_vus(),
            "VUs: {what}"
        );
    }
    if let Executor::SharedIterations { vus, .. } = e {
        for (t, p) in tuples.iter().zip(&parts) {
            let v = t.scale(*vus);
            assert!(p.iterations >= v, "a VU without an iteration: {what}");
            assert_eq!(p.iterations == 0, v == 0, "{what}");
        }
    }
}

#[test]
fn every_executor_adds_up_for_one_to_sixteen_segments() {
    for segments in 1..=16 {
        let tuples = even(segments);
        for (vus, iterations, rate) in [(1, 1, 1), (3, 7, 13), (5, 11, 9), (17, 101, 37)] {
            for e in executors(vus, iterations, rate) {
                assert_executor_adds_up(&tuples, &e);
            }
        }
    }
}

#[test]
fn arrival_pools_add_up_when_each_segment_can_have_a_vu() {
    for segments in 1..=16u64 {
        let tuples = even(segments);
        for pre in segments..segments + 20 {
            let sum: u64 = tuples.iter().map(|t| t.pool(pre, pre * 2).0).sum();
            assert_eq!(sum, pre);
            let max: u64 = tuples.iter().map(|t| t.pool(pre, pre * 2).1).sum();
            assert_eq!(max, pre * 2);
        }
        // Fewer than the segments: each still gets one VU.
        assert!(tuples.iter().all(|t| t.pool(0, 0) == (1, 1)));
    }
}

#[test]
fn vu_ids_are_unique_across_segments() {
    for sequence in [
        "0,1/4,1/2,3/4,1",
        "0,1/2,3/4,1",
        "0,1/3,1/2,1",
        "0,1/7,3/5,1",
    ] {
        let tuples = of(sequence);
        // However many VUs each process spawns (ramps spawn new ones).
        let mut ids = BTreeSet::new();
        for t in &tuples {
            for local in 1..=50 {
                let id = t.vu_id(local);
                assert!(id >= 1);
                assert!(ids.insert(id), "{sequence}: id {id} twice");
            }
        }
        // The ids of a whole test's V VUs are exactly 1..=V.
        let v = 23;
        let mut first: Vec<u64> = tuples
            .iter()
            .flat_map(|t| (1..=t.scale(v)).map(|l| t.vu_id(l)))
            .collect();
        first.sort();
        assert_eq!(first, (1..=v).collect::<Vec<_>>(), "{sequence}");
    }
    assert_eq!(ExecutionTuple::whole().vu_id(7), 7);
}

#[test]
fn flags_choose_the_tuple_or_explain_the_problem() {
    let t = ExecutionTuple::from_flags(Some("2/4"), None, None).unwrap();
    assert_eq!(t.segment().to_string(), "1/4:1/2");
    assert_eq!(t.sequence().to_string(), "0,1/4,1/2,3/4,1");
    let k6 = ExecutionTuple::from_flags(None, Some("1/4:2/4"), Some("0,1/4,1/2,3/4,1")).unwrap();
    assert_eq!(k6, t);
    assert!(
        ExecutionTuple::from_flags(None, None, None)
            .unwrap()
            .is_whole()
    );
    let alone = ExecutionTuple::from_flags(None, Some("1/3:2/3"), None).unwrap();
    assert_eq!(alone.sequence().to_string(), "0,1/3,2/3,1");
    for (k, seg, seq, needle) in [
        (Some("0/4"), None, None, "1 <= K <= N"),
        (Some("5/4"), None, None, "1 <= K <= N"),
        (Some("two"), None, None, "expected K/N"),
        (Some("1/2"), Some("0:1/2"), None, "give one of them"),
        (None, None, Some("0,1/2,1"), "needs --execution-segment"),
        (
            None,
            Some("1/4:1/2"),
            Some("0,1/3,2/3,1"),
            "give one of 0:1/3, 1/3:2/3, 2/3:1",
        ),
        (None, Some("1/2:1/4"), None, "is empty"),
        (
            None,
            Some("0:1/99991"),
            Some("0,1/99991,1/99989,1"),
            "common denominator",
        ),
    ] {
        let err = ExecutionTuple::from_flags(k, seg, seq).unwrap_err();
        assert!(crate::exit::is_bad_input(&err), "{err:#}");
        assert!(err.to_string().contains(needle), "{err:#}");
    }
}

#[test]
fn shares_serialize_as_text_and_tell_whole_from_part() {
    let t = ExecutionTuple::from_flags(Some("3/4"), None, None).unwrap();
    let json = serde_json::to_value(Share::of(&t)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"sequence": "0,1/4,1/2,3/4,1", "segments": ["1/2:3/4"]})
    );
    let back: Share = serde_json::from_value(json).unwrap();
    assert_eq!(back, Share::of(&t));
    assert!(!back.is_whole());
    let mut reversed: Vec<Segment> = Sequence::even(2).segments().collect();
    reversed.reverse();
    let all = Share {
        sequence: Sequence::even(2),
        segments: reversed,
    };
    assert!(all.is_whole());
    assert!(Share::whole().is_whole());
}

/// A random sequence of up to 8 segments with denominators up to 8.
fn sequences() -> impl Strategy<Value = Sequence> {
    proptest::collection::vec((2u64..=8, 1u64..8), 1..8).prop_map(|cuts| {
        let mut points: Vec<Fraction> = cuts
            .iter()
            .map(|(d, n)| Fraction::new(n % d, *d))
            .filter(|p| *p > Fraction::from_integer(0))
            .collect();
        points.sort();
        points.dedup();
        let text: Vec<String> = std::iter::once("0".to_string())
            .chain(
                points
                    .iter()
                    .map(|p| format!("{}/{}", p.numer(), p.denom())),
            )
            .chain(std::iter::once("1".to_string()))
            .collect();
        Sequence::parse(&text.join(",")).unwrap()
    })
}

proptest! {
    #[test]
    fn any_sequence_partitions_any_count(seq in sequences(), n in 0u64..3000) {
        let tuples: Vec<ExecutionTuple> = (0..seq.len())
            .map(|i| ExecutionTuple::new(seq.clone(), i).unwrap())
            .collect();
        let total: u64 = tuples.iter().map(|t| t.scale(n)).sum();
        prop_assert_eq!(total, n);
        // Shares stay close to the exact proportion: the striping only
        // delays a small segment's numbers behind bigger ones'.
        for t in &tuples {
            let exact = t.segment().length() * n;
            let share = Fraction::from_integer(t.scale(n));
            let diff = if share > exact { share - exact } else { exact - share };
            prop_assert!(
                diff < Fraction::from_integer(seq.len() as u64),
                "{} of {n}: {share} vs {exact}",
                t.segment()
            );
        }
        if n < 400 {
            assert_partition(&tuples, n);
        }
    }

    #[test]
    fn any_sequence_splits_every_executor(
        seq in sequences(),
        vus in 1u64..40,
        iterations in 1u64..200,
        rate in 1u64..60,
    ) {
        let tuples: Vec<ExecutionTuple> = (0..seq.len())
            .map(|i| ExecutionTuple::new(seq.clone(), i).unwrap())
            .collect();
        for e in executors(vus, iterations, rate) {
            assert_executor_adds_up(&tuples, &e);
        }
    }
}
