//! `cargo bench --bench schema_translate`: the built-in replicator's per-record cost of
//! schema-id translation (`replicator::schemas`), warm cache (the steady state: one registry
//! lookup per distinct source id, then a hash-map hit and a 5-byte header rewrite), next to
//! the copy of the value it replaces, for 100 B and 1 KiB values. Registries are in-memory
//! here; a cache miss against a real registry is a few HTTP round trips, paid once per id.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use registry::{wire, Schema, SchemaRegistry, SchemaType};
use replicator::schemas::memory::MemoryRegistry;
use replicator::schemas::Schemas;

fn translate(c: &mut Criterion) {
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
    let topic = schemas.for_topic("orders");
    let mut group = c.benchmark_group("schema_translate");
    for size in [100usize, 1024] {
        let value = wire::frame(id, &vec![7u8; size - wire::HEADER_LEN]);
        topic.translate(&value).unwrap();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("translate {size}B (warm cache)"), |b| {
            b.iter(|| {
                std::hint::black_box(topic.translate(std::hint::black_box(&value)).unwrap().len())
            })
        });
        group.bench_function(format!("copy {size}B (baseline)"), |b| {
            b.iter(|| std::hint::black_box(std::hint::black_box(&value).to_vec().len()))
        });
    }
    group.finish();
}

criterion_group!(benches, translate);
criterion_main!(benches);
