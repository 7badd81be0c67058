//! Turning an [`OutgoingRequest`] into what goes on the wire: URL checks,
//! origin-form target, default headers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::{Method, Request, Uri};

use super::connect::{Failure, ReqBody, Target};
use super::{ErrorKind, OutgoingRequest};

/// Where a request goes: the scheme and authority of its URL, with the
/// headers they imply.
#[derive(Clone)]
pub(crate) struct Origin {
    tls: bool,
    authority: Authority,
    port: u16,
    host_header: HeaderValue,
    basic_auth: Option<HeaderValue>,
}

impl Origin {
    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            host: self.authority.host(),
            port: self.port,
            tls: self.tls,
        }
    }
}

/// A URL split into its origin and its request target.
pub(crate) struct SplitUrl {
    pub(crate) origin: Origin,
    pub(crate) path: PathAndQuery,
    /// The URL's text up to the end of the authority (`http://host:8080`),
    /// when the path follows it as written: a later URL with the same text
    /// there has the same origin (see [`path_after`]).
    pub(crate) prefix: Option<String>,
}

/// Parses an absolute `http` or `https` URL.
pub(crate) fn split_url(url: &str) -> Result<SplitUrl, Failure> {
    let escaped;
    let url = if url.bytes().any(needs_escape) {
        escaped = escape_url(url);
        escaped.as_str()
    } else {
        url
    };
    let uri = Uri::try_from(url)
        .map_err(|e| Failure::new(ErrorKind::InvalidUrl, format!("invalid URL: {e}")))?;
    let parts = uri.into_parts();
    let tls = match parts.scheme.as_ref().map(Scheme::as_str) {
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        Some(s) => {
            return Err(Failure::new(
                ErrorKind::InvalidUrl,
                format!("unsupported URL scheme {s:?} (only http and https)"),
            ));
        }
        None => {
            return Err(Failure::new(
                ErrorKind::InvalidUrl,
                "invalid URL: not absolute (expected http:// or https://)",
            ));
        }
    };
    let authority = match parts.authority {
        Some(a) if !a.host().is_empty() => a,
        _ => return Err(Failure::new(ErrorKind::InvalidUrl, "invalid URL: no host")),
    };
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let (path, prefix) = match parts.path_and_query {
        // `http://h?q` has no path; the request target needs one.
        Some(pq) if !pq.as_str().starts_with('/') => (
            PathAndQuery::try_from(format!("/{}", pq.as_str()))
                .map_err(|e| Failure::new(ErrorKind::InvalidUrl, format!("invalid URL: {e}")))?,
            None,
        ),
        Some(pq) => {
            let prefix = url
                .find("://")
                .and_then(|i| url.get(..i + 3 + authority.as_str().len()))
                .filter(|p| p.ends_with(authority.as_str()))
                .map(str::to_owned);
            (pq, prefix)
        }
        None => (PathAndQuery::from_static("/"), None),
    };
    let (userinfo, host_port) = match authority.as_str().rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority.as_str()),
    };
    let host_header = super::lasting::header_value(host_port)
        .map_err(|_| Failure::new(ErrorKind::InvalidUrl, "invalid URL: bad host"))?;
    let basic_auth = userinfo.map(basic_auth);
    Ok(SplitUrl {
        origin: Origin {
            tls,
            authority,
            port,
            host_header,
            basic_auth,
        },
        path,
        prefix,
    })
}

/// The request target of `url` if it has `prefix` (a URL's text up to the
/// end of its authority, see [`SplitUrl::prefix`]) and a path that needs
/// no escaping; else `url` back, for [`split_url`].
pub(crate) fn path_after(url: String, prefix: &str) -> Result<PathAndQuery, String> {
    let fits = url
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('/') && !rest.bytes().any(needs_escape));
    if !fits {
        return Err(url);
    }
    // The path shares the URL's buffer: one allocation to share it and none
    // to copy it, here or when the request is built from it.
    let whole = Bytes::from(url);
    PathAndQuery::from_maybe_shared(whole.slice(prefix.len()..))
        .map_err(|_| String::from_utf8_lossy(&whole).into_owned())
}

/// A validated request, ready to be (re)built for a connection.
///
/// It lives in every request's future, so it is kept small: the origin is
/// shared and the built request boxed (see the test
/// `request_future_stays_small`).
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) origin: Arc<Origin>,
    path: PathAndQuery,
    headers: Vec<(String, String)>,
    body: Bytes,
    pub(crate) timeout: Duration,
    pub(crate) discard_body: bool,
    /// Built up front (which validates the headers); taken by the first
    /// attempt and rebuilt only if a retry needs it again.
    pub(crate) request: Option<Box<Request<ReqBody>>>,
}

impl Prepared {
    /// `req` without its URL, which `origin` and `path` stand for.
    pub(crate) fn new(
        req: OutgoingRequest,
        origin: Arc<Origin>,
        path: PathAndQuery,
        default_timeout: Duration,
        user_agent: Option<&HeaderValue>,
    ) -> Result<Self, Failure> {
        let OutgoingRequest {
            method,
            url: _,
            headers,
            body,
            timeout,
            discard_body,
        } = req;
        let mut prepared = Prepared {
            method,
            origin,
            path,
            headers,
            body,
            timeout: timeout.unwrap_or(default_timeout),
            discard_body,
            request: None,
        };
        prepared.request = Some(Box::new(prepared.build(user_agent)?));
        Ok(prepared)
    }

    /// Whether the request may be sent again after it was written to a
    /// connection the server closed before answering. As Go's client (so
    /// k6) decides: safe methods (GET, HEAD, OPTIONS, TRACE), or any method
    /// carrying an `Idempotency-Key` (or `X-Idempotency-Key`) header. PUT
    /// and DELETE, idempotent by RFC 9110, are not resent without a key,
    /// because a server may not honour that in practice.
    pub(crate) fn replayable(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        ) || self.headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("idempotency-key") || k.eq_ignore_ascii_case("x-idempotency-key")
        })
    }

    /// The hyper request: origin-form target, Host first, the caller's
    /// headers, then defaults the caller did not set.
    pub(crate) fn build(
        &self,
        user_agent: Option<&HeaderValue>,
    ) -> Result<Request<ReqBody>, Failure> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = Uri::from(self.path.clone());
        let h = req.headers_mut();
        h.reserve(self.headers.len() + 3);
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            h.insert(header::HOST, self.origin.host_header.clone());
        }
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                Failure::new(ErrorKind::Protocol, format!("invalid header name {k:?}"))
            })?;
            let value = HeaderValue::from_bytes(v.as_bytes()).map_err(|_| {
                Failure::new(
                    ErrorKind::Protocol,
                    format!("invalid value for header {k:?}"),
                )
            })?;
            h.append(name, value);
        }
        if let Some(ua) = user_agent
            && !h.contains_key(header::USER_AGENT)
        {
            h.insert(header::USER_AGENT, ua.clone());
        }
        if let Some(auth) = &self.origin.basic_auth
            && !h.contains_key(header::AUTHORIZATION)
        {
            h.insert(header::AUTHORIZATION, auth.clone());
        }
        // hyper sets Content-Length for non-empty bodies. Like Go, also send
        // `Content-Length: 0` where a body is expected, or some servers answer
        // 411 Length Required.
        if self.body.is_empty()
            && matches!(self.method, Method::POST | Method::PUT | Method::PATCH)
            && !h.contains_key(header::CONTENT_LENGTH)
            && !h.contains_key(header::TRANSFER_ENCODING)
        {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        Ok(req)
    }
}

/// Bytes a browser would percent-encode in a path or query, and which
/// `http::Uri` rejects (or, for non-ASCII, would send raw).
fn needs_escape(b: u8) -> bool {
    b <= b' '
        || b >= 0x7f
        || matches!(
            b,
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
}

/// Percent-encodes what `needs_escape` flags after the authority, so
/// `http://h/a b?q=ü` works as in a browser. Rare: only called when needed.
fn escape_url(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    let mut out = String::with_capacity(url.len() + 16);
    out.push_str(&url[..path_start]);
    for &b in &url.as_bytes()[path_start..] {
        if needs_escape(b) {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        } else {
            out.push(b as char);
        }
    }
    out
}

/// `Authorization: Basic ...` from URL userinfo (`user:pass`, percent-encoded).
fn basic_auth(userinfo: &str) -> HeaderValue {
    let decoded = percent_decode(userinfo);
    let mut value = String::from("Basic ");
    base64_into(&decoded, &mut value);
    // Base64 output is always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Basic"))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let hex = |c: u8| (c as char).to_digit(16);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn base64_into(input: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            base64_into(input.as_bytes(), &mut out);
            assert_eq!(out, expected, "{input:?}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%3Ac"), b"a b:c");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz"), b"%zz");
    }

    #[test]
    fn a_known_origin_yields_only_the_path() {
        let split = split_url("http://u:p@h:8080/a?b=1#f").unwrap();
        let prefix = split.prefix.as_deref().unwrap();
        assert_eq!(prefix, "http://u:p@h:8080");
        assert_eq!(split.path.as_str(), "/a?b=1");
        assert_eq!(
            path_after("http://u:p@h:8080/x?y#z".into(), prefix)
                .unwrap()
                .as_str(),
            "/x?y"
        );
        // Another port that begins with the same digits, another host,
        // another user, a path that needs escaping, or no path at all: the
        // whole URL is parsed again.
        for other in [
            "http://u:p@h:80801/x",
            "http://u:p@h:8080.evil/x",
            "http://u:p@h:8080@x/y",
            "http://u:p@h:8080/a b",
            "http://u:p@h:8080?q",
            "http://u:p@h:8080",
            "https://u:p@h:8080/x",
        ] {
            assert_eq!(path_after(other.into(), prefix), Err(other.into()));
        }
        // A query without a path is rewritten, so its text is not reused.
        assert!(split_url("http://h?q").unwrap().prefix.is_none());
        let bare = split_url("http://h").unwrap();
        assert_eq!(
            (bare.prefix.as_deref(), bare.path.as_str()),
            (Some("http://h"), "/")
        );
    }

    #[test]
    fn escapes_only_after_the_authority() {
        assert_eq!(
            escape_url("http://h:1/a b?q=ü#x y"),
            "http://h:1/a%20b?q=%C3%BC#x%20y"
        );
        assert_eq!(escape_url("http://h"), "http://h");
    }
}
