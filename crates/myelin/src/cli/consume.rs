//! `myelin consume`: records to standard output, one per line, like `kcat -C`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use myelin::client::data::{EARLIEST, LATEST};
use myelin::client::records::{decode_batches, ConsumedRecord};
use myelin::client::{check, Cluster};

use super::ClientArgs;

/// Where consumption starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
    /// An absolute offset.
    Offset(i64),
    /// This many records before the end.
    FromEnd(i64),
    /// The first record at or after this timestamp (milliseconds).
    Timestamp(i64),
}

fn parse_start(s: &str) -> Result<StartAt, String> {
    let s = s.trim();
    match s {
        "beginning" | "earliest" => return Ok(StartAt::Beginning),
        "end" | "latest" => return Ok(StartAt::End),
        _ => {}
    }
    if let Some(ts) = s.strip_prefix('@') {
        return ts
            .parse()
            .map(StartAt::Timestamp)
            .map_err(|_| format!("{s:?}: expected @TIMESTAMP_MS"));
    }
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Ok(StartAt::FromEnd(-n)),
        Ok(n) => Ok(StartAt::Offset(n)),
        Err(_) => Err(format!(
            "{s:?}: expected beginning, end, an offset, -N (N before the end) or @TIMESTAMP_MS"
        )),
    }
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topic.
    pub topic: String,
    /// Consume only this partition (all partitions otherwise).
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Where to start: beginning, end, OFFSET, -N (N records before the end) or
    /// @TIMESTAMP_MS.
    #[arg(
        long,
        short = 'o',
        default_value = "beginning",
        value_parser = parse_start,
        allow_hyphen_values = true
    )]
    pub from: StartAt,
    /// Exit after this many records.
    #[arg(long, short = 'c')]
    pub count: Option<u64>,
    /// Exit once every partition is read up to its end (instead of waiting for more).
    #[arg(long, short = 'e')]
    pub exit_at_end: bool,
    /// Print the key before the value, with the key separator between.
    #[arg(long)]
    pub print_key: bool,
    /// Print the headers (KEY=VALUE, comma-separated) before the key and value.
    #[arg(long)]
    pub print_headers: bool,
    /// Print PARTITION:OFFSET before everything else.
    #[arg(long)]
    pub print_offset: bool,
    /// Separator between the printed fields.
    #[arg(long, short = 'K', default_value = "\t", value_name = "SEP")]
    pub key_separator: String,
    /// How long a fetch waits for new records, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub max_wait_ms: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A partition being consumed.
#[derive(Debug)]
struct Position {
    leader: i32,
    next_offset: i64,
    /// From the last fetch; `None` until the first answer.
    high_watermark: Option<i64>,
}

pub async fn run(a: ConsumeArgs) -> Result<()> {
    let mut cluster =
        Cluster::connect(&a.client.bootstrap_server, a.client.client_config()?).await?;
    let md = cluster
        .bootstrap()
        .metadata(Some(&[a.topic.as_str()]), false)
        .await?;
    let topic = md.topic(&a.topic)?.clone();
    let chosen: Vec<_> = topic
        .partitions
        .iter()
        .filter(|p| a.partition.is_none_or(|only| only == p.index))
        .collect();
    if chosen.is_empty() {
        bail!(
            "topic {} has no partition {}",
            a.topic,
            a.partition.unwrap_or_default()
        );
    }
    let mut positions: BTreeMap<i32, Position> = BTreeMap::new();
    for p in chosen {
        check(p.error_code, None, || {
            format!("partition {}-{}", a.topic, p.index)
        })?;
        let leader = cluster.broker(&md, p.leader).await?;
        let offset = match a.from {
            StartAt::Offset(o) => o,
            StartAt::Beginning => leader.list_offsets(&a.topic, &[p.index], EARLIEST).await?[0].1,
            StartAt::End => leader.list_offsets(&a.topic, &[p.index], LATEST).await?[0].1,
            StartAt::FromEnd(n) => {
                let start = leader.list_offsets(&a.topic, &[p.index], EARLIEST).await?[0].1;
                let end = leader.list_offsets(&a.topic, &[p.index], LATEST).await?[0].1;
                (end - n).max(start)
            }
            StartAt::Timestamp(ts) => {
                match leader.list_offsets(&a.topic, &[p.index], ts).await?[0].1 {
                    // No record that late: start at the end.
                    -1 => leader.list_offsets(&a.topic, &[p.index], LATEST).await?[0].1,
                    o => o,
                }
            }
        };
        positions.insert(
            p.index,
            Position {
                leader: p.leader,
                next_offset: offset,
                high_watermark: None,
            },
        );
    }

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    let max_wait = Duration::from_millis(a.max_wait_ms);
    loop {
        if a.count.is_some_and(|n| printed >= n) {
            break;
        }
        if a.exit_at_end
            && positions
                .values()
                .all(|p| p.high_watermark.is_some_and(|hw| p.next_offset >= hw))
        {
            break;
        }
        let mut leaders: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        for (index, p) in &positions {
            leaders
                .entry(p.leader)
                .or_default()
                .push((*index, p.next_offset));
        }
        for (leader, wanted) in leaders {
            let conn = cluster.broker(&md, leader).await?;
            let wait = if a.exit_at_end {
                Duration::ZERO
            } else {
                max_wait
            };
            let answers = conn
                .fetch(&a.topic, topic.topic_id, &wanted, wait, 1 << 20)
                .await?;
            for answer in answers {
                let Some(pos) = positions.get_mut(&answer.partition) else {
                    continue;
                };
                check(answer.error_code, None, || {
                    format!(
                        "fetching {}-{} at offset {}",
                        a.topic, answer.partition, pos.next_offset
                    )
                })?;
                pos.high_watermark = Some(answer.high_watermark);
                let decoded = decode_batches(&answer.records, pos.next_offset)?;
                for r in &decoded.records {
                    if a.count.is_some_and(|n| printed >= n) {
                        break;
                    }
                    if print(&mut out, &a, answer.partition, r).is_err() {
                        return Ok(()); // The reader went away (a closed pipe).
                    }
                    printed += 1;
                }
                if let Some(next) = decoded.next_offset {
                    pos.next_offset = pos.next_offset.max(next);
                }
            }
        }
        if out.flush().is_err() {
            return Ok(());
        }
    }
    let _ = out.flush();
    Ok(())
}

fn print(
    out: &mut impl Write,
    a: &ConsumeArgs,
    partition: i32,
    r: &ConsumedRecord,
) -> std::io::Result<()> {
    let sep = a.key_separator.as_bytes();
    if a.print_offset {
        write!(out, "{partition}:{}", r.offset)?;
        out.write_all(sep)?;
    }
    if a.print_headers {
        for (i, (k, v)) in r.headers.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(k)?;
            out.write_all(b"=")?;
            out.write_all(v.as_deref().unwrap_or_default())?;
        }
        out.write_all(sep)?;
    }
    if a.print_key {
        out.write_all(r.key.as_deref().unwrap_or_default())?;
        out.write_all(sep)?;
    }
    out.write_all(r.value.as_deref().unwrap_or_default())?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions() {
        assert_eq!(parse_start("beginning"), Ok(StartAt::Beginning));
        assert_eq!(parse_start("end"), Ok(StartAt::End));
        assert_eq!(parse_start("42"), Ok(StartAt::Offset(42)));
        assert_eq!(parse_start("-5"), Ok(StartAt::FromEnd(5)));
        assert_eq!(
            parse_start("@1700000000000"),
            Ok(StartAt::Timestamp(1_700_000_000_000))
        );
        assert!(parse_start("soon").is_err());
        assert!(parse_start("@x").is_err());
    }
}
