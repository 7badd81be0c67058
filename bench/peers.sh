#!/usr/bin/env bash
# Benchmarks wasm-slo against its peers (wrk, hey, oha, Goose) on one machine.
#
# Peers mode (default): starts nginx as the reference server on 127.0.0.1 (a
# free port, one worker pinned to CPU 0, config written to a temp dir, stopped
# on exit), then runs each load generator pinned to CPU 1 (`taskset -c 1`)
# with 64 connections/VUs for the same duration:
#
#   wrk       -t1 -c64 -d10s --latency
#   hey       -c 64 -z 10s                       (if Debian packages it)
#   oha       -c 64 -z 10s --no-tui --json       (only with --with-oha)
#   goose     -u 64 -r 64000 -t 10s -q --no-print-metrics --report-file x.json
#             (only with --with-goose; bench/goose: every user loops GET /ok)
#   wasm-slo  --vus 64 --duration 10s --workers 1 -q --out json=...
#             (probe component, flow `fast`: GET /ok + status check), the
#             binary built with PGO by scripts/build-pgo.sh, as a release
#             is built
#   wasm-slo-nopgo  the same with the plain `cargo build --release` binary
#             (the row and column are left out with --no-pgo, which
#             measures only the plain build, as `wasm-slo`)
#
# Each generator runs under `/usr/bin/time -f "%e %U %S %M"`, which gives its
# CPU time (user+sys) and peak RSS. The table shows req/s, p50 and p99 (ms),
# generator CPU per request (µs) and peak RSS (MiB), then the ratios of
# wasm-slo (both builds) to each peer; it is printed and written as Markdown to
# bench/results/peers-<date>.md (peers-<date>-c<N> with --connections N
# other than 64; -2, -3 ... after an earlier run that day). With --rounds N
# the generators take turns N times (wrk, hey, oha, goose, wasm-slo, then
# again), so that a quieter or busier spell of the machine falls on all of
# them alike, and each tool's row is its median round by CPU per request;
# every round's figure is listed under the table, and then the ratios paired
# by round (the median of each round's ratio), which a spell that hits one
# tool's median round alone cannot tilt.
#
# VU-memory mode (--vus-memory): runs wasm-slo's probe `sleep` flow with
# PROBE_SLEEP_MS=600000 (every VU suspended in think time) for 1000, 10000
# and 50000 VUs, sampling the process's RSS every 50 ms: peak RSS and PSS per
# VU (KiB), kernel memory maps, and the time until RSS reached 98 % of its
# peak (every VU instantiated and suspended); then the
# start-up time of a warm second run (compiled-module cache filled by the
# first): `--iterations 1 --vus 1 --flow fast`, run twice, the second
# reported. Written to bench/results/vus-memory-<date>.md (or -2 ...). The
# probe is built with the `guest` profile here (opt-level "s", as the README
# recommends for scenarios) and with `release` in the peers mode;
# --probe-profile picks another.
#
# Usage:
#   bench/peers.sh                         # peers, 10 s per generator
#   bench/peers.sh --duration 3s           # shorter (a smoke test)
#   bench/peers.sh --rounds 5              # each generator 5 times, in turns; medians
#   bench/peers.sh --with-oha              # also build oha from crates.io
#                                          # (cargo install, takes minutes)
#   bench/peers.sh --with-goose            # also build the Goose peer, bench/goose,
#                                          # from crates.io (cargo build, takes minutes)
#   bench/peers.sh --vus-memory            # 1000, 10000, 50000 sleeping VUs
#   bench/peers.sh --vus-memory --vus-list 200,1000 --mem-duration 5s
#
# Options:
#   --duration D        length of each generator's run (seconds: 10s, 3s, 10)
#   --connections N     connections / VUs of the peers run (default 64)
#   --rounds N          runs of each generator, taking turns (default 1, at most 9)
#   --with-oha          build oha (cargo install oha --locked --root bench/.tools)
#   --with-goose        build bench/goose (cargo build --release --locked, target
#                       dir bench/.tools/goose-target) and run it as a peer
#   --no-pgo            measure only the plain release build (skips
#                       scripts/build-pgo.sh, which doubles the build time)
#   --no-install        do not install anything; fail if a required tool is missing
#   --vus-memory        VU-memory mode instead of the peers mode
#   --vus-list A,B,...  VU counts of the VU-memory mode (default 1000,10000,50000)
#   --mem-duration D    length of each VU-memory run (default 15s)
#   --probe-profile P   cargo profile of the probe component: release or guest
#                       (default: release for peers, guest for --vus-memory)
#
# Installs what is missing (needs root or sudo for apt-get): nginx, wrk, time,
# jq and hey (if Debian has a package for it) from the Debian archive, the
# wasm32-wasip2 Rust target and (unless --no-pgo) the llvm-tools component
# through rustup, with --with-oha oha from crates.io,
# and with --with-goose Goose and its dependencies from crates.io, at the
# versions bench/goose/Cargo.lock pins. Nothing else is downloaded. Only
# 127.0.0.1 is ever targeted.
# Needs at least 2 CPUs (server on CPU 0, generator on CPU 1); the figures
# are only as quiet as the machine: other load on it makes them noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# ---------------------------------------------------------------- options
duration=10
conns=64
rounds=1
with_oha=no
with_goose=no
pgo=yes
install=yes
mode=peers
vus_list="1000,10000,50000"
mem_duration=15
probe_profile=""

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

while (($#)); do
  case "$1" in
    --duration) [ $# -ge 2 ] || die "--duration needs a value"; duration=$(seconds "$2"); shift 2 ;;
    --duration=*) duration=$(seconds "${1#*=}"); shift ;;
    --connections) [ $# -ge 2 ] || die "--connections needs a value"; conns=$2; shift 2 ;;
    --rounds) [ $# -ge 2 ] || die "--rounds needs a value"; rounds=$2; shift 2 ;;
    --rounds=*) rounds=${1#*=}; shift ;;
    --with-oha) with_oha=yes; shift ;;
    --with-goose) with_goose=yes; shift ;;
    --no-install) install=no; shift ;;
    --no-pgo) pgo=no; shift ;;
    --vus-memory) mode=vus-memory; shift ;;
    --vus-list) [ $# -ge 2 ] || die "--vus-list needs a value"; vus_list=$2; shift 2 ;;
    --vus-list=*) vus_list=${1#*=}; shift ;;
    --mem-duration) [ $# -ge 2 ] || die "--mem-duration needs a value"; mem_duration=$(seconds "$2"); shift 2 ;;
    --probe-profile) [ $# -ge 2 ] || die "--probe-profile needs a value"; probe_profile=$2; shift 2 ;;
    --probe-profile=*) probe_profile=${1#*=}; shift ;;
    -h | --help) usage ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
conns=$(int_in --connections "$conns" 1 10000)
rounds=$(int_in --rounds "$rounds" 1 9)
if [ -z "$probe_profile" ]; then
  if [ "$mode" = peers ]; then probe_profile=release; else probe_profile=guest; fi
fi
case "$probe_profile" in
  release | guest) ;;
  *) die "bad --probe-profile: $probe_profile (release or guest)" ;;
esac
[[ $vus_list =~ ^[0-9]+(,[0-9]+)*$ ]] || die "bad --vus-list: $vus_list (e.g. 200,1000)"

need_two_cpus
need_base
if [ "$mode" = peers ]; then
  need_pkg wrk wrk
  have_hey=no
  if command -v hey >/dev/null; then
    have_hey=yes
  elif [ "$install" = yes ] && command -v apt-cache >/dev/null; then
    # Debian packages hey as `hey`; skip it where there is no candidate.
    candidate=$(apt-cache policy hey 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [ -n "$candidate" ] && [ "$candidate" != "(none)" ]; then
      apt hey && have_hey=yes
    else
      say "hey: no Debian package here (apt-cache policy hey), skipping hey"
    fi
  else
    say "hey: not installed, skipping hey"
  fi
  oha=""
  [ "$with_oha" = no ] || need_oha
  goose=""
  if [ "$with_goose" = yes ]; then
    # Its own workspace, Cargo.lock and target dir: not part of the root build.
    goose=$root/bench/.tools/goose-target/release/goose-peer
    if ! [ -x "$goose" ]; then
      [ "$install" = yes ] || die "the Goose peer is not built yet ($goose); drop --no-install to build it"
      say "building the Goose peer (bench/goose) from crates.io (cargo build --locked, at low priority; takes minutes)"
      nice -n 10 cargo build --release --locked --manifest-path "$root/bench/goose/Cargo.toml" \
        --target-dir "$root/bench/.tools/goose-target" >&2 ||
        die "building bench/goose failed (see above); run without --with-goose to skip Goose"
      [ -x "$goose" ] || die "no $goose after the build"
    fi
  fi
fi

build
if [ "$mode" = peers ] && [ "$pgo" = yes ]; then build_pgo; fi

to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "%s", "n/a"
  }'
}

# ---------------------------------------------------------------- peers mode
# One row per tool: name rps p50 p99 requests cpu_s rss_kib
rows=()
# The round each of `rows` ran in (peers() sets `round`), so that ratios are
# paired within a round even when a tool gave no figures in one.
row_rounds=()

add_row() { # add_row TOOL RPS P50 P99 REQUESTS
  local tool=$1 rps=$2 p50=$3 p99=$4 reqs=$5 wall user sys rss
  read -r wall user sys rss <"$work/$tool.time"
  rows+=("$tool $rps $p50 $p99 $reqs $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $rss")
  row_rounds+=("${round:-1}")
  say "$tool: $rps req/s, p50 $p50 ms, p99 $p99 ms, $reqs requests, cpu ${user}u+${sys}s, rss ${rss} KiB, wall ${wall}s"
}

run_wrk() {
  say "wrk: ${duration}s, $conns connections"
  timed wrk taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" --latency "$base_url/ok" ||
    { say "wrk failed: $(tail -n 3 "$work/wrk.err")"; return; }
  local out=$work/wrk.out rps p50 p99 reqs
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
  reqs=$(awk '/requests in/ { print $1; exit }' "$out")
  [ -n "$rps" ] && [ -n "$reqs" ] || { say "wrk: cannot parse its output:"; cat "$out" >&2; return; }
  add_row wrk "$rps" "$p50" "$p99" "$reqs"
}

run_hey() {
  say "hey: ${duration}s, $conns connections"
  timed hey taskset -c 1 hey -c "$conns" -z "${duration}s" "$base_url/ok" ||
    { say "hey failed: $(tail -n 3 "$work/hey.err")"; return; }
  local out=$work/hey.out rps p50 p99 reqs
  rps=$(awk '/Requests\/sec:/ { print $2; exit }' "$out")
  p50=$(awk '$1 == "50%%" || $1 == "50%" { printf "%.3f", $3 * 1000; exit }' "$out")
  p99=$(awk '$1 == "99%%" || $1 == "99%" { printf "%.3f", $3 * 1000; exit }' "$out")
  # Responses by status plus errors.
  reqs=$(awk '/Status code distribution:/ { s = 1; next }
              /Error distribution:/ { e = 1; next }
              s && /^ *\[[0-9]+\]/ { n += $2 }
              e && /^ *\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); n += $1 }
              END { print n + 0 }' "$out")
  [ -n "$rps" ] && ((reqs > 0)) || { say "hey: cannot parse its output:"; cat "$out" >&2; return; }
  add_row hey "$(printf '%.2f' "$rps")" "$p50" "$p99" "$reqs"
}

run_oha() {
  say "oha: ${duration}s, $conns connections"
  # Newer oha releases spell --json as --output-format json.
  local json_flag=(--json)
  if ! "$oha" --help 2>/dev/null | grep -q -- '--json' && "$oha" --help 2>/dev/null | grep -q -- '--output-format'; then
    json_flag=(--output-format json)
  fi
  timed oha taskset -c 1 "$oha" -c "$conns" -z "${duration}s" --no-tui "${json_flag[@]}" "$base_url/ok" ||
    { say "oha failed: $(tail -n 3 "$work/oha.err")"; return; }
  local out=$work/oha.out rps p50 p99 reqs
  rps=$(jq -r '.summary.requestsPerSec | . * 100 | round / 100' "$out")
  p50=$(jq -r '.latencyPercentiles.p50 * 1000 | . * 1000 | round / 1000' "$out")
  p99=$(jq -r '.latencyPercentiles.p99 * 1000 | . * 1000 | round / 1000' "$out")
  reqs=$(jq -r '[(.statusCodeDistribution // {})[], (.errorDistribution // {})[]] | add // 0' "$out")
  ((reqs > 0)) || reqs=$(jq -r '.summary.requestsPerSec * .summary.total | round' "$out")
  [ -n "$rps" ] && ((reqs > 0)) || { say "oha: cannot parse its output:"; cat "$out" >&2; return; }
  add_row oha "$rps" "$p50" "$p99" "$reqs"
}

# Goose (bench/goose: every user loops GET /ok, no wait time). Goose starts its
# users one after another at --increase-rate (-r) users a second, resets its
# metrics once the last has started, and counts --run-time (-t) from then.
# At -r = users the start would last 1 s, under growing load, whose requests
# the report leaves out while /usr/bin/time still counts their CPU (several %
# more CPU per request at 10 s); so all users start within ~1 ms (-r = 1000 x
# users) and the reset is kept (no --no-reset-metrics): req/s, p50, p99 and
# the request count all cover the same ${duration} s at full load, and the
# ~1 ms before the reset is negligible. From the JSON report:
#   req/s     requests / seconds from the reset ("Maintaining" in
#             raw_metrics.history) to "Finished", as Goose's own
#             requests_per_second divides by whole seconds (3.01 s -> 3);
#             that figure is the fallback when the history is missing
#   p50, p99  from the µs histogram (times_us), as Goose computes its
#             printed percentiles (rank round(n * q), bucket middle, clamped
#             to min/max); the report's percentile_50/99 are whole ms
#   requests  successes + failures (raw_data.counter)
# -q keeps the console to warnings, --no-print-metrics leaves the final
# tables out (the report holds them); there are no running metrics.
run_goose() {
  say "goose: ${duration}s, $conns users"
  local json=$work/goose.json
  timed goose taskset -c 1 "$goose" --host "$base_url" --users "$conns" --increase-rate "$((conns * 1000))" \
    --run-time "${duration}s" -q --no-print-metrics --report-file "$json" ||
    say "goose exited with $? (figures from its report if it wrote one): $(tail -n 3 "$work/goose.err")"
  [ -s "$json" ] || { say "goose wrote no report: $(tail -n 3 "$work/goose.err")"; return; }
  local rps p50 p99 reqs
  # The one request, GET /ok.
  local req='.raw_metrics.requests["GET /ok"].raw_data'
  reqs=$(jq -r "$req.counter // 0" "$json" 2>/dev/null) || reqs=0
  [[ $reqs =~ ^[0-9]+$ ]] && ((reqs > 0)) ||
    { say "goose: no requests in its report:"; head -c 2000 "$json" >&2; echo >&2; return; }
  rps=$(jq -r --argjson n "$reqs" '
    def ts: capture("^(?<s>[^.Z]+)(?<f>\\.[0-9]+)?Z$")
      | (.s + "Z" | fromdateiso8601) + ((.f // ".0") | tonumber);
    [.raw_metrics.history[]? | select(.action == "Maintaining" or .action == "Finished") | .timestamp | ts] as $t
    | if ($t | length) == 2 and $t[1] > $t[0] then $n / ($t[1] - $t[0])
      else ([.raw_request_metrics[]? | select(.name == "Aggregated") | .requests_per_second][0] // 0) end
    | . * 100 | round / 100' "$json") || rps=""
  local pct='
    def pct($q): '"$req"' as $d | $d.counter as $n | (($n * $q) | round) as $rank
      | if $rank >= $n then $d.maximum_time_us
        elif $rank <= 1 then $d.minimum_time_us
        else
          [$d.times_us | to_entries[] | {us: (.key | tonumber), n: .value}] | sort_by(.us)
          | reduce .[] as $b ({c: 0, v: null}; if .v == null then .c += $b.n | (if .c >= $rank then .v = $b.us else . end) else . end)
          | .v | (if . < 128 then 0 else (log2 | floor) - 6 end) as $bits
          | . + (pow(2; $bits) / 2 | floor)
          | [., $d.minimum_time_us] | max | [., $d.maximum_time_us] | min
        end
      | . / 1000 | . * 1000 | round / 1000;'
  p50=$(jq -r "$pct pct(0.5)" "$json") || p50=""
  p99=$(jq -r "$pct pct(0.99)" "$json") || p99=""
  [ -n "$rps" ] && [ "$rps" != 0 ] && [ -n "$p50" ] && [ -n "$p99" ] ||
    { say "goose: cannot parse its report:"; head -c 2000 "$json" >&2; echo >&2; return; }
  add_row goose "$rps" "$p50" "$p99" "$reqs"
}

run_wasm_slo() { # run_wasm_slo ROW BINARY
  local row=$1 bin=$2
  say "$row: ${duration}s, $conns VUs, 1 worker"
  local json=$work/$row.json
  timed "$row" taskset -c 1 "$bin" run "$probe" -e "BASE_URL=$base_url/" --flow fast \
    --vus "$conns" --duration "${duration}s" --workers 1 -q --out "json=$json" ||
    say "$row exited with $? (a failed check or threshold still gives figures)"
  [ -f "$json" ] || { say "$row wrote no results: $(tail -n 3 "$work/$row.err")"; return; }
  local rps p50 p99 reqs
  rps=$(jq -r '.endpoints.all.rps * 100 | round / 100' "$json")
  p50=$(jq -r '(.endpoints.all.p50 // .endpoints.all.median) * 1000 | round / 1000' "$json")
  p99=$(jq -r '.endpoints.all.p99 * 1000 | round / 1000' "$json")
  reqs=$(jq -r '.endpoints.all.total_requests' "$json")
  ((reqs > 0)) || { say "$row: no requests in its results"; return; }
  add_row "$row" "$rps" "$p50" "$p99" "$reqs"
}

peers() {
  start_nginx
  # Warm-up: fills the compiled-module cache and nginx's first connections.
  local b
  for ((b = 1; b < ${#builds[@]}; b += 2)); do
    "${builds[b]}" run "$probe" -e "BASE_URL=$base_url/" --flow fast --vus 1 --iterations 1 -q >/dev/null 2>&1 || true
  done

  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  local round
  for ((round = 1; round <= rounds; round++)); do
    ((rounds == 1)) || say "round $round of $rounds"
    run_wrk
    if [ "$have_hey" = yes ]; then run_hey; fi
    if [ -n "$oha" ]; then run_oha; fi
    if [ -n "$goose" ]; then run_goose; fi
    for ((b = 0; b < ${#builds[@]}; b += 2)); do run_wasm_slo "${builds[b]}" "${builds[b + 1]}"; done
  done
  ((${#rows[@]})) || die "no generator produced figures"
  local all_rows=("${rows[@]}")
  median_rows

  # Another connection count is another experiment: it keeps its own file.
  local name=peers-$day md
  ((conns == 64)) || name=$name-c$conns
  md=$(results_file "$name")
  {
    echo "# wasm-slo vs peers, $day"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- nproc: $cores; CPU: $cpu_model; load average before the runs: $load_before"
    echo "- server: nginx $(nginx -v 2>&1 | sed 's|.*/||'), 1 worker on CPU 0, \`return 200 \"ok\"\`, access log off"
    echo "- generators on CPU 1 (\`taskset -c 1\`), $conns connections/VUs, ${duration} s each; CPU = user+sys of the generator process"
    echo "- wasm-slo's probe component built with the cargo profile \`$probe_profile\`"
    builds_note
    if ((rounds > 1)); then
      echo "- $rounds rounds, the generators taking turns; each row is the tool's median round by CPU per request"
    fi
    echo
    echo "| tool | req/s | p50 (ms) | p99 (ms) | CPU µs/request | peak RSS (MiB) | requests |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    local r tool rps p50 p99 reqs cpu rss
    for r in "${rows[@]}"; do
      read -r tool rps p50 p99 reqs cpu rss <<<"$r"
      awk -v t="$tool" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v n="$reqs" -v c="$cpu" -v m="$rss" \
        'BEGIN { printf "| %s | %.0f | %.3f | %.3f | %.2f | %.1f | %d |\n", t, rps, p50, p99, c * 1e6 / n, m / 1024, n }'
    done
    local s_rps s_cpu s_reqs build
    for ((b = 0; b < ${#builds[@]}; b += 2)); do
      build=${builds[b]}
      s_rps=""
      for r in "${rows[@]}"; do
        read -r tool rps p50 p99 reqs cpu rss <<<"$r"
        if [ "$tool" = "$build" ]; then s_rps=$rps; s_cpu=$cpu; s_reqs=$reqs; fi
      done
      [ -n "$s_rps" ] || continue
      echo
      echo "| $build vs | req/s ratio (higher is better) | CPU/request ratio (lower is better) |"
      echo "|---|---:|---:|"
      for r in "${rows[@]}"; do
        read -r tool rps p50 p99 reqs cpu rss <<<"$r"
        [ "$tool" = "$build" ] && continue
        awk -v t="$tool" -v a="$s_rps" -v b="$rps" -v ca="$s_cpu" -v na="$s_reqs" -v cb="$cpu" -v nb="$reqs" \
          'BEGIN { printf "| %s | %.2f | %.2f |\n", t, a / b, (ca / na) / (cb / nb) }'
      done
    done
    if ((rounds > 1)); then
      echo
      echo "CPU µs/request of every round, in order:"
      echo
      local t line
      for t in $(tools_in_order); do
        line=""
        for r in "${all_rows[@]}"; do
          read -r tool rps p50 p99 reqs cpu rss <<<"$r"
          if [ "$tool" = "$t" ]; then
            line+=" $(awk -v c="$cpu" -v n="$reqs" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
          fi
        done
        echo "- $t:$line"
      done
      echo
      echo "Paired by round: each round's ratio of the two tools, and the median of those ratios. The tools of one round ran within a minute of each other, so a noisy stretch of the machine weighs on both sides of a ratio, where it can fall on one tool's median round alone."
      local other pair paired_rounds
      for ((b = 0; b < ${#builds[@]}; b += 2)); do
        build=${builds[b]}
        echo
        echo "| $build vs, paired | req/s ratio (higher is better) | CPU/request ratio (lower is better) | rounds |"
        echo "|---|---:|---:|---:|"
        for other in $(tools_in_order); do
          [ "$other" = "$build" ] && continue
          pair=$(paired_ratios "$build" "$other") || continue
          read -r s_rps s_cpu paired_rounds <<<"$pair"
          echo "| $other | $s_rps | $s_cpu | $paired_rounds |"
        done
      done
    fi
  } >"$md"
  echo
  cat "$md"
  echo
  say "written to ${md#"$root"/}"
}

# The tools of `rows`, in the order they first ran.
tools_in_order() {
  local r tool rest seen=" "
  for r in "${rows[@]}"; do
    read -r tool rest <<<"$r"
    [[ $seen == *" $tool "* ]] || { seen+="$tool "; echo "$tool"; }
  done
}

# "RPS CPU N" for tools A and B: the medians, over the N rounds both ran, of
# A's req/s over B's and of A's CPU per request over B's. Reads the caller's
# `all_rows` (every round's row, in the order they ran) and `row_rounds`.
paired_ratios() {
  local i
  for i in "${!all_rows[@]}"; do echo "${row_rounds[i]} ${all_rows[i]}"; done | awk -v a="$1" -v b="$2" '
    function median(v, n,   i, j, t) {
      for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    # Fields: round tool rps p50 p99 requests cpu rss.
    $2 == a { ra[$1] = $3; ca[$1] = $7 / $6 }
    $2 == b { rb[$1] = $3; cb[$1] = $7 / $6 }
    END {
      for (k in ra) if (k in rb) { n++; x[n] = ra[k] / rb[k]; y[n] = ca[k] / cb[k] }
      if (n == 0) exit 1
      printf "%.2f %.2f %d\n", median(x, n), median(y, n), n
    }'
}

# Keeps one row per tool in `rows`: its median round by CPU per request (the
# lower middle of an even count), so that every figure of a row comes from
# one and the same run.
median_rows() {
  local kept=() t
  for t in $(tools_in_order); do
    kept+=("$(for r in "${rows[@]}"; do
      read -r tool rps p50 p99 reqs cpu rss <<<"$r"
      if [ "$tool" = "$t" ]; then
        awk -v c="$cpu" -v n="$reqs" -v r="$r" 'BEGIN { printf "%.4f %s\n", c * 1e6 / n, r }'
      fi
    done | sort -n | awk '{ rows[NR] = $0 } END { sub(/^[^ ]+ /, "", rows[int((NR + 1) / 2)]); print rows[int((NR + 1) / 2)] }')")
  done
  rows=("${kept[@]}")
}

# ---------------------------------------------------------------- VU-memory mode
vus_memory() {
  start_nginx
  local name=vus-memory-$day md n json rc wall user sys
  # The default profile writes the plain name; another one says which it is.
  [ "$probe_profile" = guest ] || name=$name-$probe_profile
  md=$(results_file "$name")
  local lines=()
  # Start-up first, with an empty compiled-module cache of its own: run 1
  # compiles and fills it, run 2 is the warm start. Run 2's peak RSS is also
  # the baseline (engine + module, 1 VU) for the per-VU increments below.
  local load_before
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  say "start-up: --iterations 1 --vus 1 --flow fast, twice (fresh module cache)"
  local t0 t1 ms=() i
  mkdir -p "$work/cache"
  for i in 1 2; do
    t0=$(date +%s%N)
    WASM_SLO_CACHE_DIR=$work/cache timed "start-$i" "$slo" run "$probe" -e "BASE_URL=$base_url/" \
      --flow fast --vus 1 --iterations 1 -q || say "start run $i exited with $?"
    t1=$(date +%s%N)
    ms+=("$(((t1 - t0) / 1000000))")
  done
  local s_wall s_user s_sys base_rss
  read -r s_wall s_user s_sys base_rss <"$work/start-2.time"
  say "start-up: cold ${ms[0]} ms, warm ${ms[1]} ms; 1-VU peak RSS $base_rss KiB"

  IFS=, read -r -a counts <<<"$vus_list"
  for n in "${counts[@]}"; do
    ((n >= 1 && n <= 100000)) || die "VU count out of range (1..100000): $n"
    say "wasm-slo: $n sleeping VUs (flow sleep, PROBE_SLEEP_MS=600000) for ${mem_duration}s"
    json=$work/mem-$n.json
    rc=0
    sample_rss "mem-$n" env WASM_SLO_CACHE_DIR="$work/cache" "$slo" run "$probe" -e "BASE_URL=$base_url/" \
      -e PROBE_SLEEP_MS=600000 --flow sleep --vus "$n" --duration "${mem_duration}s" --graceful-stop 0s -q \
      --out "json=$json" || rc=$?
    local peak pss maps up_ms
    read -r peak pss maps up_ms wall user sys <"$work/mem-$n.summary"
    [ -f "$json" ] || say "$n VUs: no results (exit $rc: $(tail -n 1 "$work/mem-$n.err"))"
    lines+=("$(awk -v n="$n" -v m="$peak" -v p="$pss" -v b="$base_rss" -v maps="$maps" -v up="$up_ms" -v w="$wall" -v u="$user" -v s="$sys" \
      'BEGIN { printf "| %d | %.1f | %.1f | %.1f | %.1f | %d | %d | %.2f | %.2f |", n, m / 1024, m / n, (m - b) / n, (p - b) / n, maps, up, w, u + s }')")
    say "$n VUs: peak RSS $peak KiB ($(awk -v m="$peak" -v b="$base_rss" -v n="$n" 'BEGIN { printf "%.1f", (m - b) / n }') KiB/VU above 1 VU), PSS $pss KiB, $maps maps, 98 % of the peak after $up_ms ms (exit $rc)"
  done

  {
    echo "# wasm-slo memory per VU and start-up, $day"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- nproc: $cores; CPU: $cpu_model; load average before the runs: $load_before; vm.max_map_count: $(cat /proc/sys/vm/max_map_count 2>/dev/null || echo unknown)"
    echo "- probe flow \`sleep\` with PROBE_SLEEP_MS=600000: every VU suspended in think time; --duration ${mem_duration}s --graceful-stop 0s, default workers and allocator"
    echo "- probe built with the cargo profile \`$probe_profile\` ($(stat -c %s "$probe") bytes)"
    echo
    echo "| VUs | peak RSS (MiB) | KiB/VU (RSS / N) | RSS KiB/VU above the 1-VU run | PSS KiB/VU above the 1-VU run | kernel maps | 98 % of peak RSS after (ms) | wall (s) | CPU (s) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${lines[@]}"
    echo
    echo "RSS is sampled every 50 ms from /proc; PSS and the map count once RSS has held steady near its peak for a second (reading PSS walks the page tables under the mmap lock, which would slow the instantiation being timed). PSS counts a page mapped N times as 1/N of it:"
    echo "with pooled instances every VU maps the module's read-only data from one cached file, which RSS counts once per VU."
    echo "\"98 % of peak RSS after\" counts from the process start: compiled-module load, the control instance, and every VU's instantiation and first call."
    echo
    echo "Warm start (second run of \`--iterations 1 --vus 1 --flow fast\`, compiled-module cache filled by the first):" \
      "${ms[1]} ms wall (/usr/bin/time: ${s_wall} s, CPU $(awk -v u="$s_user" -v s="$s_sys" 'BEGIN { printf "%.2f", u + s }') s," \
      "peak RSS $(awk -v m="$base_rss" 'BEGIN { printf "%.1f", m / 1024 }') MiB); first run (cold cache, compiles): ${ms[0]} ms."
  } >"$md"
  echo
  cat "$md"
  echo
  say "written to ${md#"$root"/}"
}

if [ "$mode" = peers ]; then peers; else vus_memory; fi
