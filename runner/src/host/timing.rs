//! `timing`: think time that suspends only the VU's task, and monotonic
//! time since the test started.

use std::time::Duration;

use super::HostState;
use crate::wasm::bindings::timing::Host;
use crate::wasm::engine::ticks;

impl Host for HostState {
    async fn sleep(&mut self, duration: u64) -> wasmtime::Result<()> {
        tokio::time::sleep(Duration::from_nanos(duration)).await;
        self.cpu.resumed(ticks());
        Ok(())
    }

    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(u64::try_from(self.shared.started.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}
