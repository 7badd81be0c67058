//! Tests against real HTTP servers started in-process on 127.0.0.1:0.
//!
//! Most servers are hyper; where a test needs byte-level control of the
//! response (a pause between head and body, a close at a chosen moment) the
//! server is a few lines over a raw `TcpStream`. Timing assertions compare
//! phases with generous margins, never exact values.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::*;

const ZERO: Duration = Duration::ZERO;

// ---- harness ----

/// As the runner does: a current-thread runtime, inside a `LocalSet`.
async fn local<F: Future>(f: F) -> F::Output {
    tokio::task::LocalSet::new().run_until(f).await
}

fn config_with(
    tls: Arc<rustls::ClientConfig>,
    edit: impl FnOnce(&mut ClientConfig),
) -> Arc<ClientConfig> {
    let mut config = ClientConfig::new(tls);
    config.default_timeout = Duration::from_secs(10);
    edit(&mut config);
    Arc::new(config)
}

fn client() -> VuHttpClient {
    VuHttpClient::new(config_with(tls_config(&[], false).unwrap(), |_| {}))
}

struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(SeqCst)
    }
}

/// A hyper HTTP/1.1 server (TLS when `acceptor` is given) answering with `handler`.
async fn hyper_server<H, Fut>(acceptor: Option<TlsAcceptor>, handler: H) -> Server
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, SeqCst);
            // Else Nagle holds a small response behind TLS session tickets
            // until the client's delayed ACK: ~40 ms of apparent waiting.
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(tls), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    Server { addr, accepted }
}

/// Answers every request with its method, target and headers, one per line.
async fn echo(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut text = format!("{} {}\n", req.method(), req.uri());
    for (name, value) in req.headers() {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    text.push_str(&format!("body: {}\n", String::from_utf8_lossy(&body)));
    Response::new(Full::new(Bytes::from(text)))
}

/// A server that hands each accepted connection (numbered from 0) to `conn`.
async fn raw_server<F, Fut>(conn: F) -> Server
where
    F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = counter.fetch_add(1, SeqCst);
            tokio::spawn(conn(n, stream));
        }
    });
    Server { addr, accepted }
}

/// Reads one request head (these tests send no request bodies to raw
/// servers); `None` at end of stream.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// Answers every request on the connection with `OK_RESPONSE`.
async fn serve_ok(mut stream: TcpStream) {
    while read_head(&mut stream).await.is_some() {
        if stream.write_all(OK_RESPONSE).await.is_err() {
            return;
        }
    }
}

fn assert_phases_add_up(t: &Timings) {
    assert_eq!(t.sending + t.waiting + t.receiving, t.duration, "{t:?}");
}

fn self_signed() -> (TlsAcceptor, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (TlsAcceptor::from(Arc::new(config)), certified.cert.pem())
}

// ---- tests ----

#[test]
fn client_and_its_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let mut c = client();
    assert_send(&c);
    {
        let f = c.send(OutgoingRequest::get("http://127.0.0.1:9/"));
        assert_send(&f);
    }
    let f = c.batch(Vec::new());
    assert_send(&f);
}

/// A request's future is moved (copied whole) a few times on its way into
/// the VU's fiber, on every request. Dialing (name lookup, TCP, TLS) is
/// boxed so its state does not inflate the common case of a kept-alive
/// connection: unboxed, the future took 5.7 KiB (3.1 KiB boxed), and
/// copying futures was 5 % of the runner's CPU time in a profile. It was
/// 2 KiB until the request stopped being kept twice (as given and as
/// prepared) and the functions on the way stopped copying their arguments.
#[test]
fn request_future_stays_small() {
    let mut c = client();
    let f = c.send(OutgoingRequest::get("http://127.0.0.1:9/"));
    let size = std::mem::size_of_val(&f);
    // Boxed for each request: glibc serves up to 1,032 bytes from its
    // per-thread cache, and a larger box takes its slow path.
    assert!(size <= 1000, "a request's future takes {size} bytes");
}

#[test]
fn error_codes_follow_k6() {
    let expected = [
        (ErrorKind::InvalidUrl, 1020, "invalid-url"),
        (ErrorKind::ForbiddenHost, 1111, "forbidden-host"),
        (ErrorKind::Dns, 1100, "dns"),
        (ErrorKind::Refused, 1212, "refused"),
        (ErrorKind::Reset, 1220, "reset"),
        (ErrorKind::Timeout, 1050, "timeout"),
        (ErrorKind::Tls, 1300, "tls"),
        (ErrorKind::Protocol, 1000, "protocol"),
        (ErrorKind::Other, 1000, "other"),
    ];
    for (kind, code, name) in expected {
        assert_eq!(kind.k6_code(), code, "{kind:?}");
        assert_eq!(kind.as_str(), name);
        assert_eq!(kind.to_string(), name);
        // The summary names every code the client reports.
        assert!(ErrorKind::describe_k6_code(code).is_some(), "{code}");
    }
    assert_eq!(ErrorKind::describe_k6_code(1234), None);
}

#[tokio::test(flavor = "current_thread")]
async fn keep_alive_reuses_one_connection() {
    local(async {
        let server = hyper_server(None, |_req| async {
            Response::new(Full::new(Bytes::from_static(b"hello")))
        })
        .await;
        let mut c = client();
        for i in 0..5 {
            let x = c
                .send(OutgoingRequest::get(server.url(&format!("/n/{i}"))))
                .await
                .unwrap();
            assert_eq!(x.status, 200);
            assert_eq!(&x.body[..], b"hello");
            assert_phases_add_up(&x.timings);
            assert!(x.timings.duration > ZERO);
            assert_eq!(x.timings.blocked, ZERO);
            assert_eq!(x.timings.tls_handshaking, ZERO);
            if i == 0 {
                assert!(x.timings.connecting > ZERO, "{:?}", x.timings);
            } else {
                assert_eq!(x.timings.connecting, ZERO, "request {i} reconnected");
            }
            assert!(x.bytes_sent > 40, "{}", x.bytes_sent);
            assert!(x.bytes_received > 5, "{}", x.bytes_received);
            assert!(
                x.headers
                    .get("content-length")
                    .is_some_and(|v| v.as_bytes() == b"5")
            );
        }
        assert_eq!(server.accepted(), 1);
        assert_eq!(c.open_connections(), 1);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn server_closing_after_each_response_means_new_connections() {
    local(async {
        let server = hyper_server(None, |_req| async {
            Response::builder()
                .header("connection", "close")
                .body(Full::new(Bytes::from_static(b"bye")))
                .unwrap()
        })
        .await;
        let mut c = client();
        for _ in 0..3 {
            let x = c.send(OutgoingRequest::get(server.url("/"))).await.unwrap();
            assert_eq!(&x.body[..], b"bye");
            assert!(x.timings.connecting > ZERO);
        }
        assert_eq!(server.accepted(), 3);
        assert_eq!(c.open_connections(), 0);
    })
    .await;
}

/// A response that asks to close ends the connection on the client's side
/// (hyper closes it; the pool does not keep it), even when the server leaves
/// the socket open and would answer more requests on it.
#[tokio::test(flavor = "current_thread")]
async fn a_response_asking_to_close_is_the_connections_last_even_if_the_server_lingers() {
    local(async {
        let reused = Arc::new(AtomicUsize::new(0));
        let seen = reused.clone();
        // Even connections ask with `Connection: close` (among other
        // tokens), odd ones are HTTP/1.0 without keep-alive.
        let server = raw_server(move |n, mut stream| {
            let seen = seen.clone();
            async move {
                let response: &[u8] = if n % 2 == 0 {
                    b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\ncontent-length: 3\r\n\r\nbye"
                } else {
                    b"HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nbye"
                };
                let mut answered = 0;
                while read_head(&mut stream).await.is_some() {
                    if answered > 0 {
                        seen.fetch_add(1, SeqCst);
                    }
                    answered += 1;
                    if stream.write_all(response).await.is_err() {
                        return;
                    }
                }
            }
        })
        .await;
        let mut c = client();
        for _ in 0..4 {
            let x = c.send(OutgoingRequest::get(server.url("/"))).await.unwrap();
            assert_eq!(&x.body[..], b"bye");
            assert!(x.timings.connecting > ZERO);
            assert_eq!(c.open_connections(), 0);
        }
        assert_eq!(server.accepted(), 4);
        assert_eq!(reused.load(SeqCst), 0, "a connection asked to close was reused");
    })
    .await;
}

/// The server drops a keep-alive connection just as the client reuses it.
async fn drops_second_request(n: usize, mut stream: TcpStream) {
    if n > 0 {
        return serve_ok(stream).await;
    }
    if read_head(&mut stream).await.is_none() {
        return;
    }
    stream.write_all(OK_RESPONSE).await.unwrap();
    // Read the next request, then close without answering.
    let _ = read_head(&mut stream).await;
}

#[tokio::test(flavor = "current_thread")]
async fn idempotent_request_is_retried_once_on_a_fresh_connection() {
    local(async {
        let server = raw_server(drops_second_request).await;
        let mut c = client();
        c.send(OutgoingRequest::get(server.url("/1")))
            .await
            .unwrap();
        let x = c
            .send(OutgoingRequest::get(server.url("/2")))
            .await
            .unwrap();
        assert_eq!(&x.body[..], b"ok");
        // The retry had to connect again.
        assert!(x.timings.connecting > ZERO);
        assert_eq!(server.accepted(), 2);
        assert_eq!(c.open_connections(), 1);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn idle_connection_closed_by_server_is_not_reused() {
    local(async {
        let server = raw_server(|n, mut stream| async move {
            if n > 0 {
                return serve_ok(stream).await;
            }
            read_head(&mut stream).await;
            let _ = stream.write_all(OK_RESPONSE).await;
            // Keep-alive response, then an idle-timeout close.
        })
        .await;
        let mut c = client();
        c.send(OutgoingRequest::get(server.url("/1")))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(c.open_connections(), 0);
        let x = c
            .send(OutgoingRequest::get(server.url("/2")))
            .await
            .unwrap();
        assert_eq!(&x.body[..], b"ok");
        assert!(x.timings.connecting > ZERO);
        assert_eq!(server.accepted(), 2);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn sent_post_is_not_retried() {
    local(async {
        let server = raw_server(drops_second_request).await;
        let mut c = client();
        c.send(OutgoingRequest::get(server.url("/1")))
            .await
            .unwrap();
        let post = OutgoingRequest {
            method: Method::POST,
            ..OutgoingRequest::get(server.url("/2"))
        };
        let e = c.send(post).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Reset, "{e}");
        assert_eq!(e.kind.k6_code(), 1220);
        assert!(e.bytes_sent > 0);
        assert_eq!(server.accepted(), 1);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn connection_refused() {
    local(async {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let mut c = client();
        let e = c
            .send(OutgoingRequest::get(format!("http://{addr}/")))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert_eq!(e.kind.k6_code(), 1212);
        assert_eq!(e.message, format!("connection refused by {addr}"));
        assert_eq!(e.timings.duration, ZERO);
        assert_eq!(c.open_connections(), 0);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn timeout_bounds_the_exchange_and_drops_the_connection() {
    local(async {
        let server = hyper_server(None, |req: Request<Incoming>| async move {
            if req.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Response::new(Full::new(Bytes::from_static(b"done")))
        })
        .await;
        let mut c = client();
        c.send(OutgoingRequest::get(server.url("/fast")))
            .await
            .unwrap();
        assert_eq!(c.open_connections(), 1);

        let started = Instant::now();
        let slow = OutgoingRequest {
            timeout: Some(Duration::from_millis(200)),
            ..OutgoingRequest::get(server.url("/slow"))
        };
        let e = c.send(slow).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert_eq!(e.kind.k6_code(), 1050);
        assert_eq!(e.message, "timed out after 200ms waiting for the response");
        assert_phases_add_up(&e.timings);
        assert!(
            e.timings.duration >= Duration::from_millis(150),
            "{:?}",
            e.timings
        );
        assert!(e.timings.waiting > e.timings.sending, "{:?}", e.timings);
        assert!(e.bytes_sent > 0);
        assert_eq!(c.open_connections(), 0);

        // The next request opens a new connection and succeeds.
        c.send(OutgoingRequest::get(server.url("/fast")))
            .await
            .unwrap();
        assert_eq!(server.accepted(), 2);

        // The client's one timer, fired once and pushed later since, still
        // bounds the next slow request.
        let started = Instant::now();
        let slow = OutgoingRequest {
            timeout: Some(Duration::from_millis(200)),
            ..OutgoingRequest::get(server.url("/slow"))
        };
        assert_eq!(c.send(slow).await.unwrap_err().kind, ErrorKind::Timeout);
        assert!(started.elapsed() < Duration::from_secs(3));
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn late_response_head_is_waiting() {
    local(async {
        let server = raw_server(|_, mut stream| async move {
            read_head(&mut stream).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let _ = stream.write_all(OK_RESPONSE).await;
            let _ = read_head(&mut stream).await;
        })
        .await;
        let mut c = client();
        let x = c.send(OutgoingRequest::get(server.url("/"))).await.unwrap();
        let t = x.timings;
        assert_phases_add_up(&t);
        assert!(t.waiting >= Duration::from_millis(100), "{t:?}");
        assert!(t.receiving < t.waiting, "{t:?}");
        assert!(t.sending < t.waiting, "{t:?}");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn late_body_is_receiving() {
    local(async {
        let server = raw_server(|_, mut stream| async move {
            read_head(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
                .await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let _ = stream.write_all(b"hello").await;
            let _ = read_head(&mut stream).await;
        })
        .await;
        let mut c = client();
        let x = c.send(OutgoingRequest::get(server.url("/"))).await.unwrap();
        assert_eq!(&x.body[..], b"hello");
        let t = x.timings;
        assert_phases_add_up(&t);
        assert!(t.receiving >= Duration::from_millis(100), "{t:?}");
        assert!(t.waiting < t.receiving, "{t:?}");
        assert!(t.duration >= t.receiving);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn discarded_body_is_still_counted() {
    local(async {
        let server = hyper_server(None, |_req| async {
            Response::new(Full::new(Bytes::from(vec![b'x'; 100_000])))
        })
        .await;
        let mut c = client();
        let discard = OutgoingRequest {
            discard_body: true,
            ..OutgoingRequest::get(server.url("/"))
        };
        let x = c.send(discard).await.unwrap();
        assert_eq!(x.status, 200);
        assert!(x.body.is_empty());
        assert!(x.bytes_received >= 100_000, "{}", x.bytes_received);

        let kept = c.send(OutgoingRequest::get(server.url("/"))).await.unwrap();
        assert_eq!(kept.body.len(), 100_000);
        assert!(kept.bytes_received >= 100_000);
        assert_eq!(server.accepted(), 1);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn batch_uses_at_most_max_connections_and_keeps_order() {
    local(async {
        let current = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (cur, pk) = (current.clone(), peak.clone());
        let server = hyper_server(None, move |req: Request<Incoming>| {
            let (cur, pk) = (cur.clone(), pk.clone());
            async move {
                let now = cur.fetch_add(1, SeqCst) + 1;
                pk.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                cur.fetch_sub(1, SeqCst);
                Response::new(Full::new(Bytes::from(req.uri().path().to_owned())))
            }
        })
        .await;
        let config = config_with(tls_config(&[], false).unwrap(), |c| {
            c.max_conns_per_origin = 3
        });
        let mut c = VuHttpClient::new(config);
        let reqs = (0..10)
            .map(|i| OutgoingRequest::get(server.url(&format!("/b/{i}"))))
            .collect();
        let results = c.batch(reqs).await;
        assert_eq!(results.len(), 10);
        for (i, r) in results.iter().enumerate() {
            let x = r.as_ref().unwrap();
            assert_eq!(x.body, format!("/b/{i}").as_bytes());
            assert_phases_add_up(&x.timings);
            if i < 3 {
                assert_eq!(x.timings.blocked, ZERO);
            }
        }
        // Requests past the first three waited for a slot.
        assert!(results[9].as_ref().unwrap().timings.blocked > ZERO);
        assert!(server.accepted() <= 3, "{} connections", server.accepted());
        assert!(peak.load(SeqCst) <= 3);
        assert!(peak.load(SeqCst) >= 2, "batch ran sequentially");
        assert!(c.open_connections() <= 3);

        // The connections are reused by the next batch.
        let again = c
            .batch(vec![OutgoingRequest::get(server.url("/b/x"))])
            .await;
        assert!(again[0].is_ok());
        assert!(server.accepted() <= 3);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn batch_reports_invalid_requests_in_place() {
    local(async {
        let server = hyper_server(None, echo).await;
        let other = hyper_server(None, echo).await;
        let mut c = client();
        let results = c
            .batch(vec![
                OutgoingRequest::get(server.url("/a")),
                OutgoingRequest::get("nope"),
                OutgoingRequest::get(other.url("/b")),
                OutgoingRequest::get(server.url("/c")),
            ])
            .await;
        assert_eq!(results.len(), 4);
        assert!(results[0].as_ref().unwrap().body.starts_with(b"GET /a\n"));
        assert_eq!(results[1].as_ref().unwrap_err().kind, ErrorKind::InvalidUrl);
        assert!(results[2].as_ref().unwrap().body.starts_with(b"GET /b\n"));
        assert!(results[3].as_ref().unwrap().body.starts_with(b"GET /c\n"));
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn tls_with_a_self_signed_certificate() {
    local(async {
        let (acceptor, cert_pem) = self_signed();
        let server = hyper_server(Some(acceptor), |_req| async {
            Response::new(Full::new(Bytes::from_static(b"secure")))
        })
        .await;
        let port = server.addr.port();

        // Trusting the certificate: by IP and by name, connection reused.
        let trusting = tls_config(std::slice::from_ref(&cert_pem), false).unwrap();
        let mut c = VuHttpClient::new(config_with(trusting, |_| {}));
        for (i, host) in ["127.0.0.1", "127.0.0.1", "localhost"]
            .into_iter()
            .enumerate()
        {
            let x = c
                .send(OutgoingRequest::get(format!("https://{host}:{port}/")))
                .await
                .unwrap();
            assert_eq!(&x.body[..], b"secure");
            assert_phases_add_up(&x.timings);
            if i == 1 {
                assert_eq!(x.timings.tls_handshaking, ZERO, "not reused");
            } else {
                assert!(x.timings.tls_handshaking > ZERO);
                // Handshake bytes count toward the request that needed them.
                assert!(x.bytes_received > 200, "{}", x.bytes_received);
            }
        }
        // localhost is another origin than 127.0.0.1.
        assert_eq!(server.accepted(), 2);

        // Default roots only: the self-signed certificate is refused.
        let mut strict = VuHttpClient::new(config_with(tls_config(&[], false).unwrap(), |_| {}));
        let e = strict
            .send(OutgoingRequest::get(format!("https://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Tls, "{e}");
        assert_eq!(e.kind.k6_code(), 1300);
        assert!(
            e.message.starts_with("tls: invalid peer certificate"),
            "{}",
            e.message
        );
        assert!(e.timings.tls_handshaking > ZERO);

        // insecureSkipTLSVerify.
        let mut insecure = VuHttpClient::new(config_with(tls_config(&[], true).unwrap(), |_| {}));
        let x = insecure
            .send(OutgoingRequest::get(format!("https://127.0.0.1:{port}/")))
            .await
            .unwrap();
        assert_eq!(&x.body[..], b"secure");
    })
    .await;
}

#[test]
fn tls_config_rejects_garbage_ca() {
    assert!(tls_config(&["not a certificate".to_owned()], false).is_err());
    let config = tls_config(&[], false).unwrap();
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
}

#[tokio::test(flavor = "current_thread")]
async fn plain_http_to_a_tls_port_is_a_protocol_error() {
    local(async {
        let (acceptor, _) = self_signed();
        let server = hyper_server(Some(acceptor), |_req| async {
            Response::new(Full::new(Bytes::new()))
        })
        .await;
        let mut c = client();
        let e = c
            .send(OutgoingRequest::get(server.url("/")))
            .await
            .unwrap_err();
        // The TLS server answers plaintext with an alert or a close.
        assert!(
            matches!(e.kind, ErrorKind::Protocol | ErrorKind::Reset),
            "{e:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn invalid_urls_fail_without_a_connection() {
    local(async {
        let mut c = client();
        for url in [
            "not a url",
            "ftp://example.com/",
            "http://",
            "/relative",
            "http://exa mple.com/",
        ] {
            let e = c.send(OutgoingRequest::get(url)).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidUrl, "{url}: {e}");
            assert_eq!(e.kind.k6_code(), 1020);
            assert_eq!((e.bytes_sent, e.timings), (0, Timings::default()));
        }
        assert_eq!(c.open_connections(), 0);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn unresolvable_name_is_a_dns_error() {
    local(async {
        let mut c = client();
        // RFC 6761: `.invalid` never resolves, and the client answers it
        // itself, so no query leaves the machine.
        let e = c
            .send(OutgoingRequest::get("http://no-such-host.invalid/"))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Dns, "{e}");
        assert_eq!(e.kind.k6_code(), 1100);
        assert!(
            e.message.starts_with("dns: lookup no-such-host.invalid"),
            "{}",
            e.message
        );
    })
    .await;
}

/// The body of a successful response, as text.
async fn get(c: &mut VuHttpClient, req: OutgoingRequest) -> String {
    String::from_utf8(c.send(req).await.unwrap().body.to_vec()).unwrap()
}

/// The client remembers the last origin; every URL must still go where it
/// says, with its own Host and credentials.
#[tokio::test(flavor = "current_thread")]
async fn each_request_goes_to_its_own_origin() {
    local(async {
        let a = hyper_server(None, echo).await;
        let b = hyper_server(None, echo).await;
        let mut c = client();
        for (url, line, host) in [
            (a.url("/one"), "GET /one\n", a.addr),
            (a.url("/two?x=1"), "GET /two?x=1\n", a.addr),
            (b.url("/three"), "GET /three\n", b.addr),
            (a.url("/four"), "GET /four\n", a.addr),
        ] {
            let text = get(&mut c, OutgoingRequest::get(url)).await;
            assert!(text.starts_with(line), "{text}");
            assert!(text.contains(&format!("\nhost: {host}\n")), "{text}");
        }
        let with_user = format!("http://user:pw@{}/auth", a.addr);
        let text = get(&mut c, OutgoingRequest::get(with_user.clone())).await;
        assert!(text.contains("\nauthorization: Basic "), "{text}");
        let text = get(
            &mut c,
            OutgoingRequest::get(with_user.replace("/auth", "/again")),
        )
        .await;
        assert!(text.contains("\nauthorization: Basic "), "{text}");
        let text = get(&mut c, OutgoingRequest::get(a.url("/anon"))).await;
        assert!(
            text.starts_with("GET /anon\n") && !text.contains("authorization"),
            "{text}"
        );
        assert_eq!((a.accepted(), b.accepted()), (1, 1));
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn request_headers_and_target() {
    local(async {
        let server = hyper_server(None, echo).await;
        let mut c = client();
        let text = get(&mut c, OutgoingRequest::get(server.url("/p?q=1#frag"))).await;
        assert!(text.starts_with("GET /p?q=1\n"), "{text}");
        assert!(
            text.contains(&format!("\nhost: {}\n", server.addr)),
            "{text}"
        );
        assert!(text.contains("\nuser-agent: wasm-slo/"), "{text}");

        let custom = OutgoingRequest {
            headers: vec![
                ("User-Agent".into(), "mine".into()),
                ("X-Id".into(), "7".into()),
            ],
            ..OutgoingRequest::get(server.url("/a b/ü"))
        };
        let text = get(&mut c, custom).await;
        assert!(text.starts_with("GET /a%20b/%C3%BC\n"), "{text}");
        assert!(
            text.contains("\nuser-agent: mine\n") && !text.contains("wasm-slo"),
            "{text}"
        );
        assert!(text.contains("\nx-id: 7\n"), "{text}");

        let text = get(
            &mut c,
            OutgoingRequest::get(format!("http://{}?x=1", server.addr)),
        )
        .await;
        assert!(text.starts_with("GET /?x=1\n"), "{text}");

        let post = OutgoingRequest {
            method: Method::POST,
            body: Bytes::from_static(b"hello"),
            ..OutgoingRequest::get(server.url("/post"))
        };
        let text = get(&mut c, post).await;
        assert!(
            text.contains("\ncontent-length: 5\n") && text.ends_with("body: hello\n"),
            "{text}"
        );

        let empty_post = OutgoingRequest {
            method: Method::POST,
            ..OutgoingRequest::get(server.url("/post"))
        };
        let text = get(&mut c, empty_post).await;
        assert!(text.contains("\ncontent-length: 0\n"), "{text}");

        let auth = format!("http://user:p%40ss@{}/auth", server.addr);
        let text = get(&mut c, OutgoingRequest::get(auth)).await;
        // base64("user:p@ss")
        assert!(
            text.contains("\nauthorization: Basic dXNlcjpwQHNz\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("\nhost: {}\n", server.addr)),
            "{text}"
        );

        let bad = OutgoingRequest {
            headers: vec![("bad header".into(), "x".into())],
            ..OutgoingRequest::get(server.url("/"))
        };
        let e = c.send(bad).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert_eq!(server.accepted(), 1);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn no_user_agent_when_configured_empty() {
    local(async {
        let server = hyper_server(None, echo).await;
        let config = config_with(tls_config(&[], false).unwrap(), |c| c.user_agent.clear());
        let mut c = VuHttpClient::new(config);
        let x = c.send(OutgoingRequest::get(server.url("/"))).await.unwrap();
        assert!(!String::from_utf8_lossy(&x.body).contains("user-agent"));
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn truncated_body_is_a_reset() {
    local(async {
        let server = raw_server(|_, mut stream| async move {
            read_head(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b")
                .await;
        })
        .await;
        let mut c = client();
        let e = c
            .send(OutgoingRequest::get(server.url("/")))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Reset, "{e}");
        assert_eq!(e.message, "reading body: connection closed by peer");
        assert!(e.bytes_received > 10, "{}", e.bytes_received);
        assert_phases_add_up(&e.timings);
        assert_eq!(c.open_connections(), 0);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn malformed_response_is_a_protocol_error() {
    local(async {
        let server = raw_server(|_, mut stream| async move {
            read_head(&mut stream).await;
            let _ = stream.write_all(b"SMTP ready\r\n\r\n").await;
            let _ = read_head(&mut stream).await;
        })
        .await;
        let mut c = client();
        let e = c
            .send(OutgoingRequest::get(server.url("/")))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
        assert!(e.message.starts_with("malformed response"), "{}", e.message);
    })
    .await;
}

// ---- faults of the target server's fault listener ----

fn fault_server() -> wasm_slo_target::TargetServer {
    wasm_slo_target::spawn_in_thread(
        "127.0.0.1:0".parse().unwrap(),
        wasm_slo_target::ServerOptions::default(),
    )
    .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn every_target_fault_becomes_its_category() {
    local(async {
        let server = fault_server();
        let base = server.fault_base_url();
        // Messages are matched as substrings: a reset that overtakes the
        // head on a busy machine says "connection reset by peer" alone.
        let cases: [(&str, ErrorKind, &str); 6] = [
            (
                "/fault/reset-mid-body",
                ErrorKind::Reset,
                "connection reset by peer",
            ),
            (
                "/fault/close-mid-body",
                ErrorKind::Reset,
                "reading body: connection closed by peer",
            ),
            (
                "/fault/close-before-response",
                ErrorKind::Reset,
                "connection closed before the response was complete",
            ),
            (
                "/fault/slow-headers?ms=10000",
                ErrorKind::Timeout,
                "timed out after 300ms reading the response head",
            ),
            (
                "/fault/slow-body?ms=10000",
                ErrorKind::Timeout,
                "timed out after 300ms reading the body",
            ),
            (
                "/fault/malformed",
                ErrorKind::Protocol,
                "malformed response",
            ),
        ];
        for (path, kind, message) in cases {
            // A client per case: each fault meets a new connection.
            let mut c = client();
            let req = OutgoingRequest {
                timeout: Some(Duration::from_millis(300)),
                ..OutgoingRequest::get(format!("{base}{path}"))
            };
            let e = c.send(req).await.unwrap_err();
            assert_eq!(e.kind, kind, "{path}: {e}");
            assert!(e.message.contains(message), "{path}: {}", e.message);
            assert_phases_add_up(&e.timings);
            assert!(e.bytes_sent > 0, "{path}");
            // A failed connection is never pooled.
            assert_eq!(c.open_connections(), 0, "{path}");
            // The next request goes on.
            let ok = c
                .send(OutgoingRequest::get(format!("{base}/fault/ok")))
                .await
                .unwrap();
            assert_eq!(&ok.body[..], b"ok");
        }
        // What was cut short was still received and counted.
        let stats = server.stats();
        assert_eq!(stats.by_route.get("fault.reset-mid-body"), Some(&1));
        assert_eq!(stats.by_route.get("fault.ok"), Some(&6));

        // TLS spoken to a plain-HTTP port.
        let port = server.addr().port();
        let e = client()
            .send(OutgoingRequest::get(format!("https://127.0.0.1:{port}/ok")))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Tls, "{e}");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn keep_alive_closed_by_the_server_is_retried_only_when_replayable() {
    local(async {
        let server = fault_server();
        let url = format!("{}/fault/close-keepalive", server.fault_base_url());
        let mut c = client();
        // Every reuse finds the connection closed by the server; GETs are
        // resent once on a new connection and never fail.
        for _ in 0..5 {
            let x = c.send(OutgoingRequest::get(url.clone())).await.unwrap();
            assert_eq!(&x.body[..], b"ok");
        }
        let stats = server.stats();
        assert_eq!(stats.by_route.get("fault.close-keepalive"), Some(&5));
        assert_eq!(
            stats.by_route.get("fault.close-keepalive.dropped"),
            Some(&4)
        );
        assert_eq!(stats.connections, 5);

        // PUT without an idempotency key is not resent (as in Go): an error.
        let put = OutgoingRequest {
            method: Method::PUT,
            ..OutgoingRequest::get(url.clone())
        };
        let e = c.send(put.clone()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Reset, "{e}");
        assert_eq!(e.kind.k6_code(), 1220);

        // With one it is.
        c.send(OutgoingRequest::get(url.clone())).await.unwrap();
        let keyed = OutgoingRequest {
            headers: vec![("Idempotency-Key".into(), "k1".into())],
            ..put
        };
        let x = c.send(keyed).await.unwrap();
        assert_eq!(x.status, 200);
        let stats = server.stats();
        assert_eq!(stats.by_route.get("fault.close-keepalive"), Some(&7));
        assert_eq!(
            stats.by_route.get("fault.close-keepalive.dropped"),
            Some(&6)
        );
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_connect_that_hangs_times_out_while_connecting() {
    local(async {
        // A listener that never accepts, with its backlog full: further SYNs
        // are dropped by the kernel and the client's connect hangs.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        let mut c = client();
        let req = || OutgoingRequest {
            timeout: Some(Duration::from_millis(300)),
            ..OutgoingRequest::get(format!("http://{addr}/"))
        };
        // Fill the backlog; once full, connects hang until the timeout.
        let mut e = None;
        for _ in 0..8 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(s)) => held.push(s),
                _ => {
                    e = Some(c.send(req()).await.unwrap_err());
                    break;
                }
            }
        }
        let e = e.expect("the backlog never filled");
        assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
        assert_eq!(e.kind.k6_code(), 1050);
        assert_eq!(e.message, "timed out after 300ms connecting");
        assert!(e.timings.connecting > ZERO, "{:?}", e.timings);
        assert_eq!(e.bytes_sent, 0);
        drop(listener);
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn hosts_outside_the_gate_are_refused_before_any_connection() {
    local(async {
        let allowed = hyper_server(None, echo).await;
        let other = hyper_server(None, echo).await;
        let mut hosts = crate::plan::hosts::AllowedHosts::default();
        hosts
            .add("test", &[format!("127.0.0.1:{}", allowed.addr.port())])
            .unwrap();
        let mut c = VuHttpClient::new(config_with(tls_config(&[], false).unwrap(), |c| {
            c.hosts = HostGate::settled(hosts)
        }));
        let e = c
            .send(OutgoingRequest::get(other.url("/x")))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ForbiddenHost);
        assert_eq!(e.timings, Timings::default());
        assert_eq!((e.bytes_sent, e.bytes_received), (0, 0));
        let results = c
            .batch(vec![
                OutgoingRequest::get(allowed.url("/a")),
                OutgoingRequest::get(other.url("/b")),
            ])
            .await;
        assert!(results[0].as_ref().unwrap().body.starts_with(b"GET /a\n"));
        assert_eq!(
            results[1].as_ref().unwrap_err().kind,
            ErrorKind::ForbiddenHost
        );
        assert_eq!((allowed.accepted(), other.accepted()), (1, 0));
    })
    .await;
}
