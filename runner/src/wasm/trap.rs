//! Why a guest trapped, in a few causes a report can count: a limit it hit
//! ([`super::limits`]), a panic, a stack overflow, an abort of the test, or
//! anything else wasm can trap on.

use std::fmt;

use super::limits::{CpuLimitExceeded, LimitExceeded};

/// The guest called `runtime.abort`: the trap that unwinds it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("test aborted by the scenario: {0}")]
pub struct ScenarioAborted(pub String);

/// The cause of a trap; the `cause` tag of `iteration_errors{kind:trap}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrapCause {
    /// The call used up its CPU time (`--iteration-cpu-limit`).
    CpuLimit,
    /// Linear memory would pass `--vu-memory`.
    MemoryLimit,
    /// A table would pass its element limit.
    TableLimit,
    /// The guest's stack overflowed.
    StackOverflow,
    /// A panic or abort in the guest (`unreachable` executed).
    Panic,
    /// The scenario aborted the test.
    Abort,
    /// Any other trap (out-of-bounds access, division by zero, ...).
    Other,
}

impl TrapCause {
    /// Every cause, in tag order.
    pub const ALL: [TrapCause; 7] = [
        TrapCause::CpuLimit,
        TrapCause::MemoryLimit,
        TrapCause::TableLimit,
        TrapCause::StackOverflow,
        TrapCause::Panic,
        TrapCause::Abort,
        TrapCause::Other,
    ];

    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            TrapCause::CpuLimit => "cpu_limit",
            TrapCause::MemoryLimit => "memory_limit",
            TrapCause::TableLimit => "table_limit",
            TrapCause::StackOverflow => "stack_overflow",
            TrapCause::Panic => "panic",
            TrapCause::Abort => "abort",
            TrapCause::Other => "other",
        }
    }

    /// The cause of `trap`, from the first error in its chain that tells.
    pub fn of(trap: &anyhow::Error) -> Self {
        for e in trap.chain() {
            if e.is::<CpuLimitExceeded>() {
                return TrapCause::CpuLimit;
            }
            if let Some(limit) = e.downcast_ref::<LimitExceeded>() {
                return match limit {
                    LimitExceeded::Memory { .. } => TrapCause::MemoryLimit,
                    LimitExceeded::Table { .. } => TrapCause::TableLimit,
                };
            }
            if e.is::<ScenarioAborted>() {
                return TrapCause::Abort;
            }
            match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::StackOverflow) => return TrapCause::StackOverflow,
                Some(wasmtime::Trap::UnreachableCodeReached) => return TrapCause::Panic,
                Some(_) => return TrapCause::Other,
                None => {}
            }
        }
        TrapCause::Other
    }
}

impl fmt::Display for TrapCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn causes_are_found_through_context() {
        let cpu = anyhow::Error::from(wasmtime::Error::new(CpuLimitExceeded {
            limit: Duration::from_secs(1),
        }))
        .context("calling run");
        assert_eq!(TrapCause::of(&cpu), TrapCause::CpuLimit);
        let mem = anyhow::Error::new(LimitExceeded::Memory {
            cap_mib: 1,
            wanted_mib: 2,
        });
        assert_eq!(TrapCause::of(&mem), TrapCause::MemoryLimit);
        let trap = anyhow::Error::from(wasmtime::Error::new(wasmtime::Trap::StackOverflow));
        assert_eq!(TrapCause::of(&trap), TrapCause::StackOverflow);
        let trap =
            anyhow::Error::from(wasmtime::Error::new(wasmtime::Trap::UnreachableCodeReached));
        assert_eq!(TrapCause::of(&trap), TrapCause::Panic);
        let trap = anyhow::Error::from(wasmtime::Error::new(wasmtime::Trap::IntegerDivisionByZero));
        assert_eq!(TrapCause::of(&trap), TrapCause::Other);
        assert_eq!(
            TrapCause::of(&anyhow::anyhow!("host error")),
            TrapCause::Other
        );
        let abort = anyhow::Error::from(wasmtime::Error::new(ScenarioAborted("x".into())));
        assert_eq!(TrapCause::of(&abort), TrapCause::Abort);
        let tags: Vec<&str> = TrapCause::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(tags.len(), 7);
    }
}
