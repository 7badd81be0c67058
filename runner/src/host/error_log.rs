//! What goes wrong during a run, logged without flooding the terminal: the
//! first few iteration errors, each distinct trap once (with the guest's
//! stderr and wasm backtrace), each forbidden host once. Everything is also
//! counted in the metrics, so nothing is lost by not logging it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::wasm::trap::TrapCause;

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
/// Distinct traps (flow, cause, place of a panic) logged.
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

    /// An iteration trapped: logged once per flow, cause and place of a panic,
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

    /// A request was refused because its host is not allowed; `message`
    /// names the host and port.
    pub fn forbidden_host(&self, vu: u64, message: &str) {
        match first_sighting(&self.hosts_seen, message.to_owned(), MAX_LOGGED_HOSTS) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_logged_once_and_the_stop_is_said_once() {
        let seen = Mutex::new(HashSet::new());
        assert_eq!(first_sighting(&seen, "a".into(), 2), (true, false));
        assert_eq!(first_sighting(&seen, "a".into(), 2), (false, false));
        assert_eq!(first_sighting(&seen, "b".into(), 2), (true, false));
        assert_eq!(first_sighting(&seen, "c".into(), 2), (false, true));
        assert_eq!(first_sighting(&seen, "d".into(), 2), (false, false));
        assert_eq!(first_sighting(&seen, "a".into(), 2), (false, false));
    }

    #[test]
    fn the_first_failure_is_one_line() {
        let log = ErrorLog::default();
        let trap =
            anyhow::Error::from(wasmtime::Error::new(wasmtime::Trap::UnreachableCodeReached));
        log.trap(
            1,
            "f",
            TrapCause::Panic,
            &trap,
            "thread panicked at a.rs:1:1:\nboom",
        );
        assert_eq!(
            log.first(),
            Some(
                "flow \"f\" trapped (panic): wasm trap: wasm `unreachable` instruction executed; \
                 thread panicked at a.rs:1:1: boom"
            )
        );
        let text = describe_trap(&trap, "x\ny");
        assert!(text.contains("  guest stderr:\n    x\n    y"), "{text}");
    }
}
