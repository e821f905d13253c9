//! `cargo bench --bench schema_translate`: the built-in replicator's per-record cost of
//! schema-id translation (`replicator::schemas`), warm cache (the steady state: one registry
//! lookup per distinct source id, then a hash-map hit and a 5-byte header rewrite), next to
//! the copy of the value it replaces, for 100 B and 1 KiB values. Registries are in-memory
//! here; a cache miss against a real registry is a few HTTP round trips, paid once per id.
//! After criterion's figures, the ratio translate / copy per size is printed from a separate
//! timed loop (best of 5 rounds of 200,000 records each), the figure the README quotes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use registry::{wire, Schema, SchemaRegistry, SchemaType};
use replicator::schemas::memory::MemoryRegistry;
use replicator::schemas::Schemas;

/// A warm translator for topic `orders` (source id → target id cached) and the source id.
fn warm() -> (replicator::schemas::TopicSchemas, u32) {
    let a = MemoryRegistry::new("a", 1);
    let id = a
        .register(
            "orders-value",
            &Schema::new(
                SchemaType::Avro,
                r#"{"type":"record","name":"E","fields":[{"name":"id","type":"long"}]}"#,
            ),
        )
        .unwrap();
    let schemas = Arc::new(Schemas::new(
        vec![(regex::Regex::new(".*").unwrap(), Box::new(a))],
        Box::new(MemoryRegistry::new("t", 1000)),
    ));
    schemas.setup().unwrap();
    (schemas.for_topic("orders"), id)
}

const SIZES: [usize; 2] = [100, 1024];

fn translate(c: &mut Criterion) {
    let (topic, id) = warm();
    let mut group = c.benchmark_group("schema_translate");
    for size in SIZES {
        let value = wire::frame(id, &vec![7u8; size - wire::HEADER_LEN]);
        topic.translate(&value).unwrap();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("translate {size}B (warm cache)"), |b| {
            b.iter(|| std::hint::black_box(topic.translate(std::hint::black_box(&value)).unwrap()))
        });
        group.bench_function(format!("copy {size}B (baseline)"), |b| {
            b.iter(|| std::hint::black_box(std::hint::black_box(&value).to_vec()))
        });
    }
    group.finish();
}

/// Best per-record time of `f` over 5 rounds of `n` calls (its result kept from the optimizer:
/// a copy whose bytes nobody reads would be elided).
fn best_of<T>(n: u32, mut f: impl FnMut() -> T) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(f());
            }
            start.elapsed()
        })
        .min()
        .map_or(Duration::ZERO, |d| d / n)
}

/// translate / copy per record, printed for the README.
fn ratio() {
    let (topic, id) = warm();
    for size in SIZES {
        let value = wire::frame(id, &vec![7u8; size - wire::HEADER_LEN]);
        let t = best_of(200_000, || {
            topic.translate(std::hint::black_box(&value)).unwrap()
        });
        let c = best_of(200_000, || std::hint::black_box(&value).to_vec());
        println!(
            "schema_translate {size} B: translate {:.1} ns, copy {:.1} ns, ratio {:.2}",
            t.as_secs_f64() * 1e9,
            c.as_secs_f64() * 1e9,
            t.as_secs_f64() / c.as_secs_f64().max(1e-12)
        );
    }
}

criterion_group!(benches, translate);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratio();
}
