#!/usr/bin/env bash
# Builds wasm-slo with profile-guided optimisation (PGO): an instrumented
# build runs a training load against the bundled target server on a free
# loopback port, and the profile it records steers the final build's
# inlining and code layout. The result is target/pgo/wasm-slo, the binary
# bench/peers.sh measures beside the plain release build. The request path
# of a load generator runs through hyper, tokio, wasmtime and the runner,
# more code than the CPU's instruction cache holds; with the hot part laid
# out together, the runner used 12 % less CPU per request and 20 % less user
# time (README, "Performance").
#
#   scripts/build-pgo.sh
#   scripts/build-pgo.sh --no-install   # fail instead of installing llvm-tools
#
# A first build takes about twice a release build's time. When the sources
# have not changed since the last one (the instrumented binary is the same),
# it stops there and keeps target/pgo/wasm-slo.
#
# The training load (about 20 s, all on 127.0.0.1) covers what scenarios do:
# the probe's `fast` flow (a GET and a check, the closed loop at 64 VUs), the
# task-api example's weighted mix (JSON bodies, POST, tags, checks), a
# constant-arrival-rate executor, and the `health` example with think time.
# Installs rustup's llvm-tools component (llvm-profdata) and the
# wasm32-wasip2 target if missing. Nothing else is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
say() { echo "==> $*" >&2; }
die() { echo "$(basename "$0"): $*" >&2; exit 1; }

install=yes
while (($#)); do
  case "$1" in
    --no-install) install=no; shift ;;
    *) die "unknown option: $1 (the only one is --no-install)" ;;
  esac
done

scripts/toolchain.sh
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
profdata=$sysroot/lib/rustlib/$host/bin/llvm-profdata
if ! [ -x "$profdata" ]; then
  [ "$install" = yes ] ||
    die "llvm-profdata is missing: rustup component add llvm-tools (or drop --no-install)"
  say "rustup component add llvm-tools (llvm-profdata merges the training profile)"
  rustup component add llvm-tools >&2
fi
[ -x "$profdata" ] || die "no llvm-profdata at $profdata after installing llvm-tools"

# The target server and the scenarios are built as usual: only the runner is
# instrumented and optimised, each in a target dir of its own so that the
# RUSTFLAGS of one build never invalidate another's artifacts.
say "building the target server and the training scenarios"
cargo build --release -q -p wasm-slo-target
cargo build --release -q --target wasm32-wasip2 -p probe -p task-api -p health

out=$root/target/pgo
raw=$out/raw
mkdir -p "$out"
flags=${RUSTFLAGS:-}

say "building the instrumented runner (target/pgo/gen)"
RUSTFLAGS="$flags -Cprofile-generate=$raw" CARGO_TARGET_DIR=$out/gen \
  cargo build --release -q -p wasm-slo
gen=$out/gen/release/wasm-slo
# The profile belongs to this instrumented binary: the same binary means the
# same sources, so the optimised build from its profile is still current.
key=$(sha256sum "$gen" | cut -c1-16)
if [ -x "$out/wasm-slo" ] && [ "$(cat "$out/wasm-slo.key" 2>/dev/null)" = "$key" ]; then
  say "target/pgo/wasm-slo is up to date (built from the profile of this source)"
  exit 0
fi
# The instrumented build ran build scripts, which wrote profiles of their own.
rm -rf "$raw"
mkdir -p "$raw"

. scripts/target-server.sh
start_target_server "$out/target-server.log"
trap 'kill $server 2>/dev/null || true' EXIT
say "training against $url"
wasm=target/wasm32-wasip2/release
cache=$out/cache
: >"$out/train.log"
train() { # train WHAT ARGS...: one run of the instrumented runner, which must send requests
  local what=$1 json=$out/train.json requests
  shift
  say "  $what"
  rm -f "$json"
  # A failed check or threshold still trains; a run that sent nothing does not.
  WASM_SLO_CACHE_DIR=$cache "$gen" run "$@" -q --out "json=$json" >>"$out/train.log" 2>&1 || true
  requests=$({ grep -o '"total_requests": *[0-9]*' "$json" 2>/dev/null || true; } | grep -o '[0-9]*$' | sort -n | tail -n 1 || true)
  ((${requests:-0} > 0)) || die "training run \"$what\" sent no requests (see $out/train.log)"
  say "    $requests requests"
}
train "probe, flow fast, 64 VUs, 6 s" "$wasm/probe.wasm" -e "BASE_URL=$url/" --flow fast \
  --vus 64 --duration 6s --workers 1
train "task-api's mix without think time, 32 VUs, 5 s" "$wasm/task_api.wasm" -e "BASE_URL=$url" \
  -e THINK=0 --vus 32 --duration 5s
cat >"$out/arrival.toml" <<TOML
[scenarios.open]
executor = "constant-arrival-rate"
rate = 5000
time_unit = "1s"
duration = "4s"
pre_allocated_vus = 50
max_vus = 200
flow = "fast"
TOML
train "probe, 5,000 arrivals/s, 4 s" "$wasm/probe.wasm" -e "BASE_URL=$url/" --config "$out/arrival.toml"
train "health, 20 VUs with think time, 4 s" "$wasm/health.wasm" -e "BASE_URL=$url" \
  --vus 20 --duration 4s
kill "$server" 2>/dev/null || true

shopt -s nullglob
profiles=("$raw"/*.profraw)
((${#profiles[@]})) || die "the training runs wrote no profile (see $out/train.log)"
# Named by the key, so that a new profile changes RUSTFLAGS and cargo
# rebuilds with it (cargo does not look into the file).
rm -f "$out"/wasm-slo-*.profdata
"$profdata" merge -o "$out/wasm-slo-$key.profdata" "${profiles[@]}"

say "building the optimised runner (target/pgo/use)"
RUSTFLAGS="$flags -Cprofile-use=$out/wasm-slo-$key.profdata" CARGO_TARGET_DIR=$out/use \
  cargo build --release -q -p wasm-slo
cp "$out/use/release/wasm-slo" "$out/wasm-slo"
echo "$key" >"$out/wasm-slo.key"
say "built target/pgo/wasm-slo"
