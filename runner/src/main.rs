//! The `wasm-slo` binary; everything lives in the library.

/// jemalloc instead of glibc's malloc, as oha links it: a request takes
/// about 17 allocations (hyper's buffers and header maps, the response
/// handed to the guest), and jemalloc's thread cache serves them in fewer
/// instructions (3.6 % fewer per request in all at 64 VUs, about 2 % less
/// CPU; README, "What the changes did"). Memory per VU is unchanged.
#[cfg(unix)]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    wasm_slo::cli::main()
}
