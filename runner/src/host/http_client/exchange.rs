//! One request from connection to last body byte: the keep-alive retry, the
//! timeout, and the timing and byte accounting.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::time::Sleep;

use super::connect::{self, Conn, DialClock, Failure, classify_hyper};
use super::request::Prepared;
use super::timed_io::{IoStats, ns_since};
use super::{ClientConfig, ErrorKind, Exchange, RequestError, Timings};

/// What every request of a client shares.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a ClientConfig,
    pub(crate) epoch: Instant,
    pub(crate) user_agent: Option<&'a HeaderValue>,
}

/// Runs `prep` on `idle` (if given and still usable) or a new connection.
/// Returns the connection when it can serve another request. `prep` is
/// borrowed, not moved in, so that this future does not hold a copy of it.
///
/// `timer` bounds the exchange; it is reset to this request's deadline. A
/// client reuses one timer for its requests one after another: pushing a
/// registered timer's deadline later is one atomic store, where a fresh
/// timer per request takes the time driver's lock twice (register, drop).
///
/// Not an `async fn`, nor is [`attempt`]: an `async fn` copies its
/// arguments into its body, so the future holds them twice.
pub(crate) fn run(
    ctx: &Ctx<'_>,
    prep: &mut Prepared,
    idle: Option<Conn>,
    blocked: Duration,
    mut timer: Pin<&mut Sleep>,
) -> impl Future<Output = (Result<Exchange, RequestError>, Option<Conn>)> {
    let limit = prep.timeout;
    let now = tokio::time::Instant::now();
    // A limit too large to represent is as good as none.
    let deadline = now
        .checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
    timer.as_mut().reset(deadline);
    let mut rec = Recorder::new(ctx.epoch, blocked);
    async move {
        let outcome = {
            let mut attempt = pin!(attempt(ctx, prep, idle, &mut rec, deadline));
            poll_fn(|cx| {
                if let Poll::Ready(r) = attempt.as_mut().poll(cx) {
                    return Poll::Ready(Ok(r));
                }
                timer.as_mut().poll(cx).map(Err)
            })
            .await
        };
        match outcome {
            Ok(Ok(done)) => {
                let exchange = Exchange {
                    status: done.status.as_u16(),
                    headers: done.headers,
                    body: done.body,
                    timings: rec.timings(),
                    bytes_sent: rec.sent(),
                    bytes_received: rec.received(),
                };
                (Ok(exchange), done.conn)
            }
            Ok(Err(failure)) => (Err(rec.fail(failure)), None),
            // The attempt future, and with it the connection, is gone: hyper
            // closes a connection whose request was dropped mid-flight.
            Err(_) => {
                let failure = Failure::new(
                    ErrorKind::Timeout,
                    format!("timed out after {} {}", fmt_duration(limit), rec.stage()),
                );
                (Err(rec.fail(failure)), None)
            }
        }
    }
}

struct Done {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    conn: Option<Conn>,
}

#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would copy its arguments into its body (see run)"
)]
fn attempt(
    ctx: &Ctx<'_>,
    prep: &mut Prepared,
    idle: Option<Conn>,
    rec: &mut Recorder,
    deadline: tokio::time::Instant,
) -> impl Future<Output = Result<Done, Failure>> {
    async move {
        let mut reused = None;
        if let Some(mut conn) = idle {
            // Right after a response the connection task may not yet have
            // re-armed for the next request; this waits for that (usually no
            // wait at all) or reports that the server closed it meanwhile.
            if conn.sender.ready().await.is_ok() {
                reused = Some(conn);
            }
        }
        let mut may_retry = reused.is_some();
        let mut conn = match reused {
            Some(conn) => {
                rec.use_conn(&conn.stats, false);
                conn
            }
            None => open_boxed(ctx, prep, rec, deadline).await?,
        };
        // What one send returned is taken apart before anything else is
        // awaited: kept whole (as a `match` on it keeps it), it would sit in
        // this future beside the response's.
        let resp = loop {
            let req = match prep.request.take() {
                Some(req) => *req,
                None => prep.build(ctx.user_agent)?,
            };
            rec.start(&conn.stats);
            let (unsent, failure) = match conn.sender.try_send_request(req).await {
                Ok(resp) => break resp,
                Err(mut e) => (e.take_message(), classify_hyper(e.error())),
            };
            // Keep-alive race: the server closed an idle connection just as
            // we reused it. Retry once on a new connection if nothing of a
            // response arrived and resending is harmless (as Go's client,
            // hence k6, and browsers do); the request is counted once.
            // Anything else is the request's error.
            if may_retry
                && failure.kind == ErrorKind::Reset
                && conn.stats.first_read() == 0
                && (unsent.is_some() || prep.replayable())
            {
                may_retry = false;
                prep.request = unsent.map(Box::new);
                conn = open_boxed(ctx, prep, rec, deadline).await?;
                continue;
            }
            return Err(failure);
        };
        receive(prep, rec, conn, resp).await
    }
}

/// Dialing's future (name lookup, TCP, TLS) is large and rarely needed:
/// it is boxed so the future of every request stays small (see the test
/// `request_future_stays_small`). Boxed out of line and cold, because the
/// future is built on the stack before it moves into its box: inlined,
/// that space would widen the frame that polls every request, which runs
/// on the VU's fiber stack (cold in cache when hundreds of VUs take turns).
#[cold]
#[inline(never)]
fn open_boxed<'a>(
    ctx: &'a Ctx<'_>,
    prep: &'a Prepared,
    rec: &'a mut Recorder,
    deadline: tokio::time::Instant,
) -> Pin<Box<impl Future<Output = Result<Conn, Failure>> + 'a>> {
    Box::pin(open(ctx, prep, rec, deadline))
}

async fn open(
    ctx: &Ctx<'_>,
    prep: &Prepared,
    rec: &mut Recorder,
    deadline: tokio::time::Instant,
) -> Result<Conn, Failure> {
    let stats = IoStats::new(ctx.epoch);
    // Handshake bytes count toward the request that opened the connection.
    rec.use_conn(&stats, true);
    connect::dial(
        &prep.origin.target(),
        &ctx.config.tls,
        stats,
        deadline,
        &mut rec.dial,
    )
    .await
}

/// Not an `async fn`, which would keep `resp` beside its parts.
fn receive<'a>(
    prep: &'a Prepared,
    rec: &'a mut Recorder,
    conn: Conn,
    resp: Response<Incoming>,
) -> impl Future<Output = Result<Done, Failure>> + 'a {
    let (parts, mut body) = resp.into_parts();
    async move {
        rec.head_received = true;
        let body_error = |e: hyper::Error| {
            let f = classify_hyper(&e);
            Failure::new(f.kind, format!("reading body: {}", f.message))
        };
        let body = if prep.discard_body {
            // Frames are dropped as they come; the wire bytes are still counted.
            while let Some(frame) = body.frame().await {
                frame.map_err(body_error)?;
            }
            Bytes::new()
        } else {
            read_body(&mut body).await.map_err(body_error)?
        };
        rec.t_end = ns_since(rec.epoch);
        // A response that asks to close (`Connection: close`, or HTTP/1.0
        // without keep-alive) has made hyper close the connection by now.
        let keep = !conn.sender.is_closed();
        Ok(Done {
            status: parts.status,
            headers: parts.headers,
            body,
            conn: keep.then_some(conn),
        })
    }
}

/// The body's data in one piece. A body that arrives in one frame (a small
/// one usually does) is kept as it came, with no queue of frames to gather
/// it (as `collect` has). Trailers are not kept.
async fn read_body(body: &mut Incoming) -> Result<Bytes, hyper::Error> {
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        match &mut joined {
            Some(all) => all.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut all = BytesMut::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                joined = Some(all);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

/// Collects one request's timestamps and byte counts across its attempts.
struct Recorder {
    epoch: Instant,
    blocked: Duration,
    dial: DialClock,
    /// The connection of the current attempt.
    stats: Option<Arc<IoStats>>,
    /// Its counters when this request began using it.
    base_sent: u64,
    base_received: u64,
    /// Bytes of earlier attempts (a keep-alive retry).
    earlier_sent: u64,
    earlier_received: u64,
    /// Nanoseconds since the epoch; 0 while not reached.
    t_start: u64,
    t_end: u64,
    /// The response head was parsed (its first byte's time is the
    /// connection's `first_read`, so no clock read is spent on it).
    head_received: bool,
}

impl Recorder {
    fn new(epoch: Instant, blocked: Duration) -> Self {
        Recorder {
            epoch,
            blocked,
            dial: DialClock::default(),
            stats: None,
            base_sent: 0,
            base_received: 0,
            earlier_sent: 0,
            earlier_received: 0,
            t_start: 0,
            t_end: 0,
            head_received: false,
        }
    }

    /// Switches to a connection; a `fresh` one counts from its first byte.
    fn use_conn(&mut self, stats: &Arc<IoStats>, fresh: bool) {
        self.earlier_sent = self.sent();
        self.earlier_received = self.received();
        self.base_sent = if fresh { 0 } else { stats.written() };
        self.base_received = if fresh { 0 } else { stats.read() };
        self.stats = Some(stats.clone());
    }

    /// The request is being handed to the connection.
    fn start(&mut self, stats: &IoStats) {
        stats.arm();
        self.t_start = ns_since(self.epoch);
        self.head_received = false;
        self.t_end = 0;
    }

    fn sent(&self) -> u64 {
        self.earlier_sent
            + self
                .stats
                .as_ref()
                .map_or(0, |s| s.written().saturating_sub(self.base_sent))
    }

    fn received(&self) -> u64 {
        self.earlier_received
            + self
                .stats
                .as_ref()
                .map_or(0, |s| s.read().saturating_sub(self.base_received))
    }

    /// Splits start..end at the last request write and the first response
    /// read. Each cut is clamped into the remaining interval, so the phases
    /// always add up to `duration` (e.g. when a server answers before the
    /// upload finished, waiting is 0).
    fn timings(&mut self) -> Timings {
        self.dial.settle();
        let mut t = Timings {
            blocked: self.blocked,
            connecting: self.dial.connecting,
            tls_handshaking: self.dial.tls_handshaking,
            ..Timings::default()
        };
        if self.t_start == 0 {
            return t;
        }
        let end = if self.t_end != 0 {
            self.t_end
        } else {
            ns_since(self.epoch)
        };
        let start = self.t_start.min(end);
        let (last_write, first_read) = self
            .stats
            .as_ref()
            .map_or((0, 0), |s| (s.last_write(), s.first_read()));
        let sent = last_write.clamp(start, end);
        let first = if first_read == 0 { end } else { first_read }.clamp(sent, end);
        t.sending = Duration::from_nanos(sent - start);
        t.waiting = Duration::from_nanos(first - sent);
        t.receiving = Duration::from_nanos(end - first);
        t.duration = Duration::from_nanos(end - start);
        t
    }

    /// Where the request stood, for a timeout's message (k6 gives every
    /// timeout the same code, so the message tells a slow head from a slow body).
    fn stage(&self) -> &'static str {
        if let Some(dialing) = self.dial.in_progress() {
            return dialing;
        }
        let first_read = self.stats.as_ref().map_or(0, |s| s.first_read());
        if self.t_start == 0 {
            "before the request was sent"
        } else if self.head_received {
            "reading the body"
        } else if first_read != 0 {
            "reading the response head"
        } else {
            "waiting for the response"
        }
    }

    fn fail(&mut self, failure: Failure) -> RequestError {
        RequestError {
            kind: failure.kind,
            message: failure.message,
            timings: self.timings(),
            bytes_sent: self.sent(),
            bytes_received: self.received(),
        }
    }
}

/// `2s`, `250ms`, else Debug form.
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{d:?}")
    }
}
