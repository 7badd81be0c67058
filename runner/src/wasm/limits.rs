//! Per-VU limits a guest cannot escape: linear memory (all of the VU's
//! memories together), table elements and the number of instances, tables
//! and memories (a wasmtime `ResourceLimiter`), and CPU time per call into
//! the guest, counted in epoch ticks while the guest's own code runs.
//!
//! A limit that is hit traps the guest with an error naming the limit, so
//! the trap can be classified ([`super::trap`]) and the VU restarted.

use std::time::Duration;

use wasmtime::ResourceLimiter;

use super::engine::{
    CORE_INSTANCES_PER_COMPONENT, EPOCH_TICK, MEMORIES_PER_COMPONENT, TABLE_ELEMENTS,
    TABLES_PER_COMPONENT,
};

/// The memory or table limit a guest hit.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LimitExceeded {
    /// Linear memory would pass the VU's cap.
    #[error(
        "out of memory: growing linear memory to {wanted_mib} MiB would pass the VU's limit of \
         {cap_mib} MiB (--vu-memory)"
    )]
    Memory {
        /// The cap in MiB.
        cap_mib: usize,
        /// What the VU's memories would have held, in MiB.
        wanted_mib: usize,
    },
    /// A table would pass [`TABLE_ELEMENTS`].
    #[error("a table would grow to {wanted} elements, past the limit of {TABLE_ELEMENTS}")]
    Table {
        /// Elements asked for.
        wanted: usize,
    },
}

/// The memory and table limits of one VU's store.
#[derive(Debug)]
pub struct VuLimits {
    memory_cap: usize,
    /// Bytes of all the store's linear memories.
    memory_used: usize,
}

impl VuLimits {
    /// Limits with `memory_cap` bytes of linear memory in total.
    pub fn new(memory_cap: usize) -> Self {
        VuLimits {
            memory_cap,
            memory_used: 0,
        }
    }
}

impl ResourceLimiter for VuLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_used
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory_cap {
            // A trap rather than a failed `memory.grow`: the guest's
            // allocator would abort anyway, with a less telling message.
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                cap_mib: self.memory_cap >> 20,
                wanted_mib: total.div_ceil(1 << 20),
            }));
        }
        self.memory_used = total;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // Approved but refused by the allocator (e.g. past the pool's slot):
        // the same limit, seen from the other side.
        Err(error.context(LimitExceeded::Memory {
            cap_mib: self.memory_cap >> 20,
            wanted_mib: self.memory_used.div_ceil(1 << 20),
        }))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > TABLE_ELEMENTS {
            return Err(wasmtime::Error::new(LimitExceeded::Table {
                wanted: desired,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        CORE_INSTANCES_PER_COMPONENT as usize
    }

    fn tables(&self) -> usize {
        TABLES_PER_COMPONENT as usize
    }

    fn memories(&self) -> usize {
        MEMORIES_PER_COMPONENT as usize
    }
}

/// The guest's code used up its CPU time for one call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "stopped after {} of CPU time in one call, the limit (--iteration-cpu-limit); \
     an endless loop?",
    crate::plan::duration::format_duration(*limit)
)]
pub struct CpuLimitExceeded {
    /// The limit.
    pub limit: Duration,
}

/// Wall-clock time `describe()` may take: it only returns defaults.
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(60);

/// A once-per-run call (describe, setup, teardown) ran past its wall-clock
/// limit, e.g. waiting on a target that never answers or sleeping.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{call} did not return within {} ({setting})",
    crate::plan::duration::format_duration(*limit)
)]
pub struct CallTimedOut {
    /// `setup()`, `teardown()` or `describe()`.
    pub call: &'static str,
    /// The limit.
    pub limit: Duration,
    /// Where the limit is set.
    pub setting: &'static str,
}

/// CPU time of the current call into the guest, in epoch ticks.
///
/// The store's epoch callback runs at the first check in guest code after
/// a tick. A tick counts only if it passed while the guest ran, that is
/// after the call started and after the guest last came back from one of
/// the runner's waits (`sleep`, HTTP), which mark their return with
/// [`CpuBudget::resumed`]. A tick that passed in such a wait is not the
/// guest's, and the guest, which has just been scheduled, need not yield
/// for it. A wait in a WASI call (e.g. `std::thread::sleep`) is not marked
/// and costs at most one tick.
///
/// Tick numbers come from [`super::engine::ticks`]; they are arguments
/// here so the counting can be tested without a ticker.
#[derive(Debug)]
pub struct CpuBudget {
    limit: Duration,
    limit_ticks: u64,
    used_ticks: u64,
    /// The tick count when the guest last started running.
    running_since: u64,
}

/// Whose a tick was, as [`CpuBudget::tick`] tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// The guest ran across it: counted, and the guest yields.
    Ran,
    /// It passed while the guest waited in the runner: not counted.
    Waited,
}

impl CpuBudget {
    /// A budget of `limit` per call.
    pub fn new(limit: Duration) -> Self {
        let tick = EPOCH_TICK.as_nanos().max(1);
        CpuBudget {
            limit,
            limit_ticks: u64::try_from(limit.as_nanos().div_ceil(tick))
                .unwrap_or(u64::MAX)
                .max(1),
            used_ticks: 0,
            running_since: 0,
        }
    }

    /// Starts counting a new call at tick `now`.
    pub fn start_call(&mut self, now: u64) {
        self.used_ticks = 0;
        self.running_since = now;
    }

    /// The guest runs again at tick `now`, back from a wait in the runner.
    pub fn resumed(&mut self, now: u64) {
        self.running_since = now;
    }

    /// The guest met a passed tick, the count being `now`: counts it if
    /// the guest ran across it, or stops the guest once the budget is spent.
    pub fn tick(&mut self, now: u64) -> Result<Tick, CpuLimitExceeded> {
        if now == self.running_since {
            return Ok(Tick::Waited);
        }
        self.running_since = now;
        self.used_ticks += 1;
        if self.used_ticks >= self.limit_ticks {
            return Err(CpuLimitExceeded { limit: self.limit });
        }
        Ok(Tick::Ran)
    }

    /// CPU time counted so far in this call.
    pub fn used(&self) -> Duration {
        EPOCH_TICK.saturating_mul(u32::try_from(self.used_ticks).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_counts_every_memory_of_the_vu() {
        let mut l = VuLimits::new(4 << 20);
        assert!(l.memory_growing(0, 2 << 20, None).unwrap());
        assert!(l.memory_growing(0, 1 << 20, None).unwrap());
        // The first memory grows from 2 to 3 MiB: 4 MiB in all, allowed.
        assert!(l.memory_growing(2 << 20, 3 << 20, None).unwrap());
        let err = l.memory_growing(1 << 20, 2 << 20, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("to 5 MiB would pass the VU's limit of 4 MiB"),
            "{err}"
        );
        assert!(l.table_growing(0, TABLE_ELEMENTS, None).unwrap());
        assert!(l.table_growing(0, TABLE_ELEMENTS + 1, None).is_err());
    }

    /// A store of core module `wat` under [`VuLimits`] of `cap` bytes.
    fn instantiate(
        wat: &str,
        cap: usize,
    ) -> (
        wasmtime::Store<VuLimits>,
        wasmtime::Result<wasmtime::Instance>,
    ) {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        let mut store = wasmtime::Store::new(&engine, VuLimits::new(cap));
        store.limiter(|l| l);
        let instance = wasmtime::Instance::new(&mut store, &module, &[]);
        (store, instance)
    }

    #[test]
    fn wasm_that_grows_past_the_limits_traps_with_the_limit_named() {
        let (mut store, instance) = instantiate(
            r#"(module
                (memory 1)
                (table 1 funcref)
                (func (export "memory") (param i32) (result i32)
                    local.get 0 memory.grow)
                (func (export "table") (param i32) (result i32)
                    ref.null func local.get 0 table.grow 0))"#,
            4 << 20,
        );
        let instance = instance.unwrap();
        let memory = instance
            .get_typed_func::<i32, i32>(&mut store, "memory")
            .unwrap();
        // 1 + 63 pages of 64 KiB: exactly 4 MiB, allowed.
        assert_eq!(memory.call(&mut store, 63).unwrap(), 1);
        let err = anyhow::Error::from(memory.call(&mut store, 1).unwrap_err());
        assert_eq!(
            super::super::trap::TrapCause::of(&err),
            super::super::trap::TrapCause::MemoryLimit
        );
        let table = instance
            .get_typed_func::<i32, i32>(&mut store, "table")
            .unwrap();
        assert_eq!(table.call(&mut store, 10).unwrap(), 1);
        let err = anyhow::Error::from(table.call(&mut store, TABLE_ELEMENTS as i32).unwrap_err());
        assert_eq!(
            super::super::trap::TrapCause::of(&err),
            super::super::trap::TrapCause::TableLimit
        );
    }

    #[test]
    fn too_many_tables_or_too_much_initial_memory_cannot_instantiate() {
        let tables = "(table 1 funcref) ".repeat(TABLES_PER_COMPONENT as usize + 1);
        let (_, instance) = instantiate(&format!("(module {tables})"), 4 << 20);
        let err = instance.unwrap_err().to_string();
        assert!(err.contains("table"), "{err}");
        let (_, instance) = instantiate("(module (memory 65))", 4 << 20);
        let err = format!("{:#}", anyhow::Error::from(instance.unwrap_err()));
        assert!(err.contains("limit of 4 MiB"), "{err}");
    }

    #[test]
    fn the_budget_counts_running_ticks_only() {
        let mut b = CpuBudget::new(EPOCH_TICK * 3);
        b.start_call(7);
        assert_eq!(b.tick(8), Ok(Tick::Ran));
        // Ticks 9 to 58 pass in a long wait, and tick 59 in a short one:
        // none is the guest's, whatever the wait's length.
        b.resumed(58);
        assert_eq!(b.tick(58), Ok(Tick::Waited));
        b.resumed(59);
        assert_eq!(b.tick(59), Ok(Tick::Waited));
        assert_eq!(b.tick(60), Ok(Tick::Ran));
        // A tick met again (the callback ran twice in one tick) counts once.
        assert_eq!(b.tick(60), Ok(Tick::Waited));
        assert_eq!(b.used(), EPOCH_TICK * 2);
        let err = b.tick(61).unwrap_err();
        assert!(
            err.to_string().contains("stopped after 30ms of CPU time"),
            "{err}"
        );
        b.start_call(70);
        assert_eq!(b.used(), Duration::ZERO);
        // Ticks before the call began are not its own.
        assert_eq!(b.tick(70), Ok(Tick::Waited));
        // A limit below one tick still allows one.
        assert!(CpuBudget::new(Duration::from_micros(1)).tick(1).is_err());
    }
}
