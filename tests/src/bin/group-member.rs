//! `group-member <bootstrap> <group> <topic> [name=value ...]`: one librdkafka consumer in a
//! consumer group, subscribed to `topic`, for the end-to-end group tests
//! (`tests/groups.rs`). The extra arguments are librdkafka settings (for example
//! `partition.assignment.strategy=cooperative-sticky` or `group.instance.id=static-1`).
//!
//! It processes each record by printing it, commits the record's offset + 1 synchronously
//! and prints the outcome; after every rebalance callback it prints its whole assignment
//! with the generation and member id librdkafka holds. The lines are
//! [`myelin_tests::group_member::MemberEvent`]s. EOF on stdin closes the consumer (a
//! dynamic member sends LeaveGroup, a static one does not) and prints `closed`; SIGKILL
//! ends it without a word to the coordinator.

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::io::Read;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use myelin_tests::group_member::MemberEvent;
use rdkafka::bindings as rdsys;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, TopicPartitionList};

fn emit(event: MemberEvent) {
    // `println!` flushes at the newline: stdout is line-buffered.
    println!("{event}");
}

/// Prints the assignment after every rebalance callback.
struct Member {
    topic: String,
    /// `partition.assignment.strategy` is cooperative: rebalance callbacks add and remove
    /// partitions instead of replacing the whole assignment.
    cooperative: bool,
    /// The assignment, kept from the rebalance callbacks. (Asking librdkafka with
    /// `assignment()` from the revocation callback of a closing consumer can wait forever:
    /// the group handler stops serving requests while it terminates.)
    assigned: Mutex<BTreeSet<i32>>,
    /// The consumer is closing: do not ask the group handler for the generation either.
    closing: AtomicBool,
}

impl ClientContext for Member {
    /// librdkafka's log (warnings and errors, and what `debug=...` asks for) goes to stderr,
    /// which the tests show when they fail.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        eprintln!("librdkafka {level:?} {fac} {log_message}");
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        eprintln!("librdkafka error {error}: {reason}");
    }
}

impl ConsumerContext for Member {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |tpl: &TopicPartitionList| -> Vec<i32> {
            tpl.elements_for_topic(&self.topic)
                .iter()
                .map(|e| e.partition())
                .collect()
        };
        let mut assigned = self.assigned.lock().unwrap();
        match rebalance {
            Rebalance::Assign(tpl) => {
                if !self.cooperative {
                    assigned.clear();
                }
                assigned.extend(partitions(tpl));
            }
            Rebalance::Revoke(tpl) => {
                if self.cooperative {
                    for p in partitions(tpl) {
                        assigned.remove(&p);
                    }
                } else {
                    assigned.clear();
                }
            }
            Rebalance::Error(e) => emit(MemberEvent::RebalanceError(e.to_string())),
        }
        let (generation, member_id) = if self.closing.load(Ordering::Acquire) {
            (-1, "-".to_string())
        } else {
            group_generation(consumer)
        };
        emit(MemberEvent::Assignment {
            generation,
            member_id,
            partitions: assigned.iter().copied().collect(),
        });
    }
}

/// The generation id and member id librdkafka holds for the group, read from its consumer
/// group metadata (what a transactional producer sends with `send_offsets_to_transaction`).
/// librdkafka has no getter for the generation: the metadata is serialized with
/// `rd_kafka_consumer_group_metadata_write` and read back from its documented layout
/// (`src/rdkafka_cgrp.c`): `"CGMDv2:"`, the generation id as a native-endian i32, the group
/// id and the member id as NUL-terminated strings, then the instance id. (-1, "-") when
/// it is unavailable. Not for a closing consumer (see [`Member::assigned`]).
fn group_generation(consumer: &BaseConsumer<Member>) -> (i32, String) {
    const MAGIC: &[u8] = b"CGMDv2:";
    let rk = consumer.client().native_ptr();
    // SAFETY: `rk` is the live consumer's handle (the consumer is borrowed for this call);
    // the metadata returned is owned here and destroyed below.
    let cgmd = unsafe { rdsys::rd_kafka_consumer_group_metadata(rk) };
    if cgmd.is_null() {
        return (-1, "-".to_string());
    }
    let mut buffer: *mut std::ffi::c_void = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: `cgmd` is valid until destroyed; librdkafka allocates `buffer` (`size` bytes)
    // on success, freed below with rd_kafka_mem_free.
    let error =
        unsafe { rdsys::rd_kafka_consumer_group_metadata_write(cgmd, &mut buffer, &mut size) };
    let mut out = (-1, "-".to_string());
    if error.is_null() && !buffer.is_null() {
        // SAFETY: librdkafka wrote `size` initialized bytes at `buffer`; the slice is dropped
        // before the buffer is freed.
        let bytes = unsafe { std::slice::from_raw_parts(buffer as *const u8, size) };
        if let Some(rest) = bytes.strip_prefix(MAGIC) {
            if rest.len() >= 4 {
                let generation = i32::from_ne_bytes(rest[..4].try_into().unwrap());
                let strings = &rest[4..];
                let member = CStr::from_bytes_until_nul(strings)
                    .ok()
                    .and_then(|group| strings.get(group.to_bytes().len() + 1..))
                    .and_then(|after| CStr::from_bytes_until_nul(after).ok())
                    .map(|m| m.to_string_lossy().into_owned())
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "-".to_string());
                out = (generation, member);
            }
        }
    }
    // SAFETY: each pointer came from librdkafka as documented above and is freed once.
    unsafe {
        if !error.is_null() {
            rdsys::rd_kafka_error_destroy(error);
        }
        if !buffer.is_null() {
            rdsys::rd_kafka_mem_free(std::ptr::null_mut(), buffer);
        }
        rdsys::rd_kafka_consumer_group_metadata_destroy(cgmd);
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, group, topic, settings @ ..] = args.as_slice() else {
        eprintln!("usage: group-member <bootstrap> <group> <topic> [name=value ...]");
        return ExitCode::from(2);
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    for setting in settings {
        let Some((name, value)) = setting.split_once('=') else {
            eprintln!("not name=value: {setting}");
            return ExitCode::from(2);
        };
        config.set(name, value);
    }
    let cooperative = settings
        .iter()
        .any(|s| s.starts_with("partition.assignment.strategy=") && s.contains("cooperative"));
    let consumer: BaseConsumer<Member> = match config.create_with_context(Member {
        topic: topic.clone(),
        cooperative,
        assigned: Mutex::default(),
        closing: AtomicBool::new(false),
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot create the consumer: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = consumer.subscribe(&[topic]) {
        eprintln!("cannot subscribe: {e}");
        return ExitCode::from(2);
    }

    // EOF on stdin (the test closed its end) asks for a graceful close.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            stop.store(true, Ordering::Release);
        });
    }

    while !stop.load(Ordering::Acquire) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => emit(MemberEvent::Error(e.to_string())),
            Some(Ok(message)) => {
                let (partition, offset) = (message.partition(), message.offset());
                let key = message
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_else(|| "-".to_string());
                emit(MemberEvent::Record {
                    partition,
                    offset,
                    key,
                });
                let outcome = consumer.commit_message(&message, CommitMode::Sync);
                emit(match outcome {
                    Ok(()) => MemberEvent::Committed {
                        partition,
                        next_offset: offset + 1,
                    },
                    Err(e) => MemberEvent::CommitFailed {
                        partition,
                        next_offset: offset + 1,
                        error: e.to_string(),
                    },
                });
            }
        }
    }
    consumer.context().closing.store(true, Ordering::Release);
    // Dropping the consumer closes it: the revocation is served, and a dynamic member
    // leaves the group.
    drop(consumer);
    emit(MemberEvent::Closed);
    ExitCode::SUCCESS
}
