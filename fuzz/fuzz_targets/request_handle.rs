//! Arbitrary request frames (after the size prefix) routed and served as a connection does:
//! `myelin_server::apis::route` (header, version gate, out-of-range answers, body decode)
//! and then the handler, against one in-process broker (a real `ServerContext` over a
//! metadata store and logs in `/dev/shm/myelin-fuzz-request-handle-<pid>`) that lives across inputs, so what one
//! input creates (topics, groups, producer ids) the next one finds. Nothing may panic; the
//! response is whatever the handler answers. Time is paused and auto-advances, so long
//! polls and timeouts end at once; a handler still waiting after its timeout is dropped.
#![no_main]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use myelin_cluster::{FileMetadataStore, MetadataStore, PartitionManager};
use myelin_log::{LogConfig, LogManager, ManagerConfig};
use myelin_server::apis::{route, Reply, Route};
use myelin_server::{Config, ServerContext};
use tokio::runtime::Runtime;

struct Broker {
    rt: Runtime,
    ctx: Arc<ServerContext>,
}

/// The broker's data directory. libFuzzer ends the process with `exit`, which drops no
/// static: each process names its directory after its pid and removes those of processes
/// that are gone.
fn data_dir() -> PathBuf {
    const PREFIX: &str = "myelin-fuzz-request-handle-";
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(PREFIX) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    let dir = parent.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| {
        let dir = data_dir();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let ctx = rt.block_on(async {
            let (store, _) = FileMetadataStore::open(&dir).unwrap();
            let store: Arc<dyn MetadataStore> = Arc::new(store);
            let mgr_config = ManagerConfig {
                background_threads: false,
                ..ManagerConfig::new(dir.join("logs"))
            };
            let (logs, _) = LogManager::open(mgr_config, &|_| LogConfig::default()).unwrap();
            let partitions =
                Arc::new(PartitionManager::open(logs, store, LogConfig::default()).unwrap());
            ServerContext::new(Config::default(), partitions).unwrap()
        });
        Broker { rt, ctx }
    })
}

fuzz_target!(|data: &[u8]| {
    let broker = broker();
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let frame = bytes::Bytes::copy_from_slice(data);
    broker.rt.block_on(async {
        // An Err is what a connection answers by closing.
        // A PLAINTEXT listener's session: every API is reachable.
        let session = Arc::new(myelin_server::sasl::Session::new(false));
        let Ok(route) = route(&broker.ctx, frame, peer, 1, &session) else {
            return;
        };
        let Route::Call(handled) = route else {
            return;
        };
        let served = async {
            match handled.await {
                Ok(Reply::Later(later)) => {
                    let _ = later.0.await;
                }
                Ok(Reply::Ready(_)) | Err(_) => {}
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(600), served).await;
    });
});
