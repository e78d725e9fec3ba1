//! `myelin acl add|list|remove`: the ACLs of a broker with an authorizer, with the flags
//! of Kafka's `kafka-acls.sh` (`--allow-principal`, `--deny-principal`, `--operation`,
//! `--topic`, `--group`, `--transactional-id`, `--cluster`, `--resource-pattern-type`,
//! `--host`).

use std::io::Write;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use myelin::client::acls::{Acl, AclFilter, ANY, MATCH};
use myelin::client::Connection;
use myelin_server::authz::{
    describe_binding, Operation, ResourceType, ALLOW, CLUSTER_NAME, DENY, LITERAL, PREFIXED,
};

use super::ClientArgs;

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Add ACLs: every principal given gets every operation given on the resource.
    Add(ChangeArgs),
    /// List ACLs (of the resource given, else all).
    List(ListArgs),
    /// Remove the ACLs matching the resource, principals and operations given.
    Remove(ChangeArgs),
}

/// The resource an ACL is about; at most one.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// A topic (with --resource-pattern-type prefixed: a topic name prefix; `*`: every
    /// topic).
    #[arg(long, conflicts_with_all = ["group", "transactional_id", "cluster"])]
    pub topic: Option<String>,
    /// A consumer group.
    #[arg(long, conflicts_with_all = ["transactional_id", "cluster"])]
    pub group: Option<String>,
    /// A transactional id.
    #[arg(long, conflicts_with = "cluster")]
    pub transactional_id: Option<String>,
    /// The cluster (`kafka-cluster`).
    #[arg(long)]
    pub cluster: bool,
    /// literal or prefixed (add: literal by default); list and remove also take any (the
    /// default) and match (every ACL that applies to the name).
    #[arg(long)]
    pub resource_pattern_type: Option<String>,
}

impl ResourceArgs {
    fn resource(&self) -> Option<(ResourceType, String)> {
        if let Some(t) = &self.topic {
            Some((ResourceType::Topic, t.clone()))
        } else if let Some(g) = &self.group {
            Some((ResourceType::Group, g.clone()))
        } else if let Some(t) = &self.transactional_id {
            Some((ResourceType::TransactionalId, t.clone()))
        } else if self.cluster {
            Some((ResourceType::Cluster, CLUSTER_NAME.to_string()))
        } else {
            None
        }
    }

    fn pattern_type(&self, default: i8) -> Result<i8> {
        Ok(match self.resource_pattern_type.as_deref() {
            None => default,
            Some(p) => match p.to_ascii_lowercase().as_str() {
                "literal" => LITERAL,
                "prefixed" => PREFIXED,
                "any" => ANY,
                "match" => MATCH,
                _ => bail!("--resource-pattern-type {p}: literal, prefixed, any or match"),
            },
        })
    }
}

#[derive(Debug, Args)]
pub struct ChangeArgs {
    #[command(flatten)]
    pub resource: ResourceArgs,
    /// A principal to allow (`User:alice`, `User:*`); repeatable.
    #[arg(long = "allow-principal", value_name = "PRINCIPAL")]
    pub allow_principals: Vec<String>,
    /// A principal to deny; repeatable.
    #[arg(long = "deny-principal", value_name = "PRINCIPAL")]
    pub deny_principals: Vec<String>,
    /// An operation (Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite, All); repeatable.
    #[arg(long = "operation", value_name = "OPERATION")]
    pub operations: Vec<String>,
    /// The client address the ACLs apply to (`*`: every host).
    #[arg(long, default_value = "*")]
    pub host: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub resource: ResourceArgs,
    /// Only the ACLs of this principal.
    #[arg(long)]
    pub principal: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn operations(names: &[String]) -> Result<Vec<i8>> {
    names
        .iter()
        .map(|n| {
            Operation::parse(n)
                .map(|op| op as i8)
                .ok_or_else(|| anyhow::anyhow!("--operation {n}: not a Kafka ACL operation"))
        })
        .collect()
}

/// (principal, permission) pairs of --allow-principal and --deny-principal.
fn principals(a: &ChangeArgs) -> Vec<(String, i8)> {
    a.allow_principals
        .iter()
        .map(|p| (p.clone(), ALLOW))
        .chain(a.deny_principals.iter().map(|p| (p.clone(), DENY)))
        .collect()
}

async fn connect(client: &ClientArgs) -> Result<Connection> {
    Ok(Connection::connect(&client.bootstrap_server, client.client_config()?).await?)
}

pub async fn run(command: AclCommand) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    match command {
        AclCommand::Add(a) => {
            let Some((rt, name)) = a.resource.resource() else {
                bail!("name the resource: --topic, --group, --transactional-id or --cluster");
            };
            let pattern_type = a.resource.pattern_type(LITERAL)?;
            if pattern_type != LITERAL && pattern_type != PREFIXED {
                bail!("ACLs are added with a literal or prefixed pattern");
            }
            let ops = operations(&a.operations)?;
            let who = principals(&a);
            if ops.is_empty() || who.is_empty() {
                bail!(
                    "give at least one --operation and one --allow-principal or --deny-principal"
                );
            }
            let mut acls = Vec::new();
            for (principal, permission_type) in &who {
                for op in &ops {
                    acls.push(Acl {
                        resource_type: rt as i8,
                        resource_name: name.clone(),
                        pattern_type,
                        principal: principal.clone(),
                        host: a.host.clone(),
                        operation: *op,
                        permission_type: *permission_type,
                    });
                }
            }
            connect(&a.client).await?.create_acls(&acls).await?;
            for acl in &acls {
                writeln!(out, "added {}", describe_binding(acl))?;
            }
        }
        AclCommand::List(a) => {
            let (rt, name) = a
                .resource
                .resource()
                .map_or((ANY, None), |(rt, n)| (rt as i8, Some(n)));
            let filter = AclFilter {
                resource_type: rt,
                resource_name: name,
                pattern_type: a.resource.pattern_type(ANY)?,
                principal: a.principal.clone(),
                host: None,
                operation: ANY,
                permission_type: ANY,
            };
            let mut acls = connect(&a.client).await?.describe_acls(&filter).await?;
            acls.sort();
            for acl in &acls {
                writeln!(out, "{}", describe_binding(acl))?;
            }
        }
        AclCommand::Remove(a) => {
            let (rt, name) = a
                .resource
                .resource()
                .map_or((ANY, None), |(rt, n)| (rt as i8, Some(n)));
            let pattern_type = a.resource.pattern_type(ANY)?;
            let ops = operations(&a.operations)?;
            let ops = if ops.is_empty() { vec![ANY] } else { ops };
            let who: Vec<(Option<String>, i8)> = match principals(&a) {
                w if w.is_empty() => vec![(None, ANY)],
                w => w.into_iter().map(|(p, perm)| (Some(p), perm)).collect(),
            };
            let host = (a.host != "*").then(|| a.host.clone());
            let mut c = connect(&a.client).await?;
            for (principal, permission_type) in &who {
                for op in &ops {
                    let filter = AclFilter {
                        resource_type: rt,
                        resource_name: name.clone(),
                        pattern_type,
                        principal: principal.clone(),
                        host: host.clone(),
                        operation: *op,
                        permission_type: *permission_type,
                    };
                    for acl in c.delete_acls(&filter).await? {
                        writeln!(out, "removed {}", describe_binding(&acl))?;
                    }
                }
            }
        }
    }
    Ok(())
}
