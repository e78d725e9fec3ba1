//! The `myelin` command line: `serve`, the topic, group and ACL commands, `produce` and
//! `consume`.

pub mod acl;
pub mod config_file;
pub mod consume;
pub mod group;
pub mod produce;
pub mod quota;
pub mod serve;
pub mod telemetry;
pub mod topic;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Myelin: an event log broker that speaks the Apache Kafka protocol.
#[derive(Debug, Parser)]
#[command(name = "myelin", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a broker.
    Serve(serve::ServeArgs),
    /// Create, list, describe, alter and delete topics (on any Kafka-compatible broker).
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// Produce lines from standard input, one record per line (like `kcat -P`).
    Produce(produce::ProduceArgs),
    /// Consume records to standard output, one per line (like `kcat -C`).
    Consume(consume::ConsumeArgs),
    /// List, describe, delete consumer groups and reset their offsets (on any
    /// Kafka-compatible broker).
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Add, list and remove ACLs (on any Kafka-compatible broker with an authorizer).
    #[command(subcommand)]
    Acl(acl::AclCommand),
    /// Set, remove and list the client quotas of users, client ids and IP addresses (on any
    /// Kafka-compatible broker).
    #[command(subcommand)]
    Quota(quota::QuotaCommand),
}

/// Where the client commands connect.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The broker to connect to first (HOST:PORT; several separated by commas).
    #[arg(
        long,
        short = 'b',
        env = "MYELIN_BOOTSTRAP_SERVER",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// How long to wait for a broker's answer, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Kafka client properties for a secured listener, as Kafka's tools take them:
    /// `security.protocol`, `sasl.mechanism`, `sasl.jaas.config` (or `sasl.username` and
    /// `sasl.password`), `ssl.truststore.location` (PEM) or `ssl.ca.location`.
    #[arg(long, env = "MYELIN_COMMAND_CONFIG", value_name = "FILE")]
    pub command_config: Option<std::path::PathBuf>,
}

impl ClientArgs {
    pub fn client_config(&self) -> anyhow::Result<myelin::client::ClientConfig> {
        let security = match &self.command_config {
            None => myelin::client::security::Security::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read --command-config {}: {e}", path.display())
                })?;
                myelin::client::security::Security::from_properties(&text)
                    .map_err(|e| anyhow::anyhow!("--command-config {}: {e}", path.display()))?
            }
        };
        Ok(myelin::client::ClientConfig {
            client_id: "myelin-cli".to_string(),
            request_timeout: Duration::from_millis(self.request_timeout_ms.max(1)),
            security,
        })
    }
}

/// Parses `KEY=VALUE`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("a.b=c=d").unwrap(),
            ("a.b".to_string(), "c=d".to_string())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}
