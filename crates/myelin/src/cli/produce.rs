//! `myelin produce`: one record per line of standard input, like `kcat -P`.
//!
//! Lines are read on a thread and batched as they come: whatever has arrived while the
//! previous batch was being acknowledged goes in the next one, so piping a file sends
//! large batches and typing sends each line at once.

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use myelin::client::admin::{ClusterMetadata, TopicInfo};
use myelin::client::data::Acks;
use myelin::client::records::{encode_batch, partition_for_key, NewRecord};
use myelin::client::{ClientError, Cluster};
use myelin_log::compression::Compression;
use tokio::sync::mpsc;

use super::{parse_key_value, ClientArgs};

/// Records in one batch at most.
const MAX_BATCH_RECORDS: usize = 10_000;
/// Uncompressed bytes in one batch at most (under Kafka's default `max.message.bytes`).
const MAX_BATCH_BYTES: usize = 900 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Self {
        match c {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AcksArg {
    #[value(name = "0")]
    Zero,
    #[value(name = "1")]
    One,
    #[value(name = "all", alias = "-1")]
    All,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic (created when the broker auto-creates topics).
    pub topic: String,
    /// Send every record to this partition; otherwise keyed records go to the partition
    /// of their key's murmur2 hash (as Kafka's clients do) and others round-robin.
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Split each line at the first SEP into key and value (lines without SEP get a null
    /// key).
    #[arg(long, short = 'K', value_name = "SEP")]
    pub key_separator: Option<String>,
    /// A header added to every record, KEY=VALUE (repeatable).
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Compression codec of the batches.
    #[arg(long, short = 'z', value_enum, default_value = "none")]
    pub compression: CompressionArg,
    /// Acknowledgements to wait for.
    #[arg(long, value_enum, default_value = "all")]
    pub acks: AcksArg,
    /// Send empty lines as null values (tombstones) instead of empty values.
    #[arg(long)]
    pub empty_as_null: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(a: ProduceArgs) -> Result<()> {
    let mut cluster =
        Cluster::connect(&a.client.bootstrap_server, a.client.client_config()?).await?;
    let (md, topic) = topic_metadata(&mut cluster, &a.topic).await?;
    let partitions = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    if let Some(p) = a.partition {
        if !(0..partitions).contains(&p) {
            bail!(
                "topic {} has partitions 0 to {}: there is no partition {p}",
                a.topic,
                partitions - 1
            );
        }
    }
    let acks = match a.acks {
        AcksArg::Zero => Acks::None,
        AcksArg::One => Acks::Leader,
        AcksArg::All => Acks::All,
    };
    let compression = Compression::from(a.compression);
    let separator = a.key_separator.clone().map(String::into_bytes);
    let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = a
        .headers
        .iter()
        .map(|(k, v)| (k.clone().into_bytes(), Some(v.clone().into_bytes())))
        .collect();

    let (tx, mut rx) = mpsc::channel::<std::io::Result<Vec<u8>>>(MAX_BATCH_RECORDS);
    std::thread::spawn(move || read_lines(tx));

    let mut next_unkeyed = 0i32;
    let mut produced = 0u64;
    while let Some(first) = rx.recv().await {
        // Everything already read joins the batch, up to the limits.
        let mut lines = vec![first.context("reading standard input")?];
        let mut bytes = lines[0].len();
        while lines.len() < MAX_BATCH_RECORDS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(line) => {
                    let line = line.context("reading standard input")?;
                    bytes += line.len();
                    lines.push(line);
                }
                Err(_) => break,
            }
        }
        let now = myelin_log::manager::wall_clock_ms();
        let mut by_partition: BTreeMap<i32, Vec<NewRecord>> = BTreeMap::new();
        let unkeyed = a.partition.unwrap_or_else(|| {
            let p = next_unkeyed;
            next_unkeyed = (next_unkeyed + 1) % partitions.max(1);
            p
        });
        for line in lines {
            let (key, value) = split(line, separator.as_deref());
            let value = match value {
                v if v.is_empty() && a.empty_as_null => None,
                v => Some(v),
            };
            let partition = match (a.partition, &key) {
                (Some(p), _) => p,
                (None, Some(k)) => partition_for_key(k, partitions),
                (None, None) => unkeyed,
            };
            by_partition.entry(partition).or_default().push(NewRecord {
                key,
                value,
                headers: headers.clone(),
                timestamp: now,
            });
        }
        for (partition, records) in by_partition {
            let count = records.len() as u64;
            let batch = encode_batch(&records, compression)?;
            let leader = topic
                .partitions
                .iter()
                .find(|p| p.index == partition)
                .map(|p| p.leader)
                .unwrap_or(-1);
            let conn = cluster.broker(&md, leader).await?;
            conn.produce(&a.topic, partition, batch, acks).await?;
            produced += count;
        }
    }
    tracing::info!(records = produced, topic = %a.topic, "produced");
    Ok(())
}

/// Looks the topic up (asking the broker to create it if it allows), retrying while its
/// partitions have no leader yet.
pub async fn topic_metadata(
    cluster: &mut Cluster,
    topic: &str,
) -> Result<(ClusterMetadata, TopicInfo)> {
    let mut delay = std::time::Duration::from_millis(50);
    let mut attempt = 0;
    loop {
        let md = cluster.bootstrap().metadata(Some(&[topic]), true).await?;
        let result = md.topic(topic).cloned();
        let retriable = match &result {
            Ok(t) => t.partitions.is_empty() || t.partitions.iter().any(|p| p.leader < 0),
            // LEADER_NOT_AVAILABLE while a topic is being created; UNKNOWN_TOPIC_OR_PARTITION
            // just after.
            Err(ClientError::Kafka(k)) => k.code == 5 || (k.code == 3 && attempt == 0),
            Err(_) => false,
        };
        if !retriable || attempt >= 8 {
            let t = result?;
            if t.partitions.is_empty() {
                bail!("topic {topic} has no partitions");
            }
            return Ok((md, t));
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    }
}

fn split(line: Vec<u8>, separator: Option<&[u8]>) -> (Option<Vec<u8>>, Vec<u8>) {
    let Some(sep) = separator.filter(|s| !s.is_empty()) else {
        return (None, line);
    };
    match line.windows(sep.len()).position(|w| w == sep) {
        Some(at) => (Some(line[..at].to_vec()), line[at + sep.len()..].to_vec()),
        None => (None, line),
    }
}

/// Reads standard input line by line (without the newline) until its end.
fn read_lines(tx: mpsc::Sender<std::io::Result<Vec<u8>>>) {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if tx.blocking_send(Ok(line)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_the_first_separator() {
        assert_eq!(
            split(b"k:v:w".to_vec(), Some(b":")),
            (Some(b"k".to_vec()), b"v:w".to_vec())
        );
        assert_eq!(
            split(b"novalue".to_vec(), Some(b":")),
            (None, b"novalue".to_vec())
        );
        assert_eq!(
            split(b"a::b".to_vec(), Some(b"::")),
            (Some(b"a".to_vec()), b"b".to_vec())
        );
        assert_eq!(split(b"x".to_vec(), None), (None, b"x".to_vec()));
    }
}
