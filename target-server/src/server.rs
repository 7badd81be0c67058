//! The listening server: accept loop, per-connection HTTP/1.1 serving, and
//! its lifecycle on a caller's runtime or on a dedicated background thread.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::fault;
use crate::routes::{self, AppState};
use crate::stats::Stats;
use crate::tls;

/// Drops clients that connect but never finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Drops clients that start a request but never finish its headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How a [`TargetServer`] serves.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Serve HTTPS with a self-signed certificate generated at start.
    pub tls: bool,
}

/// A running target server. Dropping it (or [`TargetServer::shutdown`]) stops
/// accepting and closes every connection.
#[derive(Debug)]
pub struct TargetServer {
    addr: SocketAddr,
    fault_addr: SocketAddr,
    ca_pem: Option<String>,
    state: Arc<AppState>,
    accept_loop: AbortHandle,
    fault_loop: AbortHandle,
    /// Set when the server owns its runtime (see [`spawn_in_thread`]).
    runtime_thread: Option<RuntimeThread>,
}

#[derive(Debug)]
struct RuntimeThread {
    /// Dropping this lets the thread leave `block_on` and drop its runtime.
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl TargetServer {
    /// Binds `addr` (e.g. `127.0.0.1:0`), spawns the accept loop on the
    /// current tokio runtime and returns at once.
    ///
    /// Fails for non-loopback addresses: this project never serves traffic
    /// beyond the local machine.
    pub async fn start(addr: SocketAddr, opts: ServerOptions) -> anyhow::Result<TargetServer> {
        ensure_loopback(addr)?;
        let tls = opts.tls.then(tls::self_signed).transpose()?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr().context("reading bound address")?;
        let state = Arc::new(AppState::default());
        let acceptor = tls.as_ref().map(|tls| tls.acceptor.clone());
        let main_loop = tokio::spawn(accept_loop(listener, Arc::clone(&state), move |s, st| {
            serve_connection(s, acceptor.clone(), st)
        }));
        // The fault listener shares the address (another port) and the stats.
        let fault_listener = TcpListener::bind(SocketAddr::new(addr.ip(), 0))
            .await
            .context("binding the fault listener")?;
        let fault_addr = fault_listener
            .local_addr()
            .context("reading the fault listener's address")?;
        let fault_loop = tokio::spawn(accept_loop(
            fault_listener,
            Arc::clone(&state),
            fault::serve,
        ));
        Ok(TargetServer {
            addr,
            fault_addr,
            ca_pem: tls.map(|tls| tls.cert_pem),
            state,
            accept_loop: main_loop.abort_handle(),
            fault_loop: fault_loop.abort_handle(),
            runtime_thread: None,
        })
    }

    /// The address actually bound (with the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS, since
    /// the certificate names `localhost`.
    pub fn base_url(&self) -> String {
        if self.ca_pem.is_some() {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// `http://127.0.0.1:PORT` of the fault listener (always plain HTTP):
    /// the `/fault/...` routes of [faults](crate#faults).
    pub fn fault_base_url(&self) -> String {
        format!("http://{}", self.fault_addr)
    }

    /// The fault listener's address.
    pub fn fault_addr(&self) -> SocketAddr {
        self.fault_addr
    }

    /// PEM of the self-signed certificate (when serving TLS), for clients to trust.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// Stalls the server: every request arriving during the next `window`
    /// is held for `delay` before it is answered.
    pub fn stall(&self, window: std::time::Duration, delay: std::time::Duration) {
        self.state
            .stall
            .set(std::time::Instant::now() + window, delay);
    }

    /// Request and connection counts so far.
    pub fn stats(&self) -> Stats {
        self.state.stats.snapshot()
    }

    /// Stops accepting and closes connections. When the server runs on its
    /// own thread, returns only once that runtime has stopped.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for TargetServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops the listener and its `JoinSet`,
        // which aborts every connection task.
        self.accept_loop.abort();
        self.fault_loop.abort();
        if let Some(RuntimeThread { stop, thread }) = self.runtime_thread.take() {
            drop(stop);
            // The thread only waits for `stop`, so this returns promptly; a
            // panic there has already been reported on stderr.
            let _ = thread.join();
        }
    }
}

/// Starts a server on a dedicated tokio runtime in a background thread, for
/// callers without a runtime. Returns once listening; the runtime stops when
/// the server is shut down or dropped.
pub fn spawn_in_thread(addr: SocketAddr, opts: ServerOptions) -> anyhow::Result<TargetServer> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("wasm-slo-target".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("wasm-slo-target-worker")
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = ready_tx.send(Err(anyhow::Error::new(err).context("building runtime")));
                    return;
                }
            };
            runtime.block_on(async move {
                let started = TargetServer::start(addr, opts).await;
                let listening = started.is_ok();
                if ready_tx.send(started).is_ok() && listening {
                    // Either a send or the sender's drop means stop.
                    let _ = stop_rx.await;
                }
            });
        })
        .context("spawning server thread")?;
    let mut server = ready_rx
        .recv()
        .context("server thread exited before listening")??;
    server.runtime_thread = Some(RuntimeThread {
        stop: stop_tx,
        thread,
    });
    Ok(server)
}

fn ensure_loopback(addr: SocketAddr) -> anyhow::Result<()> {
    anyhow::ensure!(
        addr.ip().is_loopback(),
        "refusing to listen on {addr}: only loopback addresses (127.0.0.0/8, ::1) are allowed"
    );
    Ok(())
}

/// Accepts connections until aborted, counting each and serving it with `serve`.
async fn accept_loop<F, Fut>(listener: TcpListener, state: Arc<AppState>, serve: F)
where
    F: Fn(TcpStream, Arc<AppState>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Owning the connection tasks here ties their lifetime to this loop's.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    state.stats.record_connection();
                    connections.spawn(serve(stream, Arc::clone(&state)));
                }
                // Typically out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reap finished connections so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, acceptor: Option<TlsAcceptor>, state: Arc<AppState>) {
    // Small responses on keep-alive connections must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    match acceptor {
        None => serve_http(TokioIo::new(stream), state).await,
        Some(acceptor) => {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
            {
                serve_http(TokioIo::new(stream), state).await;
            }
        }
    }
}

async fn serve_http<I>(io: I, state: Arc<AppState>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(routes::handle(&state, req).await) }
    });
    // Errors here are clients hanging up or sending garbage; hyper has
    // already answered what it could, and there is nobody else to tell.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}
