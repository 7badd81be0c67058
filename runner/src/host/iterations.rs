//! The seam through which a guest goes on to its next iteration without
//! returning from `run` (WIT 0.1.2 `runtime.next-iteration`): the VU's
//! executor lends its iteration bookkeeping to the host state for the length
//! of a `run` call, and the host call drives it.

use std::any::Any;
use std::time::Duration;

/// A VU's iterations, as a guest inside `run` may advance them.
pub trait IterationLoop: Send {
    /// Ends the iteration in progress with the guest's `outcome`, then
    /// begins the next one if it may start at once.
    fn advance(&mut self, outcome: Result<(), String>) -> Advance;

    /// The name of the flow with `index` (as [`Begun::flow`] gives it).
    fn flow_name(&self, index: u32) -> Option<&str>;

    /// Back to the executor's own type, once the call has returned.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

/// What [`IterationLoop::advance`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// No iteration was in progress: nothing counted.
    Idle,
    /// The iteration was counted; `run` is to return (the VU stops, or
    /// waits for its next start outside the guest).
    Return,
    /// The iteration was counted and the next one began.
    Next(Begun),
}

/// An iteration just begun, whether the VU calls `run` for it or the guest
/// goes on to it inside a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Begun {
    /// Its flow's index among the scenario's flows.
    pub flow: u32,
    /// Its number in the VU, from 0.
    pub iteration: u64,
    /// How late it started after its scheduled time (open models).
    pub start_delay: Option<Duration>,
}
