//! `--metrics-listen ADDR`: an HTTP endpoint serving the latest OpenMetrics
//! text for Prometheus (and so Grafana) to scrape while the run goes on.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::openmetrics;
use crate::exit::bad_input;

/// The text served, replaced once per interval.
#[derive(Clone)]
pub struct Published(Arc<Mutex<Bytes>>);

impl Published {
    /// Replaces the served text.
    pub fn set(&self, text: String) {
        if let Ok(mut b) = self.0.lock() {
            *b = Bytes::from(text);
        }
    }

    fn get(&self) -> Bytes {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// The running endpoint; stops when dropped.
pub struct MetricsServer {
    /// Where it listens (the port is known even when 0 was asked for).
    pub addr: SocketAddr,
    published: Published,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` and serves `GET /metrics` (and `/`) on the current
    /// tokio runtime.
    pub async fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            bad_input(format!(
                "--metrics-listen {addr}: cannot listen there: {e}; pick a free port or another address"
            ))
        })?;
        let addr = listener.local_addr()?;
        let published = Published(Arc::new(Mutex::new(Bytes::from(openmetrics::render(
            &Default::default(),
            0.0,
        )))));
        let served = published.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of descriptors, say: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let served = served.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| respond(req, served.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(MetricsServer {
            addr,
            published,
            task,
        })
    }

    /// The handle the live outputs update.
    pub fn published(&self) -> Published {
        self.published.clone()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn respond(
    req: Request<Incoming>,
    published: Published,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics" | "/") => {
            *resp.body_mut() = Full::new(published.get());
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(openmetrics::CONTENT_TYPE),
            );
        }
        _ => {
            *resp.status_mut() = StatusCode::NOT_FOUND;
            *resp.body_mut() = Full::new(Bytes::from_static(b"try GET /metrics\n"));
        }
    }
    Ok(resp)
}
