//! The cost of schema ID validation on the produce path: nanoseconds to check every
//! record of one 16 KiB batch bound for a topic with `confluent.value.schema.validation`
//! on (`myelin_server::schemas::check_batch`: each record's value found, its schema id
//! looked up under the topic's subject), with 1 to 10,000 subjects registered, against a
//! ceiling measured in the same run: the check the log makes of every produced batch
//! anyway (`myelin_log::batch::validate_incoming`: CRC-32C of the batch and a walk of its
//! records). Target: schema validation costs no more than that check (ratio >= 1), so
//! turning it on at most doubles the produce path's checking. Batches of 1 KiB records (16
//! of them) and of 100-byte records (163) are measured: both checks are per record.
//! Bringing the registry's view up to date (a lock and a comparison when `_schemas` has not
//! grown) is not measured; topics without validation pay one branch.
//!
//! `cargo bench -p myelin-benches --bench schema_validation`; `cargo test -p myelin-benches
//! --benches` runs it once on small sizes.

use std::hint::black_box;
use std::path::Path;

use myelin_benches::{median, now_ms, ns_per_call, BenchEnv, Better, Figure, Report, Target};
use myelin_log::compression::Compression;
use myelin_log::record::simple_batch;
use myelin_registry::{Registration, Registry, SubjectStrategy};
use myelin_server::schemas::{check_batch, Validation};

const TOPIC: &str = "referrals";

/// A registry with `subjects` subjects, `referrals-value` among them; the id of its schema.
fn registry(subjects: usize) -> (Registry, i32) {
    let mut r = Registry::new();
    let register = |r: &mut Registry, subject: &str, schema: &str| -> i32 {
        let parsed = r.parse_request(None, schema, &[]).expect("a valid schema");
        match r.plan_register(subject, &parsed, &[]).expect("registers") {
            Registration::New { id, record, .. } => {
                r.apply(Some(&record.0), record.1.as_deref());
                id
            }
            Registration::Existing { id, .. } => id,
        }
    };
    let id = register(
        &mut r,
        &format!("{TOPIC}-value"),
        r#"{"type":"record","name":"Referral","namespace":"org.example","fields":[{"name":"id","type":"string"},{"name":"body","type":"bytes"}]}"#,
    );
    for i in 1..subjects {
        let schema = format!(
            r#"{{"type":"record","name":"Event{i}","fields":[{{"name":"id","type":"string"}}]}}"#
        );
        register(&mut r, &format!("service-{i}-value"), &schema);
    }
    (r, id)
}

/// A 16 KiB batch of records of `size` bytes, each value framed with schema `id`.
fn batch(id: i32, size: usize) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..(16 << 10) / size)
        .map(|i| {
            let mut v = vec![0];
            v.extend_from_slice(&id.to_be_bytes());
            v.extend((5..size).map(|j| (i + j) as u8));
            v
        })
        .collect();
    let kvs: Vec<_> = values.iter().map(|v| (None, Some(&v[..]))).collect();
    simple_batch(&kvs, now_ms(), Compression::None)
}

fn main() {
    let env = BenchEnv::from_args(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let mut report = Report::default();
    let calls = env.pick(20_000u64, 200);
    let counts: &[usize] = env.pick(&[1, 100, 10_000], &[1, 100]);
    let validation = Validation {
        key: None,
        value: Some(SubjectStrategy::TopicName),
    };
    for &count in counts {
        let (registry, id) = registry(count);
        for size in [1024usize, 100] {
            let name =
                format!("check a 16 KiB batch of {size}-byte records, {count} subjects registered");
            if !env.wants(&name) {
                continue;
            }
            let batch = batch(id, size);
            let check =
                || check_batch(&registry, black_box(TOPIC), validation, black_box(&batch)).is_ok();
            // The batch is valid; a record framed with an unknown id is not.
            assert!(check(), "the bench batch is refused");
            assert!(check_batch(
                &registry,
                TOPIC,
                validation,
                &self::batch(id + 1_000_000, size)
            )
            .is_err());
            let mut checks = Vec::new();
            let mut ceilings = Vec::new();
            for _ in 0..3 {
                checks.push(ns_per_call(calls, check));
                ceilings.push(ns_per_call(calls, || {
                    myelin_log::batch::validate_incoming(black_box(&batch), 1 << 20).is_ok()
                }));
            }
            report.add(Figure {
                name,
                value: median(&checks),
                ceiling: median(&ceilings),
                unit: "ns",
                better: Better::Lower,
                target: Some(Target::Ratio(1.0)),
                note: "ceiling: the log's own check of the same batch (CRC-32C and a walk of \
                       its records), which every produced batch gets; ratio = ceiling / check"
                    .to_string(),
                paired: None,
            });
        }
    }
    if !report.is_empty() {
        println!("\n{}", report.table());
    }
}
