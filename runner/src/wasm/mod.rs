//! The WebAssembly side: engines, the compiled scenario component, and one
//! instance per VU.

pub mod bindings;
pub mod cache;
#[cfg(unix)]
pub mod dense;
pub mod engine;
pub mod instance;
pub mod limits;
pub mod module;
pub mod shape;
pub mod trap;

/// `anyhow::Context` for `wasmtime::Error`, which is its own error type.
pub trait WasmContext<T> {
    /// Converts the error to `anyhow` and adds `msg` in front of it.
    fn wasm_context(self, msg: &'static str) -> anyhow::Result<T>;
}

impl<T> WasmContext<T> for Result<T, wasmtime::Error> {
    fn wasm_context(self, msg: &'static str) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::from(e).context(msg))
    }
}
