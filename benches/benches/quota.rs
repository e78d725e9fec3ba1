//! The cost of client quotas on the request path: nanoseconds to charge one Produce request
//! to its client's quota (find the quota that applies among 1 to 10,000 quota entities, in
//! Kafka's order of precedence, then record the bytes against the client's rate), against
//! a ceiling measured in the same run: CRC-32C over one 16 KiB batch, the check every
//! produced batch gets anyway. Target: a charge costs no more than that check (ratio >= 1),
//! so quotas never become the produce path's cost. Without any quota a request pays one
//! branch, which is not measured here.
//!
//! `cargo bench -p myelin-benches --bench quota`; `cargo test -p myelin-benches --benches`
//! runs it once on small sizes.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use myelin_benches::{state_of, vs_batch_crc, BenchEnv, Report};
use myelin_cluster::{ClientQuotaChange, MetadataRecord, QuotaEntityPart, QuotaValue};
use myelin_server::quota::{resolve, QuotaManager, QuotaType, PRODUCER_BYTE_RATE};

/// `count` quota entities as a platform with many services might hold them: per-user,
/// per-client-id and per-(user, client-id) quotas, with defaults, and the bench client's
/// own (user, client-id) quota among them.
fn quotas(count: usize) -> Vec<ClientQuotaChange> {
    let part = |t: &str, n: Option<String>| QuotaEntityPart {
        entity_type: t.to_string(),
        entity_name: n,
    };
    let change = |mut entity: Vec<QuotaEntityPart>, key: &str, value: f64| {
        entity.sort();
        ClientQuotaChange {
            entity,
            quotas: BTreeMap::from([(key.to_string(), QuotaValue(value))]),
        }
    };
    let mut out = vec![
        change(
            vec![
                part("user", Some("producer".into())),
                part("client-id", Some("orders-app".into())),
            ],
            PRODUCER_BYTE_RATE,
            1e12,
        ),
        change(vec![part("user", None)], PRODUCER_BYTE_RATE, 1e12),
        change(vec![part("client-id", None)], "consumer_byte_rate", 1e6),
    ];
    for i in 0..count.saturating_sub(out.len()) {
        out.push(match i % 3 {
            0 => change(
                vec![part("user", Some(format!("service-{i}")))],
                PRODUCER_BYTE_RATE,
                1e7,
            ),
            1 => change(
                vec![part("client-id", Some(format!("app-{i}")))],
                "consumer_byte_rate",
                1e7,
            ),
            _ => change(
                vec![
                    part("user", Some(format!("service-{i}"))),
                    part("client-id", Some(format!("app-{i}"))),
                ],
                "request_percentage",
                50.0,
            ),
        });
    }
    out
}

fn main() {
    let env = BenchEnv::from_args(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let mut report = Report::default();
    let calls = env.pick(200_000u64, 1_000);
    let counts: &[usize] = env.pick(&[3, 100, 10_000], &[3, 1_000]);
    // The bench client's own (user, client id) quota: the first place looked; another
    // client's, found only in the default user quota: the sixth.
    let clients = [
        ("producer", "orders-app", "its own quota"),
        ("someone", "some-app", "the default user quota"),
    ];
    for &count in counts {
        for (user, client_id, found) in clients {
            let name = format!("charge a produce request among {count} quota entities, by {found}");
            if !env.wants(&name) {
                continue;
            }
            let state = state_of(&MetadataRecord::ClientQuotasAltered {
                changes: quotas(count),
            });
            let manager = QuotaManager::new(11, 1);
            let charge = || {
                let applied = resolve(
                    &state,
                    QuotaType::Produce,
                    black_box(user),
                    black_box(client_id),
                );
                match applied {
                    Some(a) => manager
                        .record(&a, black_box(16_384.0), Instant::now())
                        .is_zero(),
                    None => false,
                }
            };
            // A quota applies, and is far above what the bench sends.
            assert!(charge(), "no quota found for {user}, or it throttled");
            report.add(vs_batch_crc(name, "charge", calls, charge));
        }
    }
    if !report.is_empty() {
        println!("\n{}", report.table());
    }
}
