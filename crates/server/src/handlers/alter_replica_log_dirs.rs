//! AlterReplicaLogDirs (key 34), v1-2 (KIP-113): move replicas between this broker's log
//! directories. Myelin has one data directory, so the only move is to where a replica
//! already is, which Kafka answers as a no-op success.
//!
//! Per partition, as Kafka's `ReplicaManager.alterReplicaLogDirs` answers:
//! - a path other than the data directory's absolute path (as DescribeLogDirs shows it):
//!   LOG_DIR_NOT_FOUND (57);
//! - the data directory gone or read-only, or the partition's log offline:
//!   KAFKA_STORAGE_ERROR (56);
//! - a partition this broker does not host: REPLICA_NOT_AVAILABLE (9);
//! - otherwise success.
//!
//! Authorization: CLUSTER ALTER, else every partition CLUSTER_AUTHORIZATION_FAILED, as
//! Kafka answers.

use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, ApiKey};
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::Operation;
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[all(Ty::Structs(&[
    all(Ty::Str), // path
    all(Ty::Structs(&[
        all(Ty::Str),    // name
        all(Ty::Int32s), // partitions
    ])),
]))];

/// The AlterReplicaLogDirs handler.
#[derive(Debug)]
pub struct AlterReplicaLogDirs;

impl Handler for AlterReplicaLogDirs {
    type Request = AlterReplicaLogDirsRequest;
    type Response = AlterReplicaLogDirsResponse;
    const KEY: ApiKey = ApiKey::AlterReplicaLogDirs;
    const NAME: &'static str = "AlterReplicaLogDirs";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: AlterReplicaLogDirsRequest,
    ) -> Result<Reply<AlterReplicaLogDirsResponse>, HandlerError> {
        let logs = ctx.server.partitions.logs();
        let dir = logs.data_dir();
        let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let online = myelin_log::space::stat(dir).is_ok_and(|s| !s.read_only);
        let authorized = ctx.authz().allows_cluster(Operation::Alter);
        let mut results: Vec<AlterReplicaLogDirTopicResult> = Vec::new();
        for target in &request.dirs {
            let known_dir = std::path::Path::new(target.path.as_str()) == shown;
            for t in &target.topics {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|&p| {
                        let error = if !authorized {
                            ResponseError::ClusterAuthorizationFailed.code()
                        } else if !known_dir {
                            ResponseError::LogDirNotFound.code()
                        } else if !online {
                            ResponseError::KafkaStorageError.code()
                        } else {
                            match ctx.server.partitions.get(t.name.as_str(), p) {
                                None => ResponseError::ReplicaNotAvailable.code(),
                                Some(partition) if partition.log.is_offline() => {
                                    ResponseError::KafkaStorageError.code()
                                }
                                Some(_) => 0,
                            }
                        };
                        AlterReplicaLogDirPartitionResult::default()
                            .with_partition_index(p)
                            .with_error_code(error)
                    })
                    .collect();
                results.push(
                    AlterReplicaLogDirTopicResult::default()
                        .with_topic_name(t.name.clone())
                        .with_partitions(partitions),
                );
            }
        }
        Ok(Reply::Ready(
            AlterReplicaLogDirsResponse::default().with_results(results),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v2 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 2)
    }
}
