#!/usr/bin/env bash
# Constant memory over a long run: wasm-slo's resident memory after 10
# million requests against its value after 1 million.
#
# Starts nginx as in bench/peers.sh (127.0.0.1, one worker on CPU 0) and runs
# the probe component's `fast` flow (GET /ok + status check) with 64 VUs
# sharing N iterations (default 10,000,000), wasm-slo pinned to CPU 1, while
# sampling its RSS every 50 ms. The results' per-second intervals say when
# each million requests was reached; the table shows RSS at every million
# and the ratio of the last to the first. Results are HDR histograms and
# per-interval aggregates, so memory should not grow with the request count.
# Printed and written as Markdown to bench/results/long-run-<date>.md
# (-2, -3 ... when an earlier run of the day wrote that one).
#
# Usage:
#   bench/long-run.sh                        # 10 million requests (~3-4 min)
#   bench/long-run.sh --requests 2000000     # shorter
#
# Options:
#   --requests N        requests (iterations) in total (default 10000000)
#   --vus N             VUs (default 64)
#   --no-install        do not install anything; fail if a tool is missing
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

requests=10000000
vus=64
install=yes

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

while (($#)); do
  case "$1" in
    --requests) [ $# -ge 2 ] || die "--requests needs a value"; requests=$2; shift 2 ;;
    --vus) [ $# -ge 2 ] || die "--vus needs a value"; vus=$2; shift 2 ;;
    --no-install) install=no; shift ;;
    -h | --help) usage ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
requests=$(int_in --requests "$requests" 1000000 100000000)
vus=$(int_in --vus "$vus" 1 10000)
need_two_cpus

need_base
build
start_nginx

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
json=$work/long.json
"$slo" run "$probe" -e "BASE_URL=$base_url/" --flow fast --iterations 1 -q >/dev/null 2>&1 || true # compile cache
say "wasm-slo: $requests requests, $vus VUs, CPU 1 (a few minutes)"
rc=0
sample_rss long taskset -c 1 "$slo" run "$probe" -e "BASE_URL=$base_url/" --flow fast \
  --vus "$vus" --iterations "$requests" --max-duration 30m -q --out "json=$json" || rc=$?
[ -f "$json" ] || die "no results (exit $rc): $(tail -n 3 "$work/long.err")"
read -r peak _ _ _ wall user sys <"$work/long.summary"
total=$(metric "$json" http_reqs count)

# Seconds since the start at which each million was reached (the end of
# the interval it fell in), then the last RSS sample taken before that
# interval began: the last interval ends with the run, and a sample at its
# end may fall in the teardown, when the VUs' memory is already freed
# (-9.8 % once, against +2 % in the runs around it).
jq -r '.interval_s as $i | .intervals[] | "\(.t) \(.index * $i) \(.requests)"' "$json" >"$work/long.intervals"
rows=$(awk -v step=1000000 '
  NR == FNR { cum += $3; while (cum >= next_m + step) { next_m += step; at[next_m] = $1; from[next_m] = $2 } ; next }
  { t[++n] = $1; r[n] = $2 }
  END {
    for (m = step; m <= next_m; m += step) {
      ms = from[m] * 1000; v = r[1]
      for (i = 1; i <= n && t[i] <= ms; i++) v = r[i]
      printf "%d %d %d\n", m, at[m], v
    }
  }' "$work/long.intervals" "$work/long.rss")
first=$(echo "$rows" | head -n 1 | awk '{ print $3 }')
last=$(echo "$rows" | tail -n 1 | awk '{ print $3 }')

day=$(date -u +%Y-%m-%d)
md=$(results_file "long-run-$day")
{
  echo "# wasm-slo memory over $requests requests, $day"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- nproc: $cores; CPU: $cpu_model; load average before the run: $load_before"
  echo "- nginx 1 worker on CPU 0; wasm-slo on CPU 1, probe flow \`fast\`, $vus VUs, shared iterations"
  echo "- $total requests in $wall s ($(awk -v n="$total" -v w="$wall" 'BEGIN { printf "%.0f", n / w }') req/s), CPU $(awk -v u="$user" -v s="$sys" -v n="$total" 'BEGIN { printf "%.2f µs", (u + s) * 1e6 / n }') per request, exit $rc"
  echo
  echo "| requests | reached at (s) | RSS (MiB) | vs the first million |"
  echo "|---:|---:|---:|---:|"
  echo "$rows" | awk -v f="$first" '{ printf "| %d | %d | %.1f | %+.1f %% |\n", $1, $2, $3 / 1024, 100 * ($3 - f) / f }'
  echo
  echo "Peak RSS over the run: $(awk -v m="$peak" 'BEGIN { printf "%.1f", m / 1024 }') MiB." \
    "RSS after the last million vs after the first: $(awk -v f="$first" -v l="$last" 'BEGIN { printf "%+.1f %%", 100 * (l - f) / f }')."
} >"$md"
echo
cat "$md"
echo
say "written to ${md#"$root"/}"
