//! The `wasm-slo` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    wasm_slo::cli::main()
}
