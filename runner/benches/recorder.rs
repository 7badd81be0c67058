//! The sample-recording hot path: one HTTP sample into the thread's shard
//! (k6's dozen metrics per request, one hash lookup), a custom metric
//! observation, and the per-interval hand-over of a shard to the aggregate.
//!
//! `cargo bench -p wasm-slo --bench recorder`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wasm_slo::metrics::recorder::{self, HttpSample};
use wasm_slo::metrics::store::MetricStore;

fn sample(i: u64) -> HttpSample {
    HttpSample {
        duration: Duration::from_micros(800 + i % 5000),
        sending: Duration::from_micros(20),
        waiting: Duration::from_micros(700 + i % 5000),
        receiving: Duration::from_micros(80),
        bytes_sent: 120,
        bytes_received: 240,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut i = 0u64;
    c.bench_function("record_http (7 tags, existing series)", |b| {
        b.iter(|| {
            i += 1;
            let mut tags = [
                ("scenario", "default"),
                ("name", "GET /ok"),
                ("method", "GET"),
                ("status", "200"),
                ("expected_response", "true"),
                ("flow", "fast"),
                ("vu_group", "a"),
            ];
            recorder::record_http(black_box(&mut tags), black_box(&sample(i)));
        })
    });
    let _ = recorder::take_shard();

    c.bench_function("record_http (20 names spread)", |b| {
        const NAMES: [&str; 20] = [
            "n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10", "n11", "n12", "n13",
            "n14", "n15", "n16", "n17", "n18", "n19",
        ];
        b.iter(|| {
            i += 1;
            let mut tags = [
                ("scenario", "default"),
                ("name", NAMES[(i % 20) as usize]),
                ("method", "GET"),
                ("status", "200"),
            ];
            recorder::record_http(black_box(&mut tags), black_box(&sample(i)));
        })
    });
    let _ = recorder::take_shard();

    c.bench_function(
        "one interval's shard (1000 requests, 20 names) into the totals",
        |b| {
            b.iter_batched(
                || {
                    for j in 0..1000u64 {
                        let name = format!("n{}", j % 20);
                        let mut tags = [("scenario", "default"), ("name", name.as_str())];
                        recorder::record_http(&mut tags, &sample(j));
                    }
                    (recorder::take_shard(), MetricStore::default())
                },
                |(shard, mut store)| {
                    store.add_shard(shard);
                    black_box(store)
                },
                criterion::BatchSize::SmallInput,
            )
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
