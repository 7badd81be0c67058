//! A VU's view of a stop ([`CancellationToken`]) that costs one atomic load
//! to check and to poll.
//!
//! A VU asks about its stops on every turn: its hard stop is raced against
//! each poll of its iterations, and its graceful stop is checked before each
//! iteration. `CancellationToken::is_cancelled` locks the token's mutex, and
//! each poll of its `cancelled()` future locks that mutex and then the one of
//! the token's waiter list: locked instructions on the VU's own lines, cold
//! by its next turn, each waiting for the stores before it (a sampled
//! profile at 64 VUs put about 1 % of the worker's time there). A
//! `StopSignal` registers once with the token, through a waker of its own
//! that sets a flag, and from then on reads that flag.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Watches one token for the life of a VU.
pub struct StopSignal {
    relay: Arc<Relay>,
    /// Keeps the relay registered with the token until the signal is dropped.
    _watch: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// Woken by the token when it is cancelled: sets the flag, then wakes the
/// task waiting in [`StopSignal::stopped`], if any.
#[derive(Default)]
struct Relay {
    stopped: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.stopped.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl StopSignal {
    /// Starts watching `token`; a token already cancelled is seen at once.
    pub fn new(token: CancellationToken) -> Self {
        let relay = Arc::new(Relay::default());
        let mut watch = Box::pin(token.cancelled_owned());
        let waker = Waker::from(relay.clone());
        // The first poll registers the relay with the token; later cancels
        // wake it from whichever thread cancels, before `cancel` returns.
        if watch
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            relay.stopped.store(true, Ordering::Release);
        }
        StopSignal {
            relay,
            _watch: watch,
        }
    }

    /// Whether the token has been cancelled.
    pub fn is_stopped(&self) -> bool {
        self.relay.stopped.load(Ordering::Acquire)
    }

    /// Resolves once the token is cancelled. A poll registers the task's
    /// waker only when it is not the one registered before.
    pub fn stopped(&self) -> impl Future<Output = ()> + '_ {
        let mut registered: Option<Waker> = None;
        std::future::poll_fn(move |cx| {
            if self.is_stopped() {
                return Poll::Ready(());
            }
            if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                self.relay.task.register(cx.waker());
                registered = Some(cx.waker().clone());
                // A cancel between the check above and the registration
                // woke no one: look again.
                if self.is_stopped() {
                    return Poll::Ready(());
                }
            }
            Poll::Pending
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_token_cancelled_before_is_seen_at_once() {
        let token = CancellationToken::new();
        token.cancel();
        assert!(StopSignal::new(token).is_stopped());
    }

    #[test]
    fn a_cancel_is_seen_as_soon_as_it_returns_also_through_a_parent() {
        let parent = CancellationToken::new();
        let own = StopSignal::new(parent.child_token());
        let sibling = StopSignal::new(parent.child_token());
        let child = parent.child_token();
        let by_child = StopSignal::new(child.clone());
        assert!(!own.is_stopped() && !sibling.is_stopped() && !by_child.is_stopped());
        child.cancel();
        assert!(by_child.is_stopped());
        assert!(!own.is_stopped(), "a child's cancel stays with the child");
        parent.cancel();
        assert!(own.is_stopped() && sibling.is_stopped());
    }

    #[tokio::test]
    async fn a_task_waiting_on_the_signal_wakes_when_another_thread_cancels() {
        let token = CancellationToken::new();
        let signal = StopSignal::new(token.clone());
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            token.cancel();
        });
        tokio::time::timeout(Duration::from_secs(10), signal.stopped())
            .await
            .expect("the cancel woke the waiting task");
        canceller.join().unwrap();
    }

    #[tokio::test]
    async fn stopped_stays_pending_until_the_cancel_and_is_polled_again_by_a_new_waker() {
        let token = CancellationToken::new();
        let signal = StopSignal::new(token.clone());
        let mut stopped = std::pin::pin!(signal.stopped());
        // Polled by one task's waker, then another's: the second must be
        // the one woken.
        let first = Arc::new(Flag::default());
        let second = Arc::new(Flag::default());
        for flag in [&first, &second] {
            let waker = Waker::from(flag.clone());
            let poll = stopped.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(poll.is_pending());
        }
        token.cancel();
        assert!(
            second.0.load(Ordering::SeqCst),
            "the latest waker was woken"
        );
        assert!(!first.0.load(Ordering::SeqCst));
        let waker = Waker::from(second.clone());
        let poll = stopped.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(poll.is_ready());
    }

    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}
