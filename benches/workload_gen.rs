//! `cargo bench --bench workload_gen`: how fast the generator makes records without a broker,
//! so it never limits a benchmark. Compared in the same run with the fastest rate a producer
//! reached against a 1-broker cluster here (about 400 k records/s at 100 B).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use workload::spec::{KeySpec, RecordSpec, SizeSpec};
use workload::RecordGenerator;

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("workload_gen");
    for (name, value, keys) in [
        (
            "100B uniform keys",
            100u32,
            KeySpec::Uniform { count: 100_000 },
        ),
        (
            "1KiB zipf keys",
            1024,
            KeySpec::Zipf {
                count: 100_000,
                exponent: 1.1,
            },
        ),
    ] {
        let spec = RecordSpec {
            keys,
            value_size: SizeSpec::Fixed(value),
            headers: 1,
            ..RecordSpec::default()
        };
        let n = 100_000u64;
        group.throughput(Throughput::Elements(n));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut g = RecordGenerator::new(7, 0, 10, &spec, 0.0);
                let mut bytes = 0usize;
                for _ in 0..n {
                    bytes += g.next_record(0).size();
                }
                bytes
            })
        });
        group.bench_function(format!("{name} + fingerprint"), |b| {
            b.iter(|| {
                let mut g = RecordGenerator::new(7, 0, 10, &spec, 0.0);
                let mut x = 0u8;
                for _ in 0..n {
                    x ^= g.next_record(0).fingerprint()[0];
                }
                x
            })
        });
    }
    group.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
