//! The sample-recording hot path: one HTTP sample into the thread's shard
//! (k6's dozen metrics per request, one hash lookup), the VU's lookup of a
//! request's series key, and the per-interval hand-over of a shard to the
//! aggregate.
//!
//! `cargo bench -p wasm-slo --bench recorder`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wasm_slo::metrics::key_memo::KeyMemo;
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
    // What a request's sample costs once its VU has the key: the series'
    // lookup and its seven trends.
    let mut tags = [
        ("scenario", "default"),
        ("name", "GET /ok"),
        ("method", "GET"),
        ("status", "200"),
        ("expected_response", "true"),
        ("flow", "fast"),
        ("vu_group", "a"),
    ];
    let key = recorder::series_key(None, &mut tags);
    c.bench_function("record_http_at (7 tags, existing series)", |b| {
        b.iter(|| {
            i += 1;
            recorder::record_http_at(black_box(&key), black_box(&sample(i)));
        })
    });
    let _ = recorder::take_shard();

    let keys: Vec<Box<str>> = (0..20)
        .map(|n| {
            let name = format!("n{n}");
            let mut tags = [
                ("scenario", "default"),
                ("name", name.as_str()),
                ("method", "GET"),
                ("status", "200"),
            ];
            recorder::series_key(None, &mut tags)
        })
        .collect();
    c.bench_function("record_http_at (20 names spread)", |b| {
        b.iter(|| {
            i += 1;
            recorder::record_http_at(black_box(&keys[(i % 20) as usize]), black_box(&sample(i)));
        })
    });
    let _ = recorder::take_shard();

    // How a VU finds a request's key: comparing what varies (here the name
    // and status) with the lists it has seen.
    let mut memo: KeyMemo<(String, u16)> = KeyMemo::default();
    let names: Vec<String> = (0..4).map(|n| format!("GET /api/{n}")).collect();
    c.bench_function("a request's key from its VU's memo (4 lists)", |b| {
        b.iter(|| {
            i += 1;
            let name = black_box(&names[(i % 4) as usize]);
            let status = black_box(200u16);
            let key = memo.key(
                |(n, s)| *s == status && n == name,
                || {
                    let mut tags = [("name", name.as_str()), ("status", "200")];
                    (
                        (name.clone(), status),
                        recorder::series_key(None, &mut tags),
                    )
                },
            );
            black_box(key.len())
        })
    });

    c.bench_function(
        "one interval's shard (1000 requests, 20 names) into the totals",
        |b| {
            b.iter_batched(
                || {
                    for j in 0..1000u64 {
                        recorder::record_http_at(&keys[(j % 20) as usize], &sample(j));
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
