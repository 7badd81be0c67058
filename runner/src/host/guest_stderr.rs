//! The guest's stderr (where a Rust panic prints its message). What the
//! guest writes during a call into it is kept, bounded; when the call ends
//! normally its lines are passed on to the runner's stderr with the VU's id
//! until a run-wide budget of lines is spent, and when the call traps they
//! go into that trap's log entry instead, so a panic message is shown once
//! with its trap, not once per panicking iteration.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Lines of guest stderr shown per run before the rest is muted.
const SHOWN_LINES: u64 = 50;
/// Bytes of a call's output kept (the last ones).
const KEPT_BYTES: usize = 4096;

/// Run-wide count of guest stderr lines shown.
#[derive(Debug, Default)]
pub struct StderrBudget(AtomicU64);

/// One VU's stderr; clones share the buffer.
#[derive(Debug, Clone)]
pub struct GuestStderr {
    vu: u64,
    /// The current call's output, its last [`KEPT_BYTES`].
    call: Arc<Mutex<Vec<u8>>>,
    /// Whether `call` holds anything: most calls write nothing, and then
    /// starting and ending them takes no lock.
    written: Arc<AtomicBool>,
    budget: Arc<StderrBudget>,
}

impl GuestStderr {
    /// Stderr of VU `vu` (0 for describe, setup, teardown).
    pub fn new(vu: u64, budget: Arc<StderrBudget>) -> Self {
        GuestStderr {
            vu,
            call: Arc::default(),
            written: Arc::default(),
            budget,
        }
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // The lock guards plain bytes; a panic elsewhere cannot break them.
        self.call.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the previous call's output.
    pub fn start_call(&self) {
        if self.written.swap(false, Ordering::Relaxed) {
            self.buffer().clear();
        }
    }

    /// What the guest wrote during the current call, without blank lines
    /// and Rust's "run with RUST_BACKTRACE" hint.
    pub fn call_output(&self) -> String {
        String::from_utf8_lossy(&self.buffer())
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE=1`"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Passes the current call's output on to the runner's stderr, within
    /// the run's budget of lines.
    pub fn pass_on(&self) {
        if !self.written.load(Ordering::Relaxed) {
            return;
        }
        let output = self.call_output();
        self.start_call();
        for line in output.lines() {
            let n = self.budget.0.fetch_add(1, Ordering::Relaxed);
            if n < SHOWN_LINES {
                eprintln!("[vu {}] {line}", self.vu);
            } else if n == SHOWN_LINES {
                eprintln!(
                    "(further stderr output of the scenario is not shown; a trap's own output \
                     is still logged with it)"
                );
            }
        }
    }

    fn take(&self, bytes: &[u8]) {
        self.written.store(true, Ordering::Relaxed);
        let mut b = self.buffer();
        b.extend_from_slice(bytes);
        if b.len() > KEPT_BYTES {
            let cut = b.len() - KEPT_BYTES;
            b.drain(..cut);
        }
    }
}

impl IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestStderr {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always room: output past the bound is dropped, never refused (a
        // refused write would make Rust's `eprintln!` panic).
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStderr {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_calls_output_and_passes_it_on_within_the_budget() {
        let budget = Arc::new(StderrBudget::default());
        let mut err = GuestStderr::new(3, budget.clone());
        err.write(Bytes::from_static(b"old\n")).unwrap();
        err.start_call();
        err.write(Bytes::from_static(
            b"\nthread '<unnamed>' panicked at src/lib.rs:1:1:\nbo",
        ))
        .unwrap();
        err.write(Bytes::from_static(
            b"om\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        ))
        .unwrap();
        assert_eq!(
            err.call_output(),
            "thread '<unnamed>' panicked at src/lib.rs:1:1:\nboom"
        );
        err.pass_on();
        assert_eq!(budget.0.load(Ordering::Relaxed), 2);
        assert_eq!(err.call_output(), "");
        err.write(Bytes::from(vec![b'x'; 3 * KEPT_BYTES])).unwrap();
        assert_eq!(err.call_output().len(), KEPT_BYTES);
        assert_eq!(err.check_write().unwrap(), 64 << 10);
    }
}
