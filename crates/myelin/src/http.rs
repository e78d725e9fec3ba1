//! The HTTP endpoint for operators: `/metrics` (Prometheus text), `/healthz` (the process
//! is up) and `/readyz` (storage is open and the Kafka listener is bound).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::metrics::BrokerMetrics;

/// What the handlers read.
#[derive(Debug, Clone)]
pub(crate) struct HttpState {
    pub metrics: Arc<BrokerMetrics>,
    /// Set once the broker serves Kafka requests; cleared when it starts shutting down.
    pub ready: Arc<AtomicBool>,
}

/// A running HTTP server.
#[derive(Debug)]
pub(crate) struct HttpServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Serves the operator endpoints on `listener` until [`HttpServer::stop`].
    pub fn spawn(listener: TcpListener, state: HttpState) -> Self {
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(state);
        Self::serve(listener, app)
    }

    /// Serves `app` on `listener` until [`HttpServer::stop`]; handlers may extract the
    /// client's address (`ConnectInfo<SocketAddr>`).
    pub fn serve(listener: TcpListener, app: Router) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "HTTP server failed");
            }
        });
        Self { stop, task }
    }

    /// Stops accepting, finishes the requests being answered (for at most 5 s), and
    /// returns.
    pub async fn stop(mut self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    // Reading partition state takes locks but no I/O: fine on the runtime.
    let text = state.metrics.render();
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
