//! Micro-benchmarks of the hot path on committed real logs (fixtures/):
//! the marker scan alone, parsing per format, and parsing plus tracking.
//! Each input is a fixture repeated to about 4 MB, so that per-call costs
//! do not dominate. `cargo bench` prints throughput; compare runs to see a
//! change that slows the hot path.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn input(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let one = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::with_capacity(4 << 20);
    while out.len() < 4 << 20 {
        out.extend_from_slice(&one);
    }
    out
}

fn hot_path(c: &mut Criterion) {
    let cases = [
        ("stderr", "v16/extended.log"),
        ("csvlog", "v16/extended.csv"),
        ("jsonlog", "v16/extended.json"),
        ("syslog", "syslog/syslog.log"),
    ];
    let mut group = c.benchmark_group("hot_path");
    group.sample_size(20);
    for (format, file) in cases {
        let buf = input(file);
        group.throughput(Throughput::Bytes(buf.len() as u64));
        group.bench_function(format!("scan/{format}"), |b| {
            b.iter(|| pgconn::bench::scan(black_box(&buf)))
        });
        group.bench_function(format!("parse/{format}"), |b| {
            b.iter(|| pgconn::bench::parse(black_box(&buf), format))
        });
        group.bench_function(format!("track/{format}"), |b| {
            b.iter(|| pgconn::bench::track(black_box(&buf)))
        });
    }
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
