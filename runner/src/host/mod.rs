//! The host side of the contract: the per-VU state a wasmtime `Store` holds,
//! and the implementations of the imported interfaces (one module each).

pub mod guest_stderr;
pub mod http;
pub mod http_client;
pub mod metrics;
pub mod runtime;
pub mod sandbox;
pub mod timing;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use self::guest_stderr::{GuestStderr, StderrBudget};
use self::http_client::{ClientConfig, VuHttpClient};
use crate::plan::DEFAULT_ITERATION_CPU_LIMIT;
use crate::wasm::bindings::types;
use crate::wasm::limits::{CpuBudget, VuLimits};
use crate::wasm::trap::TrapCause;

/// State shared by every VU of a run (read-only but for the abort signal).
pub struct RunShared {
    /// Variables given with `-e`; the only environment a module sees
    /// outside a scenario (describe, setup, teardown).
    pub env: Arc<BTreeMap<String, String>>,
    /// When the test started (`timing.now` counts from here).
    pub started: Instant,
    /// HTTP client settings.
    pub http: Arc<ClientConfig>,
    /// Raised when the scenario (or later a threshold) aborts the test.
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

/// Logs the first few iteration errors, each distinct trap once (with the
/// guest's output and backtrace) and each forbidden host once; the rest are
/// only counted (`iteration_errors`, `http_reqs{error_code}`), so a failing
/// scenario cannot flood the terminal.
#[derive(Debug, Default)]
pub struct ErrorLog {
    errors_logged: AtomicU64,
    traps_seen: Mutex<HashSet<String>>,
    hosts_seen: Mutex<HashSet<String>>,
    first: OnceLock<String>,
}

const MAX_LOGGED_ERRORS: u64 = 10;
/// Distinct trap causes (flow, cause, panic message) logged.
const MAX_LOGGED_TRAPS: usize = 10;
/// Distinct forbidden hosts logged.
const MAX_LOGGED_HOSTS: usize = 10;

/// Inserts `key` into `seen` unless it holds `max` keys already; whether to
/// log, and whether this is the first key refused.
fn first_sighting(seen: &Mutex<HashSet<String>>, key: String, max: usize) -> (bool, bool) {
    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    if seen.contains(&key) {
        return (false, false);
    }
    if seen.len() >= max {
        // One sentinel marks "already said we stop logging".
        let first_refused = seen.insert(String::new());
        return (false, first_refused);
    }
    seen.insert(key);
    (true, false)
}

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

    /// An iteration trapped: logged once per flow, cause and panic message,
    /// with what the guest wrote to stderr during the call and its backtrace.
    pub fn trap(
        &self,
        vu: u64,
        flow: &str,
        cause: TrapCause,
        trap: &anyhow::Error,
        guest_output: &str,
    ) {
        let _ = self.first.set(format!(
            "flow \"{flow}\" trapped ({cause}): {}{}{}",
            trap.root_cause(),
            if guest_output.is_empty() { "" } else { "; " },
            guest_output.replace('\n', " ")
        ));
        // A panic's place, not its message (which may name the iteration).
        let panic_site = match cause {
            TrapCause::Panic => guest_output
                .lines()
                .find(|l| l.contains("panicked at"))
                .unwrap_or(""),
            _ => "",
        };
        let key = format!("{flow}\u{1f}{cause}\u{1f}{panic_site}");
        match first_sighting(&self.traps_seen, key, MAX_LOGGED_TRAPS) {
            (true, _) => eprintln!(
                "[vu {vu}] iteration of flow \"{flow}\" trapped ({cause}); the VU gets a fresh \
                 instance, further traps like it are only counted in \
                 iteration_errors{{kind:trap,cause:{cause}}}:\n{}",
                describe_trap(trap, guest_output)
            ),
            (false, true) => eprintln!(
                "(traps of further flows and causes are counted in iteration_errors{{kind:trap}}, \
                 not logged)"
            ),
            (false, false) => {}
        }
    }

    /// A request was refused because its host is not allowed.
    pub fn forbidden_host(&self, vu: u64, message: &str) {
        let host = message.split(':').next().unwrap_or(message).to_owned();
        match first_sighting(&self.hosts_seen, host, MAX_LOGGED_HOSTS) {
            (true, _) => eprintln!(
                "[vu {vu}] request refused, {message} (further requests to it are counted in \
                 http_reqs{{error_code:1111}}, not logged)"
            ),
            (false, true) => {
                eprintln!("(requests to further forbidden hosts are counted, not logged)")
            }
            (false, false) => {}
        }
    }

    /// The first error or trap seen, if any.
    pub fn first(&self) -> Option<&str> {
        self.first.get().map(String::as_str)
    }
}

/// Frames of a guest backtrace logged from its top and from its bottom.
const TOP_FRAMES: usize = 16;
const BOTTOM_FRAMES: usize = 4;

/// A trap for the log: its cause, what the guest wrote to stderr during the
/// call, and the guest's backtrace (not the runner's own stack), cut short
/// in the middle when deep (a stack overflow has thousands of frames).
fn describe_trap(trap: &anyhow::Error, guest_output: &str) -> String {
    let mut text = format!("  {}\n", trap.root_cause());
    if !guest_output.is_empty() {
        text.push_str("  guest stderr:\n");
        for line in guest_output.lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    if let Some(bt) = trap.downcast_ref::<wasmtime::WasmBacktrace>() {
        let frames = bt.to_string();
        // Keep the frames, not wasmtime's header and hint.
        let frames: Vec<&str> = frames
            .lines()
            .filter(|l| !l.starts_with("error while executing") && !l.starts_with("note: "))
            .collect();
        text.push_str("  wasm backtrace:\n");
        let n = frames.len();
        for (i, frame) in frames.iter().enumerate() {
            if n > TOP_FRAMES + BOTTOM_FRAMES && i == TOP_FRAMES {
                text.push_str(&format!(
                    "    ... {} frames ...\n",
                    n - TOP_FRAMES - BOTTOM_FRAMES
                ));
            }
            if i < TOP_FRAMES || i >= n.saturating_sub(BOTTOM_FRAMES) {
                text.push_str(&format!("  {frame}\n"));
            }
        }
    }
    text.trim_end().to_owned()
}

/// Who stopped the test early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortCause {
    /// The scenario called `runtime.abort`.
    Scenario,
    /// An abort-on-fail threshold failed.
    Threshold,
}

/// A one-shot, run-wide stop with a reason.
#[derive(Debug, Default, Clone)]
pub struct AbortSignal {
    token: CancellationToken,
    reason: Arc<OnceLock<(AbortCause, String)>>,
}

impl AbortSignal {
    /// Raises the signal for the scenario; the first reason is kept.
    pub fn raise(&self, reason: impl Into<String>) {
        self.raise_by(AbortCause::Scenario, reason);
    }

    /// Raises the signal; the first cause and reason are kept.
    pub fn raise_by(&self, cause: AbortCause, reason: impl Into<String>) {
        let _ = self.reason.set((cause, reason.into()));
        self.token.cancel();
    }

    /// The reason, once raised.
    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(|(_, r)| r.as_str())
    }

    /// The cause, once raised.
    pub fn cause(&self) -> Option<AbortCause> {
        self.reason.get().map(|(c, _)| *c)
    }

    /// Completes when raised.
    pub fn raised(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.token.cancelled()
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
    /// Its own keep-alive connections.
    pub http: VuHttpClient,
    /// Custom metric names already warned about, so a loop warns once.
    warned: Vec<String>,
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
            http,
            warned: Vec::new(),
        }
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
