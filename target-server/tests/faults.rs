//! The fault listener, byte by byte, over blocking sockets on 127.0.0.1.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use wasm_slo_target::{ServerOptions, TargetServer, spawn_in_thread};

fn start() -> TargetServer {
    spawn_in_thread("127.0.0.1:0".parse().unwrap(), ServerOptions::default()).unwrap()
}

fn connect(server: &TargetServer) -> TcpStream {
    let s = TcpStream::connect(server.fault_addr()).unwrap();
    // A bound on every read, so a broken fault cannot hang the test.
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

fn send(s: &mut TcpStream, path: &str) {
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
}

/// Reads until the peer closes or resets; the bytes and how it ended.
fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, Option<ErrorKind>) {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> String {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";

#[test]
fn reset_and_close_cut_the_body_short() {
    let server = start();
    let mut s = connect(&server);
    send(&mut s, "/fault/reset-mid-body");
    let (bytes, end) = read_to_end(&mut s);
    assert_eq!(end, Some(ErrorKind::ConnectionReset));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("content-length: 1000\r\n\r\n"), "{text}");
    assert!(text.ends_with(&"x".repeat(100)), "{text}");

    let mut s = connect(&server);
    send(&mut s, "/fault/close-mid-body");
    let (bytes, end) = read_to_end(&mut s);
    assert_eq!(end, None, "a FIN, not a reset");
    let body = bytes.split(|&b| b == b'\n').next_back().unwrap().len();
    assert_eq!(body, 100);

    let mut s = connect(&server);
    send(&mut s, "/fault/close-before-response");
    assert_eq!(read_to_end(&mut s), (Vec::new(), None));

    let stats = server.stats();
    for key in [
        "fault.reset-mid-body",
        "fault.close-mid-body",
        "fault.close-before-response",
    ] {
        assert_eq!(stats.by_route.get(key), Some(&1), "{key}: {stats:?}");
    }
    assert_eq!(stats.connections, 3);
}

#[test]
fn close_keepalive_answers_once_then_drops_the_next_request() {
    let server = start();
    let mut s = connect(&server);
    send(&mut s, "/fault/close-keepalive");
    assert_eq!(read_n(&mut s, OK.len()), OK);
    send(&mut s, "/fault/ok");
    assert_eq!(read_to_end(&mut s), (Vec::new(), None));
    let stats = server.stats();
    assert_eq!(stats.by_route.get("fault.close-keepalive"), Some(&1));
    assert_eq!(
        stats.by_route.get("fault.close-keepalive.dropped"),
        Some(&1)
    );
    assert_eq!(stats.by_route.get("fault.ok"), None);
    assert_eq!(stats.total, 2);
}

#[test]
fn ok_keeps_the_connection_and_reads_request_bodies() {
    let server = start();
    let mut s = connect(&server);
    write!(
        s,
        "POST /fault/ok HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello"
    )
    .unwrap();
    assert_eq!(read_n(&mut s, OK.len()), OK);
    send(&mut s, "/fault/ok");
    assert_eq!(read_n(&mut s, OK.len()), OK);
    send(&mut s, "/nope");
    assert!(read_n(&mut s, 22).starts_with("HTTP/1.1 404 Not Found"));
    assert_eq!(server.stats().by_route.get("fault.ok"), Some(&2));
    assert_eq!(server.stats().connections, 1);
}

#[test]
fn slow_head_and_slow_body_pause_where_they_say() {
    let server = start();
    let rest_of_head = "content-type: text/plain\r\ncontent-length: 4\r\n\r\nslow";
    for (path, before, rest) in [
        (
            "/fault/slow-headers?ms=300",
            "HTTP/1.1 200 OK\r\n",
            rest_of_head,
        ),
        (
            "/fault/slow-body?ms=300",
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nsl",
            "ow",
        ),
    ] {
        let mut s = connect(&server);
        let sent = Instant::now();
        send(&mut s, path);
        assert_eq!(read_n(&mut s, before.len()), before, "{path}");
        assert_eq!(read_n(&mut s, rest.len()), rest, "{path}");
        // A lower bound only: the server cannot answer before its pause.
        assert!(sent.elapsed() >= Duration::from_millis(300), "{path}");
    }
    let bad = {
        let mut s = connect(&server);
        send(&mut s, "/fault/slow-body?ms=abc");
        read_n(&mut s, 24)
    };
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request"), "{bad}");
}

#[test]
fn malformed_reply_and_stats() {
    let server = start();
    let mut s = connect(&server);
    send(&mut s, "/fault/malformed");
    let (bytes, _) = read_to_end(&mut s);
    assert!(bytes.starts_with(b"220 "), "{bytes:?}");

    let mut s = connect(&server);
    send(&mut s, "/__stats");
    let head_and_body = String::from_utf8(read_to_end_of_json(&mut s)).unwrap();
    assert!(
        head_and_body.contains("\"fault.malformed\":1"),
        "{head_and_body}"
    );
}

/// Reads a response whose body is one JSON object.
fn read_to_end_of_json(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while !out.ends_with(b"}") {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early");
        out.extend_from_slice(&chunk[..n]);
    }
    out
}
