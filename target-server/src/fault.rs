//! The fault listener: a second port that speaks just enough HTTP/1.1 over
//! raw TCP to misbehave on purpose, byte by byte, in ways a well-behaved
//! server library will not (a reset after half a body, a keep-alive
//! connection dropped as the client reuses it, a response head that
//! trickles in). Load generators are tested against it.
//!
//! The routes are listed in the crate documentation ("Faults").

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::routes::AppState;
use crate::stats::StatsRecorder;

/// Upper bound of `?ms=N`, as for the main server's `/slow`.
const MAX_DELAY_MS: u64 = 60_000;
const DEFAULT_DELAY_MS: u64 = 1_000;
/// A request head larger than this is refused (the connection is closed).
const MAX_HEAD: usize = 16 << 10;
/// Body of the mid-body faults: announced, and what is sent before the cut.
const ANNOUNCED: usize = 1000;
const SENT_BEFORE_CUT: usize = 100;
/// Lets the client read what was sent before the reset: on Linux a reset
/// discards data the peer has not read yet.
const BEFORE_RESET: Duration = Duration::from_millis(50);

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Ok,
    ResetMidBody,
    CloseMidBody,
    CloseBeforeResponse,
    CloseKeepAlive,
    SlowHeaders(Duration),
    SlowBody(Duration),
    Malformed,
    Stats,
    /// A bad `ms` value; the text says why.
    BadRequest(&'static str),
    NotFound,
}

impl Fault {
    fn parse(target: &str) -> Fault {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        match path {
            "/fault/ok" => Fault::Ok,
            "/fault/reset-mid-body" => Fault::ResetMidBody,
            "/fault/close-mid-body" => Fault::CloseMidBody,
            "/fault/close-before-response" => Fault::CloseBeforeResponse,
            "/fault/close-keepalive" => Fault::CloseKeepAlive,
            "/fault/slow-headers" => {
                delay(query).map_or_else(Fault::BadRequest, Fault::SlowHeaders)
            }
            "/fault/slow-body" => delay(query).map_or_else(Fault::BadRequest, Fault::SlowBody),
            "/fault/malformed" => Fault::Malformed,
            "/__stats" => Fault::Stats,
            _ => Fault::NotFound,
        }
    }

    fn stats_key(self) -> Option<&'static str> {
        Some(match self {
            Fault::Ok => "fault.ok",
            Fault::ResetMidBody => "fault.reset-mid-body",
            Fault::CloseMidBody => "fault.close-mid-body",
            Fault::CloseBeforeResponse => "fault.close-before-response",
            Fault::CloseKeepAlive => "fault.close-keepalive",
            Fault::SlowHeaders(_) => "fault.slow-headers",
            Fault::SlowBody(_) => "fault.slow-body",
            Fault::Malformed => "fault.malformed",
            Fault::Stats => return None,
            Fault::BadRequest(_) | Fault::NotFound => "other",
        })
    }
}

/// `ms=N` from a query string.
fn delay(query: &str) -> Result<Duration, &'static str> {
    match query.split('&').find_map(|pair| pair.strip_prefix("ms=")) {
        None => Ok(Duration::from_millis(DEFAULT_DELAY_MS)),
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms <= MAX_DELAY_MS => Ok(Duration::from_millis(ms)),
            _ => Err("ms must be an integer from 0 to 60000"),
        },
    }
}

/// Serves one connection: reads requests in turn and answers (or not) as
/// each one's path says.
pub(crate) async fn serve(mut stream: TcpStream, state: Arc<AppState>) {
    let stats = &state.stats;
    let _ = stream.set_nodelay(true);
    let mut reader = RequestReader::default();
    // Set once a `close-keepalive` request was answered on this connection.
    let mut drop_next = false;
    while let Some(target) = reader.next(&mut stream).await {
        if drop_next {
            stats.record_request("fault.close-keepalive.dropped");
            return;
        }
        let fault = Fault::parse(&target);
        if let Some(key) = fault.stats_key() {
            stats.record_request(key);
        }
        let keep_going = answer(&mut stream, fault, stats).await.unwrap_or(false);
        if !keep_going {
            return;
        }
        drop_next = fault == Fault::CloseKeepAlive;
    }
}

/// Writes the response for `fault`; Ok(true) if the connection stays open.
async fn answer(
    stream: &mut TcpStream,
    fault: Fault,
    stats: &StatsRecorder,
) -> std::io::Result<bool> {
    match fault {
        Fault::Ok | Fault::CloseKeepAlive => stream.write_all(OK).await?,
        Fault::ResetMidBody | Fault::CloseMidBody => {
            stream.write_all(&cut_short_response()).await?;
            if fault == Fault::ResetMidBody {
                tokio::time::sleep(BEFORE_RESET).await;
                // Closing with a zero linger sends RST instead of FIN.
                stream.set_zero_linger()?;
            }
            return Ok(false);
        }
        Fault::CloseBeforeResponse => return Ok(false),
        Fault::SlowHeaders(pause) => {
            stream.write_all(b"HTTP/1.1 200 OK\r\n").await?;
            tokio::time::sleep(pause).await;
            stream
                .write_all(b"content-type: text/plain\r\ncontent-length: 4\r\n\r\nslow")
                .await?;
        }
        Fault::SlowBody(pause) => {
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nsl",
                )
                .await?;
            tokio::time::sleep(pause).await;
            stream.write_all(b"ow").await?;
        }
        Fault::Malformed => {
            stream
                .write_all(b"220 smtp.localhost ESMTP ready\r\n")
                .await?;
            return Ok(false);
        }
        Fault::Stats => {
            let body = serde_json::to_vec(&stats.snapshot()).unwrap_or_default();
            respond(stream, "200 OK", "application/json", &body).await?;
        }
        Fault::BadRequest(why) => {
            respond(stream, "400 Bad Request", "text/plain", why.as_bytes()).await?
        }
        Fault::NotFound => respond(stream, "404 Not Found", "text/plain", b"not found").await?,
    }
    Ok(true)
}

/// A head announcing [`ANNOUNCED`] body bytes and the first
/// [`SENT_BEFORE_CUT`] of them.
fn cut_short_response() -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {ANNOUNCED}\r\n\r\n"
    )
    .into_bytes();
    out.resize(out.len() + SENT_BEFORE_CUT, b'x');
    out
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await
}

/// Reads request heads off one connection, discarding request bodies
/// (`content-length` only; a chunked upload ends the connection).
#[derive(Default)]
struct RequestReader {
    buf: Vec<u8>,
}

impl RequestReader {
    /// The next request's target, or None at the end of the connection or
    /// on a request this listener does not handle.
    async fn next(&mut self, stream: &mut TcpStream) -> Option<String> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD || !self.fill(stream).await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let mut lines = head.split("\r\n");
        let target = lines.next()?.split(' ').nth(1)?.to_owned();
        let mut body = 0usize;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                body = value.trim().parse().ok()?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return None;
            }
        }
        while self.buf.len() < body {
            if !self.fill(stream).await {
                return None;
            }
        }
        self.buf.drain(..body);
        Some(target)
    }

    /// Reads more bytes; false at the end of the stream or on an error.
    async fn fill(&mut self, stream: &mut TcpStream) -> bool {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_delays_parse() {
        assert_eq!(Fault::parse("/fault/ok"), Fault::Ok);
        assert_eq!(
            Fault::parse("/fault/slow-body?x=1&ms=250"),
            Fault::SlowBody(Duration::from_millis(250))
        );
        assert_eq!(
            Fault::parse("/fault/slow-headers"),
            Fault::SlowHeaders(Duration::from_millis(DEFAULT_DELAY_MS))
        );
        assert!(matches!(
            Fault::parse("/fault/slow-body?ms=99999999"),
            Fault::BadRequest(_)
        ));
        assert_eq!(Fault::parse("/fault/nope"), Fault::NotFound);
        assert_eq!(Fault::Stats.stats_key(), None);
        let cut = cut_short_response();
        assert!(cut.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(cut.ends_with(&[b'x'; SENT_BEFORE_CUT]));
    }
}
