//! Opening connections (name resolution, TCP, TLS, the HTTP/1.1 handshake)
//! and mapping low-level failures to [`ErrorKind`]s with short messages.

use std::error::Error as StdError;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::ErrorKind;
use super::resolve;
use super::timed_io::{CountingIo, IoStats, TimedIo};

/// Request body type of every connection.
pub(crate) type ReqBody = Full<Bytes>;

/// One open HTTP/1.1 connection, as held by the pool or by a request.
pub(crate) struct Conn {
    pub(crate) sender: SendRequest<ReqBody>,
    pub(crate) stats: Arc<IoStats>,
}

/// A failure before the request's timings and byte counts are attached.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// Where to connect.
pub(crate) struct Target<'a> {
    /// As in the URL; IPv6 literals keep their brackets.
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

/// Durations of the dial phases, kept up to date even if the dial is cut
/// short by the request timeout (the open phase is closed by `settle`).
#[derive(Debug, Default)]
pub(crate) struct DialClock {
    /// Name resolution plus TCP connect (k6 has no separate DNS metric).
    pub(crate) connecting: Duration,
    pub(crate) tls_handshaking: Duration,
    open: Option<(bool, Instant)>,
}

impl DialClock {
    fn begin(&mut self, tls: bool) {
        self.settle();
        self.open = Some((tls, Instant::now()));
    }

    /// The dial phase under way, for messages.
    pub(crate) fn in_progress(&self) -> Option<&'static str> {
        self.open.map(|(tls, _)| {
            if tls {
                "in the TLS handshake"
            } else {
                "connecting"
            }
        })
    }

    /// Ends the phase under way, if any.
    pub(crate) fn settle(&mut self) {
        if let Some((tls, started)) = self.open.take() {
            let phase = if tls {
                &mut self.tls_handshaking
            } else {
                &mut self.connecting
            };
            *phase += started.elapsed();
        }
    }
}

/// An attempt on one of several addresses gets at least this long (as in Go's
/// dialer), else an equal share of the time left.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// Opens a connection to `target`; wire bytes are counted into `stats` from
/// the first handshake byte on. `deadline` paces attempts on several
/// addresses; the caller bounds the whole dial by it.
pub(crate) async fn dial(
    target: &Target<'_>,
    tls: &Arc<rustls::ClientConfig>,
    stats: Arc<IoStats>,
    deadline: tokio::time::Instant,
    clock: &mut DialClock,
) -> Result<Conn, Failure> {
    clock.begin(false);
    let literal = ip_literal(target.host);
    let tcp = connect_tcp(target, literal, deadline).await;
    clock.settle();
    let tcp = tcp?;
    // Requests are written in one go and we want them on the wire at once.
    let _ = tcp.set_nodelay(true);
    let tcp = CountingIo::new(tcp, stats.clone());

    if !target.tls {
        return handshake(TimedIo::new(tcp, stats.clone()), stats).await;
    }

    let name = match literal {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => ServerName::try_from(target.host.to_owned()).map_err(|_| {
            Failure::new(
                ErrorKind::InvalidUrl,
                format!("invalid host name {:?}", target.host),
            )
        })?,
    };
    clock.begin(true);
    let tls_stream = TlsConnector::from(tls.clone()).connect(name, tcp).await;
    clock.settle();
    let tls_stream = tls_stream.map_err(|e| classify_tls_handshake(&e))?;
    handshake(TimedIo::new(tls_stream, stats.clone()), stats).await
}

async fn connect_tcp(
    target: &Target<'_>,
    literal: Option<IpAddr>,
    deadline: tokio::time::Instant,
) -> Result<TcpStream, Failure> {
    // IP literals skip the resolver entirely.
    let addrs: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, target.port)],
        None => resolve::lookup(target.host, target.port).await?,
    };
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let left = addrs.len() - i;
        let attempt = if left > 1 {
            let now = tokio::time::Instant::now();
            let remaining = deadline.saturating_duration_since(now);
            let share = (remaining / left as u32).max(MIN_ATTEMPT).min(remaining);
            tokio::time::timeout_at(now + share, TcpStream::connect(addr)).await
        } else {
            // The last address has the request's whole deadline, which the
            // caller enforces (and reports with the request's timeout).
            Ok(TcpStream::connect(addr).await)
        };
        match attempt {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(classify_connect(&e, *addr)),
            Err(_) => {
                last = Some(Failure::new(
                    ErrorKind::Timeout,
                    format!("connecting to {addr} timed out"),
                ))
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        Failure::new(
            ErrorKind::Dns,
            format!("dns: no address found for {}", target.host),
        )
    }))
}

async fn handshake<T>(io: T, stats: Arc<IoStats>) -> Result<Conn, Failure>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // HTTP/1.1 only; h2 (negotiated through ALPN) is future work.
    let (sender, connection) = http1::Builder::new()
        // Canonical header case, as Go (k6) and browsers send on HTTP/1.1;
        // a few servers still care.
        .title_case_headers(true)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| classify_hyper(&e))?;
    // The connection task ends when the server closes or the `SendRequest`
    // is dropped (idle pool eviction, timeout); its error, if any, reaches
    // the request that was in flight.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Conn { sender, stats })
}

/// `127.0.0.1` or `[::1]` (brackets as in URLs) as an address.
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

fn classify_connect(e: &io::Error, addr: SocketAddr) -> Failure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            Failure::new(ErrorKind::Refused, format!("connection refused by {addr}"))
        }
        io::ErrorKind::TimedOut => Failure::new(
            ErrorKind::Timeout,
            format!("connecting to {addr} timed out"),
        ),
        io::ErrorKind::ConnectionReset => {
            Failure::new(ErrorKind::Reset, format!("connection reset by {addr}"))
        }
        _ => Failure::new(ErrorKind::Other, format!("connecting to {addr}: {e}")),
    }
}

fn classify_tls_handshake(e: &io::Error) -> Failure {
    let f = classify_io(e);
    match f.kind {
        ErrorKind::Tls | ErrorKind::Timeout | ErrorKind::Refused => f,
        // A close during the handshake is a TLS failure to the user (often
        // the port does not speak TLS), whatever the socket said.
        _ => Failure::new(
            ErrorKind::Tls,
            format!("tls: handshake failed: {}", f.message),
        ),
    }
}

/// Maps an IO error (possibly wrapping a rustls error) to a kind and message.
pub(crate) fn classify_io(e: &io::Error) -> Failure {
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return Failure::new(ErrorKind::Tls, format!("tls: {tls}"));
    }
    let (kind, message) = match e.kind() {
        io::ErrorKind::ConnectionRefused => (ErrorKind::Refused, "connection refused"),
        io::ErrorKind::ConnectionReset => (ErrorKind::Reset, "connection reset by peer"),
        io::ErrorKind::ConnectionAborted => (ErrorKind::Reset, "connection aborted"),
        io::ErrorKind::BrokenPipe => (ErrorKind::Reset, "broken pipe (peer closed the connection)"),
        io::ErrorKind::UnexpectedEof => (ErrorKind::Reset, "connection closed by peer"),
        io::ErrorKind::TimedOut => (ErrorKind::Timeout, "timed out"),
        _ => return Failure::new(ErrorKind::Other, e.to_string()),
    };
    Failure::new(kind, message)
}

/// Maps a hyper error (request, response or body) to a kind and message.
pub(crate) fn classify_hyper(e: &hyper::Error) -> Failure {
    // The underlying IO error, when there is one, says the most.
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return classify_io(io);
        }
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return Failure::new(ErrorKind::Tls, format!("tls: {tls}"));
        }
        source = s.source();
    }
    if e.is_incomplete_message() {
        Failure::new(
            ErrorKind::Reset,
            "connection closed before the response was complete",
        )
    } else if e.is_canceled() {
        Failure::new(
            ErrorKind::Reset,
            "connection closed before the request was sent",
        )
    } else if e.is_parse() || e.is_parse_status() {
        Failure::new(ErrorKind::Protocol, format!("malformed response: {e}"))
    } else if e.is_timeout() {
        Failure::new(ErrorKind::Timeout, "timed out")
    } else {
        Failure::new(ErrorKind::Other, e.to_string())
    }
}
