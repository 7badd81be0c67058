//! Every wasmtime engine setting in one place: code generation, instance
//! allocation (pooling sized from the plan), stacks, and the epoch ticker that
//! lets long-running guest code yield to other VUs.
//!
//! Two engines share one [`CodegenProfile`]: a small one for `describe`,
//! `setup` and `teardown`, and one sized for the plan's VUs. Settings that
//! change generated code live in the profile and in the compile-cache key, so
//! a component compiled once can be loaded into both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::WasmContext;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; guest code running longer than this yields.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Settings that change generated machine code. Part of the compile-cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenProfile {
    /// Virtual address space reserved per linear memory; also its size cap.
    pub memory_reservation: u64,
}

impl Default for CodegenProfile {
    fn default() -> Self {
        // Small reservations (with explicit bounds checks) are what lets tens
        // of thousands of instances coexist in one address space.
        CodegenProfile {
            memory_reservation: 64 << 20,
        }
    }
}

impl CodegenProfile {
    /// Stable text for cache keys.
    pub fn cache_tag(&self) -> String {
        format!("mem{}", self.memory_reservation)
    }
}

/// How instances are allocated for a run.
#[derive(Debug, Clone)]
pub struct AllocationPlan {
    /// Concurrent instances the engine must hold (VUs plus spare).
    pub instances: u32,
    /// Host stack of each VU's fiber: holds host calls made by the guest.
    pub async_stack: usize,
    /// Stack the guest's own wasm frames may use.
    pub max_wasm_stack: usize,
}

impl AllocationPlan {
    /// A plan for `vus` concurrent virtual users.
    pub fn for_vus(vus: u64) -> Self {
        AllocationPlan {
            instances: u32::try_from(vus).unwrap_or(u32::MAX).saturating_add(2),
            async_stack: 512 << 10,
            max_wasm_stack: 256 << 10,
        }
    }
}

/// Per-component maxima, both the pools' sizes and every VU's limits (so a
/// run behaves the same with either allocator); generous for components
/// produced by Rust's wasm32-wasip2 toolchain (a main module plus shims).
pub const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Linear memories per component.
pub const MEMORIES_PER_COMPONENT: u32 = 2;
/// Tables per component.
pub const TABLES_PER_COMPONENT: u32 = 4;
/// Elements a table may grow to (wasmtime's pooling default).
pub const TABLE_ELEMENTS: usize = 20_000;
/// Below this many instances the default on-demand allocator is fine and
/// starts faster than reserving pools.
const POOLING_THRESHOLD: u32 = 64;

/// Builds an engine with `profile`'s code generation and `alloc`'s pools.
/// Falls back to on-demand allocation when the pools cannot be reserved.
pub fn build_engine(profile: &CodegenProfile, alloc: &AllocationPlan) -> anyhow::Result<Engine> {
    if alloc.instances >= POOLING_THRESHOLD {
        let mut config = base_config(profile, alloc);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(profile, alloc)));
        match Engine::new(&config) {
            Ok(engine) => return Ok(engine),
            Err(err) => tracing_fallback(&err),
        }
    }
    Engine::new(&base_config(profile, alloc)).wasm_context("creating the wasm engine")
}

fn tracing_fallback(err: &wasmtime::Error) {
    eprintln!("note: pooling allocator unavailable ({err:#}); using on-demand allocation");
}

fn base_config(profile: &CodegenProfile, alloc: &AllocationPlan) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_reservation(profile.memory_reservation);
    config.memory_reservation_for_growth(0);
    config.memory_guard_size(64 << 10);
    config.max_wasm_stack(alloc.max_wasm_stack);
    config.async_stack_size(alloc.async_stack + alloc.max_wasm_stack);
    config
}

fn pooling(profile: &CodegenProfile, alloc: &AllocationPlan) -> PoolingAllocationConfig {
    let n = alloc.instances;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
        .total_stacks(n)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .table_elements(TABLE_ELEMENTS)
        .max_memory_size(usize::try_from(profile.memory_reservation).unwrap_or(usize::MAX))
        // Keep freed slots warm up to the VU count: re-instantiating a VU
        // after a trap reuses its slot without faulting pages in again.
        .max_unused_warm_slots(n.min(1024));
    pool
}

/// Advances an engine's epoch every [`EPOCH_TICK`] on its own thread until
/// dropped, so guest code that runs long yields to other VUs.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`.
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-slo-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_engines_build() {
        let profile = CodegenProfile::default();
        build_engine(&profile, &AllocationPlan::for_vus(1)).unwrap();
        build_engine(&profile, &AllocationPlan::for_vus(500)).unwrap();
    }
}
