//! End-to-end tests: build the example and test components from source,
//! start the project's target server on 127.0.0.1, run the `wasm-slo`
//! binary against it and check exit codes, summaries and results files.

mod util;

mod bad_input;
mod baseline;
#[cfg(unix)]
mod bench_scripts;
mod contract;
mod distributed;
mod examples;
mod faults;
#[cfg(unix)]
mod interrupt;
mod kubernetes;
mod limits;
mod load;
mod load_models;
mod memory_layout;
mod outputs;
mod results;
mod sandbox;
mod seeds;
mod slo;
mod thresholds;
