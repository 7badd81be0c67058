//! A local HTTP target server with known behaviour, for `wasm-slo` demos and
//! end-to-end tests.
//!
//! Routes (HTTP/1.1, keep-alive; the stats key each request counts under is
//! in brackets, unknown paths and wrong methods count under `other`):
//!
//! - `GET /health` [health], `GET /ok` [ok]
//! - `GET /slow[?ms=N]` [slow]: answers after 50 ms (or N ms)
//! - `GET /flaky` [flaky]: every 10th request answers 500
//! - `GET /status/{code}` [status], `GET /bytes/{n}` [bytes]
//! - `POST /login` [login]: `{"username","password"}` to `{"token":"tok-<username>"}`
//! - `GET /api/tasks` [tasks.list], `GET /api/tasks/{id}` [tasks.get],
//!   `POST /api/tasks` [tasks.create]: need `Authorization: Bearer tok-...`
//! - `GET /__stats`: the [`Stats`] as JSON (not counted)
//!
//! # Faults
//!
//! Every server also listens on a second, plain-HTTP port
//! ([`TargetServer::fault_base_url`]) whose `/fault/...` routes misbehave at
//! the TCP level: a reset or a close in the middle of a body, a close before
//! any response, a keep-alive connection dropped as it is reused, a slow
//! head, a slow body, a reply that is not HTTP. Routes (any method; the
//! stats key, in the same [`Stats`] as the main routes, is in brackets):
//!
//! - `/fault/ok` [fault.ok]: `200 ok`, keep-alive (the control case)
//! - `/fault/reset-mid-body` [fault.reset-mid-body]: head and 100 of the 1000
//!   announced body bytes, then a TCP reset (RST)
//! - `/fault/close-mid-body` [fault.close-mid-body]: the same, then a normal
//!   close (FIN): the body ends early
//! - `/fault/close-before-response` [fault.close-before-response]: the
//!   request is read, the connection closed without a byte of response
//! - `/fault/close-keepalive` [fault.close-keepalive]: `200 ok`, keep-alive;
//!   but the next request on that connection is read and the connection
//!   closed unanswered [fault.close-keepalive.dropped], as a server does
//!   whose idle timeout fires just as the client reuses the connection
//! - `/fault/slow-headers?ms=N` [fault.slow-headers]: the status line, then
//!   N ms (default 1000) before the rest of the head and the body
//! - `/fault/slow-body?ms=N` [fault.slow-body]: the head and half the body,
//!   then N ms (default 1000) before the rest
//! - `/fault/malformed` [fault.malformed]: a reply that is not HTTP, then close
//! - `/__stats`: the stats as JSON (not counted); other paths: 404 [other]
//!
//! ```
//! let server = wasm_slo_target::spawn_in_thread(
//!     "127.0.0.1:0".parse()?,
//!     wasm_slo_target::ServerOptions::default(),
//! )?;
//! assert!(server.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.stats(), wasm_slo_target::Stats::default());
//! server.shutdown();
//! # Ok::<(), anyhow::Error>(())
//! ```

mod fault;
mod routes;
mod server;
mod stats;
mod tasks;
mod tls;

pub use server::{ServerOptions, TargetServer, spawn_in_thread};
pub use stats::Stats;
