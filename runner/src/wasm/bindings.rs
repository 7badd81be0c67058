//! The one place the WIT contract is bound on the host side; every other
//! module uses these generated types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "scenario-module",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::exports::wasm_slo::scenario::scenario as guest;
pub use self::wasm_slo::scenario::{http, metrics, runtime, timing, types};

/// The WIT package this runner implements, as `name@version`.
pub const WIT_PACKAGE: &str = "wasm-slo:scenario";
/// The contract version this runner was built against.
pub const WIT_VERSION: &str = "0.1.1";
