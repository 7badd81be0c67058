//! `runtime`: the VU's identity, `-e` variables, logging and aborting.

use super::HostState;
use super::iterations::Advance;
use crate::wasm::bindings::runtime::{Host, LogLevel};
use crate::wasm::engine::ticks;
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

    fn next_iteration(&mut self, outcome: Result<(), String>) -> wasmtime::Result<Option<u32>> {
        let Some(iterations) = self.iterations.as_mut() else {
            return Ok(None);
        };
        // The iteration's stderr goes out within it, as at the end of a
        // call of its own.
        self.stderr.pass_on();
        let advance = iterations.advance(outcome);
        if advance == Advance::Idle {
            return Ok(None);
        }
        // A fresh CPU budget for the next iteration, or for the way out of
        // `run`, as for a call of its own.
        self.cpu.start_call(ticks());
        let Advance::Next(begun) = advance else {
            return Ok(None);
        };
        self.enter(begun);
        Ok(Some(begun.flow))
    }

    fn flow_name(&mut self, index: u32) -> wasmtime::Result<String> {
        match self.iterations.as_ref().and_then(|i| i.flow_name(index)) {
            Some(name) => Ok(name.to_owned()),
            None => Err(wasmtime::Error::msg(format!(
                "runtime.flow-name({index}): no flow has that index (next-iteration gives the \
                 indices, during `run`)"
            ))),
        }
    }

    fn abort(&mut self, reason: String) -> wasmtime::Result<()> {
        self.shared.abort.raise(reason.clone());
        // A trap unwinds the guest at once: `abort` does not return.
        Err(wasmtime::Error::new(ScenarioAborted(reason)))
    }
}
