//! `myelin group list|describe|delete|reset-offsets`: consumer groups, like Kafka's
//! `kafka-consumer-groups.sh`.

mod reset;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use myelin::client::admin::ClusterMetadata;
use myelin::client::data::LATEST;
use myelin::client::groups::{
    decode_consumer_assignment, GroupDescription, GroupMember, ShareGroupInfo,
};
use myelin::client::{ClientError, Cluster};

use super::ClientArgs;

pub use reset::ResetArgs;

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List every group with its state, protocol type and member count.
    List(ListArgs),
    /// Show groups' members and assignments, and per partition the committed offset,
    /// log end offset and lag.
    Describe(DescribeArgs),
    /// Delete groups and their committed offsets (only groups without members).
    Delete(DeleteArgs),
    /// Plan new committed offsets for a group, and commit them with --execute (only
    /// while the group has no members).
    ResetOffsets(ResetArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The groups.
    #[arg(required = true)]
    pub groups: Vec<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The groups.
    #[arg(required = true)]
    pub groups: Vec<String>,
    /// Succeed for a group that does not exist.
    #[arg(long)]
    pub if_exists: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// GROUP_ID_NOT_FOUND.
const GROUP_ID_NOT_FOUND: i16 = 69;
/// NON_EMPTY_GROUP.
const NON_EMPTY_GROUP: i16 = 68;

pub async fn run(command: GroupCommand) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    match command {
        GroupCommand::List(a) => list(&a, out).await,
        GroupCommand::Describe(a) => describe(&a, out).await,
        GroupCommand::Delete(a) => delete(&a, out).await,
        GroupCommand::ResetOffsets(a) => reset::run(&a, out, &mut std::io::stderr()).await,
    }
}

async fn connect(client: &ClientArgs) -> Result<Cluster> {
    Ok(Cluster::connect(&client.bootstrap_server, client.client_config()?).await?)
}

/// `-` for an empty field, so that every column has a word.
fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// Prints `rows` under `header`, each column padded to its widest cell, two spaces
/// between columns.
pub(crate) fn print_table(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &mut header.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// Lists the groups of every broker (each lists the groups it coordinates), with their
/// member counts from DescribeGroups.
async fn list(a: &ListArgs, out: &mut impl Write) -> Result<()> {
    let mut cluster = connect(&a.client).await?;
    let md = cluster.bootstrap().metadata(Some(&[]), false).await?;
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for broker in &md.brokers {
        let conn = cluster.broker(&md, broker.node_id).await?;
        let listed = conn.list_groups().await?;
        if listed.is_empty() {
            continue;
        }
        let ids: Vec<&str> = listed.iter().map(|g| g.group_id.as_str()).collect();
        // Member counts (and the state, from brokers before ListGroups v4) are extras:
        // the listing stands without them.
        let described: BTreeMap<String, GroupDescription> = match conn.describe_groups(&ids).await {
            Ok(ds) => ds.into_iter().map(|d| (d.group_id.clone(), d)).collect(),
            Err(_) => BTreeMap::new(),
        };
        for g in &listed {
            let d = described.get(&g.group_id);
            let state = g
                .state
                .clone()
                .or_else(|| d.map(|d| d.state.clone()))
                .unwrap_or_default();
            // A share group's members are ShareGroupDescribe's (DescribeGroups does not
            // describe it).
            let members = if g.group_type.as_deref() == Some("share") {
                match conn.share_group_describe(&g.group_id).await {
                    Ok(Some(share)) => share.members.len().to_string(),
                    _ => "-".to_string(),
                }
            } else {
                d.map_or("-".to_string(), |d| d.members.len().to_string())
            };
            rows.insert(
                g.group_id.clone(),
                vec![
                    g.group_id.clone(),
                    or_dash(&state).to_string(),
                    or_dash(&g.protocol_type).to_string(),
                    members,
                ],
            );
        }
    }
    let rows: Vec<Vec<String>> = rows.into_values().collect();
    print_table(out, &["GROUP", "STATE", "PROTOCOL-TYPE", "MEMBERS"], &rows)?;
    Ok(())
}

/// A member's assignment as `topic:0,1 other:2`, decoded when the protocol type is
/// `consumer`.
fn assignment_text(protocol_type: &str, m: &GroupMember) -> String {
    if m.assignment.is_empty() {
        return "-".to_string();
    }
    if protocol_type != "consumer" {
        return format!("({} bytes)", m.assignment.len());
    }
    match decode_consumer_assignment(&m.assignment) {
        Ok(a) if a.partitions.is_empty() => "-".to_string(),
        Ok(a) => a
            .partitions
            .iter()
            .map(|(t, ps)| {
                let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
                format!("{t}:{}", ps.join(","))
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("(undecodable: {e})"),
    }
}

/// The log end offset (ListOffsets latest: the high watermark) of each partition of
/// `wanted`; a partition whose leader cannot say is left out.
pub(crate) async fn log_end_offsets(
    cluster: &mut Cluster,
    md: &ClusterMetadata,
    wanted: &BTreeSet<(String, i32)>,
) -> BTreeMap<(String, i32), i64> {
    // By leader, then topic.
    let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for (topic, partition) in wanted {
        let Ok(t) = md.topic(topic) else { continue };
        let Some(p) = t.partitions.iter().find(|p| p.index == *partition) else {
            continue;
        };
        if p.error_code != 0 {
            continue;
        }
        by_leader
            .entry(p.leader)
            .or_default()
            .entry(topic.as_str())
            .or_default()
            .push(*partition);
    }
    let mut out = BTreeMap::new();
    for (leader, topics) in by_leader {
        let Ok(conn) = cluster.broker(md, leader).await else {
            continue;
        };
        for (topic, partitions) in topics {
            // One answer for the whole topic; on error, ask partition by partition so one
            // bad partition does not hide the others.
            match conn.list_offsets(topic, &partitions, LATEST).await {
                Ok(offsets) => {
                    for (p, o) in offsets {
                        out.insert((topic.to_string(), p), o);
                    }
                }
                Err(_) => {
                    for p in partitions {
                        if let Ok(o) = conn.list_offsets(topic, &[p], LATEST).await {
                            out.insert((topic.to_string(), p), o[0].1);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Metadata of `topics` (none asked: an empty list, not every topic).
pub(crate) async fn topics_metadata(
    cluster: &mut Cluster,
    topics: &BTreeSet<String>,
) -> Result<ClusterMetadata, ClientError> {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    cluster.bootstrap().metadata(Some(&names), false).await
}

/// Prints each group as `kafka-consumer-groups.sh --describe` does, with its members.
async fn describe(a: &DescribeArgs, out: &mut impl Write) -> Result<()> {
    let mut cluster = connect(&a.client).await?;
    for (i, group) in a.groups.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        describe_one(&mut cluster, group, out).await?;
    }
    Ok(())
}

async fn describe_one(cluster: &mut Cluster, group: &str, out: &mut impl Write) -> Result<()> {
    let coordinator = cluster.coordinator(group).await?;
    let coordinator_address = coordinator.address().to_string();
    // A share group (KIP-932), from a broker that serves them.
    let share = match coordinator.share_group_describe(group).await {
        Ok(Some(share)) => Some((share, coordinator.share_group_offsets(group).await?)),
        Ok(None) | Err(ClientError::NoCommonVersion { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some((share, offsets)) = share {
        return describe_share(cluster, &share, &offsets, &coordinator_address, out).await;
    }
    let coordinator = cluster.coordinator(group).await?;
    let description = coordinator
        .describe_groups(&[group])
        .await?
        .pop()
        .expect("one group asked, one answered");
    let committed = coordinator.offset_fetch(group, None).await?;
    if description.state == "Dead" && description.members.is_empty() && committed.is_empty() {
        bail!("group `{group}` does not exist");
    }

    writeln!(out, "Group: {group}")?;
    writeln!(out, "State: {}", description.state)?;
    writeln!(
        out,
        "Protocol type: {}",
        or_dash(&description.protocol_type)
    )?;
    writeln!(out, "Protocol: {}", or_dash(&description.protocol))?;
    writeln!(out, "Coordinator: {coordinator_address}")?;
    writeln!(out, "Members: {}", description.members.len())?;

    // Who is assigned what, for the partition rows.
    let mut owner: BTreeMap<(String, i32), &GroupMember> = BTreeMap::new();
    if !description.members.is_empty() {
        writeln!(out)?;
        let mut rows = Vec::new();
        for m in &description.members {
            if description.protocol_type == "consumer" {
                if let Ok(assigned) = decode_consumer_assignment(&m.assignment) {
                    for (t, ps) in assigned.partitions {
                        for p in ps {
                            owner.insert((t.clone(), p), m);
                        }
                    }
                }
            }
            rows.push(vec![
                m.member_id.clone(),
                or_dash(m.group_instance_id.as_deref().unwrap_or_default()).to_string(),
                or_dash(&m.client_id).to_string(),
                or_dash(&m.client_host).to_string(),
                assignment_text(&description.protocol_type, m),
            ]);
        }
        print_table(
            out,
            &[
                "MEMBER-ID",
                "INSTANCE-ID",
                "CLIENT-ID",
                "HOST",
                "ASSIGNMENT",
            ],
            &rows,
        )?;
    }

    // Every committed partition and every assigned one.
    let mut partitions: BTreeMap<(String, i32), Option<i64>> = owner
        .keys()
        .map(|k| (k.clone(), None))
        .collect::<BTreeMap<_, _>>();
    for c in &committed {
        if c.offset >= 0 {
            partitions.insert((c.topic.clone(), c.partition), Some(c.offset));
        }
    }
    writeln!(out)?;
    if partitions.is_empty() {
        writeln!(out, "No committed offsets and no assigned partitions.")?;
        return Ok(());
    }
    let topics: BTreeSet<String> = partitions.keys().map(|(t, _)| t.clone()).collect();
    let wanted: BTreeSet<(String, i32)> = partitions.keys().cloned().collect();
    let md = topics_metadata(cluster, &topics).await?;
    let ends = log_end_offsets(cluster, &md, &wanted).await;
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = partitions
        .iter()
        .map(|((topic, partition), current)| {
            let end = ends.get(&(topic.clone(), *partition)).copied();
            let lag = match (current, end) {
                (Some(c), Some(e)) => (e - c).to_string(),
                _ => dash(),
            };
            let m = owner.get(&(topic.clone(), *partition));
            vec![
                topic.clone(),
                partition.to_string(),
                current.map_or_else(dash, |c| c.to_string()),
                end.map_or_else(dash, |e| e.to_string()),
                lag,
                m.map_or_else(dash, |m| m.member_id.clone()),
                m.map_or_else(dash, |m| or_dash(&m.client_host).to_string()),
                m.map_or_else(dash, |m| or_dash(&m.client_id).to_string()),
            ]
        })
        .collect();
    print_table(
        out,
        &[
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "MEMBER-ID",
            "HOST",
            "CLIENT-ID",
        ],
        &rows,
    )?;
    Ok(())
}

/// A share group: its members and partitions, and each partition's start offset (every
/// record below it is done), log end offset and the records between them.
async fn describe_share(
    cluster: &mut Cluster,
    share: &ShareGroupInfo,
    offsets: &[(String, i32, i64)],
    coordinator_address: &str,
    out: &mut impl Write,
) -> Result<()> {
    writeln!(out, "Group: {}", share.group_id)?;
    writeln!(out, "Type: share")?;
    writeln!(out, "State: {}", share.state)?;
    writeln!(out, "Group epoch: {}", share.group_epoch)?;
    writeln!(out, "Coordinator: {coordinator_address}")?;
    writeln!(out, "Members: {}", share.members.len())?;
    if !share.members.is_empty() {
        writeln!(out)?;
        let rows: Vec<Vec<String>> = share
            .members
            .iter()
            .map(|m| {
                let assignment = m
                    .assignment
                    .iter()
                    .map(|(t, ps)| {
                        let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
                        format!("{t}:{}", ps.join(","))
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                vec![
                    m.member_id.clone(),
                    or_dash(&m.client_id).to_string(),
                    or_dash(&m.client_host).to_string(),
                    or_dash(&assignment).to_string(),
                ]
            })
            .collect();
        print_table(
            out,
            &["MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"],
            &rows,
        )?;
    }
    writeln!(out)?;
    if offsets.is_empty() {
        writeln!(out, "No share-partitions yet.")?;
        return Ok(());
    }
    let topics: BTreeSet<String> = offsets.iter().map(|(t, _, _)| t.clone()).collect();
    let wanted: BTreeSet<(String, i32)> = offsets.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let md = topics_metadata(cluster, &topics).await?;
    let ends = log_end_offsets(cluster, &md, &wanted).await;
    let rows: Vec<Vec<String>> = offsets
        .iter()
        .map(|(topic, partition, start)| {
            let end = ends.get(&(topic.clone(), *partition)).copied();
            vec![
                topic.clone(),
                partition.to_string(),
                start.to_string(),
                end.map_or_else(|| "-".to_string(), |e| e.to_string()),
                end.map_or_else(|| "-".to_string(), |e| (e - start).max(0).to_string()),
            ]
        })
        .collect();
    print_table(
        out,
        &[
            "TOPIC",
            "PARTITION",
            "START-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
        ],
        &rows,
    )?;
    Ok(())
}

/// Deletes each group at its coordinator; reports every failure, then fails if any.
async fn delete(a: &DeleteArgs, out: &mut impl Write) -> Result<()> {
    let mut cluster = connect(&a.client).await?;
    let mut failures = Vec::new();
    for group in &a.groups {
        let result = match cluster.coordinator(group).await {
            Ok(c) => match c.delete_groups(&[group.as_str()]).await {
                Ok(mut results) => results.pop().map_or(Ok(()), |(_, r)| r),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => writeln!(out, "Deleted group {group}.")?,
            Err(ClientError::Kafka(k)) if k.code == GROUP_ID_NOT_FOUND && a.if_exists => {
                writeln!(out, "Group {group} does not exist.")?
            }
            Err(ClientError::Kafka(k)) if k.code == NON_EMPTY_GROUP => failures.push(format!(
                "{k}: the group has members; stop its consumers first"
            )),
            Err(e) => failures.push(e.to_string()),
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => bail!("{}", failures[0]),
        n => bail!("{n} groups were not deleted:\n  {}", failures.join("\n  ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn tables_align_their_columns() {
        let mut out = Vec::new();
        print_table(
            &mut out,
            &["A", "LONG-HEADER", "C"],
            &[
                vec!["wide-cell".into(), "1".into(), "x".into()],
                vec!["b".into(), "22".into(), "".into()],
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A          LONG-HEADER  C\nwide-cell  1            x\nb          22\n"
        );
    }

    #[test]
    fn assignments_print_as_topic_partitions() {
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2];
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff]);
        let member = |assignment: Vec<u8>| GroupMember {
            member_id: "m".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/h".into(),
            metadata: Bytes::new(),
            assignment: Bytes::from(assignment),
        };
        assert_eq!(assignment_text("consumer", &member(bytes.clone())), "t:0,3");
        assert_eq!(assignment_text("connect", &member(bytes)), "(25 bytes)");
        assert_eq!(assignment_text("consumer", &member(vec![])), "-");
        assert!(assignment_text("consumer", &member(vec![0, 1, 0])).starts_with("(undecodable"));
    }
}
