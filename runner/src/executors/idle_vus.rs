//! The idle VUs of an arrival-rate scenario, as its pacer hands them
//! scheduled starts: the VU that went idle last gets the next start.
//!
//! Newest first keeps a pool larger than the load needs (k6 scripts often
//! pre-allocate a thousand VUs) running on the same few VUs, whose instance
//! memory, fiber stack and connection buffers stay in the CPU's caches while
//! the rest sleep. Handed out oldest first, as a channel's waiting receivers
//! are, every start went to the VU idle longest, cycling through the whole
//! pool: at 20,000 starts/s on one core, 1,000 VUs cost 30 % more CPU per
//! iteration than 100 did (46 against 36 µs), and 100 VUs cost 25 % more
//! than now.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// A scenario's idle VUs, shared by its pacer thread and its VUs' workers.
#[derive(Default)]
pub struct IdleVus {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Seats of the VUs waiting for a start, the newest last.
    waiting: Vec<usize>,
    /// Every seat by its index; a seat given back is reused.
    seats: Vec<SeatState>,
    /// Seats given back.
    free: Vec<usize>,
    /// No more starts will be handed out.
    closed: bool,
}

#[derive(Default)]
struct SeatState {
    /// A start handed to this VU and not yet taken.
    ticket: Option<Instant>,
    /// Wakes the VU when a start or the close comes.
    waker: Option<Waker>,
    /// In `waiting`.
    waiting: bool,
}

impl IdleVus {
    /// No VUs yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A seat for one more VU.
    pub fn seat(self: &Arc<Self>) -> Seat {
        let mut s = self.lock();
        let id = match s.free.pop() {
            Some(id) => id,
            None => {
                s.seats.push(SeatState::default());
                s.seats.len() - 1
            }
        };
        Seat {
            vus: self.clone(),
            id,
        }
    }

    /// VUs waiting for a start now.
    pub fn idle(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Hands the start `at` to the VU that went idle last; false when no VU
    /// is waiting.
    pub fn hand(&self, at: Instant) -> bool {
        let waker = {
            let mut s = self.lock();
            let Some(id) = s.waiting.pop() else {
                return false;
            };
            let seat = &mut s.seats[id];
            seat.waiting = false;
            seat.ticket = Some(at);
            seat.waker.take()
        };
        // Woken outside the lock: waking a VU on another worker may take
        // that worker's own locks.
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// Hands out no more starts: the waiting VUs, and any that waits from
    /// now on, are told to stop once they have taken what they were handed.
    pub fn close(&self) {
        let wakers: Vec<Waker> = {
            let mut s = self.lock();
            s.closed = true;
            let State { waiting, seats, .. } = &mut *s;
            waiting
                .drain(..)
                .filter_map(|id| {
                    seats[id].waiting = false;
                    seats[id].waker.take()
                })
                .collect()
        };
        for w in wakers {
            w.wake();
        }
    }
}

/// One VU's place among the idle: where it waits and where its starts are
/// handed to.
pub struct Seat {
    vus: Arc<IdleVus>,
    id: usize,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat").field("id", &self.id).finish()
    }
}

impl Seat {
    /// Waits as the newest idle VU: `Some` with the start handed to it, or
    /// `None` once the pool is closed and nothing is left for it.
    pub async fn ticket(&mut self) -> Option<Instant> {
        poll_fn(|cx| self.poll_ticket(cx)).await
    }

    fn poll_ticket(&mut self, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        let mut s = self.vus.lock();
        let State {
            waiting,
            seats,
            closed,
            ..
        } = &mut *s;
        let seat = &mut seats[self.id];
        if let Some(at) = seat.ticket.take() {
            return Poll::Ready(Some(at));
        }
        if *closed {
            return Poll::Ready(None);
        }
        match &mut seat.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        if !seat.waiting {
            seat.waiting = true;
            waiting.push(self.id);
        }
        Poll::Pending
    }

    /// Stops waiting. A start handed to this VU meanwhile is returned: the
    /// pacer counted it as started, so the VU must still run it.
    pub fn leave(&mut self) -> Option<Instant> {
        self.leave_in(&mut self.vus.lock())
    }

    fn leave_in(&self, s: &mut State) -> Option<Instant> {
        let State { waiting, seats, .. } = s;
        let seat = &mut seats[self.id];
        seat.waker = None;
        if seat.waiting {
            seat.waiting = false;
            // Found from the newest end, where a VU that just began waiting is.
            if let Some(i) = waiting.iter().rposition(|&id| id == self.id) {
                waiting.remove(i);
            }
        }
        seat.ticket.take()
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        // A VU cut off (hard stop) must not be handed starts it cannot run.
        let mut s = self.vus.lock();
        self.leave_in(&mut s);
        s.free.push(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Polls `seat` once, as a VU's task does when it goes idle.
    fn poll_once(seat: &mut Seat) -> Poll<Option<Instant>> {
        let mut cx = Context::from_waker(Waker::noop());
        seat.poll_ticket(&mut cx)
    }

    /// `n` VUs gone idle in order.
    fn waiting(vus: &Arc<IdleVus>, n: usize) -> Vec<Seat> {
        let mut seats: Vec<Seat> = (0..n).map(|_| vus.seat()).collect();
        for seat in &mut seats {
            assert!(poll_once(seat).is_pending());
        }
        seats
    }

    #[test]
    fn the_vu_idle_last_gets_the_next_start() {
        let vus = IdleVus::new();
        let mut s = waiting(&vus, 3);
        assert_eq!(vus.idle(), 3);
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(1);
        assert!(vus.hand(t0));
        assert_eq!(poll_once(&mut s[2]), Poll::Ready(Some(t0)));
        assert!(poll_once(&mut s[0]).is_pending(), "the oldest waits on");
        // The VU that ran comes back and is again the newest idle one.
        assert!(poll_once(&mut s[2]).is_pending());
        assert!(vus.hand(t1));
        assert_eq!(poll_once(&mut s[2]), Poll::Ready(Some(t1)));
        assert!(vus.hand(t1));
        assert_eq!(poll_once(&mut s[1]), Poll::Ready(Some(t1)));
        assert!(vus.hand(t1));
        assert_eq!(poll_once(&mut s[0]), Poll::Ready(Some(t1)));
        assert!(!vus.hand(t1), "nobody is left waiting");
        assert_eq!(vus.idle(), 0);
    }

    #[test]
    fn polling_again_while_waiting_does_not_queue_twice() {
        let vus = IdleVus::new();
        let mut seat = vus.seat();
        for _ in 0..3 {
            assert!(poll_once(&mut seat).is_pending());
        }
        assert_eq!(vus.idle(), 1);
        assert!(vus.hand(Instant::now()));
        assert!(!vus.hand(Instant::now()));
    }

    #[test]
    fn a_start_handed_out_before_leaving_is_kept() {
        let vus = IdleVus::new();
        let mut s = waiting(&vus, 2);
        let at = Instant::now();
        assert!(vus.hand(at));
        // The newer was handed the start just as it was told to stop.
        assert_eq!(s[1].leave(), Some(at));
        // The older leaves with nothing, and is no longer handed anything.
        assert_eq!(s[0].leave(), None);
        assert_eq!(vus.idle(), 0);
        assert!(!vus.hand(at));
    }

    #[test]
    fn closing_ends_the_waits_after_what_was_handed_out() {
        let vus = IdleVus::new();
        let mut s = waiting(&vus, 2);
        let at = Instant::now();
        assert!(vus.hand(at));
        vus.close();
        assert_eq!(poll_once(&mut s[1]), Poll::Ready(Some(at)));
        assert_eq!(poll_once(&mut s[1]), Poll::Ready(None));
        assert_eq!(poll_once(&mut s[0]), Poll::Ready(None));
        // A VU that starts waiting only after the close stops at once.
        let mut late = vus.seat();
        assert_eq!(poll_once(&mut late), Poll::Ready(None));
        assert!(!vus.hand(at));
    }

    #[test]
    fn a_dropped_seat_is_not_handed_starts_and_is_reused() {
        let vus = IdleVus::new();
        let mut s = waiting(&vus, 2);
        drop(s.pop());
        let at = Instant::now();
        assert!(vus.hand(at));
        assert_eq!(poll_once(&mut s[0]), Poll::Ready(Some(at)));
        assert!(!vus.hand(at));
        let c = vus.seat();
        assert_eq!(c.id, 1, "the freed seat is reused");
        assert_eq!(vus.lock().seats.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starts_handed_from_another_thread_wake_the_vus() {
        let vus = IdleVus::new();
        let n = 200;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let mut seat = vus.seat();
                tokio::spawn(async move {
                    let mut got = 0;
                    while seat.ticket().await.is_some() {
                        got += 1;
                    }
                    got
                })
            })
            .collect();
        let pacer = {
            let vus = vus.clone();
            std::thread::spawn(move || {
                let mut handed = 0;
                while handed < n {
                    if vus.hand(Instant::now()) {
                        handed += 1;
                    } else {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
                vus.close();
            })
        };
        pacer.join().unwrap();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(total, n, "every start handed out was run once");
    }
}
