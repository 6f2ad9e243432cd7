//! Criterion: one DeclineOffers cycle and a full sorter sort, at a size criterion can repeat.
#![allow(missing_docs)] // criterion_group! defines an undocumented public function

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mesos_bench::alloc_shapes;

fn allocator(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("decline_offers_1000x100_round0", |b| {
        b.iter(|| alloc_shapes::decline_offers(1_000, 100, 0, 0.0))
    });
    g.bench_function("sorter_5000x100", |b| {
        b.iter(|| alloc_shapes::sorter_full_sort(5_000, 100))
    });
    g.bench_function("quota_300_agents_300_roles", |b| {
        b.iter(|| alloc_shapes::large_and_small_quota(300, 250, 50))
    });
    g.finish();
}

criterion_group!(benches, allocator);
criterion_main!(benches);
