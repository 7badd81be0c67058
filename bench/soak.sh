#!/usr/bin/env bash
# Soak: 10,000 VUs for 5 minutes against the bundled target server, checking
# that wasm-slo holds steady memory and loses no sample.
#
# Builds wasm-slo, wasm-slo-target and the probe component in release mode,
# starts wasm-slo-target on a free 127.0.0.1 port, then runs
#
#   wasm-slo run probe.wasm --flow sleep -e PROBE_SLEEP_MS=1000 \
#       --vus 10000 --duration 5m -q --out json=...
#
# (each VU: 1 s of think time, then GET /ok; about 10,000 requests/s) while
# sampling the runner's RSS from /proc every few seconds. Then it checks:
#
#   memory   the mean RSS of the last fifth of the load (the last minute of a
#            5-minute run) is within 10 % of the mean of the second fifth
#            (the second minute; the first holds the start of the VUs)
#   samples  the sum of the per-interval request counts of the results file
#            equals its total (`http_reqs`), and that total equals what the
#            server counted (its /__stats, minus the warm-up request);
#            the same for iterations; no iteration was interrupted
#   exit     wasm-slo exited 0
#
# The figures (RSS series, totals, CPU, rates) are printed and written to
# bench/results/soak-<date>-<VUs>vu-<seconds>s.md (-2, -3 ... when an
# earlier run of the day wrote that one); the script exits 1 if a check fails.
#
# Usage:
#   bench/soak.sh                              # 10000 VUs, 5 minutes
#   bench/soak.sh --vus 2000 --duration 1m     # shorter, lighter
#   SOAK_VUS=500 SOAK_DURATION=30s bench/soak.sh
#
# Options (or the SOAK_* variables in brackets):
#   --vus N         VUs (SOAK_VUS, default 10000)
#   --duration D    length of the load, 30s to 30m (SOAK_DURATION, default 5m)
#   --think-ms MS   think time per iteration (SOAK_THINK_MS, default 1000)
#   --sample S      seconds between RSS samples (SOAK_SAMPLE, default 5)
#   --workers N     wasm-slo worker threads (SOAK_WORKERS, default: one per core)
#
# Needs: cargo with the wasm32-wasip2 target, curl, jq, and an open-files
# limit above VUs + 1000 for both processes (raised to the hard limit here).
# Only 127.0.0.1 is targeted. Not part of CI: it takes the whole duration
# and a core's worth of CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# Bad options and missing tools exit 2; a failed check exits 1.
die_status=2
install=no
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

vus=${SOAK_VUS:-10000}
duration=$(seconds "${SOAK_DURATION:-5m}" 30 1800)
think_ms=${SOAK_THINK_MS:-1000}
sample=${SOAK_SAMPLE:-5}
workers=${SOAK_WORKERS:-}

while (($#)); do
  case "$1" in
    --vus) [ $# -ge 2 ] || die "--vus needs a value"; vus=$2; shift 2 ;;
    --duration) [ $# -ge 2 ] || die "--duration needs a value"; duration=$(seconds "$2" 30 1800); shift 2 ;;
    --think-ms) [ $# -ge 2 ] || die "--think-ms needs a value"; think_ms=$2; shift 2 ;;
    --sample) [ $# -ge 2 ] || die "--sample needs a value"; sample=$2; shift 2 ;;
    --workers) [ $# -ge 2 ] || die "--workers needs a value"; workers=$2; shift 2 ;;
    -h | --help) usage ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
vus=$(int_in --vus "$vus" 1 100000)
think_ms=$(int_in --think-ms "$think_ms" 0 3600000)
sample=$(int_in --sample "$sample" 1 3600)
[ -z "$workers" ] || workers=$(int_in --workers "$workers" 1 1024)
for tool in curl jq cargo; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

# Every VU holds a keep-alive connection: one descriptor in each process.
need_files=$((vus + 1000))
if (($(ulimit -n) < need_files)); then
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] || ((hard >= need_files)) ||
    die "open-files hard limit $hard is below $need_files (VUs + 1000); raise it or use fewer --vus"
  ulimit -n "$need_files"
fi

say "building wasm-slo, wasm-slo-target and the probe component (release)"
cargo build --release -q -p wasm-slo -p wasm-slo-target >&2
cargo build --release -q --target wasm32-wasip2 -p probe >&2
slo=$root/target/release/wasm-slo
target_bin=$root/target/release/wasm-slo-target
probe=$root/target/wasm32-wasip2/release/probe.wasm

# ---------------------------------------------------------------- server
"$target_bin" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
bg_pids+=("$server_pid")
base_url=""
for _ in $(seq 100); do
  base_url=$(sed -n 's/^listening on //p' "$work/server.out")
  [ -n "$base_url" ] && break
  kill -0 "$server_pid" 2>/dev/null || die "wasm-slo-target did not start: $(cat "$work/server.err")"
  sleep 0.1
done
[ -n "$base_url" ] || die "wasm-slo-target printed no address"
say "wasm-slo-target (pid $server_pid) on $base_url"

# Warm-up: fills the compiled-module cache (one request, subtracted below).
"$slo" run "$probe" -e "BASE_URL=$base_url" --flow fast --vus 1 --iterations 1 -q >/dev/null
served_before=$(curl -sf "$base_url/__stats" | jq .total)

# ---------------------------------------------------------------- the soak
day=$(date -u +%Y-%m-%d)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
json=$work/soak.json
args=(run "$probe" -e "BASE_URL=$base_url" -e "PROBE_SLEEP_MS=$think_ms" --flow sleep
  --vus "$vus" --duration "${duration}s" -q --out "json=$json")
[ -z "$workers" ] || args+=(--workers "$workers")
say "wasm-slo ${args[*]}"
started=$(date +%s.%N)
"$slo" "${args[@]}" >"$work/runner.out" 2>"$work/runner.err" &
runner_pid=$!
bg_pids+=("$runner_pid")

# RSS samples: "seconds_since_start rss_kib"; the last /proc reading also
# gives the peak (VmHWM) and the CPU time (utime + stime, in clock ticks).
rss_log=$work/rss.tsv
: >"$rss_log"
hwm=0
ticks=0
clk=$(getconf CLK_TCK)
while kill -0 "$runner_pid" 2>/dev/null; do
  if status=$(cat "/proc/$runner_pid/status" 2>/dev/null) && stat=$(cat "/proc/$runner_pid/stat" 2>/dev/null); then
    rss=$(awk '/^VmRSS:/ { print $2 }' <<<"$status")
    hwm=$(awk '/^VmHWM:/ { print $2 }' <<<"$status")
    # Fields after the command name (which may hold spaces): utime is 14, stime 15.
    ticks=$(sed 's/^.*) //' <<<"$stat" | awk '{ print $12 + $13 }')
    now=$(date +%s.%N)
    [ -n "$rss" ] && awk -v t="$now" -v s="$started" -v r="$rss" 'BEGIN { printf "%.1f %d\n", t - s, r }' >>"$rss_log"
  fi
  sleep "$sample"
done
rc=0
wait "$runner_pid" || rc=$?
wall=$(awk -v t="$(date +%s.%N)" -v s="$started" 'BEGIN { printf "%.1f", t - s }')
say "wasm-slo exited with $rc after ${wall}s"
[ -f "$json" ] || die "no results file; stderr: $(tail -n 5 "$work/runner.err")"

served=$(($(curl -sf "$base_url/__stats" | jq .total) - served_before))

# ---------------------------------------------------------------- checks
total_reqs=$(jq '[.metrics[] | select(.name == "http_reqs") | .values.count] | add // 0' "$json")
interval_reqs=$(jq '[.intervals[].requests] | add // 0' "$json")
total_iters=$(jq '[.metrics[] | select(.name == "iterations") | .values.count] | add // 0' "$json")
interval_iters=$(jq '[.intervals[].iterations] | add // 0' "$json")
started_iters=$(jq '[.intervals[].iterations_started] | add // 0' "$json")
interrupted=$(jq '.outcome.interrupted_iterations' "$json")
failed=$(jq '[.metrics[] | select(.name == "http_req_failed") | .values.passes] | add // 0' "$json")
load_s=$(jq '.duration_s * 10 | round / 10' "$json")
p50=$(jq '.endpoints.all.median * 1000 | round / 1000' "$json")
p99=$(jq '.endpoints.all.p99 * 1000 | round / 1000' "$json")
rps=$(jq '.endpoints.all.rps | round' "$json")
peak_vus=$(jq '[.intervals[].vus] | max' "$json")
# The load starts after compile and instantiation; its fifths are measured
# on the runner's clock from its start, which the RSS samples share.
fifth=$(awk -v d="$duration" 'BEGIN { print d / 5 }')
window_mean() { # window_mean FROM TO: mean RSS (KiB) of the samples in [FROM, TO)
  awk -v a="$1" -v b="$2" '$1 >= a && $1 < b { s += $2; n++ } END { if (n) printf "%.0f %d\n", s / n, n; else print "0 0" }' "$rss_log"
}
read -r second n_second < <(window_mean "$fifth" "$(awk -v f="$fifth" 'BEGIN { print 2 * f }')")
read -r last n_last < <(window_mean "$(awk -v f="$fifth" 'BEGIN { print 4 * f }')" "$duration")
growth=$(awk -v a="$second" -v b="$last" 'BEGIN { if (a > 0) printf "%.2f", (b - a) * 100 / a; else print "nan" }')
cpu_s=$(awk -v t="$ticks" -v c="$clk" 'BEGIN { printf "%.1f", t / c }')
cpu_us_per_req=$(awk -v t="$ticks" -v c="$clk" -v n="$total_reqs" 'BEGIN { if (n > 0) printf "%.1f", t / c * 1e6 / n; else print "n/a" }')

verdicts=()
ok=yes
check() { # check NAME CONDITION(awk) DETAIL
  if awk "BEGIN { exit !($2) }"; then
    verdicts+=("| $1 | PASS | $3 |")
  else
    verdicts+=("| $1 | FAIL | $3 |")
    ok=no
  fi
}
check "exit code" "$rc == 0" "wasm-slo exited $rc"
check "RSS steady" "$n_second > 0 && $n_last > 0 && ($growth < 10 && $growth > -10)" \
  "last fifth $((last / 1024)) MiB vs second fifth $((second / 1024)) MiB: ${growth} % ($n_last and $n_second samples)"
check "intervals = totals (requests)" "$interval_reqs == $total_reqs" "$interval_reqs = $total_reqs"
check "totals = server (requests)" "$total_reqs == $served" "$total_reqs = $served"
check "intervals = totals (iterations)" "$interval_iters == $total_iters" "$interval_iters = $total_iters"
check "all started iterations completed" "$started_iters == $total_iters && $interrupted == 0" \
  "$started_iters started, $total_iters completed, $interrupted interrupted"
check "all VUs ran" "$peak_vus == $vus" "peak $peak_vus of $vus"

# ---------------------------------------------------------------- report
md=$(results_file "soak-$day-${vus}vu-${duration}s")
{
  echo "# wasm-slo soak, $day"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); nproc $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  echo "- load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg) (other jobs share the machine)"
  echo "- \`wasm-slo run probe.wasm --flow sleep -e PROBE_SLEEP_MS=$think_ms --vus $vus --duration ${duration}s${workers:+ --workers $workers}\` against \`wasm-slo-target\` (release builds), 127.0.0.1"
  echo "- load ${load_s} s (wall ${wall} s with start-up and the graceful stop); $total_reqs requests ($rps/s), $failed failed; p50 ${p50} ms, p99 ${p99} ms"
  echo "- runner CPU ${cpu_s} s (user+sys, to the last sample), ${cpu_us_per_req} µs per request; peak RSS $((hwm / 1024)) MiB ($(awk -v h="$hwm" -v v="$vus" 'BEGIN { printf "%.1f", h / v }') KiB per VU)"
  echo
  echo "| check | verdict | figures |"
  echo "|---|---|---|"
  printf '%s\n' "${verdicts[@]}"
  echo
  echo "RSS of the runner every ${sample} s (seconds since start: MiB):"
  echo
  awk '{ printf "%s%.0f: %.0f", (NR > 1 ? ", " : ""), $1, $2 / 1024 } END { print "" }' "$rss_log"
} >"$md"
cat "$md"
say "written to ${md#"$root"/}"
[ "$ok" = yes ] || { say "a check failed"; exit 1; }
