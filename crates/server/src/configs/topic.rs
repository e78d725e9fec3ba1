//! The topic configs: every config Kafka 3.x and 4.0 list for a topic, with Kafka's names,
//! types, documentation and broker synonyms (Kafka's `ServerTopicConfigSynonyms`).
//!
//! Defaults are Myelin's effective defaults, which are Kafka's except `flush.messages`
//! (1: every append is durable before it is acknowledged). Configs Myelin only stores
//! (`preallocate`, `unclean.leader.election.enable`, the tiered-storage ones, ...) are
//! listed so that tools describing every config see a familiar set; `docs/configuration.md`
//! says which ones take effect.

use super::{ConfigDef, ConfigType, Synonym, Validator};

const LONG_MAX: &str = "9223372036854775807";

/// Confluent's default subject name strategy.
const TOPIC_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.TopicNameStrategy";

/// The subject name strategies, by Confluent's class names or their last part.
const SUBJECT_NAME_STRATEGIES: &[&str] = &[
    TOPIC_NAME_STRATEGY,
    "io.confluent.kafka.serializers.subject.RecordNameStrategy",
    "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy",
    "TopicNameStrategy",
    "RecordNameStrategy",
    "TopicRecordNameStrategy",
];

/// `ConfigDef` for a topic config.
const fn topic(
    name: &'static str,
    ty: ConfigType,
    default: &'static str,
    validator: Validator,
    synonyms: &'static [Synonym],
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        ty,
        default: Some(default),
        validator,
        synonyms,
        dynamic: true,
        doc,
    }
}

const fn same(name: &'static str) -> Synonym {
    Synonym::new(name)
}

/// Every topic config, sorted by name.
pub static TOPIC_CONFIGS: &[ConfigDef] = &[
    topic(
        "cleanup.policy",
        ConfigType::List,
        "delete",
        Validator::ListOf(&["compact", "delete"]),
        &[same("log.cleanup.policy")],
        "This config designates the retention policy to use on log segments. The \"delete\" \
         policy (which is the default) will discard old segments when their retention time or \
         size limit has been reached. The \"compact\" policy will enable log compaction, which \
         retains the latest value for each key. It is also possible to specify both policies in \
         a comma-separated list (e.g. \"delete,compact\"). In this case, old segments will be \
         discarded per the retention time and size configuration, while retained segments will \
         be compacted.",
    ),
    topic(
        "compression.gzip.level",
        ConfigType::Int,
        "-1",
        Validator::GzipLevel,
        &[same("compression.gzip.level")],
        "The compression level to use if compression.type is set to gzip.",
    ),
    topic(
        "compression.lz4.level",
        ConfigType::Int,
        "9",
        Validator::Between(1, 17),
        &[same("compression.lz4.level")],
        "The compression level to use if compression.type is set to lz4.",
    ),
    topic(
        "compression.type",
        ConfigType::String,
        "producer",
        Validator::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        &[same("compression.type")],
        "Specify the final compression type for a given topic. This configuration accepts the \
         standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts \
         'uncompressed' which is equivalent to no compression; and 'producer' which means retain \
         the original compression codec set by the producer.",
    ),
    topic(
        "compression.zstd.level",
        ConfigType::Int,
        "3",
        Validator::Between(-131_072, 22),
        &[same("compression.zstd.level")],
        "The compression level to use if compression.type is set to zstd.",
    ),
    topic(
        "confluent.key.schema.validation",
        ConfigType::Boolean,
        "false",
        Validator::None,
        &[],
        "When set to true, enable schema ID validation for the message key: every record's \
         key must carry a schema ID (the Confluent wire format) registered in the schema \
         registry under the subject named by confluent.key.subject.name.strategy.",
    ),
    topic(
        "confluent.key.subject.name.strategy",
        ConfigType::String,
        TOPIC_NAME_STRATEGY,
        Validator::OneOf(SUBJECT_NAME_STRATEGIES),
        &[],
        "Determines how to construct the subject name under which the key schema is \
         registered with the schema registry.",
    ),
    topic(
        "confluent.value.schema.validation",
        ConfigType::Boolean,
        "false",
        Validator::None,
        &[],
        "When set to true, enable schema ID validation for the message value: every record's \
         value must carry a schema ID (the Confluent wire format) registered in the schema \
         registry under the subject named by confluent.value.subject.name.strategy.",
    ),
    topic(
        "confluent.value.subject.name.strategy",
        ConfigType::String,
        TOPIC_NAME_STRATEGY,
        Validator::OneOf(SUBJECT_NAME_STRATEGIES),
        &[],
        "Determines how to construct the subject name under which the value schema is \
         registered with the schema registry.",
    ),
    topic(
        "delete.retention.ms",
        ConfigType::Long,
        "86400000",
        Validator::AtLeast(0),
        &[same("log.cleaner.delete.retention.ms")],
        "The amount of time to retain delete tombstone markers for log compacted topics. This \
         setting also gives a bound on the time in which a consumer must complete a read if they \
         begin from offset 0 to ensure that they get a valid snapshot of the final stage \
         (otherwise delete tombstones may be collected before they complete their scan).",
    ),
    topic(
        "file.delete.delay.ms",
        ConfigType::Long,
        "60000",
        Validator::AtLeast(0),
        &[same("log.segment.delete.delay.ms")],
        "The time to wait before deleting a file from the filesystem",
    ),
    topic(
        "flush.messages",
        ConfigType::Long,
        "1",
        Validator::AtLeast(1),
        &[same("log.flush.interval.messages")],
        "This setting allows specifying an interval at which we will force an fsync of data \
         written to the log. For example if this was set to 1 we would fsync after every \
         message; if it were 5 we would fsync after every five messages. Myelin defaults to 1 \
         and group-commits the fsyncs of concurrent appends, so an acknowledged record is on \
         disk.",
    ),
    topic(
        "flush.ms",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(0),
        &[same("log.flush.interval.ms")],
        "This setting allows specifying a time interval at which we will force an fsync of data \
         written to the log. For example if this was set to 1000 we would fsync after 1000 ms \
         had passed.",
    ),
    topic(
        "follower.replication.throttled.replicas",
        ConfigType::List,
        "",
        Validator::ThrottledReplicas,
        &[],
        "A list of replicas for which log replication should be throttled on the follower side. \
         The list should describe a set of replicas in the form \
         [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard \
         '*' can be used to throttle all replicas for this topic.",
    ),
    topic(
        "index.interval.bytes",
        ConfigType::Int,
        "4096",
        Validator::AtLeast(0),
        &[same("log.index.interval.bytes")],
        "This setting controls how frequently Kafka adds an index entry to its offset index. The \
         default setting ensures that we index a message roughly every 4096 bytes. More indexing \
         allows reads to jump closer to the exact position in the log but makes the index \
         larger. You probably don't need to change this.",
    ),
    topic(
        "leader.replication.throttled.replicas",
        ConfigType::List,
        "",
        Validator::ThrottledReplicas,
        &[],
        "A list of replicas for which log replication should be throttled on the leader side. \
         The list should describe a set of replicas in the form \
         [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard \
         '*' can be used to throttle all replicas for this topic.",
    ),
    topic(
        "local.retention.bytes",
        ConfigType::Long,
        "-2",
        Validator::AtLeast(-2),
        &[same("log.local.retention.bytes")],
        "The maximum size of local log segments that can grow for a partition before it deletes \
         the old segments. Default value is -2, it represents `retention.bytes` value to be \
         used. The effective value should always be less than or equal to `retention.bytes` \
         value.",
    ),
    topic(
        "local.retention.ms",
        ConfigType::Long,
        "-2",
        Validator::AtLeast(-2),
        &[same("log.local.retention.ms")],
        "The number of milliseconds to keep the local log segment before it gets deleted. \
         Default value is -2, it represents `retention.ms` value is to be used. The effective \
         value should always be less than or equal to `retention.ms` value.",
    ),
    topic(
        "max.compaction.lag.ms",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(1),
        &[same("log.cleaner.max.compaction.lag.ms")],
        "The maximum time a message will remain ineligible for compaction in the log. Only \
         applicable for logs that are being compacted.",
    ),
    topic(
        "max.message.bytes",
        ConfigType::Int,
        "1048588",
        Validator::AtLeast(0),
        &[same("message.max.bytes")],
        "The largest record batch size allowed by Kafka (after compression if compression is \
         enabled). If this is increased and there are consumers older than 0.10.2, the \
         consumers' fetch size must also be increased so that they can fetch record batches \
         this large. In the latest message format version, records are always grouped into \
         batches for efficiency. In previous message format versions, uncompressed records are \
         not grouped into batches and this limit only applies to a single record in that case.",
    ),
    topic(
        "message.downconversion.enable",
        ConfigType::Boolean,
        "true",
        Validator::None,
        &[same("log.message.downconversion.enable")],
        "This configuration controls whether down-conversion of message formats is enabled to \
         satisfy consume requests. When set to false, broker will not perform down-conversion \
         for consumers expecting an older message format. The broker responds with \
         UNSUPPORTED_VERSION error for consume requests from such older clients. This \
         configuration does not apply to any message format conversion that might be required \
         for replication to followers.",
    ),
    topic(
        "message.format.version",
        ConfigType::String,
        "3.0-IV1",
        Validator::None,
        &[same("log.message.format.version")],
        "[DEPRECATED] Specify the message format version the broker will use to append messages \
         to the logs. The value of this config is always assumed to be `3.0` if \
         `inter.broker.protocol.version` is 3.0 or higher (the actual config value is ignored).",
    ),
    topic(
        "message.timestamp.after.max.ms",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(0),
        &[same("log.message.timestamp.after.max.ms")],
        "This configuration sets the allowable timestamp difference between the message \
         timestamp and the broker's timestamp. The message timestamp can be later than or equal \
         to the broker's timestamp, with the maximum allowable difference determined by the \
         value set in this configuration. If message.timestamp.type=CreateTime, the message \
         will be rejected if the difference in timestamps exceeds this specified threshold. \
         This configuration is ignored if message.timestamp.type=LogAppendTime.",
    ),
    topic(
        "message.timestamp.before.max.ms",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(0),
        &[same("log.message.timestamp.before.max.ms")],
        "This configuration sets the allowable timestamp difference between the broker's \
         timestamp and the message timestamp. The message timestamp can be earlier than or \
         equal to the broker's timestamp, with the maximum allowable difference determined by \
         the value set in this configuration. If message.timestamp.type=CreateTime, the message \
         will be rejected if the difference in timestamps exceeds this specified threshold. \
         This configuration is ignored if message.timestamp.type=LogAppendTime.",
    ),
    topic(
        "message.timestamp.difference.max.ms",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(0),
        &[same("log.message.timestamp.difference.max.ms")],
        "[DEPRECATED] The maximum difference allowed between the timestamp when a broker \
         receives a message and the timestamp specified in the message. If \
         message.timestamp.type=CreateTime, a message will be rejected if the difference in \
         timestamp exceeds this threshold. This configuration is ignored if \
         message.timestamp.type=LogAppendTime.",
    ),
    topic(
        "message.timestamp.type",
        ConfigType::String,
        "CreateTime",
        Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        &[same("log.message.timestamp.type")],
        "Define whether the timestamp in the message is message create time or log append time.",
    ),
    topic(
        "min.cleanable.dirty.ratio",
        ConfigType::Double,
        "0.5",
        Validator::Ratio,
        &[same("log.cleaner.min.cleanable.ratio")],
        "This configuration controls how frequently the log compactor will attempt to clean the \
         log (assuming log compaction is enabled). By default we will avoid cleaning a log where \
         more than 50% of the log has been compacted. This ratio bounds the maximum space wasted \
         in the log by duplicates (at 50% at most 50% of the log could be duplicates). A higher \
         ratio will mean fewer, more efficient cleanings but will mean more wasted space in the \
         log. If the max.compaction.lag.ms or the min.compaction.lag.ms configurations are also \
         specified, then the log compactor considers the log to be eligible for compaction as \
         soon as either: (i) the dirty ratio threshold has been met and the log has had dirty \
         (uncompacted) records for at least the min.compaction.lag.ms duration, or (ii) if the \
         log has had dirty (uncompacted) records for at most the max.compaction.lag.ms period.",
    ),
    topic(
        "min.compaction.lag.ms",
        ConfigType::Long,
        "0",
        Validator::AtLeast(0),
        &[same("log.cleaner.min.compaction.lag.ms")],
        "The minimum time a message will remain uncompacted in the log. Only applicable for logs \
         that are being compacted.",
    ),
    topic(
        "min.insync.replicas",
        ConfigType::Int,
        "1",
        Validator::AtLeast(1),
        &[same("min.insync.replicas")],
        "When a producer sets acks to \"all\" (or \"-1\"), this configuration specifies the \
         minimum number of replicas that must acknowledge a write for the write to be \
         considered successful. If this minimum cannot be met, then the producer will raise an \
         exception (either NotEnoughReplicas or NotEnoughReplicasAfterAppend). When used \
         together, min.insync.replicas and acks allow you to enforce greater durability \
         guarantees. A typical scenario would be to create a topic with a replication factor of \
         3, set min.insync.replicas to 2, and produce with acks of \"all\". This will ensure \
         that the producer raises an exception if a majority of replicas do not receive a \
         write.",
    ),
    topic(
        "preallocate",
        ConfigType::Boolean,
        "false",
        Validator::None,
        &[same("log.preallocate")],
        "True if we should preallocate the file on disk when creating a new log segment.",
    ),
    topic(
        "remote.log.copy.disable",
        ConfigType::Boolean,
        "false",
        Validator::None,
        &[],
        "Determines whether tiered data for a topic should become read only, and no more data \
         uploading on a topic. Once this config is set to true, the local retention \
         configuration (i.e. local.retention.ms/bytes) becomes irrelevant, and all data \
         expiration follows the topic-wide retention configuration(i.e. \
         retention.ms/bytes).",
    ),
    topic(
        "remote.log.delete.on.disable",
        ConfigType::Boolean,
        "false",
        Validator::None,
        &[],
        "Determines whether tiered data for a topic should be deleted after tiered storage is \
         disabled on a topic. This configuration should be enabled when trying to set \
         `remote.storage.enable` from true to false",
    ),
    topic(
        "remote.storage.enable",
        ConfigType::Boolean,
        "false",
        Validator::FalseOnly(
            "Myelin has no tiered storage (remote.log.storage.system.enable is false)",
        ),
        &[],
        "To enable tiered storage for a topic, set this configuration as true. You can not \
         disable this config once it is enabled. It will be provided in future versions.",
    ),
    topic(
        "retention.bytes",
        ConfigType::Long,
        "-1",
        Validator::None,
        &[same("log.retention.bytes")],
        "This configuration controls the maximum size a partition (which consists of log \
         segments) can grow to before we will discard old log segments to free up space if we \
         are using the \"delete\" retention policy. By default there is no size limit only a \
         time limit. Since this limit is enforced at the partition level, multiply it by the \
         number of partitions to compute the topic retention in bytes.",
    ),
    topic(
        "retention.ms",
        ConfigType::Long,
        "604800000",
        Validator::AtLeast(-1),
        &[
            same("log.retention.ms"),
            Synonym::scaled("log.retention.minutes", 60_000),
            Synonym::scaled("log.retention.hours", 3_600_000),
        ],
        "This configuration controls the maximum time we will retain a log before we will \
         discard old log segments to free up space if we are using the \"delete\" retention \
         policy. This represents an SLA on how soon consumers must read their data. If set to \
         -1, no time limit is applied.",
    ),
    topic(
        "segment.bytes",
        ConfigType::Int,
        "1073741824",
        Validator::AtLeast(14),
        &[same("log.segment.bytes")],
        "This configuration controls the segment file size for the log. Retention and cleaning \
         is always done a file at a time so a larger segment size means fewer files but less \
         granular control over retention.",
    ),
    topic(
        "segment.index.bytes",
        ConfigType::Int,
        "10485760",
        Validator::AtLeast(4),
        &[same("log.index.size.max.bytes")],
        "This configuration controls the size of the index that maps offsets to file positions. \
         We preallocate this index file and shrink it only after log rolls. You generally should \
         not need to change this setting.",
    ),
    topic(
        "segment.jitter.ms",
        ConfigType::Long,
        "0",
        Validator::AtLeast(0),
        &[
            same("log.roll.jitter.ms"),
            Synonym::scaled("log.roll.jitter.hours", 3_600_000),
        ],
        "The maximum random jitter subtracted from the scheduled segment roll time to avoid \
         thundering herds of segment rolling",
    ),
    topic(
        "segment.ms",
        ConfigType::Long,
        "604800000",
        Validator::AtLeast(1),
        &[
            same("log.roll.ms"),
            Synonym::scaled("log.roll.hours", 3_600_000),
        ],
        "This configuration controls the period of time after which Kafka will force the log to \
         roll even if the segment file isn't full to ensure that retention can delete or compact \
         old data.",
    ),
    topic(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "false",
        Validator::None,
        &[same("unclean.leader.election.enable")],
        "Indicates whether to enable replicas not in the ISR set to be elected as leader as a \
         last resort, even though doing so may result in data loss.",
    ),
];
