#!/usr/bin/env bash
# Builds everything, starts the bundled target server on a free loopback
# port, runs the `health` example scenario against it and prints the
# summary; the results land in target/demo/results.json.
#
#   scripts/demo.sh            # the module's defaults: 5 VUs for 10 s
#   scripts/demo.sh --vus 20   # extra flags go to `wasm-slo run`
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/toolchain.sh

cargo build --release -p wasm-slo -p wasm-slo-target
cargo build --release --target wasm32-wasip2 -p health -p task-api

mkdir -p target/demo
. scripts/target-server.sh
start_target_server target/demo/target-server.log
trap 'kill $server 2>/dev/null || true' EXIT
echo "target server: $url"

set +e
./target/release/wasm-slo run target/wasm32-wasip2/release/health.wasm \
  -e "BASE_URL=$url" --out json=target/demo/results.json \
  --out html=target/demo/report.html "$@"
code=$?
set -e
echo "exit code: $code (results: target/demo/results.json, report: target/demo/report.html)"
exit $code
