//! Request routing and the handlers behind each route, with their shared state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde::Serialize;

use crate::stats::StatsRecorder;
use crate::tasks::{self, TaskStore};

/// Request bodies are tiny JSON documents; anything bigger is a client bug.
const MAX_REQUEST_BODY: usize = 1 << 20;
/// Upper bound for `/bytes/{n}`, so one request cannot exhaust memory.
const MAX_BYTES_BODY: usize = 64 << 20;
/// Upper bound for `/slow?ms=N`, so a typo cannot park a connection for hours.
const MAX_SLOW_MS: u64 = 60_000;
const DEFAULT_SLOW_MS: u64 = 50;
/// `/flaky` fails exactly every `FLAKY_PERIOD`-th request.
const FLAKY_PERIOD: u64 = 10;

pub(crate) type Body = Full<Bytes>;

/// Everything one server's handlers share across connections.
#[derive(Debug, Default)]
pub(crate) struct AppState {
    pub(crate) stats: StatsRecorder,
    tasks: TaskStore,
    flaky_requests: AtomicU64,
    pub(crate) stall: Stall,
}

/// A window during which every request is held before it is answered: a
/// stalled server, for coordinated-omission tests.
#[derive(Debug, Default)]
pub(crate) struct Stall {
    window: std::sync::Mutex<Option<(std::time::Instant, Duration)>>,
}

impl Stall {
    /// Holds every request arriving until `until` for `delay`.
    pub(crate) fn set(&self, until: std::time::Instant, delay: Duration) {
        *self.window.lock().unwrap_or_else(|e| e.into_inner()) = Some((until, delay));
    }

    /// The delay for a request arriving now.
    fn delay(&self) -> Option<Duration> {
        let w = *self.window.lock().unwrap_or_else(|e| e.into_inner());
        match w {
            Some((until, delay)) if std::time::Instant::now() < until => Some(delay),
            _ => None,
        }
    }
}

/// What a request addresses; path parameters are still unparsed.
enum Route<'a> {
    Health,
    Ok,
    Slow,
    Flaky,
    Status(&'a str),
    Bytes(&'a str),
    Login,
    TasksList,
    TasksGet(&'a str),
    TasksCreate,
    Stats,
    /// A known path with the wrong method; holds the `allow` header value.
    MethodNotAllowed(&'static str),
    NotFound,
}

impl<'a> Route<'a> {
    fn parse(method: &Method, path: &'a str) -> Self {
        let (allow, route) = match path {
            "/health" => ("GET", Route::Health),
            "/ok" => ("GET", Route::Ok),
            "/slow" => ("GET", Route::Slow),
            "/flaky" => ("GET", Route::Flaky),
            "/login" => ("POST", Route::Login),
            "/__stats" => ("GET", Route::Stats),
            "/api/tasks" => {
                return match *method {
                    Method::GET => Route::TasksList,
                    Method::POST => Route::TasksCreate,
                    _ => Route::MethodNotAllowed("GET, POST"),
                };
            }
            _ => {
                if let Some(code) = path.strip_prefix("/status/") {
                    ("GET", Route::Status(code))
                } else if let Some(n) = path.strip_prefix("/bytes/") {
                    ("GET", Route::Bytes(n))
                } else if let Some(id) = path.strip_prefix("/api/tasks/") {
                    ("GET", Route::TasksGet(id))
                } else {
                    return Route::NotFound;
                }
            }
        };
        if method.as_str() == allow {
            route
        } else {
            Route::MethodNotAllowed(allow)
        }
    }

    /// Key under which the request is counted; `None` for the stats endpoint
    /// itself, so polling it does not disturb what tests measure.
    fn stats_key(&self) -> Option<&'static str> {
        Some(match self {
            Route::Health => "health",
            Route::Ok => "ok",
            Route::Slow => "slow",
            Route::Flaky => "flaky",
            Route::Status(_) => "status",
            Route::Bytes(_) => "bytes",
            Route::Login => "login",
            Route::TasksList => "tasks.list",
            Route::TasksGet(_) => "tasks.get",
            Route::TasksCreate => "tasks.create",
            Route::Stats => return None,
            Route::MethodNotAllowed(_) | Route::NotFound => "other",
        })
    }
}

/// Answers one request. Never fails: bad input becomes a 4xx response.
pub(crate) async fn handle(state: &AppState, req: Request<Incoming>) -> Response<Body> {
    let route = Route::parse(req.method(), req.uri().path());
    if let Some(key) = route.stats_key() {
        state.stats.record_request(key);
        if let Some(delay) = state.stall.delay() {
            tokio::time::sleep(delay).await;
        }
    }
    match route {
        Route::Health => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
        Route::Ok => text(StatusCode::OK, "ok"),
        Route::Slow => slow(req.uri().query()).await,
        Route::Flaky => flaky(state),
        Route::Status(code) => status(code),
        Route::Bytes(n) => bytes(n),
        Route::Login => login(req).await,
        Route::TasksList | Route::TasksGet(_) | Route::TasksCreate
            if !tasks::is_authorized(req.headers()) =>
        {
            let mut response = error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Route::TasksList => json(StatusCode::OK, &state.tasks.list()),
        Route::TasksGet(id) => match id.parse().ok().and_then(|id| state.tasks.get(id)) {
            Some(task) => json(StatusCode::OK, &task),
            None => error(StatusCode::NOT_FOUND, "no such task"),
        },
        Route::TasksCreate => create_task(state, req).await,
        Route::Stats => json(StatusCode::OK, &state.stats.snapshot()),
        Route::MethodNotAllowed(allow) => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            response
        }
        Route::NotFound => text(StatusCode::NOT_FOUND, "not found"),
    }
}

async fn slow(query: Option<&str>) -> Response<Body> {
    let requested = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="));
    let ms = match requested.map(str::parse::<u64>) {
        None => DEFAULT_SLOW_MS,
        Some(Ok(ms)) if ms <= MAX_SLOW_MS => ms,
        Some(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("ms must be an integer from 0 to {MAX_SLOW_MS}"),
            );
        }
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    text(StatusCode::OK, "slow")
}

fn flaky(state: &AppState) -> Response<Body> {
    // One shared counter, so exactly floor(n / 10) of n requests fail however
    // they are spread over connections.
    let n = state.flaky_requests.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_multiple_of(FLAKY_PERIOD) {
        text(StatusCode::INTERNAL_SERVER_ERROR, "error")
    } else {
        text(StatusCode::OK, "ok")
    }
}

fn status(code: &str) -> Response<Body> {
    // 1xx are not final responses, so they cannot be answered here.
    match code.parse::<u16>().ok().filter(|c| (200..=599).contains(c)) {
        Some(code) => match StatusCode::from_u16(code) {
            Ok(status) => empty(status),
            Err(_) => text(StatusCode::BAD_REQUEST, "invalid status code"),
        },
        None => text(
            StatusCode::BAD_REQUEST,
            "status code must be an integer from 200 to 599",
        ),
    }
}

fn bytes(n: &str) -> Response<Body> {
    match n.parse::<usize>() {
        Ok(n) if n <= MAX_BYTES_BODY => {
            let mut response = Response::new(Full::new(Bytes::from(vec![b'x'; n])));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            response
        }
        _ => text(
            StatusCode::BAD_REQUEST,
            format!("byte count must be an integer from 0 to {MAX_BYTES_BODY}"),
        ),
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

async fn login(req: Request<Incoming>) -> Response<Body> {
    let login: LoginRequest = match read_json(req).await {
        Ok(login) => login,
        Err(response) => return response,
    };
    if login.password.is_empty() {
        return error(StatusCode::UNAUTHORIZED, "invalid credentials");
    }
    json(
        StatusCode::OK,
        &serde_json::json!({ "token": tasks::token_for(&login.username) }),
    )
}

#[derive(Deserialize)]
struct NewTask {
    title: String,
}

async fn create_task(state: &AppState, req: Request<Incoming>) -> Response<Body> {
    let new: NewTask = match read_json(req).await {
        Ok(new) => new,
        Err(response) => return response,
    };
    let task = state.tasks.create(new.title);
    let mut response = json(StatusCode::CREATED, &task);
    if let Ok(location) = HeaderValue::try_from(format!("/api/tasks/{}", task.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Reads and decodes a JSON request body, or gives the error response to send.
async fn read_json<T: for<'de> Deserialize<'de>>(
    req: Request<Incoming>,
) -> Result<T, Response<Body>> {
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<LengthLimitError>() => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            ));
        }
        Err(_) => return Err(error(StatusCode::BAD_REQUEST, "unreadable request body")),
    };
    serde_json::from_slice(&body)
        .map_err(|err| error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {err}")))
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    with_type(status, body.into(), "text/plain; charset=utf-8")
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(status, body.into(), "application/json"),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "serialisation failed"),
    }
}

/// JSON error body, for the API routes whose clients expect JSON.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = status;
    response
}

/// hyper derives `content-length` from the body's exact size, so every
/// response built here carries one (except where HTTP forbids it, e.g. 204).
fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
