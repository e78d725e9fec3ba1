//! `myelin group reset-offsets`: like `kafka-consumer-groups.sh --reset-offsets`. A dry
//! run by default (prints the plan); `--execute` commits it as a simple commit
//! (generation -1, no member id), which the coordinator accepts only while the group has
//! no members.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};
use myelin::client::data::{EARLIEST, LATEST};
use myelin::client::ClientError;

use super::{connect, print_table, topics_metadata, ClientArgs};

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("target")
        .required(true)
        .args(["to_earliest", "to_latest", "to_datetime", "to_offset", "shift_by"])
))]
#[command(group(ArgGroup::new("scope").required(true).args(["topics", "all_topics"])))]
pub struct ResetArgs {
    /// The group.
    pub group: String,
    /// A topic, or some of its partitions (TOPIC or TOPIC:0,1,2; repeatable).
    #[arg(long = "topic", value_name = "TOPIC[:P,...]", value_parser = parse_topic)]
    pub topics: Vec<TopicSelection>,
    /// Every topic the group has committed offsets on.
    #[arg(long)]
    pub all_topics: bool,
    /// To each partition's earliest offset (its log start offset).
    #[arg(long)]
    pub to_earliest: bool,
    /// To each partition's latest offset (its log end offset).
    #[arg(long)]
    pub to_latest: bool,
    /// To the first offset whose record timestamp is at or after this time (RFC 3339, as
    /// 2024-05-01T12:00:00Z or with an offset like +02:00, or milliseconds since the
    /// epoch); the log end offset when there is none.
    #[arg(long, value_name = "DATETIME", value_parser = parse_datetime)]
    pub to_datetime: Option<i64>,
    /// To this offset (kept between the earliest and the latest offset).
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// Moves the committed offset by N (negative: back), kept between the earliest and
    /// the latest offset.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// Commit the new offsets (without it, only print them).
    #[arg(long)]
    pub execute: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A `--topic`: the topic and, if given, some of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSelection {
    pub topic: String,
    /// Every partition when `None`.
    pub partitions: Option<Vec<i32>>,
}

fn parse_topic(s: &str) -> Result<TopicSelection, String> {
    let (topic, partitions) = match s.split_once(':') {
        None => (s, None),
        Some((t, ps)) => {
            let ps = ps
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| format!("{p:?} in {s:?} is not a partition number"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (t, Some(ps))
        }
    };
    if topic.trim().is_empty() {
        return Err(format!("{s:?} names no topic"));
    }
    Ok(TopicSelection {
        topic: topic.trim().to_string(),
        partitions,
    })
}

/// Milliseconds since the epoch, or an RFC 3339 date-time with its offset
/// (`2024-05-01T12:00:00Z`, `2024-05-01 12:00:00.250+02:00`).
pub fn parse_datetime(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = |why: &str| {
        format!(
            "{s:?}: {why}; expected RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T14:00:00.5+02:00) \
             or milliseconds since the epoch"
        )
    };
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Result<i64, String> {
        let part = b.get(from..from + n).ok_or_else(|| bad("too short"))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("not a date-time"));
        }
        Ok(part.iter().fold(0i64, |v, d| v * 10 + i64::from(d - b'0')))
    };
    let expect = |at: usize, allowed: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err(bad("not a date-time")),
        }
    };
    let year = digits(0, 4)?;
    expect(4, b"-")?;
    let month = digits(5, 2)?;
    expect(7, b"-")?;
    let day = digits(8, 2)?;
    expect(10, b"Tt ")?;
    let hour = digits(11, 2)?;
    expect(13, b":")?;
    let minute = digits(14, 2)?;
    expect(16, b":")?;
    let second = digits(17, 2)?;
    let mut at = 19;
    let mut millis = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return Err(bad("no digits after the decimal point"));
        }
        // Milliseconds: the first three digits, the rest truncated.
        let frac = &s[start..at.min(start + 3)];
        millis = frac.parse::<i64>().map_err(|_| bad("bad fraction"))?
            * 10i64.pow(3 - u32::try_from(frac.len()).unwrap_or(3));
    }
    let offset_minutes = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() => {
            let h = digits(at + 1, 2)?;
            expect(at + 3, b":")?;
            let m = digits(at + 4, 2)?;
            if h > 23 || m > 59 {
                return Err(bad("the UTC offset is out of range"));
            }
            let total = h * 60 + m;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        None => return Err(bad("no UTC offset (add Z or +HH:MM)")),
        _ => return Err(bad("not a date-time")),
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad("the month is out of range")),
    };
    // A leap second (60) is accepted as RFC 3339 allows, and counts as the next second.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return Err(bad("a field is out of range"));
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1_000 + millis)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Where each partition goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Earliest,
    Latest,
    /// The first offset at or after this timestamp (ms).
    Datetime(i64),
    Offset(i64),
    ShiftBy(i64),
}

impl Target {
    fn of(a: &ResetArgs) -> Target {
        if a.to_earliest {
            Target::Earliest
        } else if a.to_latest {
            Target::Latest
        } else if let Some(ts) = a.to_datetime {
            Target::Datetime(ts)
        } else if let Some(o) = a.to_offset {
            Target::Offset(o)
        } else {
            Target::ShiftBy(a.shift_by.unwrap_or(0))
        }
    }
}

/// The new offset of a partition, kept within `[earliest, latest]`. `at_time` is the
/// ListOffsets answer for a timestamp (-1: no record that late).
fn new_offset(
    target: Target,
    current: Option<i64>,
    earliest: i64,
    latest: i64,
    at_time: Option<i64>,
) -> i64 {
    let wanted = match target {
        Target::Earliest => earliest,
        Target::Latest => latest,
        Target::Datetime(_) => match at_time {
            Some(o) if o >= 0 => o,
            _ => latest,
        },
        Target::Offset(o) => o,
        // Nothing committed: shift from the earliest offset, as Kafka's tool does.
        Target::ShiftBy(n) => current.unwrap_or(earliest).saturating_add(n),
    };
    wanted.clamp(earliest, latest.max(earliest))
}

/// One planned partition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    topic: String,
    partition: i32,
    current: Option<i64>,
    new: i64,
}

pub async fn run(a: &ResetArgs, out: &mut impl Write, err: &mut impl Write) -> Result<()> {
    let target = Target::of(a);
    let mut cluster = connect(&a.client).await?;
    let coordinator = cluster.coordinator(&a.group).await?;
    let description = coordinator
        .describe_groups(&[a.group.as_str()])
        .await?
        .pop()
        .expect("one group asked, one answered");
    let committed: BTreeMap<(String, i32), i64> = coordinator
        .offset_fetch(&a.group, None)
        .await?
        .into_iter()
        .filter(|c| c.offset >= 0)
        .map(|c| ((c.topic, c.partition), c.offset))
        .collect();

    // The partitions chosen.
    let topics: BTreeSet<String> = if a.all_topics {
        committed.keys().map(|(t, _)| t.clone()).collect()
    } else {
        a.topics.iter().map(|s| s.topic.clone()).collect()
    };
    if topics.is_empty() {
        bail!(
            "group `{}` has no committed offsets: name the topics with --topic",
            a.group
        );
    }
    let md = topics_metadata(&mut cluster, &topics).await?;
    let mut chosen: BTreeSet<(String, i32)> = BTreeSet::new();
    for topic in &topics {
        let info = md
            .topic(topic)
            .with_context(|| format!("topic `{topic}`"))?;
        let all: Vec<i32> = info.partitions.iter().map(|p| p.index).collect();
        let asked: Vec<&Option<Vec<i32>>> = a
            .topics
            .iter()
            .filter(|s| &s.topic == topic)
            .map(|s| &s.partitions)
            .collect();
        let wanted: Vec<i32> = if asked.is_empty() || asked.iter().any(|p| p.is_none()) {
            all.clone()
        } else {
            asked.into_iter().flatten().flatten().copied().collect()
        };
        for p in wanted {
            if !all.contains(&p) {
                bail!(
                    "topic `{topic}` has no partition {p} (it has {})",
                    all.len()
                );
            }
            chosen.insert((topic.clone(), p));
        }
    }

    // Each partition's earliest, latest and (for --to-datetime) timestamp offset, from its
    // leader: one request per leader, topic and kind.
    let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
    for (topic, p) in &chosen {
        let info = md.topic(topic)?;
        let part = info
            .partitions
            .iter()
            .find(|x| x.index == *p)
            .expect("checked above");
        myelin::client::check(part.error_code, None, || format!("partition {topic}-{p}"))?;
        by_leader
            .entry(part.leader)
            .or_default()
            .entry(topic.as_str())
            .or_default()
            .push(*p);
    }
    let mut earliest: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut latest = BTreeMap::new();
    let mut at_time = BTreeMap::new();
    for (leader, topics) in &by_leader {
        let conn = cluster.broker(&md, *leader).await?;
        for (topic, partitions) in topics {
            let mut kinds = vec![(EARLIEST, &mut earliest), (LATEST, &mut latest)];
            if let Target::Datetime(ts) = target {
                // Negative timestamps are ListOffsets' special values (-1 latest, -2
                // earliest): a time before 1970 asks for the first record at or after 0.
                kinds.push((ts.max(0), &mut at_time));
            }
            for (timestamp, into) in kinds {
                for (p, o) in conn.list_offsets(topic, partitions, timestamp).await? {
                    into.insert((topic.to_string(), p), o);
                }
            }
        }
    }

    let plan: Vec<Planned> = chosen
        .iter()
        .map(|key| {
            let current = committed.get(key).copied();
            Planned {
                topic: key.0.clone(),
                partition: key.1,
                current,
                new: new_offset(
                    target,
                    current,
                    earliest[key],
                    latest[key],
                    at_time.get(key).copied(),
                ),
            }
        })
        .collect();
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|p| {
            vec![
                a.group.clone(),
                p.topic.clone(),
                p.partition.to_string(),
                p.current.map_or_else(|| "-".to_string(), |c| c.to_string()),
                p.new.to_string(),
            ]
        })
        .collect();
    print_table(
        out,
        &[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "NEW-OFFSET",
        ],
        &rows,
    )?;

    let active = !matches!(description.state.as_str(), "Empty" | "Dead");
    let why_refused = || {
        format!(
            "offsets can only be reset while the group has no members, and group `{}` is {} \
             with {} member(s): stop its consumers and retry",
            a.group,
            description.state,
            description.members.len()
        )
    };
    if !a.execute {
        writeln!(
            err,
            "Dry run: nothing was committed. Add --execute to commit these offsets."
        )?;
        if active {
            writeln!(err, "Note: --execute will be refused: {}.", why_refused())?;
        }
        return Ok(());
    }

    let offsets: Vec<(String, i32, i64)> = plan
        .iter()
        .map(|p| (p.topic.clone(), p.partition, p.new))
        .collect();
    let coordinator = cluster.coordinator(&a.group).await?;
    match coordinator.commit_offsets_simple(&a.group, &offsets).await {
        Ok(()) => {
            writeln!(
                out,
                "\nCommitted {} offset(s) of group {}.",
                offsets.len(),
                a.group
            )?;
            Ok(())
        }
        Err(ClientError::Kafka(k)) => {
            let mut message = format!("the broker refused to commit the new offsets: {k}");
            // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS: the group has
            // (or just got) members.
            if active || [25, 22, 27].contains(&k.code) {
                let why = why_refused();
                message.push_str(&format!("\nO{}", why.strip_prefix('o').unwrap_or(&why)));
            }
            bail!(message)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_partitions() {
        assert_eq!(
            parse_topic("orders").unwrap(),
            TopicSelection {
                topic: "orders".into(),
                partitions: None
            }
        );
        assert_eq!(
            parse_topic("orders:0, 2").unwrap().partitions,
            Some(vec![0, 2])
        );
        assert!(parse_topic("orders:").is_err());
        assert!(parse_topic("orders:x").is_err());
        assert!(parse_topic("orders:-1").is_err());
        assert!(parse_topic(":1").is_err());
    }

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20Z"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-15T00:13:20.5+02:00"),
            Ok(1_700_000_000_500)
        );
        assert_eq!(
            parse_datetime("2023-11-14 21:13:20.123456-01:00"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00z"),
            Ok(1_709_164_800_000)
        );
        assert_eq!(parse_datetime("1969-12-31T23:59:59Z"), Ok(-1_000));
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00+0200",
            "2024-01-01T00:00:00.Z",
            "2024-01-01",
            "yesterday",
            "",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_offsets_stay_in_the_log() {
        use Target::*;
        assert_eq!(new_offset(Earliest, Some(5), 2, 10, None), 2);
        assert_eq!(new_offset(Latest, Some(5), 2, 10, None), 10);
        assert_eq!(new_offset(Offset(7), None, 2, 10, None), 7);
        assert_eq!(new_offset(Offset(70), None, 2, 10, None), 10);
        assert_eq!(new_offset(Offset(0), None, 2, 10, None), 2);
        assert_eq!(new_offset(ShiftBy(-2), Some(5), 2, 10, None), 3);
        assert_eq!(new_offset(ShiftBy(-9), Some(5), 2, 10, None), 2);
        assert_eq!(new_offset(ShiftBy(3), None, 2, 10, None), 5);
        assert_eq!(new_offset(ShiftBy(i64::MAX), Some(5), 2, 10, None), 10);
        assert_eq!(new_offset(Datetime(0), None, 2, 10, Some(4)), 4);
        assert_eq!(new_offset(Datetime(0), None, 2, 10, Some(-1)), 10);
        // An empty log: everything is its start.
        assert_eq!(new_offset(Offset(5), None, 0, 0, None), 0);
    }
}
