//! librdkafka as the producer and as the consumer: the reference client, to compare the
//! broker's CPU with a real client's for the same records, and its throughput and latency
//! with ours.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::loadgen::RunStats;
use super::wire::{self, KeyPool, Shape};

/// Counts deliveries; for stamped records, the time from the stamp to the delivery report.
#[derive(Default)]
struct Ctx {
    delivered: AtomicU64,
    failed: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, stamp: usize) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                if stamp != 0 {
                    let us = wire::instant_of(stamp as u64).elapsed().as_micros() as u32;
                    self.latencies_us.lock().unwrap().push(us);
                }
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// How many events the fixed-rate loop handles each time it wakes.
const REPORTS_PER_WAKE: usize = 64;

/// One librdkafka producer run: as fast as it goes (`rate` None) or `rate` records/s,
/// for `duration`, then a flush. Bytes counted are the records' keys and values.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    shape: &Shape,
    acks: &str,
    duration: Duration,
    rate: Option<f64>,
) -> RunStats {
    let producer: BaseProducer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("compression.type", shape.compression.name())
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Ctx::default())
        .expect("a librdkafka producer");
    let ctx: Arc<Ctx> = Arc::clone(producer.context());
    let values: Vec<Vec<u8>> = (0..64)
        .map(|i| wire::value(shape.record_bytes, i))
        .collect();
    let mut pool = KeyPool::default();
    let keys: Vec<Vec<u8>> = (0..1024)
        .map(|i| pool.next_for(i % partitions, partitions))
        .collect();
    let per_record = (shape.record_bytes + if shape.keyed { wire::KEY_BYTES } else { 0 }) as u64;
    let mut stamped = values[0].clone();
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        let now = Instant::now();
        let elapsed = now - start;
        if elapsed >= duration {
            break;
        }
        let (due, scheduled) = match rate {
            None => (sent + 1, None),
            Some(r) => {
                let due = (elapsed.as_secs_f64() * r) as u64;
                if due <= sent {
                    // `poll(0)` handles one event (a batch's delivery reports). One per
                    // wake-up fell behind librdkafka when batches were small (256
                    // partitions at half the peak: a report per record), and the latency,
                    // taken at the report, grew with the queue. So up to
                    // `REPORTS_PER_WAKE` each time. Not `poll(200 us)`: librdkafka's
                    // timeout is in whole milliseconds, and rust-rdkafka spins on a
                    // shorter one, which took a core from the broker.
                    for _ in 0..REPORTS_PER_WAKE {
                        producer.poll(Duration::ZERO);
                    }
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                (due, Some(r))
            }
        };
        while sent < due {
            let i = sent as usize;
            let (payload, stamp) = match scheduled {
                Some(r) => {
                    let at = start + Duration::from_secs_f64(sent as f64 / r);
                    let stamp = wire::stamp_of(at);
                    stamped.clear();
                    stamped.extend_from_slice(&values[i % values.len()]);
                    let n = stamped.len().min(8);
                    stamped[..n].copy_from_slice(&stamp.to_le_bytes()[..n]);
                    (&stamped[..], stamp as usize)
                }
                None => (&values[i % values.len()][..], 0),
            };
            let mut record =
                BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, stamp).payload(payload);
            if shape.keyed {
                record = record.key(&keys[i % keys.len()][..]);
            }
            match producer.send(record) {
                Ok(()) => sent += 1,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("librdkafka send: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("librdkafka flush");
    let elapsed = start.elapsed();
    let delivered = ctx.delivered.load(Ordering::Relaxed);
    let failed = ctx.failed.load(Ordering::Relaxed);
    let latencies_us = std::mem::take(&mut *ctx.latencies_us.lock().unwrap());
    RunStats {
        requests: delivered,
        bytes: delivered * per_record,
        records: delivered,
        elapsed,
        latencies_us,
        errors: failed,
        first_error: if failed > 0 { -1 } else { 0 },
    }
}

/// One librdkafka consumer run: every partition of `topic` assigned from its start, read
/// until each reaches its end offset in `ends` or `cap` has passed. This is what users run:
/// one Fetch per broker for all assigned partitions (`fetch.max.bytes` and
/// `max.partition.fetch.bytes` at their defaults), a prefetch queue, and a message object
/// per record handed to the application. Bytes counted are the records' keys and values,
/// as for the producer.
pub fn consume(bootstrap: &str, topic: &str, ends: &[i64], cap: Duration) -> RunStats {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "myelin-bench-consume")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .expect("a librdkafka consumer");
    let mut assignment = TopicPartitionList::new();
    let mut left = 0usize;
    for (p, &end) in ends.iter().enumerate() {
        if end > 0 {
            assignment
                .add_partition_offset(topic, p as i32, Offset::Beginning)
                .expect("assign a partition");
            left += 1;
        }
    }
    consumer.assign(&assignment).expect("librdkafka assign");
    let mut done = vec![false; ends.len()];
    let mut s = RunStats::default();
    let start = Instant::now();
    while left > 0 && start.elapsed() < cap {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                if s.errors == 0 {
                    println!("  !! librdkafka consumer: {e}");
                    s.first_error = -1;
                }
                s.errors += 1;
                continue;
            }
        };
        s.records += 1;
        s.bytes += (m.payload_len() + m.key().map_or(0, <[u8]>::len)) as u64;
        let p = m.partition() as usize;
        if let Some(&end) = ends.get(p) {
            if m.offset() + 1 >= end && !done[p] {
                done[p] = true;
                left -= 1;
            }
        }
    }
    s.elapsed = start.elapsed();
    s.requests = s.records;
    assert!(
        s.records > 0 || ends.iter().all(|&e| e == 0),
        "the librdkafka consumer read no record of {topic} in {:.1} s",
        cap.as_secs_f64()
    );
    if left > 0 && s.errors == 0 {
        println!(
            "  librdkafka consumer: {left} partition(s) not read to the end within {:.1} s",
            cap.as_secs_f64()
        );
    }
    s
}
