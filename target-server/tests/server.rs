//! End-to-end tests: real HTTP against a real server on 127.0.0.1:0.

mod http_client;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_client::{Connection, bearer};
use hyper::Method;
use wasm_slo_target::{ServerOptions, Stats, TargetServer, spawn_in_thread};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

fn start_plain() -> TargetServer {
    spawn_in_thread(loopback(), ServerOptions::default()).expect("server starts")
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn health_and_ok_answer_with_content_length() {
    let server = start_plain();
    let mut conn = Connection::plain(server.addr()).await;

    let health = conn.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), serde_json::json!({ "status": "ok" }));
    assert_eq!(health.headers["content-type"], "application/json");
    assert_eq!(health.content_length(), Some(health.body.len()));

    let ok = conn.get("/ok").await;
    assert_eq!((ok.status, ok.text()), (200, "ok"));
    assert_eq!(ok.content_length(), Some(2));

    let missing = conn.get("/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_length(), Some(missing.body.len()));
}

#[tokio::test]
async fn flaky_fails_on_every_tenth_request() {
    let server = start_plain();
    let mut conn = Connection::plain(server.addr()).await;
    let mut failing = Vec::new();
    for i in 1..=30 {
        if conn.get("/flaky").await.status == 500 {
            failing.push(i);
        }
    }
    assert_eq!(failing, [10, 20, 30]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flaky_fails_exactly_a_tenth_across_concurrent_clients() {
    let server = start_plain();
    let addr = server.addr();
    let clients: Vec<_> = (0..10)
        .map(|_| {
            tokio::spawn(async move {
                let mut conn = Connection::plain(addr).await;
                let mut statuses = Vec::new();
                for _ in 0..10 {
                    statuses.push(conn.get("/flaky").await.status);
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.expect("client task"));
    }
    assert_eq!(statuses.len(), 100);
    assert_eq!(statuses.iter().filter(|&&s| s == 500).count(), 10);
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 90);
    assert_eq!(server.stats().by_route["flaky"], 100);
}

#[tokio::test]
async fn slow_waits_at_least_the_requested_time() {
    let server = start_plain();
    let mut conn = Connection::plain(server.addr()).await;

    let started = Instant::now();
    let reply = conn.get("/slow").await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!((reply.status, reply.text()), (200, "slow"));

    let started = Instant::now();
    assert_eq!(conn.get("/slow?ms=80").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(80));

    assert_eq!(conn.get("/slow?ms=0").await.status, 200);
    assert_eq!(conn.get("/slow?ms=soon").await.status, 400);
    assert_eq!(conn.get("/slow?ms=99999999").await.status, 400);
}

#[tokio::test]
async fn status_and_bytes_routes() {
    let server = start_plain();
    let mut conn = Connection::plain(server.addr()).await;

    let teapot = conn.get("/status/418").await;
    assert_eq!(teapot.status, 418);
    assert!(teapot.body.is_empty());
    assert_eq!(teapot.content_length(), Some(0));
    assert_eq!(conn.get("/status/503").await.status, 503);
    assert_eq!(conn.get("/status/101").await.status, 400);
    assert_eq!(conn.get("/status/abc").await.status, 400);

    let bytes = conn.get("/bytes/1000").await;
    assert_eq!(bytes.status, 200);
    assert_eq!(bytes.body.len(), 1000);
    assert_eq!(bytes.content_length(), Some(1000));
    assert_eq!(conn.get("/bytes/0").await.content_length(), Some(0));
    assert_eq!(conn.get("/bytes/-1").await.status, 400);
    assert_eq!(conn.get("/bytes/99999999999").await.status, 400);

    assert_eq!(
        server.stats().by_route,
        counts(&[("bytes", 4), ("status", 4)])
    );
}

#[tokio::test]
async fn login_and_task_flow() {
    let server = start_plain();
    let mut conn = Connection::plain(server.addr()).await;
    let json = [("content-type", "application/json")];

    // Without a token, the task API refuses.
    let denied = conn.get("/api/tasks").await;
    assert_eq!(denied.status, 401);
    assert_eq!(denied.headers["www-authenticate"], "Bearer");
    let wrong = bearer("not-a-token");
    let wrong = [(wrong.0, wrong.1.as_str())];
    assert_eq!(
        conn.send(Method::GET, "/api/tasks/1", &wrong, "")
            .await
            .status,
        401
    );
    let create = r#"{"title":"x"}"#;
    assert_eq!(
        conn.send(Method::POST, "/api/tasks", &json, create)
            .await
            .status,
        401
    );

    // Login: bad JSON, empty password, then success.
    assert_eq!(
        conn.send(Method::POST, "/login", &json, "{").await.status,
        400
    );
    assert_eq!(
        conn.send(Method::POST, "/login", &json, r#"{"username":"a"}"#)
            .await
            .status,
        400
    );
    let empty = r#"{"username":"alice","password":""}"#;
    assert_eq!(
        conn.send(Method::POST, "/login", &json, empty).await.status,
        401
    );
    let good = r#"{"username":"alice","password":"secret"}"#;
    let login = conn.send(Method::POST, "/login", &json, good).await;
    assert_eq!(login.status, 200);
    assert_eq!(login.json(), serde_json::json!({ "token": "tok-alice" }));

    let auth = bearer(login.json()["token"].as_str().expect("token"));
    let auth = [(auth.0, auth.1.as_str()), json[0]];

    let list = conn.send(Method::GET, "/api/tasks", &auth, "").await;
    assert_eq!(list.status, 200);
    let tasks = list.json();
    let tasks = tasks.as_array().expect("array");
    assert_eq!(tasks.len(), 20);
    assert_eq!(
        tasks[0],
        serde_json::json!({ "id": 1, "title": "Task 1", "done": false })
    );

    let task = conn.send(Method::GET, "/api/tasks/3", &auth, "").await;
    assert_eq!(
        task.json(),
        serde_json::json!({ "id": 3, "title": "Task 3", "done": true })
    );
    assert_eq!(
        conn.send(Method::GET, "/api/tasks/999", &auth, "")
            .await
            .status,
        404
    );
    assert_eq!(
        conn.send(Method::GET, "/api/tasks/x", &auth, "")
            .await
            .status,
        404
    );

    let created = conn
        .send(
            Method::POST,
            "/api/tasks",
            &auth,
            r#"{"title":"Write tests"}"#,
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.json(),
        serde_json::json!({ "id": 21, "title": "Write tests", "done": false })
    );
    let second = conn
        .send(Method::POST, "/api/tasks", &auth, r#"{"title":"More"}"#)
        .await;
    assert_eq!(second.json()["id"], 22);
    assert_eq!(
        conn.send(Method::POST, "/api/tasks", &auth, "not json")
            .await
            .status,
        400
    );

    let fetched = conn.send(Method::GET, "/api/tasks/21", &auth, "").await;
    assert_eq!(fetched.json()["title"], "Write tests");
    // The list stays capped at 20 and shows the newest tasks.
    let list = conn.send(Method::GET, "/api/tasks", &auth, "").await.json();
    let ids: Vec<_> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["id"].as_u64())
        .collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(ids.last(), Some(&Some(22)));

    let stats = server.stats();
    assert_eq!(
        stats.by_route,
        counts(&[
            ("login", 4),
            ("tasks.create", 4),
            ("tasks.get", 5),
            ("tasks.list", 3)
        ])
    );
}

#[tokio::test]
async fn stats_count_routes_but_not_the_stats_endpoint() {
    let server = TargetServer::start(loopback(), ServerOptions::default())
        .await
        .expect("server starts");
    let mut conn = Connection::plain(server.addr()).await;
    for path in [
        "/ok",
        "/ok",
        "/health",
        "/missing",
        "/__stats",
        "/slow?ms=1",
    ] {
        conn.get(path).await;
    }
    // A known path with the wrong method is not that route's traffic.
    let wrong_method = conn.send(Method::DELETE, "/ok", &[], "").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.headers["allow"], "GET");

    let expected = Stats {
        total: 6,
        by_route: counts(&[("health", 1), ("ok", 2), ("other", 2), ("slow", 1)]),
        connections: 1,
    };
    assert_eq!(server.stats(), expected);
    let over_http: Stats =
        serde_json::from_slice(&conn.get("/__stats").await.body).expect("stats JSON");
    assert_eq!(over_http, expected);
}

#[tokio::test]
async fn keep_alive_reuses_one_connection() {
    let server = start_plain();
    let mut conn = Connection::plain(server.addr()).await;
    for _ in 0..5 {
        assert_eq!(conn.get("/ok").await.status, 200);
    }
    assert_eq!(server.stats().connections, 1);
    assert_eq!(server.stats().total, 5);

    let mut other = Connection::plain(server.addr()).await;
    other.get("/ok").await;
    assert_eq!(server.stats().connections, 2);
}

#[tokio::test]
async fn tls_serves_with_the_generated_certificate() {
    let server = TargetServer::start(loopback(), ServerOptions { tls: true })
        .await
        .expect("server starts");
    let port = server.addr().port();
    assert_eq!(server.base_url(), format!("https://localhost:{port}"));
    let ca_pem = server.ca_pem().expect("certificate PEM");
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let mut conn = Connection::tls(server.addr(), &ca_pem).await;
    for _ in 0..3 {
        let reply = conn.get("/health").await;
        assert_eq!(reply.json(), serde_json::json!({ "status": "ok" }));
    }
    let stats = server.stats();
    assert_eq!((stats.connections, stats.by_route["health"]), (1, 3));
}

#[tokio::test]
async fn plain_server_has_no_certificate() {
    let server = start_plain();
    assert_eq!(server.ca_pem(), None);
    assert_eq!(server.base_url(), format!("http://{}", server.addr()));
}

#[tokio::test]
async fn refuses_non_loopback_addresses() {
    let any: SocketAddr = "0.0.0.0:0".parse().expect("address");
    let err = TargetServer::start(any, ServerOptions::default())
        .await
        .expect_err("must refuse");
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(spawn_in_thread(any, ServerOptions::default()).is_err());
}

#[tokio::test]
async fn shutdown_stops_listening_and_closes_connections() {
    let server = start_plain();
    let addr = server.addr();
    let mut conn = Connection::plain(addr).await;
    assert_eq!(conn.get("/ok").await.status, 200);

    server.shutdown();
    assert!(conn.try_get("/ok").await.is_err());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[test]
fn binary_refuses_non_loopback_with_status_2() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasm-slo-target"))
        .args(["--listen", "0.0.0.0:8080"])
        .output()
        .expect("run binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[test]
fn binary_prints_its_url() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wasm-slo-target"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run binary");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read line");
    child.kill().expect("stop binary");
    let _ = child.wait();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
}
