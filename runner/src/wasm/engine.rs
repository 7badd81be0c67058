//! Every wasmtime engine setting in one place: code generation, instance
//! allocation (chosen and sized from the plan), stacks, and the epoch ticker
//! that lets long-running guest code yield to other VUs.
//!
//! Two engines share one [`CodegenProfile`]: a small one for `describe`,
//! `setup` and `teardown`, and one sized for the plan's VUs. Settings that
//! change generated code live in the profile and in the compile-cache key, so
//! a component compiled once can be loaded into both (a run too large for
//! unchecked memories compiles once more, for its memory layout).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::WasmContext;
#[cfg(unix)]
use super::dense::{DenseMemories, DenseStacks};
use super::shape::ComponentShape;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; guest code running longer than this yields.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Settings that change generated machine code. Part of the compile-cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenProfile {
    /// Virtual address space reserved per linear memory. At
    /// [`UNCHECKED_RESERVATION`] the generated code checks no bounds; below
    /// it every access is checked and the reservation caps the memory's size.
    pub memory_reservation: u64,
    /// Memories for [`Strategy::Dense`]: no guard region (every access
    /// bounds-checked) and no copy-on-write initial image. wasmtime refuses
    /// to load code compiled for the other layout, hence the profile.
    pub dense_memories: bool,
}

/// A reservation of the whole 32-bit index space: with the guard region
/// behind it, no wasm address can reach outside the mapping, so wasmtime
/// compiles loads and stores without bounds checks. The guest's memory
/// stays capped by `--vu-memory` through the store's limiter. Measured:
/// 28 % fewer instructions in the guest's code, and 1-2 % less CPU per
/// iteration (more the more the guest computes; README, "What the changes
/// did").
pub const UNCHECKED_RESERVATION: u64 = 1 << 32;

/// Address space the linear memories of one run may reserve at
/// [`UNCHECKED_RESERVATION`] each: an eighth of the address space the
/// process lives in (16 TiB of x86-64's 128 TiB, so a pool for up to 2,048
/// VUs; 64 GiB on arm64 kernels with 39-bit addresses; 16 GiB under
/// valgrind, whose programs get 128 GiB), and at most half of a `ulimit -v`.
/// Larger runs reserve only their `--vu-memory` per memory (as wasmtime's
/// pooling allocator and [`Strategy::Dense`] need to fit tens of thousands
/// of instances) and check bounds. Unchecked slots also cost the kernel
/// about 4 KiB of page tables per VU, since no two share a table page.
fn unchecked_address_budget() -> u64 {
    // Stacks, the main one and threads', sit at the top of the space the
    // process may map, so the power of two above a local's address is that
    // space's size. Where they do not (Windows), the budget comes out small
    // and memories stay checked.
    let local = 0u8;
    let space = (std::ptr::addr_of!(local) as usize as u64).next_power_of_two();
    let budget = space / 8;
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
        if ok && limit.rlim_cur != libc::RLIM_INFINITY {
            // rlim_t is 32 bits wide on 32-bit targets.
            #[allow(clippy::useless_conversion)]
            return budget.min(u64::from(limit.rlim_cur) / 2);
        }
    }
    budget
}

/// Environment variable that forces the memory layout: `checked` or
/// `unchecked` (which fails where the address space is too small); `auto`
/// or unset chooses by [`unchecked_address_budget`]. For benchmarks and
/// tests.
pub const MEMORY_ENV: &str = "WASM_SLO_MEMORY";

impl CodegenProfile {
    /// Stable text for cache keys.
    pub fn cache_tag(&self) -> String {
        let dense = if self.dense_memories { "-dense" } else { "" };
        format!("mem{}{dense}", self.memory_reservation)
    }

    /// The profile for `alloc`'s engine whose VUs may each use
    /// `memory_cap` bytes of linear memory.
    pub fn for_allocation(alloc: &AllocationPlan, memory_cap: u64) -> anyhow::Result<Self> {
        let budget = match std::env::var(MEMORY_ENV).as_deref() {
            Ok("checked") => 0,
            Ok("unchecked") => u64::MAX,
            Ok("auto" | "") | Err(_) => unchecked_address_budget(),
            Ok(other) => anyhow::bail!(
                "{MEMORY_ENV}={other:?} is not a memory layout: use auto, checked or unchecked"
            ),
        };
        Ok(Self::within(alloc, memory_cap, budget))
    }

    /// [`Self::for_allocation`] with `budget` bytes of address space for
    /// unchecked memories.
    fn within(alloc: &AllocationPlan, memory_cap: u64, budget: u64) -> Self {
        let dense = matches!(alloc.strategy, Strategy::Dense { .. });
        let unchecked = u64::from(alloc.instances)
            .saturating_mul(u64::from(MEMORIES_PER_COMPONENT))
            .saturating_mul(UNCHECKED_RESERVATION)
            <= budget;
        CodegenProfile {
            memory_reservation: if unchecked && !dense {
                UNCHECKED_RESERVATION
            } else {
                memory_cap
            },
            dense_memories: dense,
        }
    }
}

/// Where instances' memories, tables and stacks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// wasmtime's default: a mapping per memory and stack, made when needed.
    /// Best for a handful of instances.
    OnDemand,
    /// wasmtime's pooling allocator: slots reserved up front, copy-on-write
    /// memory images, warm slots reused after a trap. About
    /// [`maps_per_pooled_instance`] kernel maps per instance.
    Pooling,
    /// Memories and stacks carved from one region each ([`super::dense`]):
    /// a fixed handful of maps, for more instances than pooling allows.
    /// Stacks keep a guard page each only while the map budget allows.
    Dense {
        /// Whether each fiber stack has a guard page (one map per stack).
        guarded_stacks: bool,
    },
}

/// Kernel memory maps a pooled linear memory takes: its read-write part,
/// its copy-on-write image, the heap above it and the inaccessible rest
/// (measured in `/proc/PID/maps` with the Rust probe guest).
const MAPS_PER_POOLED_MEMORY: u64 = 4;
/// Maps of a pooled instance's fiber stack: the stack and its guard page.
const MAPS_PER_POOLED_STACK: u64 = 2;

/// Kernel memory maps a pooled instance of a component with `memories`
/// linear memories takes (6 for the probe's one).
pub fn maps_per_pooled_instance(memories: u32) -> u64 {
    MAPS_PER_POOLED_STACK + MAPS_PER_POOLED_MEMORY * u64::from(memories.max(1))
}
/// Maps left for everything else the process maps (libraries, thread
/// stacks, the compiled code, allocator arenas).
const MAP_HEADROOM: u64 = 4096;
/// Below this many instances the default on-demand allocator is fine and
/// starts faster than reserving pools.
const POOLING_THRESHOLD: u32 = 64;
/// Environment variable that forces a [`Strategy`] (`on-demand`, `pooling`,
/// `dense`, `dense-guarded`), for benchmarks and tests; `auto` or unset
/// chooses from the plan.
pub const ALLOCATOR_ENV: &str = "WASM_SLO_ALLOCATOR";

/// How instances are allocated for a run.
#[derive(Debug, Clone)]
pub struct AllocationPlan {
    /// Concurrent instances the engine must hold (VUs plus spare).
    pub instances: u32,
    /// Host stack of each VU's fiber: holds host calls made by the guest.
    pub async_stack: usize,
    /// Stack the guest's own wasm frames may use.
    pub max_wasm_stack: usize,
    /// Where memories and stacks come from.
    pub strategy: Strategy,
}

impl AllocationPlan {
    /// A plan for `vus` concurrent virtual users of a component shaped like
    /// `shape`, with the strategy chosen from the kernel's map budget unless
    /// [`ALLOCATOR_ENV`] names one.
    pub fn for_vus(vus: u64, shape: ComponentShape) -> anyhow::Result<Self> {
        let instances = u32::try_from(vus).unwrap_or(u32::MAX).saturating_add(2);
        let strategy = match std::env::var(ALLOCATOR_ENV) {
            Ok(name) if !name.is_empty() && name != "auto" => parse_strategy(&name)?,
            _ => Strategy::choose(instances, max_map_count(), shape.memories),
        };
        Ok(Self::with(instances, strategy))
    }

    /// The control engine's plan (`describe`, `setup`, `teardown`): a few
    /// instances, on demand, whatever [`ALLOCATOR_ENV`] says.
    pub fn control() -> Self {
        Self::with(3, Strategy::OnDemand)
    }

    fn with(instances: u32, strategy: Strategy) -> Self {
        AllocationPlan {
            instances,
            async_stack: 512 << 10,
            max_wasm_stack: 256 << 10,
            strategy,
        }
    }
}

fn parse_strategy(name: &str) -> anyhow::Result<Strategy> {
    Ok(match name {
        "on-demand" => Strategy::OnDemand,
        "pooling" => Strategy::Pooling,
        "dense" => Strategy::Dense {
            guarded_stacks: false,
        },
        "dense-guarded" => Strategy::Dense {
            guarded_stacks: true,
        },
        other => anyhow::bail!(
            "{ALLOCATOR_ENV}={other:?} is not an allocator: use auto, on-demand, pooling, dense or dense-guarded"
        ),
    })
}

impl Strategy {
    /// The cheapest strategy that fits `instances` of a component with
    /// `memories` linear memories into `max_maps` kernel memory maps.
    pub fn choose(instances: u32, max_maps: u64, memories: u32) -> Strategy {
        let n = u64::from(instances);
        if instances < POOLING_THRESHOLD {
            Strategy::OnDemand
        } else if n * maps_per_pooled_instance(memories) + MAP_HEADROOM <= max_maps {
            Strategy::Pooling
        } else {
            // A guard page splits the stack region: two maps per stack.
            Strategy::Dense {
                guarded_stacks: n * 2 + MAP_HEADROOM <= max_maps,
            }
        }
    }
}

/// The kernel's `vm.max_map_count` (65,530 unless raised).
fn max_map_count() -> u64 {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65_530)
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
/// Builds an engine with `profile`'s code generation and `alloc`'s
/// strategy. Falls back to on-demand allocation when pools or regions
/// cannot be reserved. `profile` must be `for_allocation(alloc, …)`.
pub fn build_engine(profile: &CodegenProfile, alloc: &AllocationPlan) -> anyhow::Result<Engine> {
    let mut config = base_config(profile, alloc);
    let chosen = match alloc.strategy {
        Strategy::OnDemand => Ok(()),
        Strategy::Pooling => {
            config
                .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(profile, alloc)));
            Ok(())
        }
        Strategy::Dense { guarded_stacks } => dense(&mut config, profile, alloc, guarded_stacks),
    };
    match chosen.and_then(|()| Ok(Engine::new(&config)?)) {
        Ok(engine) => Ok(engine),
        Err(err) if alloc.strategy != Strategy::OnDemand => {
            eprintln!(
                "note: {:?} instance allocation unavailable ({err:#}); using on-demand allocation",
                alloc.strategy
            );
            // `base_config` keeps the profile's memory layout, so the code
            // compiled for it still loads.
            Engine::new(&base_config(profile, alloc)).wasm_context("creating the wasm engine")
        }
        Err(err) => Err(err.context("creating the wasm engine")),
    }
}

#[cfg(not(unix))]
fn dense(_: &mut Config, _: &CodegenProfile, _: &AllocationPlan, _: bool) -> anyhow::Result<()> {
    anyhow::bail!("dense allocation needs a Unix mmap")
}

#[cfg(unix)]
fn dense(
    config: &mut Config,
    profile: &CodegenProfile,
    alloc: &AllocationPlan,
    guarded_stacks: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        profile.dense_memories,
        "dense allocation needs code compiled for dense memories"
    );
    // At 4 GiB wasmtime elides bounds checks for 32-bit memories, relying
    // on the mapping: dense slots are accessible end to end.
    anyhow::ensure!(
        profile.memory_reservation < 1 << 32,
        "dense allocation needs --vu-memory below 4096 MiB"
    );
    let n = alloc.instances as usize;
    let memories = DenseMemories::new(
        profile.memory_reservation,
        n.saturating_mul(MEMORIES_PER_COMPONENT as usize),
    )?;
    let stacks = DenseStacks::new(alloc.async_stack + alloc.max_wasm_stack, n, guarded_stacks)?;
    config.with_host_memory(Arc::new(memories));
    config.with_host_stack(Arc::new(stacks));
    Ok(())
}

fn base_config(profile: &CodegenProfile, alloc: &AllocationPlan) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_reservation(profile.memory_reservation);
    config.memory_reservation_for_growth(0);
    if profile.dense_memories {
        // Dense slots are read-write end to end: no guard to lean on, so
        // every access is checked, and initial data is copied in.
        config.memory_guard_size(0);
        config.guard_before_linear_memory(false);
        config.memory_init_cow(false);
    } else {
        config.memory_guard_size(64 << 10);
    }
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

/// Ticks of every [`EpochTicker`] of the process so far. The engine's own
/// epoch cannot be read back; the CPU budget compares this count with the
/// one when the guest last started running. Two tickers at once (only in
/// tests) make ticks look more frequent: a guest may then yield, and be
/// charged, a tick early.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// How many epoch ticks have passed in this process.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Acquire)
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
                        Some(engine) => {
                            // Counted first, so a guest that sees the new
                            // epoch sees the tick too (wasm reads the epoch
                            // without ordering; a miss on a weakly ordered
                            // CPU only counts the guest's tick one later).
                            TICKS.fetch_add(1, Ordering::Release);
                            engine.increment_epoch();
                        }
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
        let one = ComponentShape::SINGLE_MEMORY;
        let dense = |guarded_stacks| AllocationPlan {
            strategy: Strategy::Dense { guarded_stacks },
            ..AllocationPlan::for_vus(500, one).unwrap()
        };
        for alloc in [
            AllocationPlan::for_vus(1, one).unwrap(),
            AllocationPlan::for_vus(500, one).unwrap(),
            dense(false),
            dense(true),
        ] {
            let profile = CodegenProfile::within(&alloc, 64 << 20, 16 << 40);
            build_engine(&profile, &alloc).unwrap();
        }
    }

    #[test]
    fn memories_go_unchecked_while_the_address_budget_allows() {
        let one = ComponentShape::SINGLE_MEMORY;
        let cap = 64 << 20;
        // x86-64's: an eighth of 128 TiB.
        let budget = 16 << 40;
        let profile =
            |vus| CodegenProfile::within(&AllocationPlan::for_vus(vus, one).unwrap(), cap, budget);
        // The control engine's profile: one compilation serves both.
        let control = CodegenProfile::within(&AllocationPlan::control(), cap, budget);
        assert_eq!(
            control,
            CodegenProfile {
                memory_reservation: UNCHECKED_RESERVATION,
                dense_memories: false
            }
        );
        assert_eq!(profile(64), control);
        assert_eq!(profile(1).memory_reservation, UNCHECKED_RESERVATION);
        // 2,048 instances (2 spare) of two memory slots fill the 16 TiB.
        assert_eq!(profile(2_046).memory_reservation, UNCHECKED_RESERVATION);
        assert_eq!(
            profile(2_047),
            CodegenProfile {
                memory_reservation: cap,
                dense_memories: false
            }
        );
        // Under `ulimit -v 64G`, half of it: 32 GiB, 4 instances.
        let small = AllocationPlan::for_vus(2, one).unwrap();
        assert_eq!(
            CodegenProfile::within(&small, cap, 32 << 30).memory_reservation,
            UNCHECKED_RESERVATION
        );
        let more = AllocationPlan::for_vus(3, one).unwrap();
        assert_eq!(
            CodegenProfile::within(&more, cap, 32 << 30).memory_reservation,
            cap
        );
        // Under `ulimit -v 16G` even the control engine's 3 check bounds.
        assert_eq!(
            CodegenProfile::within(&AllocationPlan::control(), cap, 8 << 30).memory_reservation,
            cap
        );
        let dense = AllocationPlan {
            strategy: Strategy::Dense {
                guarded_stacks: true,
            },
            ..AllocationPlan::for_vus(10, one).unwrap()
        };
        assert_eq!(
            CodegenProfile::within(&dense, cap, budget),
            CodegenProfile {
                memory_reservation: cap,
                dense_memories: true
            },
            "dense slots are packed at the cap, so their code checks bounds"
        );
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn the_budget_is_an_eighth_of_the_address_space() {
        // 47-bit user addresses: 16 TiB, unless half a `ulimit -v` is less.
        let budget = unchecked_address_budget();
        assert!((1 << 30..=16 << 40).contains(&budget), "{budget}");
    }

    #[test]
    fn the_strategy_follows_the_map_budget() {
        let budget = 65_530;
        assert_eq!(Strategy::choose(3, budget, 1), Strategy::OnDemand);
        assert_eq!(Strategy::choose(1_002, budget, 1), Strategy::Pooling);
        assert_eq!(Strategy::choose(10_002, budget, 1), Strategy::Pooling);
        assert_eq!(
            Strategy::choose(20_002, budget, 1),
            Strategy::Dense {
                guarded_stacks: true
            }
        );
        assert_eq!(
            Strategy::choose(50_002, budget, 1),
            Strategy::Dense {
                guarded_stacks: false
            }
        );
        // A raised vm.max_map_count keeps pooling (and its shared images).
        assert_eq!(Strategy::choose(50_002, 1 << 20, 1), Strategy::Pooling);
    }

    #[test]
    fn a_second_memory_counts_against_the_map_budget() {
        let budget = 65_530;
        assert_eq!(maps_per_pooled_instance(1), 6);
        assert_eq!(maps_per_pooled_instance(0), 6, "counted as one at least");
        assert_eq!(maps_per_pooled_instance(2), 10);
        // 10,002 pooled instances take 60,012 maps with one memory each and
        // 100,020 with two: past the default limit, so dense.
        assert_eq!(Strategy::choose(10_002, budget, 1), Strategy::Pooling);
        assert_eq!(
            Strategy::choose(10_002, budget, 2),
            Strategy::Dense {
                guarded_stacks: true
            }
        );
        assert_eq!(Strategy::choose(5_002, budget, 2), Strategy::Pooling);
    }

    #[test]
    fn dense_code_has_its_own_cache_tag() {
        // The same reservation, so only the layout tells the two apart.
        let profile = CodegenProfile {
            memory_reservation: 64 << 20,
            dense_memories: false,
        };
        let alloc = AllocationPlan {
            strategy: Strategy::Dense {
                guarded_stacks: false,
            },
            ..AllocationPlan::for_vus(10, ComponentShape::SINGLE_MEMORY).unwrap()
        };
        assert_ne!(
            profile.cache_tag(),
            CodegenProfile::within(&alloc, 64 << 20, 16 << 40).cache_tag()
        );
        assert_eq!(parse_strategy("dense").unwrap(), alloc.strategy);
        let err = parse_strategy("fast").unwrap_err().to_string();
        assert!(
            err.contains("WASM_SLO_ALLOCATOR") && err.contains("dense-guarded"),
            "{err}"
        );
    }
}
