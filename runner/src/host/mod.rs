//! The host side of the contract: the per-VU state a wasmtime `Store` holds,
//! and the implementations of the imported interfaces (one module each).

pub mod http;
pub mod http_client;
pub mod metrics;
pub mod runtime;
pub mod timing;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use self::http_client::{ClientConfig, VuHttpClient};
use crate::wasm::bindings::types;

/// State shared by every VU of a run (read-only but for the abort signal).
pub struct RunShared {
    /// Variables given with `-e`; the only environment a module sees
    /// outside a scenario (describe, setup, teardown).
    pub env: Arc<BTreeMap<String, String>>,
    /// When the test started (`timing.now` counts from here).
    pub started: Instant,
    /// HTTP client settings.
    pub http: Arc<ClientConfig>,
    /// Raised when the scenario, a threshold or a signal stops the test.
    pub abort: AbortSignal,
    /// Linear-memory cap per VU, in bytes.
    pub vu_memory: usize,
    /// Iteration errors and traps, logged a bounded number of times.
    pub errors: ErrorLog,
    /// Statuses the SLO file accepts as success per request name; set once
    /// the plan is resolved.
    pub status_policy: OnceLock<crate::plan::slo_file::StatusPolicy>,
}

/// Logs the first few iteration errors and traps; the rest are only counted
/// (in `iteration_errors`), so a failing scenario cannot flood the terminal.
#[derive(Debug, Default)]
pub struct ErrorLog {
    errors_logged: AtomicU64,
    traps_logged: AtomicU64,
    first: OnceLock<String>,
}

const MAX_LOGGED_ERRORS: u64 = 10;
const MAX_LOGGED_TRAPS: u64 = 3;

impl ErrorLog {
    /// An iteration returned an error.
    pub fn iteration_error(&self, vu: u64, flow: &str, msg: &str) {
        let _ = self.first.set(format!("flow \"{flow}\": {msg}"));
        let n = self.errors_logged.fetch_add(1, Ordering::Relaxed);
        if n < MAX_LOGGED_ERRORS {
            eprintln!("[vu {vu}] iteration of flow \"{flow}\" failed: {msg}");
        } else if n == MAX_LOGGED_ERRORS {
            eprintln!("(further iteration errors are counted in iteration_errors, not logged)");
        }
    }

    /// An iteration trapped; the guest's backtrace is logged with it.
    pub fn trap(&self, vu: u64, flow: &str, trap: &anyhow::Error) {
        let _ = self.first.set(format!("flow \"{flow}\" trapped: {trap:#}"));
        let n = self.traps_logged.fetch_add(1, Ordering::Relaxed);
        if n < MAX_LOGGED_TRAPS {
            eprintln!(
                "[vu {vu}] iteration of flow \"{flow}\" trapped; the VU gets a fresh instance:\n{trap:?}"
            );
        } else if n == MAX_LOGGED_TRAPS {
            eprintln!("(further traps are counted in iteration_errors{{kind:trap}}, not logged)");
        }
    }

    /// The first error or trap seen, if any.
    pub fn first(&self) -> Option<&str> {
        self.first.get().map(String::as_str)
    }
}

/// Who stopped the test early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortCause {
    /// The scenario called `runtime.abort`.
    Scenario,
    /// An abort-on-fail threshold failed.
    Threshold,
    /// SIGINT (Ctrl-C) or SIGTERM (see [`crate::interrupt`]).
    Interrupted,
}

/// A one-shot, run-wide stop with a reason, in two strengths: raised, no
/// iteration starts any more and the scenarios end as at the end of their
/// load (in-flight iterations get their graceful stop); raised at once,
/// in-flight iterations are cut off too.
#[derive(Debug, Default, Clone)]
pub struct AbortSignal {
    token: CancellationToken,
    at_once: CancellationToken,
    reason: Arc<OnceLock<(AbortCause, String)>>,
}

impl AbortSignal {
    /// Raises the signal for the scenario; the first reason is kept.
    pub fn raise(&self, reason: impl Into<String>) {
        self.raise_by(AbortCause::Scenario, reason);
    }

    /// Raises the signal, stopping at once; the first cause and reason are kept.
    pub fn raise_by(&self, cause: AbortCause, reason: impl Into<String>) {
        self.raise_gracefully(cause, reason);
        self.at_once.cancel();
    }

    /// Raises the signal but lets in-flight iterations finish within their
    /// graceful stop; the first cause and reason are kept.
    pub fn raise_gracefully(&self, cause: AbortCause, reason: impl Into<String>) {
        let _ = self.reason.set((cause, reason.into()));
        self.token.cancel();
    }

    /// Turns a graceful stop into a stop at once (it must have been raised).
    pub fn stop_at_once(&self) {
        self.at_once.cancel();
    }

    /// The reason, once raised.
    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(|(_, r)| r.as_str())
    }

    /// The cause, once raised.
    pub fn cause(&self) -> Option<AbortCause> {
        self.reason.get().map(|(c, _)| *c)
    }

    /// Whether in-flight iterations are to be cut off now.
    pub fn is_at_once(&self) -> bool {
        self.at_once.is_cancelled()
    }

    /// Completes when raised.
    pub fn raised(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Completes when a stop at once is raised.
    pub fn raised_at_once(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.at_once.cancelled()
    }
}

/// What a `Store` holds for one VU (or for describe/setup/teardown, VU 0).
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory, table and instance limits of this VU.
    pub limits: StoreLimits,
    /// Run-wide state.
    pub shared: Arc<RunShared>,
    /// This VU's id (0 outside VUs).
    pub vu_id: u64,
    /// Its scenario's name.
    pub scenario: Arc<str>,
    /// Its scenario's tags, added to every sample.
    pub tags: Arc<[(String, String)]>,
    /// Its scenario's variables.
    pub env: Arc<BTreeMap<String, String>>,
    /// In open models, how late the current iteration started after its
    /// scheduled time; added to its requests' latency.
    pub start_delay: Option<std::time::Duration>,
    /// Its current iteration, from 0.
    pub iteration: u64,
    /// Its own keep-alive connections.
    pub http: VuHttpClient,
    /// Custom metric names already warned about, so a loop warns once.
    warned: Vec<String>,
}

impl HostState {
    /// Fresh state for VU `vu_id` of `scenario`. The WASI context grants no
    /// files, sockets, environment or arguments: only clocks, random and
    /// stderr (so a guest panic message is seen).
    pub fn new(shared: Arc<RunShared>, vu_id: u64, scenario: Arc<str>) -> Self {
        let wasi = WasiCtxBuilder::new()
            .inherit_stderr()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(shared.vu_memory)
            .instances(64)
            .tables(64)
            .memories(8)
            .build();
        let http = VuHttpClient::new(shared.http.clone());
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits,
            env: shared.env.clone(),
            tags: Arc::from(Vec::new()),
            start_delay: None,
            shared,
            vu_id,
            scenario,
            iteration: 0,
            http,
            warned: Vec::new(),
        }
    }

    /// This state placed in a scenario with its tags and variables.
    pub fn in_scenario(
        mut self,
        tags: Arc<[(String, String)]>,
        env: Arc<BTreeMap<String, String>>,
    ) -> Self {
        self.tags = tags;
        self.env = env;
        self
    }

    /// Logs `msg` about `key` once per VU.
    fn warn_once(&mut self, key: &str, msg: impl FnOnce() -> String) {
        if !self.warned.iter().any(|k| k == key) {
            self.warned.push(key.to_owned());
            eprintln!("[vu {}] warning: {}", self.vu_id, msg());
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}
