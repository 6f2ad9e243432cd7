//! Criterion: encode + decode of the real message mix with postcard, bitcode and bincode 1.3.3.
#![allow(missing_docs)] // criterion_group! defines an undocumented public function

use criterion::{criterion_group, criterion_main, Criterion};
use mesos_bench::codec_mix::{self, Codec};

fn codecs(c: &mut Criterion) {
    let batch = codec_mix::offer_batch();
    let update = codec_mix::status_update();
    let reg = codec_mix::register_agent();
    for codec in Codec::ALL {
        let mut g = c.benchmark_group(format!("codec/{}", codec.name()));
        g.bench_function("offers_100", |b| {
            b.iter(|| codec.decode::<codec_mix::OfferBatch>(&codec.encode(&batch)))
        });
        g.bench_function("status_update", |b| {
            b.iter(|| codec.decode::<codec_mix::StatusUpdate>(&codec.encode(&update)))
        });
        g.bench_function("register_agent", |b| {
            b.iter(|| codec.decode::<codec_mix::RegisterAgent>(&codec.encode(&reg)))
        });
        g.finish();
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
