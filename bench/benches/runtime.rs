//! Criterion: the runtime beside its raw baselines (local send vs tokio mpsc, ping-pong, remote
//! send vs raw framed TCP). Each iteration moves a batch of messages; throughput is per message.
#![allow(missing_docs)] // criterion_group! defines an undocumented public function

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use libprocess::Runtime;
use mesos_bench::{local, remote};

const BATCH: u64 = 100_000;

fn runtime(c: &mut Criterion) {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let (a, b) = tokio_rt.block_on(async {
        (
            Runtime::local().await.expect("a"),
            Runtime::local().await.expect("b"),
        )
    });

    let mut g = c.benchmark_group("local_send");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("libprocess", |bch| {
        bch.iter(|| tokio_rt.block_on(local::runtime_throughput(&a, BATCH)))
    });
    g.bench_function("tokio_mpsc", |bch| {
        bch.iter(|| tokio_rt.block_on(local::mpsc_throughput(BATCH)))
    });
    g.finish();

    let mut g = c.benchmark_group("pingpong_1000");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("libprocess_local", |bch| {
        bch.iter(|| tokio_rt.block_on(local::runtime_pingpong(&a, &a, 1000)))
    });
    g.bench_function("tokio_mpsc", |bch| {
        bch.iter(|| tokio_rt.block_on(local::mpsc_pingpong(1000)))
    });
    g.bench_function("libprocess_remote", |bch| {
        bch.iter(|| tokio_rt.block_on(local::runtime_pingpong(&a, &b, 1000)))
    });
    g.bench_function("raw_tcp", |bch| {
        bch.iter(|| tokio_rt.block_on(remote::tcp_pingpong(1000)))
    });
    g.finish();

    let mut g = c.benchmark_group("remote_send");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    g.bench_function("libprocess", |bch| {
        bch.iter(|| tokio_rt.block_on(remote::runtime_throughput(&a, &b, BATCH)))
    });
    g.bench_function("raw_framed_tcp", |bch| {
        bch.iter(|| tokio_rt.block_on(remote::tcp_throughput(BATCH)))
    });
    g.finish();
}

criterion_group!(benches, runtime);
criterion_main!(benches);
