//! The broker configs Myelin knows, with Kafka's names, types and documentation.
//!
//! `dynamic` marks the configs that AlterConfigs and IncrementalAlterConfigs may change at
//! run time (per broker, or cluster-wide with the empty resource name), as Kafka's
//! `DynamicBrokerConfig` allows them: the broker-wide defaults of the topic configs, under
//! their primary broker names. Everything else is read-only and comes from the static
//! configuration (file, environment, flags) or the default. Defaults are Myelin's; where
//! one differs from Kafka's the documentation says so.

use super::{ConfigDef, ConfigType, Synonym, Validator};

const LONG_MAX: &str = "9223372036854775807";

/// A broker config whose value is `default` unless configured.
const fn broker(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    validator: Validator,
    dynamic: bool,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        ty,
        default,
        validator,
        synonyms: &[],
        dynamic,
        doc,
    }
}

/// The same, with Kafka's synonym group (`DynamicBrokerConfig.brokerConfigSynonyms`).
const fn grouped(def: ConfigDef, synonyms: &'static [Synonym]) -> ConfigDef {
    ConfigDef { synonyms, ..def }
}

const RETENTION: &[Synonym] = &[
    Synonym::new("log.retention.ms"),
    Synonym::new("log.retention.minutes"),
    Synonym::new("log.retention.hours"),
];
const ROLL: &[Synonym] = &[Synonym::new("log.roll.ms"), Synonym::new("log.roll.hours")];
const ROLL_JITTER: &[Synonym] = &[
    Synonym::new("log.roll.jitter.ms"),
    Synonym::new("log.roll.jitter.hours"),
];

const DYNAMIC: bool = true;
const READ_ONLY: bool = false;

/// Every broker config, sorted by name.
pub static BROKER_CONFIGS: &[ConfigDef] = &[
    broker(
        "advertised.listeners",
        ConfigType::String,
        None,
        Validator::None,
        READ_ONLY,
        "Listeners to publish for clients to use, if different than the listeners config \
         property. If this is not set, the value for listeners will be used.",
    ),
    broker(
        "allow.everyone.if.no.acl.found",
        ConfigType::Boolean,
        Some("false"),
        Validator::None,
        READ_ONLY,
        "With the authorizer on: whether a resource that no ACL matches is open to every \
         principal. By default it is closed to all but the super users.",
    ),
    broker(
        "authorizer.class.name",
        ConfigType::String,
        Some(""),
        Validator::None,
        READ_ONLY,
        "The authorizer: org.apache.kafka.metadata.authorizer.StandardAuthorizer (or \
         kafka.security.authorizer.AclAuthorizer) turns on Myelin's ACL authorizer; empty, \
         every request is allowed.",
    ),
    broker(
        "auto.create.topics.enable",
        ConfigType::Boolean,
        Some("true"),
        Validator::None,
        READ_ONLY,
        "Enable auto creation of topic on the server.",
    ),
    broker(
        "broker.id",
        ConfigType::Int,
        Some("-1"),
        Validator::None,
        READ_ONLY,
        "The broker id for this server. Myelin sets it to node.id.",
    ),
    broker(
        "compression.gzip.level",
        ConfigType::Int,
        Some("-1"),
        Validator::GzipLevel,
        DYNAMIC,
        "The compression level to use if compression.type is set to gzip.",
    ),
    broker(
        "compression.lz4.level",
        ConfigType::Int,
        Some("9"),
        Validator::Between(1, 17),
        DYNAMIC,
        "The compression level to use if compression.type is set to lz4.",
    ),
    broker(
        "compression.type",
        ConfigType::String,
        Some("producer"),
        Validator::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        DYNAMIC,
        "Specify the final compression type for a given topic. This configuration accepts the \
         standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts \
         'uncompressed' which is equivalent to no compression; and 'producer' which means retain \
         the original compression codec set by the producer.",
    ),
    broker(
        "compression.zstd.level",
        ConfigType::Int,
        Some("3"),
        Validator::Between(-131_072, 22),
        DYNAMIC,
        "The compression level to use if compression.type is set to zstd.",
    ),
    broker(
        "connection.failed.authentication.delay.ms",
        ConfigType::Int,
        Some("100"),
        Validator::AtLeast(0),
        READ_ONLY,
        "Connection close delay on failed authentication: the time (in milliseconds) by \
         which the answer to a failed authentication is delayed before the connection is \
         closed, to slow down password guessing.",
    ),
    broker(
        "connections.max.idle.ms",
        ConfigType::Long,
        Some("600000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "Idle connections timeout: the server socket processor threads close the connections \
         that idle more than this. Myelin counts a connection idle while it completes no \
         request and writes no response (not while a handler prepares a reply); a request \
         arriving slowly does not reset the timer.",
    ),
    broker(
        "connections.max.reauth.ms",
        ConfigType::Long,
        Some("0"),
        Validator::AtLeast(0),
        READ_ONLY,
        "When explicitly set to a positive number (the default is 0, not a positive number), \
         a session lifetime that will not exceed the configured value will be communicated to \
         v2.2.0 or later clients when they authenticate. The broker will disconnect any such \
         connection that is not re-authenticated within the session lifetime and that is then \
         subsequently used for any purpose other than re-authentication.",
    ),
    broker(
        "default.replication.factor",
        ConfigType::Int,
        Some("1"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The replication factor for automatically created topics, and for topics created with \
         -1 as the replication factor.",
    ),
    broker(
        "delegation.token.expiry.check.interval.ms",
        ConfigType::Long,
        Some("3600000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "Scan interval to remove expired delegation tokens.",
    ),
    broker(
        "delegation.token.expiry.time.ms",
        ConfigType::Long,
        Some("86400000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The token validity time in milliseconds before the token needs to be renewed.",
    ),
    broker(
        "delegation.token.master.key",
        ConfigType::Password,
        None,
        Validator::None,
        READ_ONLY,
        "Deprecated: the old name of delegation.token.secret.key.",
    ),
    broker(
        "delegation.token.max.lifetime.ms",
        ConfigType::Long,
        Some("604800000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The token has a maximum lifetime beyond which it cannot be renewed anymore.",
    ),
    broker(
        "delegation.token.secret.key",
        ConfigType::Password,
        None,
        Validator::None,
        READ_ONLY,
        "Secret key to generate and verify delegation tokens. Without it delegation tokens \
         are off.",
    ),
    broker(
        "delete.topic.enable",
        ConfigType::Boolean,
        Some("true"),
        Validator::None,
        READ_ONLY,
        "Enables delete topic. Delete topic through the admin tool will have no effect if this \
         config is turned off.",
    ),
    broker(
        "group.consumer.assignors",
        ConfigType::List,
        Some("uniform,range"),
        Validator::None,
        READ_ONLY,
        "The server-side assignors as a list of either names for builtin assignors or full \
         class names for customer assignors. The first one in the list is considered as the \
         default assignor to be used in the case where the consumer does not specify an \
         assignor. The supported builtin assignors are: uniform, range. Custom assignor \
         classes are not supported.",
    ),
    broker(
        "group.consumer.heartbeat.interval.ms",
        ConfigType::Int,
        Some("5000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The heartbeat interval given to the members of a consumer group (KIP-848 protocol).",
    ),
    broker(
        "group.consumer.max.heartbeat.interval.ms",
        ConfigType::Int,
        Some("15000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum heartbeat interval a consumer group's own config \
         (consumer.heartbeat.interval.ms) may set.",
    ),
    broker(
        "group.consumer.max.session.timeout.ms",
        ConfigType::Int,
        Some("60000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum session timeout a consumer group's own config \
         (consumer.session.timeout.ms) may set.",
    ),
    broker(
        "group.consumer.max.size",
        ConfigType::Int,
        Some("2147483647"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum number of consumers that a single consumer group (KIP-848 protocol) can \
         accommodate.",
    ),
    broker(
        "group.consumer.min.heartbeat.interval.ms",
        ConfigType::Int,
        Some("5000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The minimum heartbeat interval a consumer group's own config \
         (consumer.heartbeat.interval.ms) may set.",
    ),
    broker(
        "group.consumer.min.session.timeout.ms",
        ConfigType::Int,
        Some("45000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The minimum session timeout a consumer group's own config \
         (consumer.session.timeout.ms) may set.",
    ),
    broker(
        "group.consumer.session.timeout.ms",
        ConfigType::Int,
        Some("45000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The timeout to detect client failures when using the consumer group protocol \
         (KIP-848).",
    ),
    broker(
        "group.initial.rebalance.delay.ms",
        ConfigType::Int,
        Some("3000"),
        Validator::AtLeast(0),
        READ_ONLY,
        "The amount of time the group coordinator will wait for more consumers to join a new \
         group before performing the first rebalance. A longer delay means potentially fewer \
         rebalances, but increases the time until processing begins.",
    ),
    broker(
        "group.max.session.timeout.ms",
        ConfigType::Int,
        Some("1800000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum allowed session timeout for registered consumers. Longer timeouts give \
         consumers more time to process messages in between heartbeats at the cost of a longer \
         time to detect failures.",
    ),
    broker(
        "group.max.size",
        ConfigType::Int,
        Some("2147483647"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum number of consumers that a single consumer group can accommodate.",
    ),
    broker(
        "group.min.session.timeout.ms",
        ConfigType::Int,
        Some("6000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The minimum allowed session timeout for registered consumers. Shorter timeouts result \
         in quicker failure detection at the cost of more frequent consumer heartbeating, which \
         can overwhelm broker resources.",
    ),
    broker(
        "group.share.delivery.count.limit",
        ConfigType::Int,
        Some("5"),
        Validator::Between(2, 10),
        READ_ONLY,
        "The maximum number of delivery attempts for a record delivered to a share group.",
    ),
    broker(
        "group.share.heartbeat.interval.ms",
        ConfigType::Int,
        Some("5000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The heartbeat interval given to the members of a share group.",
    ),
    broker(
        "group.share.max.share.sessions",
        ConfigType::Int,
        Some("2000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum number of share sessions per broker.",
    ),
    broker(
        "group.share.max.size",
        ConfigType::Int,
        Some("200"),
        Validator::Between(10, 1000),
        READ_ONLY,
        "The maximum number of members that a single share group can accommodate.",
    ),
    broker(
        "group.share.partition.max.record.locks",
        ConfigType::Int,
        Some("2000"),
        Validator::Between(100, 10000),
        READ_ONLY,
        "Share-group record lock limit per share-partition: the most records in flight.",
    ),
    broker(
        "group.share.record.lock.duration.ms",
        ConfigType::Int,
        Some("30000"),
        Validator::Between(1000, 3600000),
        READ_ONLY,
        "The record acquisition lock duration in milliseconds for share groups.",
    ),
    broker(
        "group.share.session.timeout.ms",
        ConfigType::Int,
        Some("45000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The timeout to detect client failures when using the share group protocol.",
    ),
    broker(
        "listeners",
        ConfigType::String,
        Some("PLAINTEXT://127.0.0.1:9092"),
        Validator::None,
        READ_ONLY,
        "Listener List - Comma-separated list of URIs we will listen on and the listener names. \
         Myelin listens on 127.0.0.1:9092 unless configured (Kafka: all interfaces).",
    ),
    broker(
        "log.cleaner.backoff.ms",
        ConfigType::Long,
        Some("15000"),
        Validator::AtLeast(0),
        READ_ONLY,
        "The amount of time to sleep when there are no logs to clean",
    ),
    broker(
        "log.cleaner.delete.retention.ms",
        ConfigType::Long,
        Some("86400000"),
        Validator::AtLeast(0),
        DYNAMIC,
        "The amount of time to retain tombstone message markers for log compacted topics. This \
         setting also gives a bound on the time in which a consumer must complete a read if they \
         begin from offset 0 to ensure that they get a valid snapshot of the final stage \
         (otherwise tombstones messages may be collected before a consumer completes their \
         scan).",
    ),
    broker(
        "log.cleaner.enable",
        ConfigType::Boolean,
        Some("true"),
        Validator::None,
        READ_ONLY,
        "Enable the log cleaner process to run on the server. Should be enabled if using any \
         topics with a cleanup.policy=compact including the internal offsets topic. If disabled \
         those topics will not be compacted and continually grow in size.",
    ),
    broker(
        "log.cleaner.max.compaction.lag.ms",
        ConfigType::Long,
        Some(LONG_MAX),
        Validator::AtLeast(1),
        DYNAMIC,
        "The maximum time a message will remain ineligible for compaction in the log. Only \
         applicable for logs that are being compacted.",
    ),
    broker(
        "log.cleaner.min.cleanable.ratio",
        ConfigType::Double,
        Some("0.5"),
        Validator::Ratio,
        DYNAMIC,
        "The minimum ratio of dirty log to total log for a log to eligible for cleaning. If the \
         log.cleaner.max.compaction.lag.ms or the log.cleaner.min.compaction.lag.ms \
         configurations are also specified, then the log compactor considers the log eligible \
         for compaction as soon as either: (i) the dirty ratio threshold has been met and the \
         log has had dirty (uncompacted) records for at least the \
         log.cleaner.min.compaction.lag.ms duration, or (ii) if the log has had dirty \
         (uncompacted) records for at most the log.cleaner.max.compaction.lag.ms period.",
    ),
    broker(
        "log.cleaner.min.compaction.lag.ms",
        ConfigType::Long,
        Some("0"),
        Validator::AtLeast(0),
        DYNAMIC,
        "The minimum time a message will remain uncompacted in the log. Only applicable for \
         logs that are being compacted.",
    ),
    broker(
        "log.cleanup.policy",
        ConfigType::List,
        Some("delete"),
        Validator::ListOf(&["compact", "delete"]),
        DYNAMIC,
        "The default cleanup policy for segments beyond the retention window. A comma separated \
         list of valid policies.",
    ),
    broker(
        "log.dirs",
        ConfigType::String,
        None,
        Validator::None,
        READ_ONLY,
        "The directory where the log data is stored (Myelin takes one: ./myelin-data unless \
         configured).",
    ),
    broker(
        "log.flush.interval.messages",
        ConfigType::Long,
        Some("1"),
        Validator::AtLeast(1),
        DYNAMIC,
        "The number of messages accumulated on a log partition before messages are flushed to \
         disk. Myelin defaults to 1 (Kafka: 9223372036854775807): an append is acknowledged \
         once it is on disk, with the fsyncs of concurrent appends group-committed.",
    ),
    broker(
        "log.flush.interval.ms",
        ConfigType::Long,
        None,
        Validator::AtLeast(0),
        DYNAMIC,
        "The maximum time in ms that a message in any topic is kept in memory before flushed to \
         disk. If not set, flush.ms keeps its default.",
    ),
    broker(
        "log.flush.offset.checkpoint.interval.ms",
        ConfigType::Int,
        Some("60000"),
        Validator::AtLeast(0),
        READ_ONLY,
        "The frequency with which we update the persistent record of the last flush which acts \
         as the log recovery point.",
    ),
    broker(
        "log.flush.scheduler.interval.ms",
        ConfigType::Long,
        Some("1000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The frequency in ms that the log flusher checks whether any log needs to be flushed to \
         disk. Myelin defaults to 1000 (Kafka: 9223372036854775807).",
    ),
    broker(
        "log.index.interval.bytes",
        ConfigType::Int,
        Some("4096"),
        Validator::AtLeast(0),
        DYNAMIC,
        "The interval with which we add an entry to the offset index.",
    ),
    broker(
        "log.index.size.max.bytes",
        ConfigType::Int,
        Some("10485760"),
        Validator::AtLeast(4),
        DYNAMIC,
        "The maximum size in bytes of the offset index",
    ),
    broker(
        "log.local.retention.bytes",
        ConfigType::Long,
        Some("-2"),
        Validator::AtLeast(-2),
        DYNAMIC,
        "The maximum size of local log segments that can grow for a partition before it gets \
         eligible for deletion. Default value is -2, it represents `log.retention.bytes` value \
         to be used.",
    ),
    broker(
        "log.local.retention.ms",
        ConfigType::Long,
        Some("-2"),
        Validator::AtLeast(-2),
        DYNAMIC,
        "The number of milliseconds to keep the local log segments before it gets eligible for \
         deletion. Default value is -2, it represents `log.retention.ms` value is to be used.",
    ),
    broker(
        "log.message.downconversion.enable",
        ConfigType::Boolean,
        Some("true"),
        Validator::None,
        DYNAMIC,
        "This configuration controls whether down-conversion of message formats is enabled to \
         satisfy consume requests.",
    ),
    broker(
        "log.message.format.version",
        ConfigType::String,
        Some("3.0-IV1"),
        Validator::None,
        READ_ONLY,
        "[DEPRECATED] Specify the message format version the broker will use to append messages \
         to the logs.",
    ),
    broker(
        "log.message.timestamp.after.max.ms",
        ConfigType::Long,
        Some(LONG_MAX),
        Validator::AtLeast(0),
        DYNAMIC,
        "This configuration sets the allowable timestamp difference between the message \
         timestamp and the broker's timestamp. If log.message.timestamp.type=CreateTime, the \
         message will be rejected if the difference in timestamps exceeds this specified \
         threshold.",
    ),
    broker(
        "log.message.timestamp.before.max.ms",
        ConfigType::Long,
        Some(LONG_MAX),
        Validator::AtLeast(0),
        DYNAMIC,
        "This configuration sets the allowable timestamp difference between the broker's \
         timestamp and the message timestamp. If log.message.timestamp.type=CreateTime, the \
         message will be rejected if the difference in timestamps exceeds this specified \
         threshold.",
    ),
    broker(
        "log.message.timestamp.difference.max.ms",
        ConfigType::Long,
        Some(LONG_MAX),
        Validator::AtLeast(0),
        DYNAMIC,
        "[DEPRECATED] The maximum difference allowed between the timestamp when a broker \
         receives a message and the timestamp specified in the message.",
    ),
    broker(
        "log.message.timestamp.type",
        ConfigType::String,
        Some("CreateTime"),
        Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        DYNAMIC,
        "Define whether the timestamp in the message is message create time or log append time. \
         The value should be either CreateTime or LogAppendTime.",
    ),
    broker(
        "log.preallocate",
        ConfigType::Boolean,
        Some("false"),
        Validator::None,
        DYNAMIC,
        "Should pre allocate file when create new segment?",
    ),
    broker(
        "log.retention.bytes",
        ConfigType::Long,
        Some("-1"),
        Validator::None,
        DYNAMIC,
        "The maximum size of the log before deleting it",
    ),
    broker(
        "log.retention.check.interval.ms",
        ConfigType::Long,
        Some("300000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The frequency in milliseconds that the log cleaner checks whether any log is eligible \
         for deletion",
    ),
    grouped(
        broker(
            "log.retention.hours",
            ConfigType::Int,
            Some("168"),
            Validator::None,
            READ_ONLY,
            "The number of hours to keep a log file before deleting it (in hours), tertiary to \
             log.retention.ms property",
        ),
        RETENTION,
    ),
    grouped(
        broker(
            "log.retention.minutes",
            ConfigType::Int,
            None,
            Validator::None,
            READ_ONLY,
            "The number of minutes to keep a log file before deleting it (in minutes), secondary \
             to log.retention.ms property. If not set, the value in log.retention.hours is used",
        ),
        RETENTION,
    ),
    grouped(
        broker(
            "log.retention.ms",
            ConfigType::Long,
            None,
            Validator::AtLeast(-1),
            DYNAMIC,
            "The number of milliseconds to keep a log file before deleting it (in milliseconds), \
             If not set, the value in log.retention.minutes is used. If set to -1, no time limit \
             is applied.",
        ),
        RETENTION,
    ),
    grouped(
        broker(
            "log.roll.hours",
            ConfigType::Int,
            Some("168"),
            Validator::AtLeast(1),
            READ_ONLY,
            "The maximum time before a new log segment is rolled out (in hours), secondary to \
             log.roll.ms property",
        ),
        ROLL,
    ),
    grouped(
        broker(
            "log.roll.jitter.hours",
            ConfigType::Int,
            Some("0"),
            Validator::AtLeast(0),
            READ_ONLY,
            "The maximum jitter to subtract from logRollTimeMillis (in hours), secondary to \
             log.roll.jitter.ms property",
        ),
        ROLL_JITTER,
    ),
    grouped(
        broker(
            "log.roll.jitter.ms",
            ConfigType::Long,
            None,
            Validator::AtLeast(0),
            DYNAMIC,
            "The maximum jitter to subtract from logRollTimeMillis (in milliseconds). If not \
             set, the value in log.roll.jitter.hours is used",
        ),
        ROLL_JITTER,
    ),
    grouped(
        broker(
            "log.roll.ms",
            ConfigType::Long,
            None,
            Validator::AtLeast(1),
            DYNAMIC,
            "The maximum time before a new log segment is rolled out (in milliseconds). If not \
             set, the value in log.roll.hours is used",
        ),
        ROLL,
    ),
    broker(
        "log.segment.bytes",
        ConfigType::Int,
        Some("1073741824"),
        Validator::AtLeast(14),
        DYNAMIC,
        "The maximum size of a single log file",
    ),
    broker(
        "log.segment.delete.delay.ms",
        ConfigType::Long,
        Some("60000"),
        Validator::AtLeast(0),
        DYNAMIC,
        "The amount of time to wait before deleting a file from the filesystem.",
    ),
    broker(
        "max.connections",
        ConfigType::Int,
        Some("10000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum number of connections we allow in the broker at any time; further clients \
         wait in the listen backlog. Myelin defaults to 10000 (Kafka: 2147483647).",
    ),
    broker(
        "max.connections.per.ip",
        ConfigType::Int,
        Some("2147483647"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum number of connections we allow from each ip address. A new connection \
         from an address at its limit is closed at once. Myelin requires at least 1 (Kafka \
         accepts 0 with overrides); an override of 0 refuses one address.",
    ),
    broker(
        "max.connections.per.ip.overrides",
        ConfigType::String,
        Some(""),
        Validator::None,
        READ_ONLY,
        "A comma-separated list of per-ip overrides to the default maximum number of \
         connections, for example 127.0.0.1:200,10.0.0.1:5. Myelin takes IP addresses only \
         (Kafka also takes host names).",
    ),
    broker(
        "message.max.bytes",
        ConfigType::Int,
        Some("1048588"),
        Validator::AtLeast(0),
        DYNAMIC,
        "The largest record batch size allowed by Kafka (after compression if compression is \
         enabled). This can be set per topic with the topic level max.message.bytes config.",
    ),
    broker(
        "min.insync.replicas",
        ConfigType::Int,
        Some("1"),
        Validator::AtLeast(1),
        DYNAMIC,
        "When a producer sets acks to \"all\" (or \"-1\"), min.insync.replicas specifies the \
         minimum number of replicas that must acknowledge a write for the write to be \
         considered successful. If this minimum cannot be met, then the producer will raise an \
         exception (either NotEnoughReplicas or NotEnoughReplicasAfterAppend).",
    ),
    broker(
        "node.id",
        ConfigType::Int,
        Some("-1"),
        Validator::None,
        READ_ONLY,
        "The node ID associated with the roles this process is playing.",
    ),
    broker(
        "num.partitions",
        ConfigType::Int,
        Some("1"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The default number of log partitions per topic",
    ),
    broker(
        "num.recovery.threads.per.data.dir",
        ConfigType::Int,
        // myelin_log::DEFAULT_RECOVERY_THREADS (a test keeps them equal).
        Some("16"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The number of threads per data directory to be used for log recovery at startup and \
         flushing at shutdown. Myelin defaults to 16, also its maximum (Kafka: 2).",
    ),
    broker(
        "offset.metadata.max.bytes",
        ConfigType::Int,
        Some("4096"),
        Validator::AtLeast(0),
        READ_ONLY,
        "The maximum size for a metadata entry associated with an offset commit.",
    ),
    broker(
        "offsets.retention.check.interval.ms",
        ConfigType::Long,
        Some("600000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "Frequency at which to check for stale offsets",
    ),
    broker(
        "offsets.retention.minutes",
        ConfigType::Int,
        Some("10080"),
        Validator::AtLeast(1),
        READ_ONLY,
        "For subscribed consumers, committed offset of a specific partition will be expired and \
         discarded when 1) this retention period has elapsed after the consumer group loses all \
         its consumers (i.e. becomes empty); 2) this retention period has elapsed since the last \
         time an offset is committed for the partition and the group is no longer subscribed to \
         the corresponding topic.",
    ),
    broker(
        "offsets.topic.num.partitions",
        ConfigType::Int,
        Some("50"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The number of partitions for the offset commit topic (should not change after \
         deployment).",
    ),
    broker(
        "offsets.topic.replication.factor",
        ConfigType::Short,
        Some("1"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The replication factor for the offsets topic. Myelin is a single node and defaults to \
         1 (Kafka: 3).",
    ),
    broker(
        "offsets.topic.segment.bytes",
        ConfigType::Int,
        Some("104857600"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The offsets topic segment bytes should be kept relatively small in order to facilitate \
         faster log compaction and cache loads.",
    ),
    broker(
        "producer.id.expiration.check.interval.ms",
        ConfigType::Int,
        Some("600000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The interval at which to remove producer IDs that have expired due to \
         producer.id.expiration.ms passing.",
    ),
    broker(
        "producer.id.expiration.ms",
        ConfigType::Int,
        Some("86400000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The time in ms that a topic partition leader will wait before expiring producer IDs. \
         Producer IDs will not expire while a transaction associated to them is still \
         ongoing. Note that producer IDs may expire sooner if the last write from the \
         producer ID is deleted due to the topic's retention settings. Setting this value the \
         same or higher than delivery.timeout.ms can help prevent expiration during retries \
         and protect against message duplication, but the default should be reasonable for \
         most use cases. Myelin reads it at start (Kafka: dynamic).",
    ),
    broker(
        "queued.max.request.bytes",
        ConfigType::Long,
        Some("536870912"),
        Validator::None,
        READ_ONLY,
        "The number of queued bytes allowed before no more requests are read. Myelin counts \
         the declared size of every request being read or handled, on all connections \
         together, and reads no further request bodies while the total would pass the limit; \
         -1 is unlimited. Myelin defaults to 536870912 (Kafka: -1).",
    ),
    broker(
        "quota.window.num",
        ConfigType::Int,
        Some("11"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The number of samples to retain in memory for client quotas",
    ),
    broker(
        "quota.window.size.seconds",
        ConfigType::Int,
        Some("1"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The time span of each sample for client quotas",
    ),
    broker(
        "sasl.enabled.mechanisms",
        ConfigType::List,
        Some("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
        Validator::ListOf(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]),
        READ_ONLY,
        "The list of SASL mechanisms enabled on a SASL_PLAINTEXT listener. Myelin serves \
         PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 and enables all three by default (Kafka \
         enables GSSAPI, which Myelin does not serve).",
    ),
    broker(
        "share.coordinator.state.topic.num.partitions",
        ConfigType::Int,
        Some("50"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The number of partitions for the share-group state topic (should not change after \
         deployment).",
    ),
    broker(
        "share.coordinator.state.topic.segment.bytes",
        ConfigType::Int,
        Some("104857600"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The log segment size for the share-group state topic.",
    ),
    broker(
        "socket.request.max.bytes",
        ConfigType::Int,
        Some("104857600"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum number of bytes in a socket request",
    ),
    broker(
        "ssl.principal.mapping.rules",
        ConfigType::String,
        Some("DEFAULT"),
        Validator::None,
        READ_ONLY,
        "A list of rules for mapping from the distinguished name of a client certificate to \
         a short name: RULE:pattern/replacement/[LU], comma-separated, the first that \
         matches the whole DN wins; DEFAULT keeps the DN. A certificate no rule maps is \
         refused.",
    ),
    broker(
        "super.users",
        ConfigType::String,
        Some(""),
        Validator::None,
        READ_ONLY,
        "With the authorizer on: principals allowed every operation whatever the ACLs say, \
         separated by semicolons (User:admin;User:operator).",
    ),
    broker(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        ConfigType::Int,
        Some("10000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The interval at which to rollback transactions that have timed out.",
    ),
    broker(
        "transaction.max.timeout.ms",
        ConfigType::Int,
        Some("900000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The maximum allowed timeout for transactions. If a client's requested transaction \
         time exceed this, then the broker will return an error in InitProducerIdRequest. \
         This prevents a client from too large of a timeout, which can stall consumers reading \
         from topics included in the transaction.",
    ),
    broker(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        ConfigType::Int,
        Some("3600000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The interval at which to remove transactions that have expired due to \
         transactional.id.expiration.ms passing.",
    ),
    broker(
        "transaction.state.log.num.partitions",
        ConfigType::Int,
        Some("50"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The number of partitions for the transaction topic (should not change after \
         deployment).",
    ),
    broker(
        "transaction.state.log.replication.factor",
        ConfigType::Short,
        Some("1"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The replication factor for the transaction topic. Myelin is a single node and \
         defaults to 1 (Kafka: 3).",
    ),
    broker(
        "transactional.id.expiration.ms",
        ConfigType::Int,
        Some("604800000"),
        Validator::AtLeast(1),
        READ_ONLY,
        "The time in ms that the transaction coordinator will wait without receiving any \
         transaction status updates for the current transaction before expiring its \
         transactional id. Transactional IDs will not expire while a the transaction is \
         still ongoing.",
    ),
    broker(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        Some("false"),
        Validator::None,
        DYNAMIC,
        "Indicates whether to enable replicas not in the ISR set to be elected as leader as a \
         last resort, even though doing so may result in data loss",
    ),
];
