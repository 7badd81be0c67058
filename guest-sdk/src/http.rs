//! HTTP requests performed and measured by the runner.
//!
//! Every request is recorded (`http_reqs`, `http_req_duration`,
//! `http_req_failed`, ...) under its `name` tag and extra tags, as in k6:
//!
//! ```no_run
//! use wasm_slo_sdk::http;
//!
//! # fn f() -> wasm_slo_sdk::Result<()> {
//! let res = http::get("http://127.0.0.1:8080/api/tasks/7")
//!     .name("GET /api/tasks/{id}") // one metric series for all ids
//!     .bearer("tok-user1")
//!     .expect_status(200)
//!     .send()?;
//! let task: wasm_slo_sdk::serde_json::Value = res.json()?;
//! # Ok(()) }
//! ```
//!
//! A status outside the expected ones is not an `Err`: the request succeeded
//! at the HTTP level, the runner counts it in `http_req_failed`, and
//! [`Response::is_expected`] says so. `Err(HttpError)` means there was no
//! response (refused, timeout, DNS, TLS, ...).
//!
//! [`Client`] holds a base URL and default headers, like Locust's
//! `self.client` with its `host`.

use std::borrow::Cow;
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::convert::{self, WitTags};
use crate::error::{Error, Result};
use crate::headers::{self, Headers};
use crate::wit::wasm_slo::scenario::http as wit;

/// An HTTP method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// Any other method, sent as written.
    Other(String),
}

impl Method {
    /// The method as sent on the wire, e.g. `"GET"`.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(m) => m,
        }
    }

    fn to_wit(&self) -> wit::Method {
        match self {
            Method::Get => wit::Method::Get,
            Method::Head => wit::Method::Head,
            Method::Post => wit::Method::Post,
            Method::Put => wit::Method::Put,
            Method::Patch => wit::Method::Patch,
            Method::Delete => wit::Method::Delete,
            Method::Options => wit::Method::Options,
            Method::Other(m) => wit::Method::Other(m.clone()),
        }
    }
}

impl From<&str> for Method {
    /// Standard methods by their upper-case names; anything else is
    /// [`Method::Other`].
    fn from(method: &str) -> Self {
        match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        }
    }
}

impl From<String> for Method {
    fn from(method: String) -> Self {
        Method::from(method.as_str())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Starts a `GET` request.
pub fn get(url: impl Into<String>) -> RequestBuilder {
    request(Method::Get, url)
}

/// Starts a `POST` request.
pub fn post(url: impl Into<String>) -> RequestBuilder {
    request(Method::Post, url)
}

/// Starts a `PUT` request.
pub fn put(url: impl Into<String>) -> RequestBuilder {
    request(Method::Put, url)
}

/// Starts a `PATCH` request.
pub fn patch(url: impl Into<String>) -> RequestBuilder {
    request(Method::Patch, url)
}

/// Starts a `DELETE` request.
pub fn delete(url: impl Into<String>) -> RequestBuilder {
    request(Method::Delete, url)
}

/// Starts a `HEAD` request.
pub fn head(url: impl Into<String>) -> RequestBuilder {
    request(Method::Head, url)
}

/// Starts a request with any method: `request("OPTIONS", url)`.
pub fn request(method: impl Into<Method>, url: impl Into<String>) -> RequestBuilder {
    RequestBuilder::new(method.into(), url.into())
}

/// A request being built; [`RequestBuilder::send`] performs it.
///
/// Cloning a builder is cheap enough to reuse a prepared request.
#[derive(Clone, Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    name: Option<String>,
    tags: WitTags,
    timeout: Option<Duration>,
    expected: Vec<(u16, u16)>,
    discard_body: bool,
    /// A problem found while building (e.g. a body that failed to
    /// serialize); [`RequestBuilder::send`] returns it without sending.
    invalid: Option<String>,
}

impl RequestBuilder {
    fn new(method: Method, url: String) -> Self {
        Self {
            method,
            url,
            headers: Vec::new(),
            body: Vec::new(),
            name: None,
            tags: Vec::new(),
            timeout: None,
            expected: Vec::new(),
            discard_body: false,
            invalid: None,
        }
    }

    /// The `name` tag this request is recorded under, e.g. `"GET /tasks/{id}"`
    /// (k6's `tags.name`, Locust's `name=`). Without it the runner uses the
    /// URL without its query.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets a header, replacing earlier values of the same name (compared
    /// case-insensitively), like a k6 or Locust headers map.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        set_header(&mut self.headers, name.into(), value.into());
        self
    }

    /// Adds a header line, keeping earlier values of the same name.
    pub fn append_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: impl fmt::Display) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// Adds a tag to this request's samples (replacing one of the same key).
    pub fn tag(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        convert::set_tag(&mut self.tags, key.as_ref(), value.as_ref());
        self
    }

    /// Adds several tags: `.tags(&[("flow", "checkout"), ("step", "pay")])`.
    pub fn tags(mut self, tags: &[(&str, &str)]) -> Self {
        for (k, v) in tags {
            convert::set_tag(&mut self.tags, k, v);
        }
        self
    }

    /// The request body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body, with `Content-Type: application/json`. A value that fails
    /// to serialize makes [`send`](Self::send) return an error
    /// ([`ErrorKind::Other`]) without sending anything.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.body = body,
            Err(e) => self.invalid = Some(format!("serializing the JSON body: {e}")),
        }
        self.header("Content-Type", "application/json")
    }

    /// A limit for the whole exchange (the runner's default is 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Counts `status` as success (k6's `expectedStatuses`). May be called
    /// several times; without any, 200-399 are expected.
    pub fn expect_status(self, status: u16) -> Self {
        self.expect_statuses(status..=status)
    }

    /// Counts a range of statuses as success: `.expect_statuses(200..=299)`,
    /// `.expect_statuses(400..500)`. Adds to earlier expectations.
    pub fn expect_statuses(mut self, statuses: impl RangeBounds<u16>) -> Self {
        match status_range(&statuses) {
            Some(range) => self.expected.push(range),
            None => {
                self.invalid = Some(format!(
                    "empty range of expected statuses {:?}..{:?}",
                    statuses.start_bound(),
                    statuses.end_bound()
                ))
            }
        }
        self
    }

    /// Lets the runner read and count the body without handing it to the
    /// scenario ([`Response::body`] is empty): big bodies never cross into wasm.
    pub fn discard_body(mut self) -> Self {
        self.discard_body = true;
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends the request and waits for its response.
    pub fn send(self) -> Result<Response, HttpError> {
        let method = self.method.clone();
        let request = self.into_wit()?;
        headers::before_call();
        let result = wit::send_bare(&request);
        // The URL moves on into the response's label: no copy per request.
        Response::from_wit_result(result, 0, Label::sent(method, request))
    }

    fn label(&self) -> Label {
        Label {
            method: self.method.clone(),
            url: self.url.clone(),
        }
    }

    fn into_wit(self) -> std::result::Result<wit::Request, HttpError> {
        if let Some(message) = &self.invalid {
            return Err(HttpError::new(
                ErrorKind::Other,
                message.clone(),
                Timings::default(),
                self.label(),
            ));
        }
        Ok(wit::Request {
            method: self.method.to_wit(),
            url: self.url,
            headers: self.headers,
            body: self.body,
            name: self.name,
            tags: self.tags,
            timeout: self.timeout.map(convert::nanos),
            expected_statuses: self
                .expected
                .into_iter()
                .map(|(min, max)| wit::StatusRange { min, max })
                .collect(),
            discard_body: self.discard_body,
        })
    }
}

/// Sends the requests in parallel (k6's `http.batch`); the results are in the
/// order of the requests.
pub fn batch(
    requests: impl IntoIterator<Item = RequestBuilder>,
) -> Vec<Result<Response, HttpError>> {
    let mut results: Vec<Option<Result<Response, HttpError>>> = Vec::new();
    let mut to_send = Vec::new();
    let mut methods = Vec::new();
    for request in requests {
        let method = request.method.clone();
        match request.into_wit() {
            Ok(wit_request) => {
                to_send.push(wit_request);
                methods.push((results.len(), method));
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    if !to_send.is_empty() {
        headers::before_call();
        let answers = wit::batch_bare(&to_send);
        let sent = methods.into_iter().zip(to_send);
        for ((kept, ((index, method), request)), answer) in (0..).zip(sent).zip(answers) {
            results[index] = Some(Response::from_wit_result(
                answer,
                kept,
                Label::sent(method, request),
            ));
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(HttpError::new(
                    ErrorKind::Other,
                    "the runner returned fewer batch results than requests".into(),
                    Timings::default(),
                    Label {
                        method: Method::Get,
                        url: String::new(),
                    },
                ))
            })
        })
        .collect()
}

/// What a request was, for messages.
#[derive(Clone, Debug)]
struct Label {
    method: Method,
    url: String,
}

impl Label {
    /// The label of a request that went to the runner, taking its URL.
    fn sent(method: Method, request: wit::Request) -> Self {
        Label {
            method,
            url: request.url,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

/// The phases of one exchange, as k6 reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Waiting for a free connection of this VU.
    pub blocked: Duration,
    /// TCP connect (zero on a reused keep-alive connection).
    pub connecting: Duration,
    /// TLS handshake (zero on a reused connection or plain HTTP).
    pub tls_handshaking: Duration,
    /// Writing the request.
    pub sending: Duration,
    /// From the request written to the first byte of the response.
    pub waiting: Duration,
    /// Reading the response body.
    pub receiving: Duration,
    /// sending + waiting + receiving (k6's `http_req_duration`).
    pub duration: Duration,
}

impl From<wit::Timings> for Timings {
    fn from(t: wit::Timings) -> Self {
        Self {
            blocked: convert::duration(t.blocked),
            connecting: convert::duration(t.connecting),
            tls_handshaking: convert::duration(t.tls_handshaking),
            sending: convert::duration(t.sending),
            waiting: convert::duration(t.waiting),
            receiving: convert::duration(t.receiving),
            duration: convert::duration(t.duration),
        }
    }
}

/// A response.
#[derive(Clone, Debug)]
pub struct Response {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
    timings: Timings,
    expected: bool,
    label: Label,
}

impl Response {
    /// The answer to the request at `index` of the call just made.
    fn from_wit_result(
        result: std::result::Result<wit::BareResponse, wit::HttpError>,
        index: u32,
        label: Label,
    ) -> Result<Response, HttpError> {
        match result {
            Ok(r) => Ok(Response {
                status: r.status,
                headers: Headers::kept(index),
                body: r.body,
                timings: r.timings.into(),
                expected: r.expected,
                label,
            }),
            Err(e) => Err(HttpError::new(
                e.kind.into(),
                e.message,
                e.timings.into(),
                label,
            )),
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .lines()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All values of a header, by case-insensitive name.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .lines()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All headers as received: names lowercase, in order of first
    /// appearance, a repeated name's values together.
    pub fn headers(&self) -> &[(String, String)] {
        self.headers.pairs()
    }

    /// The body (empty if the request used
    /// [`discard_body`](RequestBuilder::discard_body)).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, taking ownership.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as text; invalid UTF-8 becomes U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(e).context(format!(
                "{} answered {} with a body that is not the expected JSON",
                self.label, self.status
            ))
        })
    }

    /// The phases of the exchange.
    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// Whether the status is one of the request's expected statuses (the
    /// runner counts the others in `http_req_failed`).
    pub fn is_expected(&self) -> bool {
        self.expected
    }

    /// `Ok(self)` if the status was expected, else an error naming the
    /// request, the status and the start of the body:
    /// `let token = http::post(url).json(&creds).send()?.ensure_expected()?`.
    pub fn ensure_expected(self) -> Result<Self> {
        if self.expected {
            return Ok(self);
        }
        let text = self.text();
        let excerpt: String = text.chars().take(200).collect();
        let more = if text.chars().count() > 200 {
            "..."
        } else {
            ""
        };
        Err(Error::msg(format!(
            "{} answered with unexpected status {}: {excerpt}{more}",
            self.label, self.status
        )))
    }
}

/// Why a request got no response, mirroring the runner's error kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL could not be parsed or has an unsupported scheme.
    InvalidUrl,
    /// The host is not in the scenario's allowed hosts.
    ForbiddenHost,
    /// The host name did not resolve.
    Dns,
    /// The connection was refused.
    Refused,
    /// The connection was reset or closed mid-exchange.
    Reset,
    /// The request's timeout passed.
    Timeout,
    /// The TLS handshake failed (e.g. an untrusted certificate).
    Tls,
    /// The peer broke the HTTP protocol.
    Protocol,
    /// Anything else, including a request the SDK could not build (then
    /// nothing was sent); see the message.
    Other,
}

impl ErrorKind {
    /// The kind's name as in the WIT contract, e.g. `"forbidden-host"`.
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

impl From<wit::ErrorKind> for ErrorKind {
    fn from(kind: wit::ErrorKind) -> Self {
        match kind {
            wit::ErrorKind::InvalidUrl => ErrorKind::InvalidUrl,
            wit::ErrorKind::ForbiddenHost => ErrorKind::ForbiddenHost,
            wit::ErrorKind::Dns => ErrorKind::Dns,
            wit::ErrorKind::Refused => ErrorKind::Refused,
            wit::ErrorKind::Reset => ErrorKind::Reset,
            wit::ErrorKind::Timeout => ErrorKind::Timeout,
            wit::ErrorKind::Tls => ErrorKind::Tls,
            wit::ErrorKind::Protocol => ErrorKind::Protocol,
            wit::ErrorKind::Other => ErrorKind::Other,
        }
    }
}

/// A request that got no response. Displays as
/// `"GET http://host/path: refused: <runner's message>"`.
#[derive(Clone, Debug)]
pub struct HttpError {
    /// Boxed to keep `Result<Response, HttpError>` small.
    inner: Box<HttpErrorInner>,
}

#[derive(Clone, Debug)]
struct HttpErrorInner {
    kind: ErrorKind,
    message: String,
    timings: Timings,
    label: Label,
}

impl HttpError {
    fn new(kind: ErrorKind, message: String, timings: Timings, label: Label) -> Self {
        Self {
            inner: Box::new(HttpErrorInner {
                kind,
                message,
                timings,
                label,
            }),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The runner's description of the failure.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The phases measured before the failure.
    pub fn timings(&self) -> Timings {
        self.inner.timings
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        &self.inner.label.method
    }

    /// The request's URL.
    pub fn url(&self) -> &str {
        &self.inner.label.url
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.inner;
        write!(f, "{}: {}: {}", e.label, e.kind, e.message)
    }
}

impl std::error::Error for HttpError {}

/// A base URL with default headers, tags and timeout (Locust's
/// `self.client` with its `host`).
///
/// ```no_run
/// use wasm_slo_sdk::http::Client;
///
/// let api = Client::new("http://127.0.0.1:8080").bearer("tok-user1");
/// let res = api.get("/api/tasks").name("GET /api/tasks").send();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Client {
    base_url: String,
    headers: Vec<(String, String)>,
    tags: WitTags,
    timeout: Option<Duration>,
}

impl Client {
    /// A client for `base_url`, e.g. `"http://127.0.0.1:8080"`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            ..Self::default()
        }
    }

    /// A default header for every request (replacing one of the same name).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_header(name, value);
        self
    }

    /// Sets a default header on an existing client.
    pub fn set_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        set_header(&mut self.headers, name.into(), value.into());
    }

    /// `Authorization: Bearer <token>` on every request.
    pub fn bearer(self, token: impl fmt::Display) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// A default tag for every request.
    pub fn tag(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        convert::set_tag(&mut self.tags, key.as_ref(), value.as_ref());
        self
    }

    /// A default timeout for every request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `path` resolved against the base URL; absolute `http(s)://` URLs are
    /// kept as they are.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_owned();
        }
        let base = self.base_url.trim_end_matches('/');
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            return base.to_owned();
        }
        // Once per request: plain pushes cost less than `format!`.
        let mut url = String::with_capacity(base.len() + 1 + path.len());
        url.push_str(base);
        url.push('/');
        url.push_str(path);
        url
    }

    /// Starts a request to `path` with the client's defaults.
    pub fn request(&self, method: impl Into<Method>, path: &str) -> RequestBuilder {
        let mut builder = request(method, self.url(path));
        builder.headers = self.headers.clone();
        builder.tags = self.tags.clone();
        builder.timeout = self.timeout;
        builder
    }

    /// Starts a `GET` request to `path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::Get, path)
    }

    /// Starts a `POST` request to `path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::Post, path)
    }

    /// Starts a `PUT` request to `path`.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::Put, path)
    }

    /// Starts a `PATCH` request to `path`.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::Patch, path)
    }

    /// Starts a `DELETE` request to `path`.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::Delete, path)
    }

    /// Starts a `HEAD` request to `path`.
    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::Head, path)
    }
}

fn set_header(headers: &mut Vec<(String, String)>, name: String, value: String) {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
    headers.push((name, value));
}

/// A `RangeBounds<u16>` as an inclusive `(min, max)`; `None` when empty.
fn status_range(range: &impl RangeBounds<u16>) -> Option<(u16, u16)> {
    let min = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let max = match range.end_bound() {
        Bound::Included(&e) => e,
        Bound::Excluded(&e) => e.checked_sub(1)?,
        Bound::Unbounded => u16::MAX,
    };
    (min <= max).then_some((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::reversed_empty_ranges)]
    fn status_ranges() {
        assert_eq!(status_range(&(200..=299)), Some((200, 299)));
        assert_eq!(status_range(&(200..300)), Some((200, 299)));
        assert_eq!(status_range(&(500..)), Some((500, u16::MAX)));
        assert_eq!(status_range(&(201..=201)), Some((201, 201)));
        assert_eq!(status_range(&(300..200)), None);
        assert_eq!(status_range(&(0..0)), None);
    }

    #[test]
    fn builder_fills_the_wit_request() {
        let r = post("http://h/x")
            .name("POST /x")
            .header("content-type", "text/plain")
            .json(&serde_json::json!({"a": 1}))
            .bearer("t")
            .tag("k", "v")
            .expect_status(201)
            .expect_statuses(400..500)
            .timeout(Duration::from_millis(1500))
            .discard_body()
            .into_wit()
            .unwrap();
        assert_eq!(
            r.headers,
            vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("Authorization".to_owned(), "Bearer t".to_owned()),
            ]
        );
        assert_eq!(r.body, br#"{"a":1}"#);
        assert_eq!(r.name.as_deref(), Some("POST /x"));
        assert_eq!(r.tags, vec![("k".to_owned(), "v".to_owned())]);
        assert_eq!(r.timeout, Some(1_500_000_000));
        assert_eq!(r.expected_statuses.len(), 2);
        assert_eq!(
            (r.expected_statuses[1].min, r.expected_statuses[1].max),
            (400, 499)
        );
        assert!(r.discard_body);
    }

    #[test]
    fn invalid_bodies_fail_before_sending() {
        struct Bad;
        impl Serialize for Bad {
            fn serialize<S: serde::Serializer>(
                &self,
                _: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("nope"))
            }
        }
        let err = post("http://h/x").json(&Bad).into_wit().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(
            err.to_string(),
            "POST http://h/x: other: serializing the JSON body: nope"
        );
    }

    #[test]
    fn headers_read_by_name_and_as_pairs() {
        let mut response = Response::from_wit_result(
            Ok(wit::BareResponse {
                status: 200,
                body: b"ok".to_vec(),
                timings: wit::Timings {
                    blocked: 0,
                    connecting: 0,
                    tls_handshaking: 0,
                    sending: 0,
                    waiting: 0,
                    receiving: 0,
                    duration: 0,
                },
                expected: true,
            }),
            0,
            get("http://h/").label(),
        )
        .unwrap();
        // As the runner's `kept-headers` would hand them over.
        response.headers = Headers::packed(
            "content-type: text/plain\nset-cookie: a=1\nset-cookie: b=2\n\
             x-empty: \nx-colon: a: b\n"
                .to_owned(),
        );
        assert_eq!(response.header("Content-Type"), Some("text/plain"));
        assert_eq!(
            response.header_all("set-cookie").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        assert_eq!(response.header("x-empty"), Some(""));
        assert_eq!(response.header("x-colon"), Some("a: b"));
        assert_eq!(response.header("missing"), None);
        let pairs: Vec<(&str, &str)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("content-type", "text/plain"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("x-empty", ""),
                ("x-colon", "a: b"),
            ]
        );
    }

    #[test]
    fn client_joins_urls_and_defaults() {
        let c = Client::new("http://h:1/").bearer("x").tag("a", "b");
        assert_eq!(c.url("/api/tasks"), "http://h:1/api/tasks");
        assert_eq!(c.url("api"), "http://h:1/api");
        assert_eq!(c.url(""), "http://h:1");
        assert_eq!(c.url("https://other/x"), "https://other/x");
        let r = c.get("/x").bearer("y").into_wit().unwrap();
        assert_eq!(
            r.headers,
            vec![("Authorization".to_owned(), "Bearer y".to_owned())]
        );
        assert_eq!(r.tags, vec![("a".to_owned(), "b".to_owned())]);
    }
}
