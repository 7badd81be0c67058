#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit tests and the
# end-to-end tests, which build the guest components from source and run the
# real binary against a local server).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/toolchain.sh
scripts/browser.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --target wasm32-wasip2 -p wasm-slo-sdk -p health -p task-api -p probe -p hostile -p compat-0-1-0 -- -D warnings
cargo test --workspace
