//! `http`: the guest's requests, performed by the VU's own client, measured
//! and recorded under their tags (k6's `http_req_*` metrics).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use hyper::header::{HeaderMap, HeaderValue};

use super::HostState;
use super::http_client::{
    ErrorKind, Exchange, OutgoingRequest, RequestError, Timings, VuHttpClient,
};
use crate::metrics::recorder::{self, HttpSample};
use crate::metrics::tags::scenario_tags;
use crate::wasm::bindings::http::{
    self as wit, BareResponse, Host, HttpError, Method, PackedResponse, Request, Response,
    StatusRange,
};
use crate::wasm::engine::ticks;

/// What sets one request's tag list apart from another's of the same VU
/// (whose scenario and scenario tags are fixed), for the VU's memo of
/// their keys.
#[derive(Debug)]
pub(crate) struct RequestTags {
    name: String,
    method: String,
    status: u16,
    expected: bool,
    error: Option<ErrorKind>,
    tags: Vec<(String, String)>,
}

/// k6's default `expectedStatuses`.
const DEFAULT_EXPECTED: StatusRange = StatusRange { min: 200, max: 399 };

// `send` and `send-packed` are not `async fn`s: an `async fn` keeps its
// arguments for its whole life, so each layer (these, `send_one`) would hold
// its own copy of the request. The future wasmtime boxes for the call then
// outgrows the sizes glibc's per-thread cache serves (see the test
// `guest_call_futures_stay_small`).
impl Host for HostState {
    fn send(
        &mut self,
        request: Request,
    ) -> impl Future<Output = wasmtime::Result<Result<Response, HttpError>>> + Send {
        self.send_one(request, |r, _| r.map(Received::into_response))
    }

    async fn batch(
        &mut self,
        requests: Vec<Request>,
    ) -> wasmtime::Result<Vec<Result<Response, HttpError>>> {
        Ok(self
            .send_all(requests, |r, _| r.map(Received::into_response))
            .await)
    }

    fn send_packed(
        &mut self,
        request: Request,
    ) -> impl Future<Output = wasmtime::Result<Result<PackedResponse, HttpError>>> + Send {
        self.send_one(request, |r, _| r.map(Received::into_packed))
    }

    async fn batch_packed(
        &mut self,
        requests: Vec<Request>,
    ) -> wasmtime::Result<Vec<Result<PackedResponse, HttpError>>> {
        Ok(self
            .send_all(requests, |r, _| r.map(Received::into_packed))
            .await)
    }

    fn send_bare(
        &mut self,
        request: Request,
    ) -> impl Future<Output = wasmtime::Result<Result<BareResponse, HttpError>>> + Send {
        // Before the request goes out: the previous response's headers
        // share hyper's read buffer, which hyper can then reuse in place.
        self.kept_headers.clear();
        self.send_one(request, Received::into_bare)
    }

    async fn batch_bare(
        &mut self,
        requests: Vec<Request>,
    ) -> wasmtime::Result<Vec<Result<BareResponse, HttpError>>> {
        self.kept_headers.clear();
        Ok(self.send_all(requests, Received::into_bare).await)
    }

    fn kept_headers(&mut self, index: u32) -> wasmtime::Result<Option<String>> {
        Ok(self.kept_headers.block(index))
    }
}

/// How a call hands each result to the guest: the shape of its response
/// and, for the `*-bare` calls, where the headers stay meanwhile.
type Shape<R> = fn(Result<Received, HttpError>, &mut KeptHeaders) -> Result<R, HttpError>;

/// The headers of the responses to a VU's latest `send-bare` or
/// `batch-bare` call, one entry per request (none for an error), until its
/// next such call. Cleared, not freed: the list is reused.
#[derive(Debug, Default)]
pub(crate) struct KeptHeaders(Vec<Option<HeaderMap>>);

impl KeptHeaders {
    fn clear(&mut self) {
        self.0.clear();
    }

    fn keep(&mut self, headers: Option<HeaderMap>) {
        self.0.push(headers);
    }

    /// The headers at `index`, packed as `packed-response` has them.
    fn block(&self, index: u32) -> Option<String> {
        let headers = self.0.get(usize::try_from(index).ok()?)?.as_ref()?;
        Some(header_block(headers))
    }
}

impl HostState {
    /// Prepares `request` and returns the future that sends and records it
    /// and gives the result the shape `shape` makes. (Awaited inside another
    /// future, this one would be held twice: as captured and as awaited.)
    fn send_one<R: 'static>(
        &mut self,
        request: Request,
        shape: Shape<R>,
    ) -> impl Future<Output = wasmtime::Result<Result<R, HttpError>>> + Send + '_ {
        let mut prepared = Prepared::from(request);
        let outgoing = prepared.take_outgoing();
        async move {
            let result = match outgoing {
                Ok(req) => boxed_send(&mut self.http, req).await,
                Err(msg) => Err(invalid(ErrorKind::Protocol, msg)),
            };
            self.cpu.resumed(ticks());
            let finished = self.finish(&prepared, result);
            Ok(shape(finished, &mut self.kept_headers))
        }
    }

    /// The requests of a batch, each result in the shape `shape` gives it.
    async fn send_all<R>(
        &mut self,
        requests: Vec<Request>,
        shape: Shape<R>,
    ) -> Vec<Result<R, HttpError>> {
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
        let mut sent = self.http.batch(valid).await.into_iter();
        self.cpu.resumed(ticks());
        prepared
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
                let finished = self.finish(p, r);
                shape(finished, &mut self.kept_headers)
            })
            .collect()
    }
}

/// The client's future for `req`, boxed. The future is about a KiB and
/// every future above it (`send_one`'s, `send-packed`'s, wasmtime's) is
/// copied whole when it starts; boxed, they stay small. Built out of line:
/// the future is made on the stack before it moves into its box, and
/// inlined, that space would widen the frame that polls every request on
/// the VU's fiber stack, which is cold in cache when many VUs take turns.
#[inline(never)]
fn boxed_send(
    http: &mut VuHttpClient,
    req: OutgoingRequest,
) -> Pin<Box<impl Future<Output = Result<Exchange, RequestError>> + Send + '_>> {
    Box::pin(http.send(req))
}

/// A recorded response, before it takes the shape the guest's call asked for.
struct Received {
    status: u16,
    headers: HeaderMap,
    body: bytes::Bytes,
    timings: wit::Timings,
    expected: bool,
}

impl Received {
    /// `response` (0.1.0): two strings per header.
    fn into_response(self) -> Response {
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), lossy(value).into_owned()))
            .collect();
        Response {
            status: self.status,
            headers,
            body: self.body.to_vec(),
            timings: self.timings,
            expected: self.expected,
        }
    }

    /// `packed-response` (0.1.1): all headers in one string.
    fn into_packed(self) -> PackedResponse {
        PackedResponse {
            status: self.status,
            headers: header_block(&self.headers),
            body: self.body.to_vec(),
            timings: self.timings,
            expected: self.expected,
        }
    }

    /// `bare-response` (0.1.3): the headers stay in `kept` until asked for.
    fn into_bare(
        received: Result<Received, HttpError>,
        kept: &mut KeptHeaders,
    ) -> Result<BareResponse, HttpError> {
        match received {
            Ok(r) => {
                kept.keep(Some(r.headers));
                Ok(BareResponse {
                    status: r.status,
                    body: r.body.to_vec(),
                    timings: r.timings,
                    expected: r.expected,
                })
            }
            Err(e) => {
                kept.keep(None);
                Err(e)
            }
        }
    }
}

/// One `name: value\n` line per header, as `packed-response` documents.
/// Header values never hold a line break (hyper refuses them), so the lines
/// split cleanly.
fn header_block(headers: &HeaderMap) -> String {
    let len = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 3)
        .sum();
    let mut block = Vec::with_capacity(len);
    for (name, value) in headers {
        block.extend_from_slice(name.as_str().as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(value.as_bytes());
        block.push(b'\n');
    }
    // One check of the whole block instead of one per value: for short
    // values the call, not the bytes, is most of the cost. Names and
    // separators are ASCII, which never continues a UTF-8 sequence, so the
    // lossy fallback replaces exactly what it would value by value.
    String::from_utf8(block).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn lossy(value: &HeaderValue) -> std::borrow::Cow<'_, str> {
    // `from_utf8` checks ASCII a word at a time; the lossy walk is for the
    // rare value that is not UTF-8.
    match std::str::from_utf8(value.as_bytes()) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(value.as_bytes()),
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
    /// Records the exchange; the caller shapes the result for the guest.
    fn finish(
        &mut self,
        req: &Prepared,
        result: Result<Exchange, RequestError>,
    ) -> Result<Received, HttpError> {
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
        let key = self.request_keys.key(
            |t| {
                t.status == status
                    && t.expected == expected
                    && t.error == error
                    && t.name == req.name
                    && t.method == req.method_str()
                    && t.tags == req.tags
            },
            || {
                let mut status_buf = itoa::Buffer::new();
                let mut code_buf = itoa::Buffer::new();
                let mut tags = scenario_tags(&self.scenario, &self.tags);
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
                let key = recorder::series_key(None, &mut tags);
                let what = RequestTags {
                    name: req.name.clone(),
                    method: req.method_str().to_owned(),
                    status,
                    expected,
                    error,
                    tags: req.tags.clone(),
                };
                (what, key)
            },
        );
        if let Err(e) = &result
            && e.kind == ErrorKind::ForbiddenHost
        {
            self.shared.errors.forbidden_host(self.vu_id, &e.message);
        }
        // In open models the latency counts from the iteration's scheduled
        // start, so a stalled server shows in the percentiles; the plain
        // service time is kept beside it.
        let delay = self.start_delay.unwrap_or_default();
        recorder::record_http_at(
            key,
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
            Ok(x) => Ok(Received {
                status: x.status,
                headers: x.headers,
                body: x.body,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn received() -> Received {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.insert("x-raw", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        Received {
            status: 200,
            headers,
            body: bytes::Bytes::from_static(b"ok"),
            timings: to_wit_timings(&Timings::default()),
            expected: true,
        }
    }

    fn state() -> HostState {
        let shared = std::sync::Arc::new(crate::host::RunShared::with_env(Default::default()));
        HostState::new(shared, 1, std::sync::Arc::from("s"))
    }

    fn request(name: Option<&str>, tags: &[(&str, &str)]) -> Request {
        Request {
            method: Method::Get,
            url: "http://127.0.0.1:9/x?q=1".into(),
            headers: Vec::new(),
            body: Vec::new(),
            name: name.map(str::to_owned),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timeout: None,
            expected_statuses: Vec::new(),
            discard_body: false,
        }
    }

    #[test]
    fn repeated_requests_share_a_series_and_any_difference_splits_it() {
        use crate::metrics::tags::TagSet;
        let mut state = state();
        let _ = recorder::take_shard();
        // A status, or None for a refused connection.
        let outcomes = [
            (request(Some("a"), &[]), Some(200)),
            (request(Some("a"), &[]), Some(200)),
            (request(Some("a"), &[]), Some(500)),
            (request(Some("a"), &[("k", "v")]), Some(200)),
            (request(Some("b"), &[]), Some(200)),
            (request(None, &[]), Some(200)),
            (request(Some("a"), &[]), None),
            (request(Some("a"), &[]), Some(200)),
        ];
        for (req, status) in outcomes {
            let result = match status {
                Some(status) => Ok(Exchange {
                    status,
                    headers: HeaderMap::new(),
                    body: bytes::Bytes::new(),
                    timings: Timings::default(),
                    bytes_sent: 10,
                    bytes_received: 20,
                }),
                None => Err(RequestError {
                    kind: ErrorKind::Refused,
                    message: "refused".into(),
                    timings: Timings::default(),
                    bytes_sent: 0,
                    bytes_received: 0,
                }),
            };
            let _ = state.finish(&Prepared::from(req), result);
        }
        // A check's series, likewise.
        for (name, tags) in [
            ("c", vec![]),
            ("c", vec![]),
            ("c", vec![("k".into(), "v".into())]),
        ] {
            let _ =
                crate::wasm::bindings::metrics::Host::check(&mut state, name.into(), true, tags);
        }
        let shard = recorder::take_shard();
        let reqs = |pairs: &[(&str, &str)]| {
            let mut all = vec![("scenario", "s"), ("method", "GET")];
            all.extend_from_slice(pairs);
            shard.http[TagSet::from_pairs(all).as_str()].reqs
        };
        let ok200 = [("status", "200"), ("expected_response", "true")];
        assert_eq!(reqs(&[&[("name", "a")][..], &ok200].concat()), 3);
        assert_eq!(
            reqs(&[
                ("name", "a"),
                ("status", "500"),
                ("expected_response", "false")
            ]),
            1
        );
        assert_eq!(
            reqs(&[&[("name", "a"), ("k", "v")][..], &ok200].concat()),
            1
        );
        assert_eq!(reqs(&[&[("name", "b")][..], &ok200].concat()), 1);
        // No name: the URL without its query.
        assert_eq!(
            reqs(&[&[("name", "http://127.0.0.1:9/x")][..], &ok200].concat()),
            1
        );
        assert_eq!(
            reqs(&[
                ("name", "a"),
                ("status", "0"),
                ("expected_response", "false"),
                ("error_code", &ErrorKind::Refused.k6_code().to_string()),
            ]),
            1
        );
        assert_eq!(shard.http.len(), 6);
        assert_eq!(shard.other.len(), 2);
        let checks = |pairs: &[(&str, &str)]| {
            let mut all = vec![("scenario", "s"), ("check", "c")];
            all.extend_from_slice(pairs);
            let key = format!(
                "checks{}{}",
                recorder::NAME_SEP,
                TagSet::from_pairs(all).as_str()
            );
            match &shard.other[key.as_str()] {
                crate::metrics::data::MetricData::Rate { total, .. } => *total,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!((checks(&[]), checks(&[("k", "v")])), (2, 1));
    }

    #[test]
    fn guest_call_futures_stay_small() {
        let mut state = state();
        let packed = std::mem::size_of_val(&Host::send_packed(&mut state, request(None, &[])));
        let pairs = std::mem::size_of_val(&Host::send(&mut state, request(None, &[])));
        let bare = std::mem::size_of_val(&Host::send_bare(&mut state, request(None, &[])));
        // wasmtime boxes this future inside two generated layers that each
        // keep the request (2 x 200 bytes). glibc serves up to 1,032 bytes
        // from its per-thread cache; past that, every call's box takes the
        // allocator's slow path (about 500 instructions more per request).
        for size in [packed, pairs, bare] {
            assert!(size <= 512, "a guest call's future takes {size} bytes");
        }
    }

    #[test]
    fn both_shapes_carry_the_same_headers() {
        let packed = received().into_packed();
        assert_eq!(
            packed.headers,
            "content-type: text/plain\nset-cookie: a=1\nset-cookie: b=2\nx-raw: caf\u{fffd}\n"
        );
        assert_eq!(packed.body, b"ok");
        let pairs = received().into_response().headers;
        let lines: String = pairs.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        assert_eq!(lines, packed.headers);
        assert!(header_block(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn bare_responses_keep_their_headers_by_index_until_the_next_bare_call() {
        let mut state = state();
        let failed = HttpError {
            kind: wit::ErrorKind::Refused,
            message: "refused".into(),
            timings: to_wit_timings(&Timings::default()),
        };
        // As a batch of three whose middle request failed.
        let first = Received::into_bare(Ok(received()), &mut state.kept_headers).unwrap();
        assert!(Received::into_bare(Err(failed), &mut state.kept_headers).is_err());
        Received::into_bare(Ok(received()), &mut state.kept_headers).unwrap();
        assert_eq!((first.status, &first.body[..]), (200, &b"ok"[..]));

        let packed = received().into_packed().headers;
        assert_eq!(
            Host::kept_headers(&mut state, 0).unwrap(),
            Some(packed.clone())
        );
        // Reading does not consume them.
        assert_eq!(
            Host::kept_headers(&mut state, 0).unwrap(),
            Some(packed.clone())
        );
        assert_eq!(Host::kept_headers(&mut state, 1).unwrap(), None);
        assert_eq!(Host::kept_headers(&mut state, 2).unwrap(), Some(packed));
        assert_eq!(Host::kept_headers(&mut state, 3).unwrap(), None);
        assert_eq!(Host::kept_headers(&mut state, u32::MAX).unwrap(), None);

        // The next bare call lets them go before its request leaves.
        drop(Host::send_bare(&mut state, request(None, &[])));
        assert_eq!(Host::kept_headers(&mut state, 0).unwrap(), None);
    }
}
