//! InitProducerId over real TCP: idempotent producers get fresh ids, never reused across a
//! restart; transactional ids wait for the transaction coordinator.

mod common;

use common::TestServer;
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_server::Config;

#[tokio::test]
async fn idempotent_producers_get_distinct_ids_in_every_version() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let mut ids = Vec::new();
    for version in 0..=5i16 {
        let mut request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        if version >= 3 {
            // KIP-360: a producer may name its current id and epoch; without a
            // transactional id it still gets a fresh id.
            request.producer_id = ProducerId(-1);
            request.producer_epoch = -1;
        }
        let r: InitProducerIdResponse =
            client.call(ApiKey::InitProducerId, version, &request).await;
        assert_eq!(r.error_code, 0, "v{version}");
        assert_eq!(r.producer_epoch, 0, "v{version}");
        assert!(r.producer_id.0 >= 0);
        ids.push(r.producer_id.0);
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");

    let r: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))))
                .with_transaction_timeout_ms(60_000),
        )
        .await;
    assert_eq!(r.error_code, ResponseError::CoordinatorNotAvailable.code());
    assert_eq!((r.producer_id.0, r.producer_epoch), (-1, -1));
    // An empty transactional id is malformed.
    let r: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str(""))))
                .with_transaction_timeout_ms(60_000),
        )
        .await;
    assert_eq!(r.error_code, ResponseError::InvalidRequest.code());
    server.stop().await;
}

#[tokio::test]
async fn ids_are_not_reused_after_a_restart() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let r: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default().with_transactional_id(None),
        )
        .await;
    assert_eq!(r.error_code, 0);
    let first_id = r.producer_id.0;
    drop(client);
    let server = server.restart(Config::default()).await;
    let mut client = server.connect().await;
    let r: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default().with_transactional_id(None),
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert!(
        r.producer_id.0 > first_id,
        "{} was handed out after {first_id}",
        r.producer_id.0
    );
    drop(client);
    server.stop().await;
}
