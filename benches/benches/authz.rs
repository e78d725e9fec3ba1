//! The authorizer's cost: nanoseconds per decision (a producer's WRITE on a topic, as
//! Produce asks once per topic and request) with 0 to 100,000 ACLs, against a ceiling
//! measured in the same run: CRC-32C over one 16 KiB batch, the check every produced batch
//! gets anyway. Target: a decision costs no more than that check (ratio >= 1), whatever
//! the number of ACLs, so the authorizer never becomes the produce path's cost.
//!
//! `cargo bench -p myelin-benches --bench authz`; `cargo test -p myelin-benches --benches`
//! runs it once on small sizes.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use myelin_benches::{state_of, vs_batch_crc, BenchEnv, Report};
use myelin_cluster::{AclRecord, MetadataRecord};
use myelin_server::authz::{
    authorize, AuthorizerConfig, Operation, ResourceType, ALLOW, DENY, LITERAL, PREFIXED,
};

/// `count` ACLs as a platform with many services might hold them: per-service literal
/// topic ACLs, team prefixes, group ACLs and a few DENYs, with the bench principal's own
/// WRITE on `orders` among them.
fn acls(count: usize) -> Vec<AclRecord> {
    let acl =
        |rt: ResourceType, name: String, pattern, who: String, op: Operation, perm| AclRecord {
            resource_type: rt as i8,
            resource_name: name,
            pattern_type: pattern,
            principal: who,
            host: "*".to_string(),
            operation: op as i8,
            permission_type: perm,
        };
    let mut out = vec![acl(
        ResourceType::Topic,
        "orders".into(),
        LITERAL,
        "User:producer".into(),
        Operation::Write,
        ALLOW,
    )];
    for i in 0..count.saturating_sub(1) {
        out.push(match i % 4 {
            0 => acl(
                ResourceType::Topic,
                format!("service-{i}-events"),
                LITERAL,
                format!("User:service-{i}"),
                Operation::Write,
                ALLOW,
            ),
            1 => acl(
                ResourceType::Topic,
                format!("team-{}-", i % 97),
                PREFIXED,
                format!("User:reader-{i}"),
                Operation::Read,
                ALLOW,
            ),
            2 => acl(
                ResourceType::Group,
                format!("group-{i}"),
                LITERAL,
                format!("User:reader-{i}"),
                Operation::Read,
                ALLOW,
            ),
            _ => acl(
                ResourceType::Topic,
                format!("service-{i}-"),
                PREFIXED,
                format!("User:service-{i}"),
                Operation::Delete,
                DENY,
            ),
        });
    }
    out
}

fn main() {
    let env = BenchEnv::from_args(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let mut report = Report::default();
    let calls = env.pick(200_000u64, 1_000);
    let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let config = AuthorizerConfig::default();
    let counts: &[usize] = env.pick(&[1, 100, 10_000, 100_000], &[1, 1_000]);
    for &count in counts {
        let name = format!("authorize a topic WRITE among {count} ACLs");
        if !env.wants(&name) {
            continue;
        }
        let state = state_of(&MetadataRecord::AclsCreated { acls: acls(count) });
        assert!(authorize(
            &state,
            &config,
            "User:producer",
            host,
            Operation::Write,
            ResourceType::Topic,
            "orders"
        ));
        let figure = vs_batch_crc(name, "decision", calls, || {
            authorize(
                &state,
                &config,
                black_box("User:producer"),
                host,
                Operation::Write,
                ResourceType::Topic,
                black_box("orders"),
            )
        });
        report.add(figure);
    }
    if !report.is_empty() {
        println!("\n{}", report.table());
    }
}
