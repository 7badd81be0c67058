#!/usr/bin/env bash
# Installs what building wasm-slo needs beyond a Rust toolchain: the
# wasm32-wasip2 target that scenario components are compiled for.
set -euo pipefail
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
