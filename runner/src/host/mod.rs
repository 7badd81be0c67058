//! The host side of the contract: the per-VU state a wasmtime `Store` holds,
//! and the implementations of the imported interfaces (one module each).

pub mod error_log;
pub mod guest_stderr;
pub mod http;
pub mod http_client;
pub mod iterations;
pub mod metrics;
pub mod runtime;
pub mod sandbox;
pub mod timing;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use self::error_log::ErrorLog;
use self::guest_stderr::{GuestStderr, StderrBudget};
use self::http_client::{ClientConfig, VuHttpClient};
use self::iterations::{Begun, IterationLoop};
use crate::metrics::key_memo::KeyMemo;
use crate::plan::DEFAULT_ITERATION_CPU_LIMIT;
use crate::wasm::bindings::types;
use crate::wasm::limits::{CpuBudget, VuLimits};

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
    /// Lines of the guests' stderr still shown.
    pub stderr_budget: Arc<StderrBudget>,
    /// Statuses the SLO file accepts as success per request name; set once
    /// the plan is resolved.
    pub status_policy: OnceLock<crate::plan::slo_file::StatusPolicy>,
}

impl RunShared {
    /// Run-wide state outside a run, for benchmarks and tests that host a
    /// guest themselves: the variables `env`, default HTTP settings, 64 MiB
    /// per VU.
    pub fn with_env(env: BTreeMap<String, String>) -> Self {
        RunShared {
            env: Arc::new(env),
            started: Instant::now(),
            http: Arc::new(ClientConfig::new(
                http_client::tls_config(&[], false).expect("default TLS settings"),
            )),
            abort: Default::default(),
            vu_memory: 64 << 20,
            errors: Default::default(),
            stderr_budget: Default::default(),
            status_policy: Default::default(),
        }
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
    pub limits: VuLimits,
    /// CPU time of the current call into the guest.
    pub cpu: CpuBudget,
    /// The guest's stderr, with the current call's output.
    pub stderr: GuestStderr,
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
    /// Its iterations, lent by its executor while `run` runs, so that the
    /// guest can go on to the next one without returning (`next-iteration`).
    pub iterations: Option<Box<dyn IterationLoop>>,
    /// Its own keep-alive connections.
    pub http: VuHttpClient,
    /// Custom metric names already warned about, so a loop warns once.
    warned: Vec<String>,
    /// Keys of the request tag lists this VU repeats.
    request_keys: KeyMemo<http::RequestTags>,
    /// The headers of its latest `send-bare` or `batch-bare` responses.
    kept_headers: http::KeptHeaders,
    /// Keys of the check tag lists this VU repeats.
    check_keys: KeyMemo<metrics::CheckTags>,
}

impl HostState {
    /// Fresh state for describe, setup and teardown (VU 0 of no scenario).
    pub fn new(shared: Arc<RunShared>, vu_id: u64, scenario: Arc<str>) -> Self {
        let env = shared.env.clone();
        Self::in_scenario(shared, vu_id, scenario, Arc::from(Vec::new()), env)
    }

    /// Fresh state for VU `vu_id` of `scenario`, with its tags and
    /// variables. The WASI context grants no files, sockets or arguments;
    /// its environment is the scenario's variables (`-e` and the
    /// scenario's `env`), its stderr goes to [`GuestStderr`], and it has
    /// clocks and random numbers.
    pub fn in_scenario(
        shared: Arc<RunShared>,
        vu_id: u64,
        scenario: Arc<str>,
        tags: Arc<[(String, String)]>,
        env: Arc<BTreeMap<String, String>>,
    ) -> Self {
        let stderr = GuestStderr::new(vu_id, shared.stderr_budget.clone());
        let vars: Vec<(&String, &String)> = env.iter().collect();
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .envs(&vars)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let http = VuHttpClient::new(shared.http.clone());
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits: VuLimits::new(shared.vu_memory),
            cpu: CpuBudget::new(DEFAULT_ITERATION_CPU_LIMIT),
            stderr,
            env,
            tags,
            start_delay: None,
            shared,
            vu_id,
            scenario,
            iteration: 0,
            iterations: None,
            http,
            warned: Vec::new(),
            request_keys: KeyMemo::default(),
            kept_headers: http::KeptHeaders::default(),
            check_keys: KeyMemo::default(),
        }
    }

    /// Enters iteration `begun`: what `runtime.iteration` reports and the
    /// start delay its requests' latency includes.
    pub fn enter(&mut self, begun: Begun) {
        self.iteration = begun.iteration;
        self.start_delay = begun.start_delay;
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
