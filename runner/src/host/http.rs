//! `http`: the guest's requests, performed by the VU's own client, measured
//! and recorded under their tags (k6's `http_req_*` metrics).

use std::time::{Duration, Instant};

use super::HostState;
use super::http_client::{ErrorKind, Exchange, OutgoingRequest, RequestError, Timings};
use crate::metrics::recorder::{self, HttpSample};
use crate::wasm::bindings::http::{
    self as wit, Host, HttpError, Method, Request, Response, StatusRange,
};

/// k6's default `expectedStatuses`.
const DEFAULT_EXPECTED: StatusRange = StatusRange { min: 200, max: 399 };

impl Host for HostState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let mut prepared = Prepared::from(request);
        let started = Instant::now();
        let result = match prepared.take_outgoing() {
            Ok(req) => self.http.send(req).await,
            Err(msg) => Err(invalid(ErrorKind::Protocol, msg)),
        };
        self.cpu.waited(started.elapsed());
        Ok(self.finish(&prepared, result))
    }

    async fn batch(
        &mut self,
        requests: Vec<Request>,
    ) -> wasmtime::Result<Vec<Result<Response, HttpError>>> {
        let mut prepared: Vec<Prepared> = requests.into_iter().map(Prepared::from).collect();
        // Invalid requests fail on their own; the rest go out together.
        let mut outcomes: Vec<Option<Result<Exchange, RequestError>>> = Vec::new();
        let mut valid = Vec::new();
        for p in &mut prepared {
            match p.take_outgoing() {
                Ok(req) => {
                    valid.push(req);
                    outcomes.push(None);
                }
                Err(msg) => outcomes.push(Some(Err(invalid(ErrorKind::Protocol, msg)))),
            }
        }
        let started = Instant::now();
        let mut sent = self.http.batch(valid).await.into_iter();
        self.cpu.waited(started.elapsed());
        Ok(prepared
            .iter()
            .zip(outcomes)
            .map(|(p, o)| {
                let r = match o.or_else(|| sent.next()) {
                    Some(r) => r,
                    None => Err(invalid(
                        ErrorKind::Other,
                        "the batch lost this request".into(),
                    )),
                };
                self.finish(p, r)
            })
            .collect())
    }
}

/// A guest request with everything needed to record it afterwards.
struct Prepared {
    method: Result<hyper::Method, String>,
    url: String,
    name: String,
    headers: Vec<(String, String)>,
    body: bytes::Bytes,
    tags: Vec<(String, String)>,
    timeout: Option<Duration>,
    expected: Vec<StatusRange>,
    discard_body: bool,
}

impl From<Request> for Prepared {
    fn from(r: Request) -> Self {
        let name = r
            .name
            .unwrap_or_else(|| r.url.split(['?', '#']).next().unwrap_or(&r.url).to_owned());
        Prepared {
            method: to_method(&r.method),
            url: r.url,
            name,
            headers: r.headers,
            body: bytes::Bytes::from(r.body),
            tags: r.tags,
            timeout: r.timeout.map(Duration::from_nanos),
            expected: r.expected_statuses,
            discard_body: r.discard_body,
        }
    }
}

impl Prepared {
    /// The request for the client, or why it cannot be sent. Moves the
    /// URL, headers and body out (recording needs none of them), which
    /// saves copying them for every request.
    fn take_outgoing(&mut self) -> Result<OutgoingRequest, String> {
        let method = self
            .method
            .clone()
            .map_err(|m| format!("invalid HTTP method {m:?}"))?;
        Ok(OutgoingRequest {
            method,
            url: std::mem::take(&mut self.url),
            headers: std::mem::take(&mut self.headers),
            body: std::mem::take(&mut self.body),
            timeout: self.timeout,
            discard_body: self.discard_body,
        })
    }

    fn method_str(&self) -> &str {
        match &self.method {
            Ok(m) => m.as_str(),
            Err(m) => m,
        }
    }

    fn is_expected(&self, status: u16) -> bool {
        let ranges: &[StatusRange] = if self.expected.is_empty() {
            std::slice::from_ref(&DEFAULT_EXPECTED)
        } else {
            &self.expected
        };
        ranges.iter().any(|r| (r.min..=r.max).contains(&status))
    }
}

impl HostState {
    /// Records the exchange and converts it for the guest.
    fn finish(
        &self,
        req: &Prepared,
        result: Result<Exchange, RequestError>,
    ) -> Result<Response, HttpError> {
        let (status, expected, timings, sent, received, error) = match &result {
            Ok(x) => (
                x.status,
                req.is_expected(x.status)
                    || self.shared.status_policy.get().is_some_and(|p| {
                        !p.is_empty() && p.accepts(&self.scenario, &req.name, x.status)
                    }),
                x.timings,
                x.bytes_sent,
                x.bytes_received,
                None,
            ),
            Err(e) => (
                0,
                false,
                e.timings,
                e.bytes_sent,
                e.bytes_received,
                Some(e.kind),
            ),
        };
        let mut status_buf = itoa::Buffer::new();
        let mut code_buf = itoa::Buffer::new();
        let mut tags = self.base_tags();
        tags.extend(req.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        tags.extend([
            ("name", req.name.as_str()),
            ("method", req.method_str()),
            ("status", status_buf.format(status)),
            ("expected_response", if expected { "true" } else { "false" }),
        ]);
        if let Some(kind) = error {
            tags.push(("error_code", code_buf.format(kind.k6_code())));
        }
        if let Err(e) = &result
            && e.kind == ErrorKind::ForbiddenHost
        {
            self.shared.errors.forbidden_host(self.vu_id, &e.message);
        }
        // In open models the latency counts from the iteration's scheduled
        // start, so a stalled server shows in the percentiles; the plain
        // service time is kept beside it.
        let delay = self.start_delay.unwrap_or_default();
        recorder::record_http(
            &mut tags,
            &HttpSample {
                failed: !expected,
                service_time: self.start_delay.map(|_| timings.duration),
                blocked: timings.blocked,
                connecting: timings.connecting,
                tls_handshaking: timings.tls_handshaking,
                sending: timings.sending,
                waiting: timings.waiting,
                receiving: timings.receiving,
                duration: timings.duration + delay,
                bytes_sent: sent,
                bytes_received: received,
            },
        );
        match result {
            Ok(x) => Ok(Response {
                status: x.status,
                headers: x.headers,
                body: x.body.to_vec(),
                timings: to_wit_timings(&x.timings),
                expected,
            }),
            Err(e) => Err(HttpError {
                kind: to_wit_kind(e.kind),
                message: e.message,
                timings: to_wit_timings(&e.timings),
            }),
        }
    }
}

/// A request that never left the host.
fn invalid(kind: ErrorKind, message: String) -> RequestError {
    RequestError {
        kind,
        message,
        timings: Timings::default(),
        bytes_sent: 0,
        bytes_received: 0,
    }
}

fn to_method(m: &Method) -> Result<hyper::Method, String> {
    Ok(match m {
        Method::Get => hyper::Method::GET,
        Method::Head => hyper::Method::HEAD,
        Method::Post => hyper::Method::POST,
        Method::Put => hyper::Method::PUT,
        Method::Patch => hyper::Method::PATCH,
        Method::Delete => hyper::Method::DELETE,
        Method::Options => hyper::Method::OPTIONS,
        // An invalid custom method fails its request, not the guest.
        Method::Other(s) => hyper::Method::from_bytes(s.as_bytes()).map_err(|_| s.clone())?,
    })
}

fn to_wit_kind(k: ErrorKind) -> wit::ErrorKind {
    match k {
        ErrorKind::InvalidUrl => wit::ErrorKind::InvalidUrl,
        ErrorKind::ForbiddenHost => wit::ErrorKind::ForbiddenHost,
        ErrorKind::Dns => wit::ErrorKind::Dns,
        ErrorKind::Refused => wit::ErrorKind::Refused,
        ErrorKind::Reset => wit::ErrorKind::Reset,
        ErrorKind::Timeout => wit::ErrorKind::Timeout,
        ErrorKind::Tls => wit::ErrorKind::Tls,
        ErrorKind::Protocol => wit::ErrorKind::Protocol,
        ErrorKind::Other => wit::ErrorKind::Other,
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn to_wit_timings(t: &Timings) -> wit::Timings {
    wit::Timings {
        blocked: nanos(t.blocked),
        connecting: nanos(t.connecting),
        tls_handshaking: nanos(t.tls_handshaking),
        sending: nanos(t.sending),
        waiting: nanos(t.waiting),
        receiving: nanos(t.receiving),
        duration: nanos(t.duration),
    }
}
