//! An in-process broker on 127.0.0.1:0 and a minimal Kafka client over a real TCP socket.

#![allow(dead_code)]

pub mod authz;
pub mod data;
pub mod groups;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use myelin_cluster::{FileMetadataStore, MetadataStore, PartitionManager};
use myelin_log::{LogConfig, LogManager, ManagerConfig};
use myelin_server::{Config, ServerContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; dropping it without `stop` leaves the task to the runtime's end.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metadata: Arc<dyn MetadataStore>,
    /// The partitions and their logs (tests append through them directly).
    pub partitions: Arc<PartitionManager>,
    /// The server's shared state, for tests that call server functions directly.
    pub context: Arc<ServerContext>,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = FileMetadataStore::open(dir.path()).unwrap();
        Self::start_with(config, Arc::new(store), dir).await
    }

    pub async fn start_with(
        config: Config,
        metadata: Arc<dyn MetadataStore>,
        dir: tempfile::TempDir,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mgr_config = ManagerConfig {
            background_threads: false,
            ..ManagerConfig::new(dir.path().join("logs"))
        };
        let (logs, _) = LogManager::open(mgr_config, &|_| LogConfig::default()).unwrap();
        let partitions =
            Arc::new(PartitionManager::open(logs, metadata.clone(), LogConfig::default()).unwrap());
        let ctx = ServerContext::new(config, partitions.clone()).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let context = ctx.clone();
        let task = tokio::spawn(myelin_server::run(listener, ctx, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            metadata,
            partitions,
            context,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    pub async fn connect(&self) -> Client {
        Client {
            stream: TcpStream::connect(self.addr).await.unwrap(),
        }
    }

    /// The directory holding the metadata log and, under `logs/`, the partition logs.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        bounded(&mut self.task).await.unwrap();
    }

    /// Stops the server and starts a new one with `config` over the same directory: the
    /// metadata log and the partition logs, as a broker restarted on its data directory. For
    /// servers built by [`TestServer::start`] (whose metadata log is in that directory).
    /// Close the clients first: shutdown waits for every connection to end.
    pub async fn restart(self, config: Config) -> Self {
        let TestServer {
            stop,
            task,
            _dir: dir,
            metadata,
            partitions,
            context,
            ..
        } = self;
        let _ = stop.unwrap().send(());
        bounded(task).await.unwrap();
        // The old logs must be closed (their directory lock released) before reopening.
        drop((metadata, partitions, context));
        let (store, _) = FileMetadataStore::open(dir.path()).unwrap();
        Self::start_with(config, Arc::new(store), dir).await
    }
}

/// Fails a test that would otherwise hang; never part of what is asserted.
pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("the server did not answer within 20 s")
}

pub struct Client {
    pub stream: TcpStream,
}

/// A request frame: size, header at the version the API's schema names, body.
pub fn request_frame<R: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("myelin-tests")));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, api_key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.freeze()
}

impl Client {
    pub async fn send<R: Encodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
        body: &R,
    ) {
        let frame = request_frame(api_key, version, correlation_id, body);
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Sends `body` and reads its response (header and body at `version`).
    pub async fn call<R: Encodable, S: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &R,
    ) -> S {
        self.send(api_key, version, 77, body).await;
        let (correlation_id, response) = self
            .read(api_key.response_header_version(version), version)
            .await;
        assert_eq!(correlation_id, 77);
        response
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one response frame (without its size).
    pub async fn read_frame(&mut self) -> Bytes {
        bounded(async {
            let size = self.stream.read_i32().await.unwrap();
            let mut body = vec![0; size as usize];
            self.stream.read_exact(&mut body).await.unwrap();
            Bytes::from(body)
        })
        .await
    }

    /// Reads a response: header at `header_version`, body at `version`; the whole frame
    /// must be consumed.
    pub async fn read<R: Decodable>(&mut self, header_version: i16, version: i16) -> (i32, R) {
        let mut frame = self.read_frame().await;
        decode_response(&mut frame, header_version, version)
    }

    /// Asserts that the server closes the connection (EOF or reset), reading and
    /// discarding anything it sent first.
    pub async fn expect_closed(&mut self) {
        bounded(async {
            let mut buf = [0u8; 1024];
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) => return,
                    Ok(_) => continue,
                    Err(e) => {
                        assert!(
                            matches!(
                                e.kind(),
                                std::io::ErrorKind::ConnectionReset
                                    | std::io::ErrorKind::BrokenPipe
                            ),
                            "{e}"
                        );
                        return;
                    }
                }
            }
        })
        .await
    }
}

pub fn decode_response<R: Decodable>(
    frame: &mut Bytes,
    header_version: i16,
    version: i16,
) -> (i32, R) {
    let header = ResponseHeader::decode(frame, header_version).unwrap();
    let body = R::decode(frame, version).unwrap();
    assert!(
        !frame.has_remaining(),
        "{} bytes left after the response body",
        frame.remaining()
    );
    (header.correlation_id, body)
}
