//! Against real Apicurio Registry servers started by the crate (Java 21+ and Maven or a
//! filled cache needed): the client, canonical comparison, the merge verification, and that a
//! registry never outlives its owner.

use std::sync::Arc;
use std::time::Instant;

use registry::compare::{verify, FindingKind, Named};
use registry::judge::{judge, Judgement, Resolver};
use registry::{wire, Apicurio, Reference, Schema, SchemaRegistry, SchemaType, StartOptions};

const ORDER_V1: &str =
    r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}"#;
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":["null","string"],"default":null}]}"#;
const USER_V1: &str = r#"{"type":"object","properties":{"name":{"type":"string"}}}"#;
const ADDR: &str = r#"{"type":"record","name":"Addr","namespace":"shop","fields":[{"name":"street","type":"string"}]}"#;
const PERSON: &str = r#"{"type":"record","name":"Person","namespace":"shop","fields":[{"name":"home","type":"shop.Addr"}]}"#;

const GEO: &str = r#"{"type":"record","name":"Geo","namespace":"shop","fields":[{"name":"lat","type":"double"},{"name":"lon","type":"double"}]}"#;
const GEO_OLD: &str = r#"{"type":"record","name":"Geo","namespace":"shop","fields":[{"name":"cell","type":"string"}]}"#;
const PLACE: &str = r#"{"type":"record","name":"Place","namespace":"shop","fields":[{"name":"at","type":"shop.Geo"}]}"#;

fn events(logical_type: &str) -> String {
    format!(
        r#"{{"type":"record","name":"Event","namespace":"shop","fields":[{{"name":"at","type":{{"type":"long","logicalType":"{logical_type}"}}}}]}}"#
    )
}

fn java_available() -> bool {
    match harness::java::JavaRuntime::locate_at_least(21) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIPPED: no Java 21+ for Apicurio Registry: {e}");
            false
        }
    }
}

fn start(name: &str) -> Apicurio {
    let log_dir = std::env::temp_dir().join("cutover-registry-test-logs");
    Apicurio::start(&StartOptions::new(name).log_dir(&log_dir)).expect("Apicurio starts")
}

#[test]
fn a_merge_of_two_registries_is_verified_by_content_and_registries_die_with_their_owner() {
    if !java_available() {
        return;
    }
    let t0 = Instant::now();
    // Start the three concurrently: each JVM takes seconds.
    let (a, b, target) = std::thread::scope(|s| {
        let a = s.spawn(|| start("source-a"));
        let b = s.spawn(|| start("source-b"));
        let t = s.spawn(|| start("target"));
        (a.join().unwrap(), b.join().unwrap(), t.join().unwrap())
    });
    eprintln!(
        "three registries ready in {:.1} s (each: {:.1} s, {:.1} s, {:.1} s)",
        t0.elapsed().as_secs_f64(),
        a.started_in().as_secs_f64(),
        b.started_in().as_secs_f64(),
        target.started_in().as_secs_f64()
    );
    assert_ne!(a.port(), b.port());
    let (ca, cb, ct) = (
        a.client().unwrap(),
        b.client().unwrap(),
        target.client().unwrap(),
    );
    assert!(
        ca.subjects().unwrap().is_empty(),
        "in-memory storage starts empty"
    );

    // Source A: orders v1 → v2, a referenced type, and a subject B holds too.
    let o1 = Schema::new(SchemaType::Avro, ORDER_V1);
    let o2 = Schema::new(SchemaType::Avro, ORDER_V2);
    let a_o1 = ca.register("orders-value", &o1).unwrap();
    let a_o2 = ca.register("orders-value", &o2).unwrap();
    assert_ne!(a_o1, a_o2);
    assert_eq!(ca.versions("orders-value").unwrap(), vec![1, 2]);
    ca.register("shop-addr", &Schema::new(SchemaType::Avro, ADDR))
        .unwrap();
    let mut person = Schema::new(SchemaType::Avro, PERSON);
    person.references.push(Reference {
        name: "shop.Addr".into(),
        subject: "shop-addr".into(),
        version: 1,
    });
    ca.register("person-value", &person).unwrap();
    ca.register(
        "shared-value",
        &Schema::new(SchemaType::Avro, r#""string""#),
    )
    .unwrap();
    ca.set_compatibility(Some("orders-value"), "BACKWARD")
        .unwrap();
    assert_eq!(
        ca.compatibility(Some("orders-value")).unwrap().as_deref(),
        Some("BACKWARD")
    );

    // Source B: JSON Schema, and the shared subject with other content at version 1.
    let u1 = Schema::new(SchemaType::Json, USER_V1);
    let b_u1 = cb.register("users-value", &u1).unwrap();
    cb.register("shared-value", &Schema::new(SchemaType::Avro, r#""long""#))
        .unwrap();
    // Overlapping ids: B's first id is A's first id, for another schema.
    assert_eq!(
        b_u1, a_o1,
        "each registry numbers its own ids from the start"
    );
    let by_id = cb.schema_by_id(b_u1).unwrap().expect("id resolves");
    assert_eq!(by_id.schema_type, SchemaType::Json);
    assert_eq!(by_id.canonical().unwrap(), u1.canonical().unwrap());
    assert!(
        cb.schema_by_id(9999).unwrap().is_none(),
        "an unknown id resolves to nothing"
    );
    let v = ca.version("person-value", 1).unwrap();
    assert_eq!(v.schema.references, person.references);

    // The target gets part of the merge: orders (in version order) and the referenced pair,
    // with layout changes that canonical comparison must see through.
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(ORDER_V1).unwrap())
            .unwrap();
    let t_o1 = ct
        .register("orders-value", &Schema::new(SchemaType::Avro, pretty))
        .unwrap();
    ct.register("orders-value", &o2).unwrap();
    ct.register("shop-addr", &Schema::new(SchemaType::Avro, ADDR))
        .unwrap();
    ct.register("person-value", &person).unwrap();
    ct.register("target-own", &Schema::new(SchemaType::Avro, r#""int""#))
        .unwrap();
    let found = ct
        .lookup("orders-value", &o1)
        .unwrap()
        .expect("lookup by content");
    assert_eq!((found.version, found.id), (1, t_o1));
    assert!(ct.lookup("orders-value", &u1).unwrap().is_none());

    // A record framed with A's id keeps decoding on the target only once translated.
    let record = wire::frame(a_o1, b"\x02");
    let translated = wire::with_id(&record, t_o1);
    assert_eq!(wire::parse(&translated).unwrap().id, t_o1);

    let sources = [
        Named {
            name: "source-a".into(),
            registry: &ca,
        },
        Named {
            name: "source-b".into(),
            registry: &cb,
        },
    ];
    let tgt = Named {
        name: "target".into(),
        registry: &ct,
    };
    let verdict = verify(&sources, &tgt).unwrap();
    eprintln!("{}", verdict.render_text(20));
    let count = |k: FindingKind| verdict.findings.iter().filter(|f| f.kind == k).count();
    assert_eq!(verdict.outcome, "fail");
    assert_eq!(
        count(FindingKind::Conflict),
        1,
        "shared-value v1 differs between A and B"
    );
    assert_eq!(
        count(FindingKind::Missing),
        1,
        "users-value v1 is not on the target"
    );
    assert_eq!(
        count(FindingKind::CompatibilityMismatch),
        1,
        "orders-value BACKWARD vs NONE"
    );
    assert_eq!(count(FindingKind::ContentMismatch), 0);
    assert_eq!(
        verdict.matched, 4,
        "orders v1, v2, shop-addr v1, person-value v1"
    );
    assert_eq!(verdict.target_only_subjects, vec!["target-own".to_string()]);

    // Fix the target: the remaining finding is the conflict, which no copy can fix.
    ct.register("users-value", &u1).unwrap();
    ct.set_compatibility(Some("orders-value"), "BACKWARD")
        .unwrap();
    let verdict = verify(&sources, &tgt).unwrap();
    assert_eq!(verdict.findings.len(), 1, "{:?}", verdict.findings);
    assert_eq!(verdict.findings[0].kind, FindingKind::Conflict);
    assert_eq!(verdict.findings[0].subject, "shared-value");

    // Identity keeps meaning, and a renumbered reference is judged by its content: A's
    // place-value v1 references shop-geo v1; the target already held another shop-geo, so the
    // same Geo landed at v2 and the target's place-value v1 references v2. A's events-value
    // has millis, the target's micros.
    let geo = Schema::new(SchemaType::Avro, GEO);
    let place = |geo_version: u32| {
        let mut s = Schema::new(SchemaType::Avro, PLACE);
        s.references.push(Reference {
            name: "shop.Geo".into(),
            subject: "shop-geo".into(),
            version: geo_version,
        });
        s
    };
    ca.register("shop-geo", &geo).unwrap();
    let a_place = ca.register("place-value", &place(1)).unwrap();
    ct.register("shop-geo", &Schema::new(SchemaType::Avro, GEO_OLD))
        .unwrap();
    ct.register("shop-geo", &geo).unwrap();
    assert_eq!(ct.versions("shop-geo").unwrap(), vec![1, 2]);
    let t_place = ct.register("place-value", &place(2)).unwrap();
    let a_events = ca
        .register(
            "events-value",
            &Schema::new(SchemaType::Avro, events("timestamp-millis")),
        )
        .unwrap();
    let t_events = ct
        .register(
            "events-value",
            &Schema::new(SchemaType::Avro, events("timestamp-micros")),
        )
        .unwrap();
    let verdict = verify(&sources, &tgt).unwrap();
    let kinds_of = |subject: &str| {
        verdict
            .findings
            .iter()
            .filter(|f| f.subject == subject)
            .map(|f| f.kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds_of("place-value"), vec![], "{:?}", verdict.findings);
    assert_eq!(kinds_of("shop-geo"), vec![FindingKind::ContentMismatch]);
    assert_eq!(kinds_of("events-value"), vec![FindingKind::ContentMismatch]);
    let (rs, rt) = (
        Resolver::new(Arc::new(ca.clone())),
        Resolver::new(Arc::new(ct.clone())),
    );
    let payload = b"\x02\x04";
    let (j, _) = judge(
        &rs,
        &rt,
        &wire::frame(a_place, payload),
        &wire::frame(t_place, payload),
    )
    .unwrap();
    assert_eq!(j, Judgement::Same, "a renumbered reference, same content");
    let (j, _) = judge(
        &rs,
        &rt,
        &wire::frame(a_events, payload),
        &wire::frame(t_events, payload),
    )
    .unwrap();
    assert_eq!(j, Judgement::SchemaMismatch, "millis copied as micros");

    // A target whose version 1 holds other content, and a source-only version order swap.
    let only_a = [Named {
        name: "source-a".into(),
        registry: &ca,
    }];
    let tb = Named {
        name: "as-target".into(),
        registry: &cb,
    };
    let verdict = verify(&only_a, &tb).unwrap();
    assert!(verdict
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::ContentMismatch && f.subject == "shared-value"));

    // Teardown: killed and removed, on drop as on shutdown.
    let pid = a.pid().unwrap();
    let dir = a.dir().to_path_buf();
    assert!(dir.exists());
    drop(a);
    assert!(
        !harness::supervisor::is_alive(pid),
        "the JVM is gone after drop"
    );
    assert!(!dir.exists(), "its working dir is removed");
    let mut b = b;
    let pid_b = b.pid().unwrap();
    b.shutdown();
    b.shutdown();
    assert!(!harness::supervisor::is_alive(pid_b));
    assert!(cb.subjects().is_err(), "the API no longer answers");
}
