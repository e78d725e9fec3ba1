//! `myelin quota alter|describe`: the client quotas of users and client ids, and the
//! connection creation quotas of IP addresses (KIP-612), like Kafka's `kafka-configs.sh
//! --entity-type users|clients|ips` (`--user`, `--user-default`, `--client-id`,
//! `--client-default`, `--ip`, `--ip-default`, `--add-config`, `--delete-config`).
//!
//! An IP address entity stands alone: `--ip`, `--ip-default` (and `--ip-any` of
//! `describe`) conflict with every user and client id flag. Its only quota is
//! `connection_creation_rate`, a whole number of new connections per second. An --ip
//! value must be an IP address (`10.0.0.1`, `::1`); host names are not resolved.

use std::io::Write;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use myelin::client::quotas::{
    entity_text, AlterMode, QuotaAlteration, QuotaEntity, QuotaEntry, QuotaFilter, QuotaMatch,
    QuotaName, QuotaOp,
};
use myelin::client::Connection;

use super::{parse_key_value, ClientArgs};

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set or remove quotas of a user, a client id, a user's client id, or an IP address.
    Alter(AlterArgs),
    /// List quotas (of the entities given, else all).
    Describe(DescribeArgs),
}

#[derive(Debug, Args)]
pub struct AlterArgs {
    /// The user (principal name) whose quotas change.
    #[arg(long, conflicts_with = "user_default")]
    pub user: Option<String>,
    /// The default user (`<default>`): the quotas of users with none of their own.
    #[arg(long)]
    pub user_default: bool,
    /// The client id whose quotas change (with --user: that user's client id).
    #[arg(long, conflicts_with = "client_default")]
    pub client_id: Option<String>,
    /// The default client id (`<default>`).
    #[arg(long)]
    pub client_default: bool,
    /// The IP address whose connection creation quota changes (alone: not with a user or
    /// client id flag).
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with_all = ["ip_default", "user", "user_default", "client_id", "client_default"]
    )]
    pub ip: Option<String>,
    /// The default IP address (`<default>`): the quota of addresses with none of their own
    /// (alone: not with a user or client id flag).
    #[arg(
        long,
        conflicts_with_all = ["user", "user_default", "client_id", "client_default"]
    )]
    pub ip_default: bool,
    /// Quotas to set, as KEY=VALUE (producer_byte_rate, consumer_byte_rate,
    /// request_percentage; connection_creation_rate, a whole number of connections per
    /// second, for --ip and --ip-default); several separated by commas; repeatable.
    #[arg(long = "add-config", value_name = "KEY=VALUE,...")]
    pub add_config: Vec<String>,
    /// Quotas to remove, by key; several separated by commas; repeatable.
    #[arg(long = "delete-config", value_name = "KEY,...")]
    pub delete_config: Vec<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Only the quotas of this user.
    #[arg(long, conflicts_with_all = ["user_default", "user_any"])]
    pub user: Option<String>,
    /// Only the quotas of the default user.
    #[arg(long, conflicts_with = "user_any")]
    pub user_default: bool,
    /// Only the quotas of entities with a user (the default included).
    #[arg(long)]
    pub user_any: bool,
    /// Only the quotas of this client id.
    #[arg(long, conflicts_with_all = ["client_default", "client_any"])]
    pub client_id: Option<String>,
    /// Only the quotas of the default client id.
    #[arg(long, conflicts_with = "client_any")]
    pub client_default: bool,
    /// Only the quotas of entities with a client id (the default included).
    #[arg(long)]
    pub client_any: bool,
    /// Only the quota of this IP address (not with a user or client id flag).
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with_all = [
            "ip_default", "ip_any",
            "user", "user_default", "user_any", "client_id", "client_default", "client_any",
        ]
    )]
    pub ip: Option<String>,
    /// Only the quota of the default IP address (not with a user or client id flag).
    #[arg(
        long,
        conflicts_with_all = [
            "ip_any",
            "user", "user_default", "user_any", "client_id", "client_default", "client_any",
        ]
    )]
    pub ip_default: bool,
    /// Only the quotas of IP addresses (the default included; not with a user or client id
    /// flag).
    #[arg(
        long,
        conflicts_with_all = [
            "user", "user_default", "user_any", "client_id", "client_default", "client_any",
        ]
    )]
    pub ip_any: bool,
    /// Only entities with exactly the parts filtered on (without it, --user alice also
    /// lists alice's client ids).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A name given to --user, --client-id or --ip, or the default (`default_flag`).
fn name(
    flag: &str,
    default_flag: &str,
    name: Option<&String>,
    default: bool,
) -> Result<Option<QuotaName>> {
    match (name, default) {
        (Some(n), _) if n.is_empty() => {
            bail!("--{flag} needs a name (--{default_flag} for the default)")
        }
        (Some(n), _) => Ok(Some(QuotaName::Named(n.clone()))),
        (None, true) => Ok(Some(QuotaName::Default)),
        (None, false) => Ok(None),
    }
}

/// Refuses an --ip value that is not an IP address (Kafka would resolve a host name; the
/// broker needs an address).
fn check_ip(ip: Option<&String>) -> Result<()> {
    match ip {
        Some(ip) if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() => {
            bail!("--ip {ip}: not an IP address (such as 10.0.0.1 or ::1)")
        }
        _ => Ok(()),
    }
}

/// A filter's match for one entity type.
fn filter_match(
    flag: &str,
    name: Option<&String>,
    default: bool,
    any: bool,
) -> Result<Option<QuotaMatch>> {
    Ok(match (name, default, any) {
        (Some(n), _, _) if n.is_empty() => bail!("--{flag} needs a name"),
        (Some(n), _, _) => Some(QuotaMatch::Exact(n.clone())),
        (None, true, _) => Some(QuotaMatch::Default),
        (None, false, true) => Some(QuotaMatch::Any),
        (None, false, false) => None,
    })
}

/// The items of comma-separated, repeatable flag values, trimmed, without empty ones.
fn items(values: &[String]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|i| !i.is_empty())
}

impl AlterArgs {
    fn entity(&self) -> Result<QuotaEntity> {
        check_ip(self.ip.as_ref())?;
        let entity = QuotaEntity {
            user: name(
                "user",
                "user-default",
                self.user.as_ref(),
                self.user_default,
            )?,
            client_id: name(
                "client-id",
                "client-default",
                self.client_id.as_ref(),
                self.client_default,
            )?,
            ip: name("ip", "ip-default", self.ip.as_ref(), self.ip_default)?,
        };
        if entity.user.is_none() && entity.client_id.is_none() && entity.ip.is_none() {
            bail!(
                "name the entity: --user, --user-default, --client-id, --client-default, --ip \
                 or --ip-default"
            );
        }
        Ok(entity)
    }

    /// The --add-config then the --delete-config changes; each key at most once.
    fn ops(&self) -> Result<Vec<QuotaOp>> {
        let mut ops = Vec::new();
        for item in items(&self.add_config) {
            let (key, value) =
                parse_key_value(item).map_err(|e| anyhow::anyhow!("--add-config: {e}"))?;
            let value = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| anyhow::anyhow!("--add-config {key}={value}: not a number"))?;
            ops.push(QuotaOp::Set { key, value });
        }
        for key in items(&self.delete_config) {
            ops.push(QuotaOp::Remove {
                key: key.to_string(),
            });
        }
        let mut keys: Vec<&str> = ops
            .iter()
            .map(|op| match op {
                QuotaOp::Set { key, .. } | QuotaOp::Remove { key } => key.as_str(),
            })
            .collect();
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            bail!("the quota {} is changed twice", w[0]);
        }
        if ops.is_empty() {
            bail!("give at least one --add-config or --delete-config");
        }
        Ok(ops)
    }
}

impl DescribeArgs {
    fn filter(&self) -> Result<QuotaFilter> {
        check_ip(self.ip.as_ref())?;
        Ok(QuotaFilter {
            user: filter_match("user", self.user.as_ref(), self.user_default, self.user_any)?,
            client_id: filter_match(
                "client-id",
                self.client_id.as_ref(),
                self.client_default,
                self.client_any,
            )?,
            ip: filter_match("ip", self.ip.as_ref(), self.ip_default, self.ip_any)?,
            strict: self.strict,
        })
    }
}

/// Where a quota key comes in a described line: Kafka's quotas in the order Kafka
/// documents them, then the others by name.
fn key_rank(key: &str) -> usize {
    const ORDER: [&str; 3] = [
        "producer_byte_rate",
        "consumer_byte_rate",
        "request_percentage",
    ];
    ORDER.iter().position(|k| *k == key).unwrap_or(ORDER.len())
}

/// One entry as kafka-configs.sh prints it: `Quota configs for user-principal 'alice',
/// client-id 'c1' are producer_byte_rate=1024.0, consumer_byte_rate=2048.0`, `Quota configs
/// for ip '10.0.0.1' are connection_creation_rate=5.0`. A default entity's name prints as
/// `<default>`; values always have a fraction (`1024.0`).
fn describe_line(entry: &QuotaEntry) -> String {
    let part = |kind: &str, name: &Option<QuotaName>| {
        name.as_ref().map(|n| match n {
            QuotaName::Default => format!("{kind} '<default>'"),
            QuotaName::Named(n) => format!("{kind} '{n}'"),
        })
    };
    let entity = [
        part("user-principal", &entry.entity.user),
        part("client-id", &entry.entity.client_id),
        part("ip", &entry.entity.ip),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let mut values: Vec<&(String, f64)> = entry.values.iter().collect();
    values.sort_by(|a, b| (key_rank(&a.0), &a.0).cmp(&(key_rank(&b.0), &b.0)));
    let values = values
        .iter()
        // `{:?}` keeps the fraction of whole numbers (`1024.0`), as Kafka's doubles print.
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("Quota configs for {entity} are {values}")
}

/// What `alter` prints once the broker took the change, as kafka-configs.sh does:
/// `Completed updating config for user alice, client-id c1.`, `Completed updating config
/// for ip 10.0.0.1.`
fn altered_line(entity: &QuotaEntity) -> String {
    format!("Completed updating config for {}.", entity_text(entity))
}

async fn connect(client: &ClientArgs) -> Result<Connection> {
    Ok(Connection::connect(&client.bootstrap_server, client.client_config()?).await?)
}

pub async fn run(command: QuotaCommand) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    match command {
        QuotaCommand::Alter(a) => {
            let alteration = QuotaAlteration {
                entity: a.entity()?,
                ops: a.ops()?,
            };
            connect(&a.client)
                .await?
                .alter_client_quotas(std::slice::from_ref(&alteration), AlterMode::Apply)
                .await?;
            writeln!(out, "{}", altered_line(&alteration.entity))?;
        }
        QuotaCommand::Describe(a) => {
            let filter = a.filter()?;
            let entries = connect(&a.client)
                .await?
                .describe_client_quotas(&filter)
                .await?;
            for entry in &entries {
                writeln!(out, "{}", describe_line(entry))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn alter(args: &[&str]) -> AlterArgs {
        let argv = ["myelin", "quota", "alter"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Quota(QuotaCommand::Alter(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn describe(args: &[&str]) -> DescribeArgs {
        let argv = ["myelin", "quota", "describe"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Quota(QuotaCommand::Describe(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    fn set(key: &str, value: f64) -> QuotaOp {
        QuotaOp::Set {
            key: key.into(),
            value,
        }
    }

    fn remove(key: &str) -> QuotaOp {
        QuotaOp::Remove { key: key.into() }
    }

    #[test]
    fn configs_are_comma_separated_and_repeatable() {
        let a = alter(&[
            "--user",
            "alice",
            "--add-config",
            "producer_byte_rate=1024,consumer_byte_rate=2048.5",
            "--add-config",
            " request_percentage = 50 ,",
            "--delete-config",
            "a,b",
            "--delete-config",
            "c",
        ]);
        assert_eq!(
            a.ops().unwrap(),
            vec![
                set("producer_byte_rate", 1024.0),
                set("consumer_byte_rate", 2048.5),
                set("request_percentage", 50.0),
                remove("a"),
                remove("b"),
                remove("c"),
            ]
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        let err = |args: &[&str]| {
            let mut argv = vec!["--user", "alice"];
            argv.extend_from_slice(args);
            alter(&argv).ops().unwrap_err().to_string()
        };
        assert!(err(&["--add-config", "producer_byte_rate=fast"]).contains("not a number"));
        assert!(err(&["--add-config", "producer_byte_rate=inf"]).contains("not a number"));
        assert!(err(&["--add-config", "producer_byte_rate"]).contains("KEY=VALUE"));
        assert!(err(&["--add-config", "a=1,a=2"]).contains("a is changed twice"));
        assert!(err(&["--add-config", "a=1", "--delete-config", "a"]).contains("twice"));
        assert!(err(&[]).contains("at least one"));
        assert!(err(&["--delete-config", ","]).contains("at least one"));
    }

    #[test]
    fn alter_entities() {
        let entity = |args: &[&str]| alter(args).entity();
        assert_eq!(
            entity(&["--user", "alice", "--client-id", "c1"]).unwrap(),
            QuotaEntity {
                user: Some(QuotaName::Named("alice".into())),
                client_id: Some(QuotaName::Named("c1".into())),
                ip: None,
            }
        );
        assert_eq!(
            entity(&["--user-default", "--client-id", "c1"]).unwrap(),
            QuotaEntity {
                user: Some(QuotaName::Default),
                client_id: Some(QuotaName::Named("c1".into())),
                ip: None,
            }
        );
        assert_eq!(
            entity(&["--client-default"]).unwrap(),
            QuotaEntity {
                user: None,
                client_id: Some(QuotaName::Default),
                ip: None,
            }
        );
        let none = entity(&["--add-config", "a=1"]).unwrap_err().to_string();
        assert!(none.contains("name the entity"), "{none}");
        let empty = entity(&["--client-id", ""]).unwrap_err().to_string();
        assert!(
            empty.contains("--client-id needs a name (--client-default"),
            "{empty}"
        );
        let argv = ["myelin", "quota", "alter", "--user", "a", "--user-default"];
        assert!(Cli::try_parse_from(argv).is_err());
        let argv = [
            "myelin",
            "quota",
            "alter",
            "--client-id",
            "c",
            "--client-default",
        ];
        assert!(Cli::try_parse_from(argv).is_err());
    }

    #[test]
    fn describe_filters() {
        assert_eq!(describe(&[]).filter().unwrap(), QuotaFilter::default());
        assert_eq!(
            describe(&["--user", "alice", "--client-default", "--strict"])
                .filter()
                .unwrap(),
            QuotaFilter {
                user: Some(QuotaMatch::Exact("alice".into())),
                client_id: Some(QuotaMatch::Default),
                ip: None,
                strict: true,
            }
        );
        assert_eq!(
            describe(&["--user-any", "--client-any"]).filter().unwrap(),
            QuotaFilter {
                user: Some(QuotaMatch::Any),
                client_id: Some(QuotaMatch::Any),
                ip: None,
                strict: false,
            }
        );
        assert_eq!(
            describe(&["--user-default"]).filter().unwrap().user,
            Some(QuotaMatch::Default)
        );
        for conflict in [
            ["--user", "a", "--user-any"],
            ["--user-default", "--user-any", "--strict"],
            ["--client-id", "c", "--client-default"],
        ] {
            let argv = ["myelin", "quota", "describe"].iter().chain(&conflict);
            assert!(Cli::try_parse_from(argv).is_err(), "{conflict:?}");
        }
    }

    #[test]
    fn described_quotas_print_like_kafka_configs() {
        let entry = |user, client_id, values: &[(&str, f64)]| QuotaEntry {
            entity: QuotaEntity {
                user,
                client_id,
                ip: None,
            },
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        };
        let alice = Some(QuotaName::Named("alice".into()));
        assert_eq!(
            describe_line(&entry(
                alice,
                Some(QuotaName::Named("c1".into())),
                &[
                    ("some_other_quota", 3.0),
                    ("consumer_byte_rate", 2048.0),
                    ("producer_byte_rate", 1024.0),
                ]
            )),
            "Quota configs for user-principal 'alice', client-id 'c1' are \
             producer_byte_rate=1024.0, consumer_byte_rate=2048.0, some_other_quota=3.0"
        );
        assert_eq!(
            describe_line(&entry(
                Some(QuotaName::Default),
                None,
                &[("request_percentage", 12.5)]
            )),
            "Quota configs for user-principal '<default>' are request_percentage=12.5"
        );
        assert_eq!(
            describe_line(&entry(
                None,
                Some(QuotaName::Default),
                &[("producer_byte_rate", 10485760.0)]
            )),
            "Quota configs for client-id '<default>' are producer_byte_rate=10485760.0"
        );
    }

    /// The kind of error clap gives for `myelin quota <args>`.
    fn parse_error(args: &[&str]) -> clap::error::ErrorKind {
        let argv = ["myelin", "quota"].iter().chain(args);
        Cli::try_parse_from(argv).unwrap_err().kind()
    }

    #[test]
    fn alter_ip_entities() {
        let ip = |name| QuotaEntity {
            user: None,
            client_id: None,
            ip: Some(name),
        };
        let a = alter(&[
            "--ip",
            "10.0.0.1",
            "--add-config",
            "connection_creation_rate=5",
        ]);
        assert_eq!(a.entity().unwrap(), ip(QuotaName::Named("10.0.0.1".into())));
        assert_eq!(a.ops().unwrap(), vec![set("connection_creation_rate", 5.0)]);
        assert_eq!(
            alter(&["--ip", "::1"]).entity().unwrap(),
            ip(QuotaName::Named("::1".into()))
        );
        assert_eq!(
            alter(&["--ip-default"]).entity().unwrap(),
            ip(QuotaName::Default)
        );
        assert_eq!(
            entity_text(&alter(&["--ip-default"]).entity().unwrap()),
            "ip <default>"
        );
        for bad in [
            "10.0.0",
            "10.0.0.256",
            "broker.example.com",
            "[::1]",
            "10.0.0.1:9092",
        ] {
            let err = alter(&["--ip", bad]).entity().unwrap_err().to_string();
            assert_eq!(
                err,
                format!("--ip {bad}: not an IP address (such as 10.0.0.1 or ::1)")
            );
        }
        let empty = alter(&["--ip", ""]).entity().unwrap_err().to_string();
        assert!(empty.contains("--ip needs a name (--ip-default"), "{empty}");
        let none = alter(&[]).entity().unwrap_err().to_string();
        assert!(none.contains("--ip or --ip-default"), "{none}");
    }

    #[test]
    fn alter_ip_flags_conflict_with_user_and_client_flags() {
        use clap::error::ErrorKind::ArgumentConflict;
        for ip in [&["--ip", "10.0.0.1"][..], &["--ip-default"]] {
            for other in [
                &["--user", "alice"][..],
                &["--user-default"],
                &["--client-id", "c1"],
                &["--client-default"],
            ] {
                let mut args = vec!["alter"];
                args.extend_from_slice(ip);
                args.extend_from_slice(other);
                assert_eq!(parse_error(&args), ArgumentConflict, "{args:?}");
                // In either order.
                let mut args = vec!["alter"];
                args.extend_from_slice(other);
                args.extend_from_slice(ip);
                assert_eq!(parse_error(&args), ArgumentConflict, "{args:?}");
            }
        }
        assert_eq!(
            parse_error(&["alter", "--ip", "10.0.0.1", "--ip-default"]),
            ArgumentConflict
        );
    }

    #[test]
    fn describe_ip_filters() {
        let ip = |m| QuotaFilter {
            ip: Some(m),
            ..QuotaFilter::default()
        };
        assert_eq!(
            describe(&["--ip", "10.0.0.1"]).filter().unwrap(),
            ip(QuotaMatch::Exact("10.0.0.1".into()))
        );
        assert_eq!(
            describe(&["--ip", "fe80::1"]).filter().unwrap(),
            ip(QuotaMatch::Exact("fe80::1".into()))
        );
        assert_eq!(
            describe(&["--ip-default"]).filter().unwrap(),
            ip(QuotaMatch::Default)
        );
        assert_eq!(
            describe(&["--ip-any", "--strict"]).filter().unwrap(),
            QuotaFilter {
                strict: true,
                ..ip(QuotaMatch::Any)
            }
        );
        let err = describe(&["--ip", "localhost"])
            .filter()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--ip localhost: not an IP address (such as 10.0.0.1 or ::1)"
        );
        let empty = describe(&["--ip", ""]).filter().unwrap_err().to_string();
        assert!(empty.contains("--ip needs a name"), "{empty}");
    }

    #[test]
    fn describe_ip_flags_conflict_with_each_other_and_user_and_client_flags() {
        use clap::error::ErrorKind::ArgumentConflict;
        let others = [
            &["--user", "alice"][..],
            &["--user-default"],
            &["--user-any"],
            &["--client-id", "c1"],
            &["--client-default"],
            &["--client-any"],
        ];
        let ips = [&["--ip", "10.0.0.1"][..], &["--ip-default"], &["--ip-any"]];
        for ip in ips {
            for other in others.iter().chain(ips.iter().filter(|i| **i != ip)) {
                let mut args = vec!["describe"];
                args.extend_from_slice(ip);
                args.extend_from_slice(other);
                assert_eq!(parse_error(&args), ArgumentConflict, "{args:?}");
            }
        }
    }

    #[test]
    fn described_ip_quotas_print_like_kafka_configs() {
        let entry = |ip| QuotaEntry {
            entity: QuotaEntity {
                user: None,
                client_id: None,
                ip: Some(ip),
            },
            values: vec![("connection_creation_rate".to_string(), 5.0)],
        };
        assert_eq!(
            describe_line(&entry(QuotaName::Named("10.0.0.1".into()))),
            "Quota configs for ip '10.0.0.1' are connection_creation_rate=5.0"
        );
        assert_eq!(
            describe_line(&entry(QuotaName::Default)),
            "Quota configs for ip '<default>' are connection_creation_rate=5.0"
        );
    }

    #[test]
    fn altered_entities_print_like_kafka_configs() {
        let line = |args: &[&str]| altered_line(&alter(args).entity().unwrap());
        assert_eq!(
            line(&["--ip", "10.0.0.1"]),
            "Completed updating config for ip 10.0.0.1."
        );
        assert_eq!(
            line(&["--ip-default"]),
            "Completed updating config for ip <default>."
        );
        assert_eq!(
            line(&["--user", "alice", "--client-default"]),
            "Completed updating config for user alice, client-id <default>."
        );
    }
}
