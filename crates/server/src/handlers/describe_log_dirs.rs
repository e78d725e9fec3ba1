//! DescribeLogDirs (key 35), v1-4: the data directory and the size of each partition's log
//! in it, as Kafka's `ReplicaManager.describeLogDirs` reports them.
//!
//! Null `topics` means every partition; otherwise the listed partitions that exist (others
//! are left out, as Kafka does). Offset lag is 0 and `is_future_key` false: there are no
//! future logs (replica moves between directories). v3 adds a top-level error code
//! (KIP-784), v4 the directory's total and usable bytes (KIP-827), from statvfs. A data
//! directory that is gone or read-only answers KAFKA_STORAGE_ERROR (56) with no
//! partitions, as Kafka does for an offline log directory.
//!
//! Authorization: CLUSTER DESCRIBE, else no results and (v3+) the top-level error
//! CLUSTER_AUTHORIZATION_FAILED, as Kafka answers.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::Operation;
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[all(Ty::Structs(&[
    all(Ty::Str),    // topic
    all(Ty::Int32s), // partitions
]))];

/// The DescribeLogDirs handler.
#[derive(Debug)]
pub struct DescribeLogDirs;

impl Handler for DescribeLogDirs {
    type Request = DescribeLogDirsRequest;
    type Response = DescribeLogDirsResponse;
    const KEY: ApiKey = ApiKey::DescribeLogDirs;
    const NAME: &'static str = "DescribeLogDirs";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 4;

    async fn handle(
        ctx: RequestContext,
        request: DescribeLogDirsRequest,
    ) -> Result<Reply<DescribeLogDirsResponse>, HandlerError> {
        let version = ctx.api_version();
        if !ctx.authz().allows_cluster(Operation::Describe) {
            // error_code: v3+ (KIP-784); older clients just see no directory.
            return Ok(Reply::Ready(
                DescribeLogDirsResponse::default()
                    .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
            ));
        }
        let logs = ctx.server.partitions.logs();
        let wanted: Option<HashSet<(&str, i32)>> = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.as_str(), *p)))
                .collect()
        });
        let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
        for log in logs.logs() {
            let key = (log.topic(), log.partition());
            if wanted.as_ref().is_some_and(|w| !w.contains(&key)) {
                continue;
            }
            by_topic.entry(log.topic().to_string()).or_default().push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(log.partition())
                    .with_partition_size(i64::try_from(log.size_bytes()).unwrap_or(i64::MAX))
                    .with_offset_lag(0)
                    .with_is_future_key(false),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(name, mut partitions)| {
                partitions.sort_by_key(|p| p.partition_index);
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(partitions)
            })
            .collect();
        let dir = logs.data_dir();
        let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut result = DescribeLogDirsResult::default()
            .with_log_dir(StrBytes::from_string(shown.to_string_lossy().into_owned()))
            .with_topics(topics);
        // A directory gone, unreadable or read-only is offline: KAFKA_STORAGE_ERROR and no
        // partitions, as Kafka answers for a failed log directory.
        let usable = myelin_log::space::stat(dir).is_ok_and(|s| !s.read_only);
        if !usable {
            result.error_code = ResponseError::KafkaStorageError.code();
            result.topics = Vec::new();
        }
        // total_bytes, usable_bytes: v4+ (KIP-827).
        if version >= 4 {
            let (total, usable) = disk_space(dir).unwrap_or((-1, -1));
            result.total_bytes = total;
            result.usable_bytes = usable;
        }
        Ok(Reply::Ready(
            DescribeLogDirsResponse::default().with_results(vec![result]),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v2 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 2)
    }
}

/// The total and available bytes of the file system holding `dir`.
fn disk_space(dir: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs only writes into the zeroed struct we own, and reads the
    // NUL-terminated path, which lives until the call returns.
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        stat
    };
    let block = stat.f_frsize as u128;
    let clamp = |n: u128| i64::try_from(n).unwrap_or(i64::MAX);
    Some((
        clamp(stat.f_blocks as u128 * block),
        clamp(stat.f_bavail as u128 * block),
    ))
}
