//! One scenario instance: a `Store` with its VU's host state, instantiated
//! from the pre-linked component, and typed calls into its exports.

use std::path::Path;

use super::WasmContext;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

use super::bindings::{ScenarioModule, ScenarioModulePre};
use super::module::link;
use crate::host::HostState;
use crate::plan::options::OptionsLayer;
use crate::plan::{Flow, ModuleDefaults};

/// The linked component, ready to instantiate any number of times.
#[derive(Clone)]
pub struct ScenarioRuntime {
    engine: Engine,
    pre: ScenarioModulePre<HostState>,
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
    /// Links `component` against the host's imports.
    pub fn new(engine: &Engine, component: &Component, path: &Path) -> anyhow::Result<Self> {
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
        })
    }

    /// A fresh instance holding `state`.
    pub async fn instantiate(&self, state: HostState) -> anyhow::Result<ScenarioInstance> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to other VUs whenever guest code runs past an epoch tick.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let bindings = self
            .pre
            .instantiate_async(&mut store)
            .await
            .wasm_context("instantiating the scenario")?;
        Ok(ScenarioInstance { store, bindings })
    }
}

/// A live instance of the scenario.
pub struct ScenarioInstance {
    store: Store<HostState>,
    bindings: ScenarioModule,
}

fn flatten(r: wasmtime::Result<Result<(), String>>) -> Result<(), CallError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(msg)) => Err(CallError::Guest(msg)),
        Err(trap) => Err(CallError::Trap(trap.into())),
    }
}

impl ScenarioInstance {
    /// The module's declared defaults.
    pub async fn describe(&mut self) -> anyhow::Result<ModuleDefaults> {
        let g = self.bindings.wasm_slo_scenario_scenario();
        let d = g
            .call_describe(&mut self.store)
            .await
            .wasm_context("the module's describe() trapped")?;
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
        let g = self.bindings.wasm_slo_scenario_scenario();
        match g.call_setup(&mut self.store).await {
            Ok(Ok(data)) => Ok(data),
            Ok(Err(msg)) => Err(CallError::Guest(msg)),
            Err(trap) => Err(CallError::Trap(trap.into())),
        }
    }

    /// Runs `init-vu`.
    pub async fn init_vu(&mut self, setup_data: &[u8]) -> Result<(), CallError> {
        let g = self.bindings.wasm_slo_scenario_scenario();
        flatten(g.call_init_vu(&mut self.store, setup_data).await)
    }

    /// Runs one iteration of `flow`.
    pub async fn run(&mut self, flow: &str) -> Result<(), CallError> {
        let g = self.bindings.wasm_slo_scenario_scenario();
        flatten(g.call_run(&mut self.store, flow).await)
    }

    /// Runs `teardown`.
    pub async fn teardown(&mut self, setup_data: &[u8]) -> Result<(), CallError> {
        let g = self.bindings.wasm_slo_scenario_scenario();
        flatten(g.call_teardown(&mut self.store, setup_data).await)
    }

    /// The VU's host state.
    pub fn state(&mut self) -> &mut HostState {
        self.store.data_mut()
    }
}
