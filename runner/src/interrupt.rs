//! Ctrl-C (SIGINT) and SIGTERM during `wasm-slo run`, as k6 users expect:
//! the first signal stops the load as its end would (no new iterations,
//! in-flight ones get their graceful stop), then teardown, summary, verdict
//! and every output follow; a second stops at once (in-flight iterations
//! are cut off and counted as interrupted, teardown is skipped) and the
//! outputs are still written; a third exits on the spot. The run's verdict
//! is "interrupted", exit code 105 (k6's external abort).

use std::future::Future;

use tokio::task::JoinHandle;

use crate::exit::Outcome;
use crate::host::{AbortCause, AbortSignal};

/// Listens for signals while alive; dropping it stops listening (the
/// signals stay caught, so a late Ctrl-C cannot kill a half-written output).
pub struct SignalListener(JoinHandle<()>);

impl Drop for SignalListener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts listening; the handlers are in place when this returns.
pub fn listen(abort: AbortSignal) -> anyhow::Result<SignalListener> {
    let mut signals = Signals::new()?;
    let task = tokio::spawn(async move {
        let name = signals.next().await;
        eprintln!(
            "\n{name} received: stopping the load; in-flight iterations may finish within \
             their graceful stop. Send it again to stop at once."
        );
        abort.raise_gracefully(AbortCause::Interrupted, format!("interrupted by {name}"));
        let name = signals.next().await;
        eprintln!(
            "\n{name} received again: stopping at once; in-flight iterations are cut off, \
             the outputs are still written. A third signal exits without them."
        );
        abort.stop_at_once();
        let name = signals.next().await;
        eprintln!("\n{name} received a third time: exiting without outputs.");
        std::process::exit(i32::from(Outcome::Interrupted.code()));
    });
    Ok(SignalListener(task))
}

/// Runs `work` unless a stop at once is raised first (then None): for
/// setup and teardown, whose guest code a second Ctrl-C must not wait for.
pub async fn unless_stopped_at_once<T>(
    abort: &AbortSignal,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        _ = abort.raised_at_once() => None,
        done = work => Some(done),
    }
}

/// The outcome and reason of a run a signal stopped, None for other runs.
pub fn outcome(abort: &AbortSignal) -> Option<(Outcome, String)> {
    if abort.cause() != Some(AbortCause::Interrupted) {
        return None;
    }
    let how = if abort.is_at_once() {
        "a second signal stopped it at once, cutting off in-flight iterations"
    } else {
        "the load was stopped gracefully"
    };
    let by = abort.reason().unwrap_or("interrupted");
    Some((Outcome::Interrupted, format!("{by}; {how}")))
}

/// SIGINT and SIGTERM (Ctrl-C only where there are no Unix signals).
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use anyhow::Context as _;
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                int: signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
                term: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal and names it.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "SIGINT (Ctrl-C)",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn outcome_says_how_the_run_was_stopped() {
        let abort = AbortSignal::default();
        assert!(outcome(&abort).is_none());
        abort.raise_gracefully(AbortCause::Interrupted, "interrupted by SIGTERM");
        let (o, reason) = outcome(&abort).unwrap();
        assert_eq!((o, o.code()), (Outcome::Interrupted, 105));
        assert_eq!(
            reason,
            "interrupted by SIGTERM; the load was stopped gracefully"
        );
        // Work still runs after a graceful stop ...
        assert_eq!(unless_stopped_at_once(&abort, async { 7 }).await, Some(7));
        abort.stop_at_once();
        assert!(outcome(&abort).unwrap().1.contains("stopped it at once"));
        // ... but not after a stop at once.
        let never = std::future::pending::<()>();
        assert_eq!(unless_stopped_at_once(&abort, never).await, None);

        // Other causes are not interruptions, and keep their own reason.
        let scenario = AbortSignal::default();
        scenario.raise("deliberate");
        assert!(scenario.is_at_once());
        assert!(outcome(&scenario).is_none());
    }
}
