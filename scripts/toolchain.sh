#!/usr/bin/env bash
# Installs what building wasm-slo needs beyond a Rust toolchain: the
# wasm32-wasip2 target that scenario components are compiled for, and a C
# compiler with make (ring, rustls's cryptography, builds C code; jemalloc,
# the runner's allocator, builds with its configure script and make). A
# missing C compiler or make is installed from Debian's build-essential
# when apt-get can run (as root or through sudo); otherwise the script
# stops and says what to install.
set -euo pipefail
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

have_cc() { command -v cc >/dev/null || command -v gcc >/dev/null || command -v clang >/dev/null; }
if ! have_cc || ! command -v make >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if command -v apt-get >/dev/null && { [ -z "$sudo" ] || command -v sudo >/dev/null; }; then
    echo "==> apt-get install build-essential (a C compiler and make, to build ring and jemalloc)" >&2
    # A failed install (no network, no sudo rights) is not the end: the
    # check below then says what is missing.
    { $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq build-essential; } >&2 ||
      echo "==> apt-get could not install build-essential (see above)" >&2
  fi
  if ! have_cc || ! command -v make >/dev/null; then
    echo "$(basename "$0"): building wasm-slo needs a C compiler (cc, gcc or clang) and make;" \
      "install them (Debian/Ubuntu: apt-get install build-essential) and run this again" >&2
    exit 1
  fi
fi
