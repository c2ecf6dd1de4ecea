//! The Prometheus sink: `GET /metrics` renders the registry in the text exposition format.
//! Binds 127.0.0.1 by default; anything else is the user's explicit choice.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use ha_monitor::exposition;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::HapulseError;
use crate::monitor::Monitor;

/// A running metrics endpoint; dropping it stops serving.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MetricsServer {
    /// Listens on `addr` (port 0 = any free port) and serves `/metrics` from `monitor`.
    pub async fn start(addr: SocketAddr, monitor: Arc<Monitor>) -> Result<Self, HapulseError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| HapulseError::Listen { addr, source })?;
        let addr = listener.local_addr().map_err(|source| HapulseError::Listen { addr, source })?;
        let app = Router::new().route("/metrics", get(metrics)).with_state(monitor);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
        Ok(Self { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn metrics(State(monitor): State<Arc<Monitor>>) -> impl IntoResponse {
    let text = exposition::render(&monitor.registry.snapshot(monitor.now()));
    ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], text)
}
