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

mod routes;
mod server;
mod stats;
mod tasks;
mod tls;

pub use server::{ServerOptions, TargetServer, spawn_in_thread};
pub use stats::Stats;
