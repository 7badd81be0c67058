#!/usr/bin/env bash
# Arrival-rate precision: how exactly wasm-slo keeps an open-model schedule.
#
# Starts nginx as in bench/peers.sh (127.0.0.1, one worker on CPU 0) and runs
# one constant-arrival-rate scenario of the probe component's `fast` flow
# (GET /ok + status check) with wasm-slo pinned to CPU 1, then reads its
# results: iterations started against the schedule's total (the achieved
# rate, in % of the target), dropped iterations, and the scheduling delay
# (`iteration_start_delay`: actual start minus scheduled start) at p50, p90,
# p99, p99.9 and max; plus generator CPU per iteration and the most VUs the
# pool held. Printed and written as Markdown to
# bench/results/arrival-<date>.md, or arrival-<date>-<vus>-of-<max>-vus.md
# for a pool other than the default (-2, -3 ... after a first run that day).
#
# Usage:
#   bench/arrival.sh                          # 20000 iterations/s for 10 s
#   bench/arrival.sh --rate 5000 --duration 5s
#   bench/arrival.sh --vus 5 --max-vus 1000   # a pool that has to grow
#   bench/arrival.sh --vus 1000 --max-vus 1000  # far more VUs than needed
#
# Options:
#   --rate N            iterations per second (default 20000)
#   --duration D        length of the scenario (default 10s)
#   --vus N             pre-allocated VUs (default 100)
#   --max-vus N         VU pool limit (default 100: the pool does not grow)
#   --no-install        do not install anything; fail if a tool is missing
#
# Installs what is missing like bench/peers.sh (nginx, time, jq from Debian;
# the wasm32-wasip2 target). Only 127.0.0.1 is ever targeted.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

rate=20000
duration=10
vus=100
max_vus=100
install=yes

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

while (($#)); do
  case "$1" in
    --rate) [ $# -ge 2 ] || die "--rate needs a value"; rate=$(int_in --rate "$2" 1 1000000); shift 2 ;;
    --duration) [ $# -ge 2 ] || die "--duration needs a value"; duration=$(seconds "$2"); shift 2 ;;
    --vus) [ $# -ge 2 ] || die "--vus needs a value"; vus=$(int_in --vus "$2" 1 100000); shift 2 ;;
    --max-vus) [ $# -ge 2 ] || die "--max-vus needs a value"; max_vus=$(int_in --max-vus "$2" 1 100000); shift 2 ;;
    --no-install) install=no; shift ;;
    -h | --help) usage ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
((max_vus >= vus)) || die "--max-vus ($max_vus) is below --vus ($vus)"
need_two_cpus

need_base
build
start_nginx

cfg=$work/arrival.toml
cat >"$cfg" <<TOML
[scenarios.open]
executor = "constant-arrival-rate"
rate = $rate
time_unit = "1s"
duration = "${duration}s"
pre_allocated_vus = $vus
max_vus = $max_vus
flow = "fast"
TOML

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
json=$work/arrival.json
say "wasm-slo: $rate iterations/s for ${duration}s, $vus pre-allocated VUs (at most $max_vus), CPU 1"
"$slo" run "$probe" -e "BASE_URL=$base_url/" --flow fast --iterations 1 -q >/dev/null 2>&1 || true # compile cache
timed arrival taskset -c 1 "$slo" run "$probe" -e "BASE_URL=$base_url/" --config "$cfg" -q --out "json=$json" ||
  die "wasm-slo failed: $(tail -n 3 "$work/arrival.err")"
read -r wall user sys rss <"$work/arrival.time"

planned=$((rate * duration))
started=$(metric "$json" iterations count)
dropped=$(metric "$json" dropped_iterations count)
delay() { jq -r --arg f "$1" '[.metrics[] | select(.name == "iteration_start_delay") | .values[$f]] | first // "n/a"' "$json"; }
day=$(date -u +%Y-%m-%d)
peak_vus=$(jq -r '[.intervals[].vus] | max // 0' "$json")
if ((vus == 100 && max_vus == 100)); then
  md=$(results_file "arrival-$day")
else
  md=$(results_file "arrival-$day-$vus-of-$max_vus-vus")
fi
{
  echo "# wasm-slo arrival-rate precision, $day"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- nproc: $cores; CPU: $cpu_model; load average before the run: $load_before"
  echo "- nginx 1 worker on CPU 0; wasm-slo on CPU 1 (\`taskset -c 1\`), default workers"
  echo "- constant-arrival-rate $rate/s for ${duration}s, pre_allocated_vus $vus, max_vus $max_vus; probe flow \`fast\`"
  echo
  echo "| target (/s) | planned | started | achieved (% of target) | dropped | delay p50 (ms) | p90 | p99 | p99.9 | max | CPU µs/iteration | peak RSS (MiB) | most VUs |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -v r="$rate" -v p="$planned" -v s="$started" -v d="$dropped" -v d50="$(delay 'p(50)')" -v d90="$(delay 'p(90)')" \
    -v d99="$(delay 'p(99)')" -v d999="$(delay 'p(99.9)')" -v dmax="$(delay max)" -v u="$user" -v sy="$sys" -v m="$rss" -v pv="$peak_vus" \
    'BEGIN { printf "| %d | %d | %d | %.2f | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.1f | %d |\n",
             r, p, s, 100 * s / p, d, d50, d90, d99, d999, dmax, (u + sy) * 1e6 / s, m / 1024, pv }'
  echo
  echo "Delay is \`iteration_start_delay\`: when the iteration started minus when the schedule said it should. Most VUs: the most VUs alive at the end of a one-second interval."
} >"$md"
echo
cat "$md"
echo
say "written to ${md#"$root"/}"
