//! The per-VU HTTP/1.1 client: each virtual user owns one [`VuHttpClient`]
//! with its own keep-alive connections (never shared between VUs, as in k6
//! and wrk), and every exchange is measured in k6's phases.
//!
//! It runs on a current-thread runtime inside a `LocalSet`, yet the client
//! and its futures are `Send` because they live in a wasmtime `Store`. The
//! hot path (a reused connection) takes no lock, resolves no name, and
//! allocates little beyond what hyper itself needs.
//!
//! HTTP/2 (negotiated through ALPN) is future work; only HTTP/1.1 is spoken.
//!
//! Modules: `connect` (dialing, error mapping), `resolve` (name lookup),
//! `lasting` (the `Host` and `User-Agent` values, made once per process),
//! `pool` (idle connections per origin), `timed_io` (byte counting and phase stamps at the IO layer),
//! `request` (URL and header preparation), `exchange` (one request with
//! timeout, retry and accounting), `tls` ([`tls_config`]).

mod connect;
mod exchange;
mod gate;
mod lasting;
mod pool;
mod request;
mod resolve;
mod timed_io;
mod tls;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::http::uri::PathAndQuery;
use tokio::time::Sleep;

use self::connect::{Conn, Failure};
use self::exchange::{Ctx, run};
use self::pool::Pools;
use self::request::{Origin, Prepared, path_after, split_url};

pub use self::gate::HostGate;
pub use self::tls::tls_config;

/// Settings shared by all VUs' clients.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub tls: Arc<rustls::ClientConfig>,
    /// For requests without their own timeout (60 s in the runner).
    pub default_timeout: Duration,
    /// Bounds the parallelism of [`VuHttpClient::batch`] per origin (6 like browsers).
    pub max_conns_per_origin: usize,
    /// Sent unless the request sets `user-agent`; empty sends none.
    pub user_agent: String,
    /// Hosts requests may go to (the sandbox's network rule).
    pub hosts: HostGate,
}

impl ClientConfig {
    /// Runner defaults: 60 s timeout, 6 connections per origin, every
    /// host allowed.
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        ClientConfig {
            tls,
            default_timeout: Duration::from_secs(60),
            max_conns_per_origin: 6,
            user_agent: format!("wasm-slo/{}", env!("CARGO_PKG_VERSION")),
            hosts: HostGate::open(),
        }
    }
}

/// A request to perform.
#[derive(Debug, Clone, Default)]
pub struct OutgoingRequest {
    pub method: Method,
    /// Absolute `http://` or `https://` URL; spaces and non-ASCII in the
    /// path or query are percent-encoded, a fragment is dropped, and
    /// `user:pass@` becomes basic authentication.
    pub url: String,
    /// Sent as given; `host`, `user-agent`, `authorization` and
    /// `content-length` set here replace the defaults.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Bounds the whole exchange (connect, TLS, send, receive); else
    /// [`ClientConfig::default_timeout`].
    pub timeout: Option<Duration>,
    /// Read and count the body but do not keep it.
    pub discard_body: bool,
}

impl OutgoingRequest {
    /// A GET of `url` with no extra headers.
    pub fn get(url: impl Into<String>) -> Self {
        OutgoingRequest {
            url: url.into(),
            ..Self::default()
        }
    }
}

/// k6's request phases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Waiting for a connection slot (only in a batch with more requests
    /// than [`ClientConfig::max_conns_per_origin`]).
    pub blocked: Duration,
    /// Name resolution plus TCP connect; 0 on a reused connection.
    pub connecting: Duration,
    pub tls_handshaking: Duration,
    /// Request handed over until its last byte was written to the socket.
    pub sending: Duration,
    /// Last request byte written until the first response byte read.
    pub waiting: Duration,
    /// First response byte until the end of the body.
    pub receiving: Duration,
    /// `sending + waiting + receiving`.
    pub duration: Duration,
}

/// A response, read to its end.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    /// As hyper parsed them; converted only at the guest boundary, in the
    /// form the guest's call asks for.
    pub headers: HeaderMap,
    /// Empty when `discard_body`.
    pub body: Bytes,
    pub timings: Timings,
    /// Wire bytes (headers, TLS records and, on a new connection, its
    /// handshake included).
    pub bytes_sent: u64,
    /// Wire bytes, the body counted even when discarded.
    pub bytes_received: u64,
}

/// What kind of failure, for the `error_code` tag and the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidUrl,
    /// The host is not among the run's allowed hosts; nothing was sent.
    ForbiddenHost,
    Dns,
    Refused,
    Reset,
    Timeout,
    Tls,
    Protocol,
    Other,
}

impl ErrorKind {
    /// k6's numeric error code (k6 docs, "Error codes"): the closest code
    /// for each kind.
    pub fn k6_code(self) -> u16 {
        match self {
            // 1000: generic error. k6 has no code for malformed HTTP/1
            // responses (Go reports them as plain errors), so they land here too.
            ErrorKind::Other | ErrorKind::Protocol => 1000,
            // 1020: invalid URL.
            ErrorKind::InvalidUrl => 1020,
            // 1111: host name blocked (k6's blockHostnames option).
            ErrorKind::ForbiddenHost => 1111,
            // 1050: request timeout.
            ErrorKind::Timeout => 1050,
            // 1100: generic DNS error (1101 "no IP found" is one case of it).
            ErrorKind::Dns => 1100,
            // 1212: TCP dial, connection refused.
            ErrorKind::Refused => 1212,
            // 1220: connection reset by peer (also broken pipe and premature EOF).
            ErrorKind::Reset => 1220,
            // 1300: generic TLS error.
            ErrorKind::Tls => 1300,
        }
    }

    /// What a k6 error code stands for, in words, for the summary; `None`
    /// for a code this client never reports.
    pub fn describe_k6_code(code: u16) -> Option<&'static str> {
        Some(match code {
            1000 => "other error (e.g. a malformed response)",
            1020 => "invalid URL",
            1050 => "request timeout",
            1100 => "DNS lookup failed",
            1111 => "forbidden host (not allowed by the sandbox)",
            1212 => "connection refused",
            1220 => "connection reset or closed by the server",
            1300 => "TLS error",
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid-url",
            ErrorKind::ForbiddenHost => "forbidden-host",
            ErrorKind::Dns => "dns",
            ErrorKind::Refused => "refused",
            ErrorKind::Reset => "reset",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request, with whatever was measured before it failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub kind: ErrorKind,
    pub message: String,
    pub timings: Timings,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl RequestError {
    fn unsent(failure: Failure) -> Self {
        RequestError {
            kind: failure.kind,
            message: failure.message,
            timings: Timings::default(),
            bytes_sent: 0,
            bytes_received: 0,
        }
    }
}

/// One VU's client. `Send`; not meant to be shared.
pub struct VuHttpClient {
    config: Arc<ClientConfig>,
    /// Zero point of the nanosecond stamps in this client's connections.
    epoch: Instant,
    user_agent: Option<HeaderValue>,
    pools: Pools,
    /// The origin of the last URL that passed the host check, so a VU that
    /// keeps sending to one server parses only each URL's path.
    last: Option<LastOrigin>,
    /// The timeout of [`VuHttpClient::send`]'s requests, reset for each
    /// (see [`exchange::run`]); made on first use, inside the runtime.
    timer: Option<Pin<Box<Sleep>>>,
}

/// An origin already parsed and allowed, with its pool.
struct LastOrigin {
    /// The URL text up to the end of the authority, e.g. `http://h:8080`.
    prefix: String,
    origin: Arc<Origin>,
    pool: usize,
}

/// An origin's share of a batch.
struct BatchOrigin {
    /// Pool id.
    id: usize,
    /// (request index, request), in request order.
    waiting: VecDeque<(usize, Prepared)>,
    /// Requests of it in flight, at most `max_conns_per_origin`.
    active: usize,
}

/// One batch request in flight: (request index, batch origin index, outcome).
type InFlight<'a> = Pin<
    Box<
        dyn Future<Output = (usize, usize, Result<Exchange, RequestError>, Option<Conn>)>
            + Send
            + 'a,
    >,
>;

impl VuHttpClient {
    pub fn new(config: Arc<ClientConfig>) -> Self {
        let user_agent = Some(config.user_agent.as_str())
            .filter(|ua| !ua.is_empty())
            .and_then(|ua| lasting::header_value(ua).ok());
        VuHttpClient {
            pools: Pools::new(config.max_conns_per_origin),
            config,
            epoch: Instant::now(),
            user_agent,
            last: None,
            timer: None,
        }
    }

    /// Performs one request, reusing an idle connection to its origin.
    ///
    /// Not an `async fn`: one keeps its arguments for its whole life, so
    /// this future would hold the request twice, as it came and prepared.
    /// Prepared first, it holds it once, and is used where it lies. So the
    /// URL is parsed and checked against the allowed hosts when this is
    /// called: a future dropped unpolled still leaves its origin in the
    /// client's caches (harmless, they are caches).
    pub fn send(
        &mut self,
        req: OutgoingRequest,
    ) -> impl Future<Output = Result<Exchange, RequestError>> + Send + '_ {
        let mut prepared = self.prepare(req);
        async move {
            let (prep, origin) = match &mut prepared {
                Ok((prep, origin)) => (prep, *origin),
                Err(failure) => {
                    let failure = Failure::new(failure.kind, std::mem::take(&mut failure.message));
                    return Err(RequestError::unsent(failure));
                }
            };
            let idle = self.pools.take(origin);
            let ctx = Ctx {
                config: &self.config,
                epoch: self.epoch,
                user_agent: self.user_agent.as_ref(),
            };
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::ZERO)))
                .as_mut();
            let (result, conn) = run(&ctx, prep, idle, Duration::ZERO, timer).await;
            if let Some(conn) = conn {
                self.pools.put(origin, conn);
            }
            result
        }
    }

    /// Sends all concurrently over up to `max_conns_per_origin` connections
    /// per origin; results in request order. Requests to one origin start
    /// in order as slots free up; each one's timeout starts with it.
    pub async fn batch(
        &mut self,
        reqs: Vec<OutgoingRequest>,
    ) -> Vec<Result<Exchange, RequestError>> {
        let count = reqs.len();
        let mut results: Vec<Option<Result<Exchange, RequestError>>> = Vec::new();
        results.resize_with(count, || None);
        let mut origins: Vec<BatchOrigin> = Vec::new();
        for (index, req) in reqs.into_iter().enumerate() {
            match self.prepare(req) {
                Ok((prep, id)) => match origins.iter_mut().find(|o| o.id == id) {
                    Some(o) => o.waiting.push_back((index, prep)),
                    None => origins.push(BatchOrigin {
                        id,
                        waiting: VecDeque::from([(index, prep)]),
                        active: 0,
                    }),
                },
                Err(failure) => results[index] = Some(Err(RequestError::unsent(failure))),
            }
        }

        let max = self.config.max_conns_per_origin.max(1);
        let ctx = Ctx {
            config: &self.config,
            epoch: self.epoch,
            user_agent: self.user_agent.as_ref(),
        };
        let pools = &mut self.pools;
        let ctx = &ctx;
        let started = Instant::now();
        let mut first_round = true;
        let mut in_flight: Vec<InFlight<'_>> = Vec::new();
        // A hand-rolled join: the pool stays with this future (no locks, no
        // spawned tasks), and each finished request frees its slot for the
        // next one waiting on the same origin.
        poll_fn(|cx| {
            loop {
                for (o, origin) in origins.iter_mut().enumerate() {
                    while origin.active < max {
                        let Some((index, prep)) = origin.waiting.pop_front() else {
                            break;
                        };
                        origin.active += 1;
                        let idle = pools.take(origin.id);
                        let blocked = if first_round {
                            Duration::ZERO
                        } else {
                            started.elapsed()
                        };
                        in_flight.push(Box::pin(async move {
                            let mut prep = prep;
                            let timer = pin!(tokio::time::sleep(Duration::ZERO));
                            let (result, conn) = run(ctx, &mut prep, idle, blocked, timer).await;
                            (index, o, result, conn)
                        }));
                    }
                }
                first_round = false;
                let mut finished_any = false;
                let mut i = 0;
                while i < in_flight.len() {
                    if let Poll::Ready((index, o, result, conn)) = in_flight[i].as_mut().poll(cx) {
                        drop(in_flight.swap_remove(i));
                        origins[o].active -= 1;
                        if let Some(conn) = conn {
                            pools.put(origins[o].id, conn);
                        }
                        results[index] = Some(result);
                        finished_any = true;
                    } else {
                        i += 1;
                    }
                }
                if !finished_any {
                    break;
                }
            }
            // Nothing in flight means nothing waits either: every round
            // starts by filling free slots.
            if in_flight.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;

        debug_assert!(results.iter().all(Option::is_some));
        results.into_iter().flatten().collect()
    }

    /// Checks `req` and its host; returns it with its origin's pool id.
    fn prepare(&mut self, mut req: OutgoingRequest) -> Result<(Prepared, usize), Failure> {
        let mut url = std::mem::take(&mut req.url);
        if let Some(last) = &self.last {
            url = match path_after(url, &last.prefix) {
                Ok(path) => {
                    let (origin, pool) = (last.origin.clone(), last.pool);
                    return self.prepared(req, origin, path, pool);
                }
                Err(url) => url,
            };
        }
        let split = split_url(&url)?;
        let target = split.origin.target();
        self.config.hosts.check(&target)?;
        let pool = self.pools.origin(target.tls, target.host, target.port);
        let origin = Arc::new(split.origin);
        if let Some(prefix) = split.prefix {
            self.last = Some(LastOrigin {
                prefix,
                origin: origin.clone(),
                pool,
            });
        }
        self.prepared(req, origin, split.path, pool)
    }

    fn prepared(
        &self,
        req: OutgoingRequest,
        origin: Arc<Origin>,
        path: PathAndQuery,
        pool: usize,
    ) -> Result<(Prepared, usize), Failure> {
        let prep = Prepared::new(
            req,
            origin,
            path,
            self.config.default_timeout,
            self.user_agent.as_ref(),
        )?;
        Ok((prep, pool))
    }

    /// Open connections now held (for tests and metrics).
    pub fn open_connections(&self) -> usize {
        self.pools.open()
    }
}
