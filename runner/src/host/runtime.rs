//! `runtime`: the VU's identity, `-e` variables, logging and aborting.

use super::HostState;
use crate::wasm::bindings::runtime::{Host, LogLevel};
use crate::wasm::trap::ScenarioAborted;

impl Host for HostState {
    fn vu_id(&mut self) -> wasmtime::Result<u64> {
        Ok(self.vu_id)
    }

    fn iteration(&mut self) -> wasmtime::Result<u64> {
        Ok(self.iteration)
    }

    fn scenario_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.scenario.to_string())
    }

    fn env(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.env.get(&key).cloned())
    }

    fn env_vars(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let level = match level {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        };
        eprintln!("[vu {}] {level} {message}", self.vu_id);
        Ok(())
    }

    fn abort(&mut self, reason: String) -> wasmtime::Result<()> {
        self.shared.abort.raise(reason.clone());
        // A trap unwinds the guest at once: `abort` does not return.
        Err(wasmtime::Error::new(ScenarioAborted(reason)))
    }
}
