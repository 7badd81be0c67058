//! Write [wasm-slo] load-test scenarios in Rust.
//!
//! A scenario describes what one virtual user (VU) does. It compiles to a
//! WebAssembly component (`--target wasm32-wasip2`) that the runner
//! instantiates once per VU. This crate hides the WIT bindings behind an API
//! that reads like a k6 script or a Locust user:
//!
//! | k6 / Locust                              | here                                         |
//! |------------------------------------------|----------------------------------------------|
//! | `http.get(url, {tags: {name}})`          | [`http::get`]`(url).name("GET /x").send()`   |
//! | `check(res, {"is 200": r => ...})`       | [`check_status`]`(&res, 200, "is 200")`      |
//! | `sleep(1)` / `wait_time = between(1, 3)` | [`sleep`] / [`think`]`(1s, 3s)`              |
//! | `new Trend("x")`                         | [`metrics::Trend::new`]`("x")`               |
//! | `@task(3)`                               | [`Description::flow`]`("list", 3)`           |
//! | `on_start`                               | [`Scenario::init_vu`]                        |
//! | `export const options = {...}`           | [`Description`] builder                      |
//! | `options.stages`                         | [`Description::stages`]                      |
//! | `options.scenarios` / executors          | [`Description::scenario`], [`Executor`]      |
//! | `options.blockHostnames` (inverted)      | [`Description::allow_host`], [`Description::allow_url`] |
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use wasm_slo_sdk::prelude::*;
//!
//! struct Shop {
//!     api: Client,
//! }
//!
//! impl Scenario for Shop {
//!     fn describe() -> Description {
//!         Description::new("shop")
//!             // The runner sends requests only to allowed hosts.
//!             .allow_url(&env_or("BASE_URL", "http://127.0.0.1:8080"))
//!             .flow("browse", 3)
//!             .flow("buy", 1)
//!             .vus(10)
//!             .duration(Duration::from_secs(30))
//!             .threshold("http_req_duration{name:\"GET /items\"}", &["p(95)<300ms"])
//!             .threshold("http_req_failed", &["rate<0.01"])
//!     }
//!
//!     // Locust's `on_start`: runs once per VU, its value is the VU's state.
//!     fn init_vu(_setup: &SetupData) -> Result<Self> {
//!         let base = env_or("BASE_URL", "http://127.0.0.1:8080");
//!         Ok(Shop { api: Client::new(base) })
//!     }
//!
//!     fn run(&mut self, flow: &str) -> Result<()> {
//!         match flow {
//!             "browse" => {
//!                 let res = self.api.get("/items").name("GET /items").send();
//!                 check_status(&res, 200, "items listed");
//!             }
//!             "buy" => {
//!                 let res = self
//!                     .api
//!                     .post("/orders")
//!                     .name("POST /orders")
//!                     .json(&json!({ "item": random::range(1..=20) }))
//!                     .expect_status(201)
//!                     .send()?;
//!                 check("order accepted", res.status() == 201);
//!             }
//!             other => return Err(Error::unknown_flow(other)),
//!         }
//!         think(Duration::from_secs(1), Duration::from_secs(3));
//!         Ok(())
//!     }
//! }
//!
//! wasm_slo_sdk::export_scenario!(Shop);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` from a
//! `cdylib` crate; the `.wasm` file is the scenario.
//!
//! # Modules
//!
//! - [`http`]: requests measured by the runner, [`http::batch`], [`http::Client`].
//! - [`check`](mod@check): k6's checks.
//! - [`time`]: sleep, think time, the runner's clock, duration formatting.
//! - [`random`]: a small PRNG for think times and test data.
//! - [`metrics`]: custom counters, gauges, rates and trends.
//! - [`runtime`] and [`log`]: VU id, iteration, `-e` variables, logging, abort.
//! - [`scenario`]: the [`Scenario`] trait and its [`Description`].
//! - [`executor`]: [`Stage`]s and the [`Executor`]s of named scenarios.
//!
//! # Features
//!
//! - `fast-alloc` (default): the scenario's `#[global_allocator]`, which
//!   recycles small blocks through a free list per size class in front of
//!   the standard allocator: an iteration allocates the same few blocks over
//!   and over. Turn it off (`default-features = false`) to bring your own.
//!
//! [wasm-slo]: https://github.com/wasm-slo/wasm-slo

#![deny(missing_docs)]

#[doc(hidden)]
/// Bindings generated from `wit/scenario.wit`; internal to the SDK and its
/// [`export_scenario!`] macro. Not part of the public API.
pub mod wit {
    #![allow(missing_docs, clippy::all, unsafe_op_in_unsafe_fn)]

    wit_bindgen::generate!({
        path: "../wit",
        world: "scenario-module",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "wasm_slo_sdk::wit",
    });
}

pub mod check;
pub mod error;
pub mod executor;
pub mod http;
pub mod log;
pub mod metrics;
pub mod random;
pub mod runtime;
pub mod scenario;
pub mod time;

mod convert;
mod headers;

// The allocator (see its docs); built for the tests on any target.
#[cfg(any(
    test,
    all(
        feature = "fast-alloc",
        target_family = "wasm",
        not(target_feature = "atomics")
    )
))]
mod allocator;

pub use check::{check, check_response, check_status, check_with_tags};
pub use error::{Context, Error, Result, fail};
pub use executor::{Executor, Stage};
pub use http::{Client, HttpError, RequestBuilder, Response};
pub use runtime::{abort, env, env_or, iteration, scenario_name, vu_id};
pub use scenario::{Description, Scenario, SetupData};
pub use time::{between, now, sleep, think};

/// Re-exported so scenarios can build and read JSON without their own
/// dependency on `serde_json`.
pub use serde_json;
/// `json!({...})` from `serde_json`.
pub use serde_json::json;

/// Re-exported `serde`. To derive without depending on serde yourself, add
/// `#[serde(crate = "wasm_slo_sdk::serde")]` next to the derive; most
/// scenarios simply depend on `serde` with the `derive` feature.
pub use serde;

/// Everything a scenario usually needs: `use wasm_slo_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::executor::{Executor, Stage};
    pub use crate::http::{self, Client, HttpError, RequestBuilder, Response};
    pub use crate::metrics::{Counter, Gauge, Rate, Trend};
    pub use crate::runtime::{env, env_or, iteration, scenario_name, vu_id};
    pub use crate::scenario::{Description, Scenario, SetupData};
    pub use crate::time::{between, now, sleep, think};
    pub use crate::{Context, Error, Result, fail};
    pub use crate::{check, check_response, check_status, check_with_tags};
    pub use crate::{json, log, random};
}

/// Exports a [`Scenario`] implementation as this component's `scenario`
/// interface.
///
/// Invoke it once, at the top level of the scenario's `cdylib` crate:
///
/// ```ignore
/// wasm_slo_sdk::export_scenario!(MyScenario);
/// ```
///
/// The VU's state (the value [`Scenario::init_vu`] returned) lives in a
/// thread-local of the instance; errors reach the runner as their full cause
/// chain (`"logging in: POST http://...: refused: ..."`). A panic traps the
/// instance, which the runner reports and handles.
///
/// The export's `run` goes on from one iteration to the next for as long as
/// the runner hands them over (`runtime.next-iteration`, WIT 0.1.2): a VU
/// enters the module once rather than once per iteration, which is much of
/// what a short iteration costs. Each iteration is still counted, timed and
/// limited on its own, under the flow the runner picked for it.
#[macro_export]
macro_rules! export_scenario {
    ($scenario:ty) => {
        const _: () = {
            #[allow(dead_code)]
            struct __WasmSloScenarioExport;

            ::std::thread_local! {
                static __WASM_SLO_VU_STATE: ::core::cell::RefCell<::core::option::Option<$scenario>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            impl $crate::wit::exports::wasm_slo::scenario::scenario::Guest
                for __WasmSloScenarioExport
            {
                fn describe() -> $crate::wit::exports::wasm_slo::scenario::scenario::Description {
                    $crate::__private::describe::<$scenario>()
                }

                fn setup() -> ::core::result::Result<
                    ::std::vec::Vec<u8>,
                    ::std::string::String,
                > {
                    $crate::__private::setup::<$scenario>()
                }

                fn init_vu(
                    setup_data: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    let state = $crate::__private::init_vu::<$scenario>(setup_data)?;
                    __WASM_SLO_VU_STATE
                        .with(|cell| *cell.borrow_mut() = ::core::option::Option::Some(state));
                    ::core::result::Result::Ok(())
                }

                fn run(
                    flow: ::std::string::String,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    __WASM_SLO_VU_STATE
                        .with(|cell| $crate::__private::run::<$scenario>(&mut cell.borrow_mut(), flow))
                }

                fn teardown(
                    setup_data: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::teardown::<$scenario>(setup_data)
                }
            }

            // Only wasm has component exports; on other targets (e.g. the host's
            // `cargo clippy --workspace`) the export names are not valid symbols.
            #[cfg(target_family = "wasm")]
            $crate::wit::export!(__WasmSloScenarioExport with_types_in $crate::wit);
        };

        /// Keeps the scenario's code alive on targets without the exports, so
        /// host builds of the crate do not warn that it is never used.
        #[cfg(not(target_family = "wasm"))]
        #[doc(hidden)]
        pub fn __wasm_slo_scenario_entry_points() -> [*const (); 5] {
            [
                $crate::__private::describe::<$scenario> as *const (),
                $crate::__private::setup::<$scenario> as *const (),
                $crate::__private::init_vu::<$scenario> as *const (),
                $crate::__private::run::<$scenario> as *const (),
                $crate::__private::teardown::<$scenario> as *const (),
            ]
        }
    };
}

/// Support for [`export_scenario!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    use crate::scenario::{Scenario, SetupData};
    use crate::wit::exports::wasm_slo::scenario::scenario as guest;

    /// `describe` export.
    pub fn describe<S: Scenario>() -> guest::Description {
        S::describe().into_wit()
    }

    /// `setup` export.
    pub fn setup<S: Scenario>() -> Result<Vec<u8>, String> {
        S::setup().map_err(|e| e.to_chain_string())
    }

    /// `init-vu` export: the new VU's state.
    pub fn init_vu<S: Scenario>(setup_data: Vec<u8>) -> Result<S, String> {
        S::init_vu(&SetupData::new(setup_data)).map_err(|e| e.to_chain_string())
    }

    /// `run` export: the iteration of `flow`, then the next ones for as
    /// long as the runner hands them over (`runtime.next-iteration`), so
    /// that the guest is entered once per VU rather than once per iteration.
    pub fn run<S: Scenario>(state: &mut Option<S>, flow: String) -> Result<(), String> {
        let Some(state) = state else {
            return Err(format!(
                "flow {flow:?} called before init-vu succeeded on this instance"
            ));
        };
        let mut flow = FlowName::Given(flow);
        loop {
            let outcome = state.run(flow.as_str()).map_err(|e| e.to_chain_string());
            let next = crate::wit::wasm_slo::scenario::runtime::next_iteration(
                outcome.as_ref().map(|_| ()).map_err(String::as_str),
            );
            match next {
                Some(index) => flow = FlowName::Indexed(flow_name(index)),
                // Either the runner counted the outcome and ignores what
                // `run` returns, or it lent no iterations to this call and
                // counts what `run` returns.
                None => return outcome,
            }
        }
    }

    /// The flow an iteration runs: as `run` was called with it, or as the
    /// runner named it by index.
    enum FlowName {
        Given(String),
        Indexed(std::rc::Rc<str>),
    }

    impl FlowName {
        fn as_str(&self) -> &str {
            match self {
                FlowName::Given(s) => s,
                FlowName::Indexed(s) => s,
            }
        }
    }

    std::thread_local! {
        /// Flow names by the runner's index, asked for once per instance.
        static FLOW_NAMES: std::cell::RefCell<Vec<Option<std::rc::Rc<str>>>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    /// The name of flow `index`, asked of the runner the first time.
    fn flow_name(index: u32) -> std::rc::Rc<str> {
        let i = index as usize;
        FLOW_NAMES.with_borrow_mut(|names| {
            if names.len() <= i {
                names.resize(i + 1, None);
            }
            names[i]
                .get_or_insert_with(|| {
                    crate::wit::wasm_slo::scenario::runtime::flow_name(index).into()
                })
                .clone()
        })
    }

    /// `teardown` export.
    pub fn teardown<S: Scenario>(setup_data: Vec<u8>) -> Result<(), String> {
        S::teardown(&SetupData::new(setup_data)).map_err(|e| e.to_chain_string())
    }
}
