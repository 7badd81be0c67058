#!/usr/bin/env bash
# The distributed proof at a larger scale, on this machine: one
# fixed-iteration test (shared and per-VU iterations of the probe's `fast`
# flow, per-VU iterations of its `metrics` flow) runs once whole and once as
# N `wasm-slo run --segment K/N` processes started together with --start-at,
# merged with `wasm-slo merge`. The counts must be identical (also at the
# target server); both runs' latency figures are printed side by side (they
# differ only as two runs do). Exits 1 if a count differs.
#
#   scripts/distributed-local.sh                       # 8 segments
#   scripts/distributed-local.sh --segments 16 --iterations 200000 --vus 64
#   scripts/distributed-local.sh --keep target/distributed   # keep the files
#
#   --segments N     processes (default 8)
#   --iterations N   shared iterations (default 20000)
#   --vus N          VUs of the shared-iterations scenario (default 32)
#   --per-vu N       iterations of each of 16 per-VU VUs (default 500)
#   --keep DIR       write the results files there (default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."

segments=8 iterations=20000 vus=32 per_vu=500 keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --segments) segments="${2:?}"; shift 2 ;;
    --iterations) iterations="${2:?}"; shift 2 ;;
    --vus) vus="${2:?}"; shift 2 ;;
    --per-vu) per_vu="${2:?}"; shift 2 ;;
    --keep) keep="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for tool in jq curl; do
  command -v "$tool" >/dev/null || { echo "this script needs $tool" >&2; exit 2; }
done

scripts/toolchain.sh
cargo build --release -p wasm-slo -p wasm-slo-target
cargo build --release --target wasm32-wasip2 -p probe
bin=./target/release/wasm-slo
probe=target/wasm32-wasip2/release/probe.wasm

if [ -n "$keep" ]; then
  work="$keep"
  mkdir -p "$work"
  rm -f "$work"/part-*.json "$work"/whole.json "$work"/total.json
else
  work="$(mktemp -d)"
fi
. scripts/target-server.sh
start_target_server "$work/target-server.log"
trap 'kill $server 2>/dev/null || true; [ -n "$keep" ] || rm -rf "$work"' EXIT
served() { curl -fsS "$url/__stats" | jq .total; }

requests=$(( iterations + 16 * per_vu ))
cat >"$work/options.toml" <<TOML
[scenarios.shared]
executor = "shared-iterations"
vus = $vus
iterations = $iterations
flow = "fast"

[scenarios.pervu]
executor = "per-vu-iterations"
vus = 16
iterations = $per_vu
flow = "fast"

[scenarios.metrics]
executor = "per-vu-iterations"
vus = 7
iterations = 11
flow = "metrics"
TOML
# Met by the whole test only: no request lost or doubled.
cat >"$work/slo.toml" <<TOML
[thresholds]
http_reqs = ["count==$requests"]
TOML
common=("$probe" --config "$work/options.toml" --slo "$work/slo.toml" -e "BASE_URL=$url" -q)

echo "whole run: $requests requests"
$bin run "${common[@]}" --out "json=$work/whole.json"
served_whole=$(served)

start_at=$(( $(date +%s) + 2 + segments / 4 ))
echo "$segments segments, starting together at $start_at (Unix seconds)"
pids=()
for k in $(seq "$segments"); do
  $bin run "${common[@]}" --segment "$k/$segments" --start-at "$start_at" \
    --out "json=$work/part-$k.json" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
served_parts=$(( $(served) - served_whole ))

set +e
$bin merge "$work"/part-*.json --out "json=$work/total.json"
merge_code=$?
set -e

sum() { jq "[.metrics[] | select(.name == \"$2\" $3) | .values.$4] | add // 0" "$1"; }
failed=0
row() {
  local what="$1" whole="$2" merged="$3"
  local mark="same"
  if [ "$whole" != "$merged" ]; then mark="DIFFERENT"; failed=1; fi
  printf '  %-34s %14s %14s  %s\n' "$what" "$whole" "$merged" "$mark"
}
echo
printf '  %-34s %14s %14s\n' "count" "whole" "merged"
row "requests at the target server" "$served_whole" "$served_parts"
for spec in "http_reqs|http_reqs||count" "checks passed|checks||passes" \
  "checks|checks||total" \
  "iterations{scenario:shared}|iterations|and .tags.scenario == \"shared\"|count" \
  "iterations{scenario:pervu}|iterations|and .tags.scenario == \"pervu\"|count" \
  "iterations{scenario:metrics}|iterations|and .tags.scenario == \"metrics\"|count" \
  "probe_items|probe_items||count" "probe_rate passes|probe_rate||passes" \
  "vus_max|vus_max||value"; do
  IFS='|' read -r label metric filter field <<<"$spec"
  row "$label" \
    "$(sum "$work/whole.json" "$metric" "$filter" "$field")" \
    "$(sum "$work/total.json" "$metric" "$filter" "$field")"
done
hist_count() { jq '[.metrics[] | select(.name == "http_req_duration") | .values.count] | add' "$1"; }
row "http_req_duration samples" "$(hist_count "$work/whole.json")" "$(hist_count "$work/total.json")"
echo
printf '  %-34s %14s %14s\n' "latency (ms, differs run to run)" "whole" "merged"
for f in median p95 p99 max; do
  printf '  %-34s %14s %14s\n' "all requests $f" \
    "$(jq ".endpoints.all.$f" "$work/whole.json")" "$(jq ".endpoints.all.$f" "$work/total.json")"
done
echo
echo "merge exit code: $merge_code (0: the whole test met count==$requests)"
[ -n "$keep" ] && echo "results: $work/{whole,part-*,total}.json"
if [ "$failed" -ne 0 ] || [ "$merge_code" -ne 0 ]; then exit 1; fi
