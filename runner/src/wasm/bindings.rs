//! The one place the WIT contract is bound on the host side; every other
//! module uses these generated types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "scenario-module",
    // Only what waits (requests, think time) is async: a synchronous host
    // call skips boxing a future and polling it on the fiber, which is most
    // of what a metric or `env` call costs.
    imports: {
        "wasm-slo:scenario/http.send": async | trappable,
        "wasm-slo:scenario/http.batch": async | trappable,
        "wasm-slo:scenario/http.send-packed": async | trappable,
        "wasm-slo:scenario/http.batch-packed": async | trappable,
        "wasm-slo:scenario/http.send-bare": async | trappable,
        "wasm-slo:scenario/http.batch-bare": async | trappable,
        "wasm-slo:scenario/timing.sleep": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub use self::exports::wasm_slo::scenario::scenario as guest;
pub use self::wasm_slo::scenario::{http, metrics, runtime, timing, types};

/// The WIT package this runner implements, as `name@version`.
pub const WIT_PACKAGE: &str = "wasm-slo:scenario";
/// The contract version this runner was built against.
pub const WIT_VERSION: &str = "0.1.3";
