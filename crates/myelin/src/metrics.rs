//! The broker's Prometheus metrics: one [`Registry`] per broker.
//!
//! Request, byte and connection counts arrive through the server's
//! [`myelin_server::metrics::Metrics`] hooks as they happen. Partition gauges (sizes and
//! offsets) and the storage engine's flush counts are read from the partitions at each
//! scrape ([`BrokerMetrics::render`]), so a deleted topic's series disappear with it; so
//! are the group gauges, from the group coordinator's [`GroupCoordinator::stats`], and a
//! deleted group's series disappear the same way.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `myelin_kafka_requests_total` | counter | `api` |
//! | `myelin_kafka_request_errors_total` | counter | `api` (requests that closed the connection) |
//! | `myelin_kafka_request_duration_seconds` | histogram | `api` |
//! | `myelin_kafka_received_bytes_total`, `myelin_kafka_sent_bytes_total` | counter | |
//! | `myelin_kafka_connections` | gauge | |
//! | `myelin_kafka_connections_accepted_total` | counter | |
//! | `myelin_kafka_authentications_total` | counter | `mechanism`, `outcome` (`success`, `failure`) |
//! | `myelin_quota_throttled_total`, `myelin_quota_throttle_seconds_total` | counter | `quota` (`produce`, `fetch`, `request`) |
//! | `myelin_schema_validation_refused_batches_total`, `myelin_schema_validation_refused_records_total` | counter | `topic` |
//! | `myelin_partition_size_bytes`, `myelin_partition_log_start_offset`, `myelin_partition_log_end_offset`, `myelin_partition_high_watermark` | gauge | `topic`, `partition` |
//! | `myelin_topics`, `myelin_partitions` | gauge | |
//! | `myelin_log_flush_waves_total`, `myelin_log_flushes_total` | counter | |
//! | `myelin_log_flush_duration_seconds` | histogram | |
//! | `myelin_log_dir_available_bytes`, `myelin_log_dir_reserved_bytes` | gauge | |
//! | `myelin_partitions_offline` | gauge | |
//! | `myelin_group_count` | gauge | `state` (every classic state, 0 included) |
//! | `myelin_group_members` | gauge | |
//! | `myelin_group_rebalances_total` | counter | |
//! | `myelin_group_consumer_lag` | gauge | `group`, `topic`, `partition` |
//! | `myelin_share_group_count` | gauge | `state` (`Empty`, `Stable`) |
//! | `myelin_share_group_members` | gauge | |
//! | `myelin_share_group_lag` | gauge | `group`, `topic`, `partition` |
//! | `myelin_share_group_in_flight_records` | gauge | `group`, `topic`, `partition` |
//! | `myelin_build_info` | gauge (1) | `version` |

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use myelin_cluster::PartitionManager;
use myelin_coord::{GroupCoordinator, GroupStats};
use myelin_server::metrics::{Metrics, RequestOutcome};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Request latency buckets, in seconds: from 100 µs (a metadata request) to 30 s (a
/// long poll or a slow disk).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Log flush buckets, in seconds: from 50 µs (a flush with nothing new in the page cache
/// of a fast disk) to 10 s (a disk in trouble).
const FLUSH_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0,
];

/// One API's series, resolved once so the request path does no label lookup.
#[derive(Debug, Clone)]
struct ApiSeries {
    requests: IntCounter,
    errors: IntCounter,
    latency: Histogram,
}

/// The broker's metrics; implements the server's hooks.
#[derive(Debug)]
pub struct BrokerMetrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    authentications: IntCounterVec,
    throttled: IntCounterVec,
    throttle_seconds: prometheus::CounterVec,
    schema_refused_batches: IntCounterVec,
    schema_refused_records: IntCounterVec,
    latency: HistogramVec,
    /// Series of every API in the registration table, by API key.
    per_api: HashMap<i16, ApiSeries>,
    received_bytes: IntCounter,
    sent_bytes: IntCounter,
    connections: IntGauge,
    connections_accepted: IntCounter,
    partition_size: IntGaugeVec,
    log_start_offset: IntGaugeVec,
    log_end_offset: IntGaugeVec,
    high_watermark: IntGaugeVec,
    topics: IntGauge,
    partitions_count: IntGauge,
    /// Partitions whose log is offline after an I/O error.
    partitions_offline: IntGauge,
    /// Free space of the data directory's file system, and the reserve in force.
    log_dir_available: IntGauge,
    log_dir_reserved: IntGauge,
    flush_waves: IntCounter,
    log_flushes: IntCounter,
    /// How long each group-commit log flush took (Kafka's `LogFlushRateAndTimeMs`).
    flush_duration: Histogram,
    /// Groups by Kafka state name.
    group_count: IntGaugeVec,
    /// Members of every group.
    group_members: IntGauge,
    group_rebalances: IntCounter,
    /// Per group and committed partition: high watermark minus committed offset, at
    /// least 0.
    consumer_lag: IntGaugeVec,
    /// The partitions, once storage is open.
    partitions: OnceLock<Arc<PartitionManager>>,
    /// The group coordinator, once the server context exists.
    groups: OnceLock<Arc<GroupCoordinator>>,
    /// Share groups (KIP-932): by state, members, and per share-partition the records not
    /// yet done (high watermark minus start offset) and those in flight.
    share_group_count: IntGaugeVec,
    share_group_members: IntGauge,
    share_lag: IntGaugeVec,
    share_in_flight: IntGaugeVec,
    /// The share coordinator, once the server context exists.
    shares: OnceLock<Arc<myelin_coord::share::ShareCoordinator>>,
    /// Serializes scrapes; holds the cumulative figures last added to the counters.
    scrape: Mutex<Scraped>,
}

/// The cumulative figures read at the last scrape: counters grow by the difference.
#[derive(Debug, Default)]
struct Scraped {
    flush_waves: u64,
    log_flushes: u64,
    rebalances: u64,
}

/// The classic group states, each exported (0 when no group is in it) so that a state's
/// series does not vanish when its last group leaves it.
const GROUP_STATES: &[&str] = &[
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
];

fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("metric names are unique and valid");
    c
}

impl BrokerMetrics {
    /// A new registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let requests = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "myelin_kafka_requests_total",
                    "Kafka requests handled, by API",
                ),
                &["api"],
            )
            .expect("valid metric"),
        );
        let errors = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "myelin_kafka_request_errors_total",
                    "Kafka requests that could not be answered (the connection was closed), by API",
                ),
                &["api"],
            )
            .expect("valid metric"),
        );
        let authentications = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "myelin_kafka_authentications_total",
                    "Client authentications (SASL, TLS client certificates), by mechanism and outcome",
                ),
                &["mechanism", "outcome"],
            )
            .expect("valid metric"),
        );
        let throttled = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "myelin_quota_throttled_total",
                    "Requests that took a client over its quota, by quota",
                ),
                &["quota"],
            )
            .expect("valid metric"),
        );
        let throttle_seconds = register(
            r,
            prometheus::CounterVec::new(
                Opts::new(
                    "myelin_quota_throttle_seconds_total",
                    "Time clients were held back for going over their quotas, by quota",
                ),
                &["quota"],
            )
            .expect("valid metric"),
        );
        let schema_refused_batches = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "myelin_schema_validation_refused_batches_total",
                    "Produced batches refused by schema ID validation, by topic",
                ),
                &["topic"],
            )
            .expect("valid metric"),
        );
        let schema_refused_records = register(
            r,
            IntCounterVec::new(
                Opts::new(
                    "myelin_schema_validation_refused_records_total",
                    "Records without a schema id registered for their subject, by topic",
                ),
                &["topic"],
            )
            .expect("valid metric"),
        );
        let latency = register(
            r,
            HistogramVec::new(
                HistogramOpts::new(
                    "myelin_kafka_request_duration_seconds",
                    "Time from reading a request to its response being ready, by API",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["api"],
            )
            .expect("valid metric"),
        );
        let per_api = myelin_server::apis::APIS
            .iter()
            .map(|e| {
                let series = ApiSeries {
                    requests: requests.with_label_values(&[e.name]),
                    errors: errors.with_label_values(&[e.name]),
                    latency: latency.with_label_values(&[e.name]),
                };
                (e.key as i16, series)
            })
            .collect();
        let counter = |name: &str, help: &str| {
            register(r, IntCounter::new(name, help).expect("valid metric"))
        };
        let gauge =
            |name: &str, help: &str| register(r, IntGauge::new(name, help).expect("valid metric"));
        let partition_gauge = |name: &str, help: &str| {
            register(
                r,
                IntGaugeVec::new(Opts::new(name, help), &["topic", "partition"])
                    .expect("valid metric"),
            )
        };
        let build_info = register(
            r,
            IntGaugeVec::new(
                Opts::new("myelin_build_info", "The running Myelin's version"),
                &["version"],
            )
            .expect("valid metric"),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Self {
            received_bytes: counter(
                "myelin_kafka_received_bytes_total",
                "Bytes of Kafka request frames read",
            ),
            sent_bytes: counter(
                "myelin_kafka_sent_bytes_total",
                "Bytes of Kafka response frames written",
            ),
            connections: gauge("myelin_kafka_connections", "Open Kafka connections"),
            connections_accepted: counter(
                "myelin_kafka_connections_accepted_total",
                "Kafka connections accepted",
            ),
            partition_size: partition_gauge(
                "myelin_partition_size_bytes",
                "Bytes of a partition's log segments",
            ),
            log_start_offset: partition_gauge(
                "myelin_partition_log_start_offset",
                "A partition's first offset",
            ),
            log_end_offset: partition_gauge(
                "myelin_partition_log_end_offset",
                "A partition's next offset to be written",
            ),
            high_watermark: partition_gauge(
                "myelin_partition_high_watermark",
                "A partition's high watermark: offsets below it are visible to consumers",
            ),
            topics: gauge("myelin_topics", "Topics"),
            partitions_count: gauge("myelin_partitions", "Partitions"),
            partitions_offline: gauge(
                "myelin_partitions_offline",
                "Partitions whose log is offline after an I/O error (until a restart)",
            ),
            log_dir_available: gauge(
                "myelin_log_dir_available_bytes",
                "Bytes available on the data directory's file system",
            ),
            log_dir_reserved: gauge(
                "myelin_log_dir_reserved_bytes",
                "Free space kept for the internal topics: client produce is refused below it",
            ),
            flush_waves: counter(
                "myelin_log_flush_waves_total",
                "Flushes handed to the group-commit threads (one log each, for every append waiting on it)",
            ),
            log_flushes: counter(
                "myelin_log_flushes_total",
                "Log flushes done by group-commit waves",
            ),
            flush_duration: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "myelin_log_flush_duration_seconds",
                        "Time each group-commit log flush took (its fdatasyncs)",
                    )
                    .buckets(FLUSH_BUCKETS.to_vec()),
                )
                .expect("valid metric"),
            ),
            group_count: register(
                r,
                IntGaugeVec::new(
                    Opts::new("myelin_group_count", "Consumer groups, by state"),
                    &["state"],
                )
                .expect("valid metric"),
            ),
            group_members: gauge("myelin_group_members", "Members of every consumer group"),
            group_rebalances: counter(
                "myelin_group_rebalances_total",
                "Consumer group rebalances (join phases) completed",
            ),
            share_group_count: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new("myelin_share_group_count", "Share groups, by state"),
                    &["state"],
                )
                .expect("valid metric"),
            ),
            share_group_members: gauge(
                "myelin_share_group_members",
                "Members of every share group",
            ),
            share_lag: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "myelin_share_group_lag",
                        "A share group's records of a partition not yet done: the high \
                         watermark minus the share-partition start offset",
                    ),
                    &["group", "topic", "partition"],
                )
                .expect("valid metric"),
            ),
            share_in_flight: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "myelin_share_group_in_flight_records",
                        "A share group's offsets of a partition in flight (delivered or \
                         waiting for redelivery, past the start offset)",
                    ),
                    &["group", "topic", "partition"],
                )
                .expect("valid metric"),
            ),
            shares: OnceLock::new(),
            consumer_lag: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "myelin_group_consumer_lag",
                        "A group's lag on a partition: the high watermark minus the committed \
                         offset (at least 0)",
                    ),
                    &["group", "topic", "partition"],
                )
                .expect("valid metric"),
            ),
            registry,
            requests,
            errors,
            authentications,
            throttled,
            throttle_seconds,
            schema_refused_batches,
            schema_refused_records,
            latency,
            per_api,
            partitions: OnceLock::new(),
            groups: OnceLock::new(),
            scrape: Mutex::new(Scraped::default()),
        }
    }

    /// The registry, to register more metrics or gather them elsewhere.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Tells the metrics where the partitions are (once storage is open).
    pub fn set_partitions(&self, partitions: Arc<PartitionManager>) {
        let histogram = self.flush_duration.clone();
        partitions
            .logs()
            .set_flush_observer(Arc::new(move |took| histogram.observe(took.as_secs_f64())));
        let _ = self.partitions.set(partitions);
    }

    /// Tells the metrics where the group coordinator is (once the server context exists).
    pub fn set_groups(&self, groups: Arc<GroupCoordinator>) {
        let _ = self.groups.set(groups);
    }

    /// Tells the metrics where the share coordinator is.
    pub fn set_shares(&self, shares: Arc<myelin_coord::share::ShareCoordinator>) {
        let _ = self.shares.set(shares);
    }

    fn series(&self, api_key: i16, api: &'static str) -> ApiSeries {
        match self.per_api.get(&api_key) {
            Some(s) => s.clone(),
            None => ApiSeries {
                requests: self.requests.with_label_values(&[api]),
                errors: self.errors.with_label_values(&[api]),
                latency: self.latency.with_label_values(&[api]),
            },
        }
    }

    /// Refreshes the gauges read from the partitions, then renders every metric in
    /// Prometheus' text format.
    pub fn render(&self) -> String {
        {
            let mut scraped = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(pm) = self.partitions.get() {
                self.refresh(pm, &mut scraped);
            }
            if let Some(groups) = self.groups.get() {
                self.refresh_groups(&groups.stats(), self.partitions.get(), &mut scraped);
            }
            if let Some(shares) = self.shares.get() {
                self.refresh_shares(&shares.stats(), self.partitions.get());
            }
            let mut out = Vec::new();
            TextEncoder::new()
                .encode(&self.registry.gather(), &mut out)
                .expect("the text encoder writes to memory");
            String::from_utf8(out).expect("the text format is UTF-8")
        }
    }

    fn refresh(&self, pm: &PartitionManager, scraped: &mut Scraped) {
        for v in [
            &self.partition_size,
            &self.log_start_offset,
            &self.log_end_offset,
            &self.high_watermark,
        ] {
            v.reset();
        }
        let partitions = pm.all();
        for p in &partitions {
            let index = p.index.to_string();
            let labels = [p.topic.as_str(), index.as_str()];
            let size = i64::try_from(p.log.size_bytes()).unwrap_or(i64::MAX);
            self.partition_size.with_label_values(&labels).set(size);
            self.log_start_offset
                .with_label_values(&labels)
                .set(p.log.log_start_offset());
            self.log_end_offset
                .with_label_values(&labels)
                .set(p.log.log_end_offset());
            self.high_watermark
                .with_label_values(&labels)
                .set(p.high_watermark());
        }
        self.partitions_count.set(partitions.len() as i64);
        self.partitions_offline
            .set(partitions.iter().filter(|p| p.log.is_offline()).count() as i64);
        let space = pm.logs().space();
        if let Ok(stat) = myelin_log::space::stat(pm.logs().data_dir()) {
            self.log_dir_available
                .set(i64::try_from(stat.available).unwrap_or(i64::MAX));
        }
        self.log_dir_reserved
            .set(i64::try_from(space.effective_reserve()).unwrap_or(i64::MAX));
        self.topics.set(pm.metadata().topic_count() as i64);
        let (waves, flushes) = pm.logs().flush_stats();
        self.flush_waves
            .inc_by(waves.saturating_sub(scraped.flush_waves));
        self.log_flushes
            .inc_by(flushes.saturating_sub(scraped.log_flushes));
        scraped.flush_waves = waves.max(scraped.flush_waves);
        scraped.log_flushes = flushes.max(scraped.log_flushes);
    }

    /// Sets the group gauges from a coordinator snapshot; the lag of a committed offset
    /// is against its partition's high watermark (no series for a partition this broker
    /// does not have, such as one of a deleted topic).
    fn refresh_groups(
        &self,
        stats: &GroupStats,
        pm: Option<&Arc<PartitionManager>>,
        scraped: &mut Scraped,
    ) {
        self.group_count.reset();
        for state in GROUP_STATES {
            self.group_count.with_label_values(&[state]).set(0);
        }
        for (state, n) in &stats.groups_by_state {
            self.group_count
                .with_label_values(&[state])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.group_members
            .set(i64::try_from(stats.members).unwrap_or(i64::MAX));
        self.group_rebalances
            .inc_by(stats.rebalances.saturating_sub(scraped.rebalances));
        scraped.rebalances = stats.rebalances.max(scraped.rebalances);

        self.consumer_lag.reset();
        let Some(pm) = pm else { return };
        for group in &stats.groups {
            for (tp, committed) in &group.offsets {
                let Some(p) = pm.get(&tp.topic, tp.partition) else {
                    continue;
                };
                let lag = p.high_watermark().saturating_sub(*committed).max(0);
                let index = tp.partition.to_string();
                self.consumer_lag
                    .with_label_values(&[group.group_id.as_str(), tp.topic.as_str(), &index])
                    .set(lag);
            }
        }
    }
}

impl BrokerMetrics {
    /// Sets the share group gauges from a share coordinator snapshot (no series for a
    /// partition of a topic this broker no longer has).
    fn refresh_shares(
        &self,
        stats: &[myelin_coord::share::ShareGroupStats],
        pm: Option<&Arc<PartitionManager>>,
    ) {
        self.share_group_count.reset();
        for state in ["Empty", "Stable"] {
            let n = stats.iter().filter(|g| g.state == state).count();
            self.share_group_count
                .with_label_values(&[state])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.share_group_members
            .set(i64::try_from(stats.iter().map(|g| g.members).sum::<usize>()).unwrap_or(i64::MAX));
        self.share_lag.reset();
        self.share_in_flight.reset();
        let Some(pm) = pm else { return };
        let metadata = pm.metadata();
        for group in stats {
            for ((topic_id, partition), start, in_flight) in &group.partitions {
                let id = myelin_cluster::TopicId(uuid::Uuid::from_bytes(topic_id.0));
                let Some(topic) = metadata.topic(id) else {
                    continue;
                };
                let Some(p) = pm.get(&topic.name, *partition) else {
                    continue;
                };
                let index = partition.to_string();
                let labels = [group.group_id.as_str(), topic.name.as_str(), index.as_str()];
                self.share_lag
                    .with_label_values(&labels)
                    .set(p.high_watermark().saturating_sub(*start).max(0));
                self.share_in_flight
                    .with_label_values(&labels)
                    .set(i64::try_from(*in_flight).unwrap_or(i64::MAX));
            }
        }
    }
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics for BrokerMetrics {
    fn connection_opened(&self) {
        self.connections.inc();
        self.connections_accepted.inc();
    }

    fn connection_closed(&self) {
        self.connections.dec();
    }

    fn bytes_received(&self, bytes: usize) {
        self.received_bytes.inc_by(bytes as u64);
    }

    fn authentication(&self, mechanism: &str, success: bool) {
        let outcome = if success { "success" } else { "failure" };
        self.authentications
            .with_label_values(&[mechanism, outcome])
            .inc();
    }

    fn bytes_sent(&self, bytes: usize) {
        self.sent_bytes.inc_by(bytes as u64);
    }

    fn client_throttled(&self, quota: &'static str, throttle: Duration) {
        self.throttled.with_label_values(&[quota]).inc();
        self.throttle_seconds
            .with_label_values(&[quota])
            .inc_by(throttle.as_secs_f64());
    }

    fn schema_refused(&self, topic: &str, records: usize) {
        self.schema_refused_batches
            .with_label_values(&[topic])
            .inc();
        self.schema_refused_records
            .with_label_values(&[topic])
            .inc_by(records as u64);
    }

    fn request_completed(
        &self,
        api_key: i16,
        api: &'static str,
        elapsed: Duration,
        outcome: RequestOutcome,
    ) {
        let s = self.series(api_key, api);
        s.requests.inc();
        if outcome == RequestOutcome::Failed {
            s.errors.inc();
        }
        s.latency.observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_show_in_the_text() {
        let m = BrokerMetrics::new();
        m.connection_opened();
        m.bytes_received(100);
        m.request_completed(
            18,
            "ApiVersions",
            Duration::from_millis(2),
            RequestOutcome::Answered,
        );
        let text = m.render();
        assert!(
            text.contains("myelin_kafka_requests_total{api=\"ApiVersions\"} 1"),
            "{text}"
        );
        assert!(text.contains("myelin_kafka_connections 1"));
        assert!(text.contains("myelin_kafka_received_bytes_total 100"));
        m.client_throttled("produce", Duration::from_millis(1500));
        m.client_throttled("produce", Duration::from_millis(500));
        let text = m.render();
        assert!(
            text.contains("myelin_quota_throttled_total{quota=\"produce\"} 2"),
            "{text}"
        );
        assert!(text.contains("myelin_quota_throttle_seconds_total{quota=\"produce\"} 2"));
        m.schema_refused("referrals", 3);
        let text = m.render();
        assert!(
            text.contains("myelin_schema_validation_refused_batches_total{topic=\"referrals\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("myelin_schema_validation_refused_records_total{topic=\"referrals\"} 3")
        );
        assert!(text.contains("myelin_build_info{version="));
    }

    #[test]
    fn group_stats_become_gauges_and_a_counter() {
        let m = BrokerMetrics::new();
        let mut stats = GroupStats {
            members: 3,
            rebalances: 4,
            ..GroupStats::default()
        };
        stats.groups_by_state.insert("Stable", 2);
        let mut scraped = Scraped::default();
        m.refresh_groups(&stats, None, &mut scraped);
        stats.rebalances = 6;
        m.refresh_groups(&stats, None, &mut scraped);
        let text = m.render();
        for expected in [
            "myelin_group_count{state=\"Stable\"} 2",
            "myelin_group_count{state=\"Empty\"} 0",
            "myelin_group_members 3",
            "myelin_group_rebalances_total 6",
        ] {
            assert!(text.contains(expected), "no {expected} in\n{text}");
        }
    }
}
