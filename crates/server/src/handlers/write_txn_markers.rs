//! WriteTxnMarkers (key 27), v1: writes COMMIT or ABORT markers for a producer to the
//! partitions named. In a Kafka cluster the transaction coordinator sends it to the
//! partition leaders; Myelin's coordinator writes its markers itself, so the request comes
//! from `Admin.abortTransaction` and `kafka-transactions.sh abort` (KIP-664): the remedy for
//! a hanging transaction, one whose partition holds an open transaction the coordinator
//! does not know, which holds back the last stable offset and every read_committed
//! consumer.
//!
//! As Kafka's `KafkaApis.handleWriteTxnMarkersRequest` answers it: CLUSTER_ACTION on the
//! cluster, else CLUSTER_AUTHORIZATION_FAILED for every partition; per partition,
//! UNKNOWN_TOPIC_OR_PARTITION for one that does not exist, the log's refusal for a marker
//! of an older producer epoch (INVALID_PRODUCER_EPOCH) or coordinator epoch
//! (TRANSACTION_COORDINATOR_FENCED), else 0 once the marker is durable. Markers for
//! `__consumer_offsets` partitions also apply or drop the producer's pending offsets.

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{ApiKey, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::ResponseError;
use myelin_coord::offsets::TopicPartition;
use myelin_coord::txn_service::MarkerOutcome;

use crate::apis::{Handler, Reply};
use crate::authz::Operation;
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{log_error_code, HandlerError};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[all(Ty::Structs(&[
    all(Ty::Int64), // producer_id
    all(Ty::Int16), // producer_epoch
    all(Ty::Bool),  // transaction_result
    all(Ty::Structs(&[
        all(Ty::Str),    // name
        all(Ty::Int32s), // partition_indexes
    ])),
    all(Ty::Int32), // coordinator_epoch
]))];

/// The WriteTxnMarkers handler.
#[derive(Debug)]
pub struct WriteTxnMarkers;

impl Handler for WriteTxnMarkers {
    type Request = WriteTxnMarkersRequest;
    type Response = WriteTxnMarkersResponse;
    const KEY: ApiKey = ApiKey::WriteTxnMarkers;
    const NAME: &'static str = "WriteTxnMarkers";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: WriteTxnMarkersRequest,
    ) -> Result<Reply<WriteTxnMarkersResponse>, HandlerError> {
        let allowed = ctx.authz().allows_cluster(Operation::ClusterAction);
        let mut markers = Vec::with_capacity(request.markers.len());
        for marker in &request.markers {
            let partitions: Vec<TopicPartition> = marker
                .topics
                .iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|p| TopicPartition::new(t.name.as_str(), *p))
                })
                .collect();
            let codes: Vec<i16> = if allowed {
                ctx.server
                    .txns
                    .write_admin_markers(
                        marker.producer_id.0,
                        marker.producer_epoch,
                        marker.transaction_result,
                        marker.coordinator_epoch,
                        &partitions,
                    )
                    .await
                    .iter()
                    .map(|outcome| match outcome {
                        MarkerOutcome::Written => 0,
                        MarkerOutcome::UnknownTopicOrPartition => {
                            ResponseError::UnknownTopicOrPartition.code()
                        }
                        MarkerOutcome::Refused(e) => log_error_code(e).code(),
                        MarkerOutcome::Failed(_) => ResponseError::UnknownServerError.code(),
                    })
                    .collect()
            } else {
                vec![ResponseError::ClusterAuthorizationFailed.code(); partitions.len()]
            };
            let mut codes = codes.into_iter();
            let topics = marker
                .topics
                .iter()
                .map(|t| {
                    WritableTxnMarkerTopicResult::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partition_indexes
                                .iter()
                                .map(|p| {
                                    WritableTxnMarkerPartitionResult::default()
                                        .with_partition_index(*p)
                                        .with_error_code(codes.next().unwrap_or_default())
                                })
                                .collect(),
                        )
                })
                .collect();
            markers.push(
                WritableTxnMarkerResult::default()
                    .with_producer_id(marker.producer_id)
                    .with_topics(topics),
            );
        }
        Ok(Reply::Ready(
            WriteTxnMarkersResponse::default().with_markers(markers),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v1 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 1)
    }
}
