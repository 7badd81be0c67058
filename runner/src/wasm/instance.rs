//! One scenario instance: a `Store` with its VU's host state, instantiated
//! from the pre-linked component, and typed calls into its exports.

use std::path::Path;
use std::time::Duration;

use super::WasmContext;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use super::bindings::{ScenarioModule, ScenarioModulePre};
use super::cache::CompileCache;
use super::engine::{AllocationPlan, CodegenProfile, EpochTicker, build_engine, ticks};
use super::limits::{CallTimedOut, CpuBudget, DESCRIBE_TIMEOUT, Tick};
use super::module::{ModuleSource, compile, link};
use super::shape::ComponentShape;
use super::trap::TrapCause;
use crate::exit::bad_input;
use crate::host::HostState;
use crate::plan::options::OptionsLayer;
use crate::plan::{DEFAULT_LIFECYCLE_TIMEOUT, Flow, ModuleDefaults};

/// The linked component, ready to instantiate any number of times.
#[derive(Clone)]
pub struct ScenarioRuntime {
    engine: Engine,
    pre: ScenarioModulePre<HostState>,
    cpu_limit: Duration,
}

/// How a call into the guest ended when it did not return normally.
#[derive(Debug)]
pub enum CallError {
    /// The guest returned an error (`result::err`): the iteration failed.
    Guest(String),
    /// The guest trapped (panic, limit, abort): the instance is unusable.
    Trap(anyhow::Error),
}

impl ScenarioRuntime {
    /// Links `component` against the host's imports; its instances' calls
    /// may each use `cpu_limit` of CPU time.
    pub fn new(
        engine: &Engine,
        component: &Component,
        path: &Path,
        cpu_limit: Duration,
    ) -> anyhow::Result<Self> {
        let mut linker: Linker<HostState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .wasm_context("linking WASI into the host")?;
        ScenarioModule::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .wasm_context("linking the scenario interfaces into the host")?;
        let pre = link(engine, &linker, component, path)?;
        let pre = ScenarioModulePre::new(pre).wasm_context("checking the component's exports")?;
        Ok(ScenarioRuntime {
            engine: engine.clone(),
            pre,
            cpu_limit,
        })
    }

    /// A runtime for one VU at a time of the module at `path`, outside a
    /// run (benchmarks and tests that host a guest themselves): compiled
    /// through `cache`, 64 MiB per VU, a minute of CPU per call. Calls that
    /// run long need the returned ticker alive.
    pub fn standalone(path: &Path, cache: &CompileCache) -> anyhow::Result<(Self, EpochTicker)> {
        let source = ModuleSource::read(path)?;
        let alloc = AllocationPlan::for_vus(1, ComponentShape::of(&source.bytes)?)?;
        let profile = CodegenProfile::for_allocation(&alloc, 64 << 20)?;
        let engine = build_engine(&profile, &alloc)?;
        let component = compile(&engine, &profile, &source, cache)?;
        let runtime = Self::new(&engine, &component, path, Duration::from_secs(60))?;
        Ok((runtime, EpochTicker::start(&engine)))
    }

    /// A fresh instance holding `state`.
    pub async fn instantiate(&self, mut state: HostState) -> anyhow::Result<ScenarioInstance> {
        state.cpu = CpuBudget::new(self.cpu_limit);
        state.cpu.start_call(ticks());
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Each epoch tick that passes while guest code runs is charged to
        // the call, and the guest yields to the other VUs of its thread. A
        // tick that passed while it waited in the runner costs neither: with
        // 64 VUs at 77,000 requests/s an iteration spans 0.8 ms, so one in
        // twelve straddles a tick, and a yield there would only reschedule
        // a VU that had just woken.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            match cx
                .data_mut()
                .cpu
                .tick(ticks())
                .map_err(wasmtime::Error::new)?
            {
                Tick::Ran => Ok(UpdateDeadline::Yield(1)),
                Tick::Waited => Ok(UpdateDeadline::Continue(1)),
            }
        });
        let bindings = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| explain_instantiation_error(anyhow::Error::from(e)))?;
        Ok(ScenarioInstance {
            store,
            bindings,
            setup_timeout: DEFAULT_LIFECYCLE_TIMEOUT,
            teardown_timeout: DEFAULT_LIFECYCLE_TIMEOUT,
        })
    }
}

/// What to do when the kernel refuses a mapping (ENOMEM) while
/// instantiating: with many VUs that is the per-process map limit.
const OUT_OF_MAPS: &str = "instantiating the scenario: the kernel refused more memory mappings \
     (vm.max_map_count, or the address space): run fewer VUs per process, raise the limit \
     (sysctl vm.max_map_count=262144), or leave WASM_SLO_ALLOCATOR unset so the dense \
     allocator is chosen";

/// Names the likely cause of an instantiation failure where the OS's
/// message alone ("Cannot allocate memory") would not.
fn explain_instantiation_error(e: anyhow::Error) -> anyhow::Error {
    // The OS error reaches us as text inside wasmtime's error chain.
    if format!("{e:#}").contains("os error 12") {
        e.context(OUT_OF_MAPS)
    } else {
        e.context("instantiating the scenario")
    }
}

/// A live instance of the scenario.
pub struct ScenarioInstance {
    store: Store<HostState>,
    bindings: ScenarioModule,
    /// Wall-clock limits of `setup` and `teardown` (k6's defaults until the
    /// plan sets them).
    setup_timeout: Duration,
    teardown_timeout: Duration,
}

/// `call`'s result, or a timeout error once `limit` passes.
async fn within<T>(
    limit: Duration,
    timed_out: CallTimedOut,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(wasmtime::Error::new(timed_out)))
}

fn flatten<T>(r: wasmtime::Result<Result<T, String>>) -> Result<T, CallError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(msg)) => Err(CallError::Guest(msg)),
        Err(trap) => Err(CallError::Trap(trap.into())),
    }
}

impl ScenarioInstance {
    /// Starts the CPU and stderr accounting of a new call into the guest.
    fn start_call(&mut self) {
        let state = self.store.data_mut();
        state.cpu.start_call(ticks());
        state.stderr.start_call();
        self.store.set_epoch_deadline(1);
    }

    /// Ends a call: unless it trapped (its output then goes with the trap's
    /// log entry), the guest's stderr output is passed on.
    fn end_call<T>(&mut self, result: Result<T, CallError>) -> Result<T, CallError> {
        if !matches!(result, Err(CallError::Trap(_))) {
            self.store.data().stderr.pass_on();
        }
        result
    }

    /// Sets the CPU time each later call may use.
    pub fn set_cpu_limit(&mut self, limit: Duration) {
        self.store.data_mut().cpu = CpuBudget::new(limit);
    }

    /// Sets the wall-clock limits of `setup` and `teardown`.
    pub fn set_lifecycle_timeouts(&mut self, setup: Duration, teardown: Duration) {
        self.setup_timeout = setup;
        self.teardown_timeout = teardown;
    }

    /// The module's declared defaults.
    pub async fn describe(&mut self) -> anyhow::Result<ModuleDefaults> {
        self.start_call();
        let g = self.bindings.wasm_slo_scenario_scenario();
        let timed_out = CallTimedOut {
            call: "describe()",
            limit: DESCRIBE_TIMEOUT,
            setting: "a fixed limit: describe() only returns defaults",
        };
        let call = g.call_describe(&mut self.store);
        let d = match within(DESCRIBE_TIMEOUT, timed_out, call).await {
            Ok(d) => d,
            Err(e) => {
                // The module is broken and nothing has run: bad input, in
                // one line with the guest's own words if it left any.
                let trap = anyhow::Error::from(e);
                let output = self.store.data().stderr.call_output();
                let what = if trap.is::<CallTimedOut>() {
                    "timed out".to_owned()
                } else {
                    format!("trapped ({})", TrapCause::of(&trap))
                };
                return Err(bad_input(format!(
                    "the module's describe() {what}: {}{}{}; fix the module",
                    trap.root_cause(),
                    if output.is_empty() {
                        ""
                    } else {
                        "; it wrote: "
                    },
                    output.replace('\n', " ")
                )));
            }
        };
        self.store.data().stderr.pass_on();
        Ok(ModuleDefaults {
            name: d.name,
            flows: d
                .flows
                .into_iter()
                .map(|f| Flow {
                    name: f.name,
                    weight: f.weight,
                })
                .collect(),
            options: OptionsLayer::from_module_json(&d.options)?,
        })
    }

    /// Runs `setup`; its bytes go to every VU.
    pub async fn setup(&mut self) -> Result<Vec<u8>, CallError> {
        self.start_call();
        let g = self.bindings.wasm_slo_scenario_scenario();
        let timed_out = CallTimedOut {
            call: "setup()",
            limit: self.setup_timeout,
            setting: "setup_timeout",
        };
        let call = g.call_setup(&mut self.store);
        let r = flatten(within(self.setup_timeout, timed_out, call).await);
        self.end_call(r)
    }

    /// Runs `init-vu`.
    pub async fn init_vu(&mut self, setup_data: &[u8]) -> Result<(), CallError> {
        self.start_call();
        let g = self.bindings.wasm_slo_scenario_scenario();
        let r = flatten(g.call_init_vu(&mut self.store, setup_data).await);
        self.end_call(r)
    }

    /// Runs one iteration of `flow`.
    pub async fn run(&mut self, flow: &str) -> Result<(), CallError> {
        self.start_call();
        let g = self.bindings.wasm_slo_scenario_scenario();
        let r = flatten(g.call_run(&mut self.store, flow).await);
        self.end_call(r)
    }

    /// Runs `teardown`.
    pub async fn teardown(&mut self, setup_data: &[u8]) -> Result<(), CallError> {
        self.start_call();
        let g = self.bindings.wasm_slo_scenario_scenario();
        let timed_out = CallTimedOut {
            call: "teardown()",
            limit: self.teardown_timeout,
            setting: "teardown_timeout",
        };
        let call = g.call_teardown(&mut self.store, setup_data);
        let r = flatten(within(self.teardown_timeout, timed_out, call).await);
        self.end_call(r)
    }

    /// The VU's host state.
    pub fn state(&mut self) -> &mut HostState {
        self.store.data_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_mappings_names_the_limit_and_what_to_do() {
        let enomem = anyhow::Error::from(std::io::Error::from_raw_os_error(12));
        let msg = format!("{:#}", explain_instantiation_error(enomem));
        assert!(
            msg.contains("vm.max_map_count") && msg.contains("WASM_SLO_ALLOCATOR"),
            "{msg}"
        );
        let other = anyhow::anyhow!("unknown import");
        let msg = format!("{:#}", explain_instantiation_error(other));
        assert_eq!(msg, "instantiating the scenario: unknown import");
    }
}
