//! `myelin topic create|list|describe|alter|delete`.

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use myelin::client::admin::{ConfigOp, RESOURCE_TOPIC};
use myelin::client::data::{EARLIEST, LATEST};
use myelin::client::{error_name, topic_id_string, ClientError, Cluster, Connection};

use super::{parse_key_value, ClientArgs};

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create(CreateArgs),
    /// List topic names.
    List(ListArgs),
    /// Show a topic's partitions, offsets and configs.
    Describe(DescribeArgs),
    /// Change a topic's configs (IncrementalAlterConfigs).
    Alter(AlterArgs),
    /// Delete a topic.
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The topic's name.
    pub name: String,
    /// Partitions; the broker's `num.partitions` when not given.
    #[arg(long, short = 'p')]
    pub partitions: Option<i32>,
    /// Replication factor; the broker's default when not given.
    #[arg(long, short = 'r')]
    pub replication_factor: Option<i16>,
    /// A topic config, NAME=VALUE (repeatable): `cleanup.policy=compact`, ...
    #[arg(long = "config", short = 'c', value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
    /// Check the request without creating the topic.
    #[arg(long)]
    pub validate_only: bool,
    /// Succeed when the topic already exists.
    #[arg(long)]
    pub if_not_exists: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include internal topics.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The topic's name.
    pub name: String,
    /// Show every config, defaults included (only overrides otherwise).
    #[arg(long)]
    pub all_configs: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct AlterArgs {
    /// The topic's name.
    pub name: String,
    /// Set a config, NAME=VALUE (repeatable).
    #[arg(long = "config", short = 'c', value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
    /// Remove a config's override, back to the default (repeatable).
    #[arg(long = "delete-config", value_name = "NAME")]
    pub delete_configs: Vec<String>,
    /// Check the change without applying it.
    #[arg(long)]
    pub validate_only: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The topic's name.
    pub name: String,
    /// Succeed when the topic does not exist.
    #[arg(long)]
    pub if_exists: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn is_code(e: &ClientError, code: i16) -> bool {
    matches!(e, ClientError::Kafka(k) if k.code == code)
}

async fn connect(client: &ClientArgs) -> Result<Connection> {
    Ok(Connection::connect(&client.bootstrap_server, client.client_config()?).await?)
}

pub async fn run(command: TopicCommand) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    match command {
        TopicCommand::Create(a) => {
            let mut c = connect(&a.client).await?;
            let created = c
                .create_topic(
                    &a.name,
                    a.partitions.unwrap_or(-1),
                    a.replication_factor.unwrap_or(-1),
                    &a.configs,
                    a.validate_only,
                )
                .await;
            match created {
                Ok(id) => {
                    let verb = if a.validate_only {
                        "Validated"
                    } else {
                        "Created"
                    };
                    match id {
                        Some(id) => writeln!(
                            out,
                            "{verb} topic {} (id {}).",
                            a.name,
                            topic_id_string(&id)
                        )?,
                        None => writeln!(out, "{verb} topic {}.", a.name)?,
                    }
                }
                // TOPIC_ALREADY_EXISTS
                Err(e) if a.if_not_exists && is_code(&e, 36) => {
                    writeln!(out, "Topic {} already exists.", a.name)?
                }
                Err(e) => return Err(e.into()),
            }
        }
        TopicCommand::List(a) => {
            let mut c = connect(&a.client).await?;
            let md = c.metadata(None, false).await?;
            let mut names: Vec<&str> = md
                .topics
                .iter()
                .filter(|t| a.all || !t.is_internal)
                .map(|t| t.name.as_str())
                .collect();
            names.sort_unstable();
            for n in names {
                writeln!(out, "{n}")?;
            }
        }
        TopicCommand::Describe(a) => describe(&a, out).await?,
        TopicCommand::Alter(a) => {
            let mut ops: Vec<ConfigOp> = a
                .configs
                .iter()
                .map(|(k, v)| ConfigOp::Set(k.clone(), v.clone()))
                .collect();
            ops.extend(a.delete_configs.iter().cloned().map(ConfigOp::Delete));
            anyhow::ensure!(
                !ops.is_empty(),
                "give --config NAME=VALUE or --delete-config NAME"
            );
            let mut c = connect(&a.client).await?;
            c.alter_configs(RESOURCE_TOPIC, &a.name, &ops, a.validate_only)
                .await?;
            let verb = if a.validate_only {
                "Validated"
            } else {
                "Altered"
            };
            writeln!(out, "{verb} configs of topic {}.", a.name)?;
        }
        TopicCommand::Delete(a) => {
            let mut c = connect(&a.client).await?;
            match c.delete_topic(&a.name).await {
                Ok(()) => writeln!(out, "Deleted topic {}.", a.name)?,
                // UNKNOWN_TOPIC_OR_PARTITION
                Err(e) if a.if_exists && is_code(&e, 3) => {
                    writeln!(out, "Topic {} does not exist.", a.name)?
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Prints a topic as `kafka-topics --describe` does, with each partition's offsets.
async fn describe(a: &DescribeArgs, out: &mut impl Write) -> Result<()> {
    let mut cluster =
        Cluster::connect(&a.client.bootstrap_server, a.client.client_config()?).await?;
    let md = cluster
        .bootstrap()
        .metadata(Some(&[a.name.as_str()]), false)
        .await?;
    let topic = md.topic(&a.name)?.clone();
    let configs = cluster
        .bootstrap()
        .describe_configs(RESOURCE_TOPIC, &a.name)
        .await
        .context("describing configs")?;
    let shown: Vec<String> = configs
        .iter()
        .filter(|c| a.all_configs || !c.is_default())
        .map(|c| {
            let v = if c.is_sensitive {
                "(sensitive)".to_string()
            } else {
                c.value.clone().unwrap_or_else(|| "null".into())
            };
            format!("{}={v}", c.name)
        })
        .collect();
    let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
    write!(out, "Topic: {}", topic.name)?;
    if !topic.topic_id.is_nil() {
        write!(out, "\tTopicId: {}", topic_id_string(&topic.topic_id))?;
    }
    writeln!(
        out,
        "\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {}",
        topic.partitions.len(),
        shown.join(",")
    )?;
    for p in &topic.partitions {
        let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        write!(
            out,
            "\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
            p.index,
            p.leader,
            ids(&p.replicas),
            ids(&p.isr)
        )?;
        if p.error_code != 0 {
            writeln!(out, "\tError: {}", error_name(p.error_code))?;
            continue;
        }
        let leader = cluster.broker(&md, p.leader).await?;
        let start = leader.list_offsets(&a.name, &[p.index], EARLIEST).await?;
        let end = leader.list_offsets(&a.name, &[p.index], LATEST).await?;
        writeln!(
            out,
            "\tLogStartOffset: {}\tLogEndOffset: {}",
            start[0].1, end[0].1
        )?;
    }
    Ok(())
}
