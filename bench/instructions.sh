#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind:
# wasm-slo against wrk and oha on the same nginx, as in bench/peers.sh. Timed
# figures on a shared machine move by 5-10 % from run to run; instruction
# counts move by about 1 %, so this is the measure for comparing two builds
# or for judging a change too small to time.
#
# Each tool runs twice under callgrind, with N and 2N requests (wrk, which
# runs for a duration, with 2 s and 4 s), and the difference is divided by
# the difference in requests: start-up, compilation and shutdown cancel out.
# Printed and written as Markdown to bench/results/instructions-<date>.md
# (-2, -3 ... when an earlier run of the day wrote that one).
# Kernel time is not counted (it is the same for every tool: one send and one
# recv per request); valgrind serialises threads, so this is work, not time.
# wasm-slo runs with WASM_SLO_INTERVAL=1h: valgrind makes it 50-100 times
# slower, and its once-a-second aggregation would then fall every few dozen
# requests and weigh that much more per request than at full speed (the
# results files written before this setting include that work).
#
#   bench/instructions.sh                  # wasm-slo (PGO and plain builds) and wrk
#   bench/instructions.sh --with-oha       # also oha (built by peers.sh --with-oha)
#   bench/instructions.sh --requests 5000  # shorter (default 20000)
#   bench/instructions.sh --cache          # also cache misses per request
#   bench/instructions.sh --no-install     # use what is installed, or fail
#
# Options:
#   --requests N        requests in the shorter run (default 20000)
#   --with-oha          include oha (bench/.tools/bin/oha; built if missing)
#   --no-install        do not install or build anything missing
#   --no-pgo            count only the plain release build (`wasm-slo`);
#                       otherwise `wasm-slo` is the PGO build of
#                       scripts/build-pgo.sh and `wasm-slo-nopgo` the plain one
#   --cache             also simulate this machine's L1i, L1d and L2 (their
#                       sizes and ways as the kernel lists them for CPU 1)
#                       and count each tool's misses per request: where the
#                       instructions agree and the time does not, the misses
#                       tell why (see bench/callgrind.sh). About twice as slow.
#
# Installs when missing: valgrind, wrk and nginx from Debian's packages; the
# wasm32-wasip2 Rust target and (for the PGO build) the llvm-tools component
# through rustup; with --with-oha oha from crates.io. Only 127.0.0.1 is ever
# targeted. Takes about 4 minutes once built (2 with --no-pgo), twice that
# with --cache.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

requests=20000
with_oha=no
cache=no
pgo=yes
install=yes
probe_profile=release

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
# shellcheck source=bench/callgrind.sh
. "$root/bench/callgrind.sh"

while (($#)); do
  case "$1" in
    --requests) [ $# -ge 2 ] || die "--requests needs a value"; requests=$2; shift 2 ;;
    --requests=*) requests=${1#*=}; shift ;;
    --with-oha) with_oha=yes; shift ;;
    --no-install) install=no; shift ;;
    --no-pgo) pgo=no; shift ;;
    --cache) cache=yes; shift ;;
    -h | --help) usage ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
requests=$(int_in --requests "$requests" 1000 1000000)

need_two_cpus
need_base
need_pkg valgrind valgrind
need_pkg wrk wrk
model=()
if [ "$cache" = yes ]; then
  opts=$(cache_model) || die "cannot set up the cache model (above); run without --cache"
  read -ra model <<<"$opts"
fi
oha=""
[ "$with_oha" = no ] || need_oha
build
[ "$pgo" = no ] || build_pgo
export WASM_SLO_INTERVAL=1h
start_nginx >/dev/null

# counted NAME CMD...: runs CMD under callgrind (with the cache model, if
# any); prints the name of its output file.
counted() {
  local name=$1
  shift
  valgrind --tool=callgrind "${model[@]}" --callgrind-out-file="$work/$name.cg" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" ||
    die "$name failed under valgrind: $(tail -n 3 "$work/$name.err")"
  echo "$work/$name.cg"
}

rows=()

slo_run() { # slo_run BINARY NAME VUS ITERATIONS
  counted "$2" "$1" run "$probe" -e "BASE_URL=$base_url/" --flow fast --vus "$3" \
    --iterations "$4" --workers 1 -q --out "json=$work/$2.json"
}
slo_rows() { # slo_rows ROW BINARY
  local row=$1 bin=$2 i1 i2 r1 r2
  say "$row: $requests and $((2 * requests)) requests (and a first run that fills valgrind's compile cache)"
  # Under valgrind the CPU looks different, so the first run compiles anew.
  slo_run "$bin" "$row-warm" 1 1 >/dev/null
  i1=$(slo_run "$bin" "$row-1" 64 "$requests")
  i2=$(slo_run "$bin" "$row-2" 64 "$((2 * requests))")
  r1=$(jq -r '.endpoints.all.total_requests' "$work/$row-1.json")
  r2=$(jq -r '.endpoints.all.total_requests' "$work/$row-2.json")
  rows+=("$row $(per_request "$i1" "$r1" "$i2" "$r2")")
}
for ((b = 0; b < ${#builds[@]}; b += 2)); do slo_rows "${builds[b]}" "${builds[b + 1]}"; done

say "wrk: 2 s and 4 s"
i1=$(counted wrk-1 wrk -t1 -c64 -d2s "$base_url/ok")
r1=$(awk '/requests in/ { print $1; exit }' "$work/wrk-1.out")
i2=$(counted wrk-2 wrk -t1 -c64 -d4s "$base_url/ok")
r2=$(awk '/requests in/ { print $1; exit }' "$work/wrk-2.out")
rows+=("wrk $(per_request "$i1" "$r1" "$i2" "$r2")")

if [ -n "$oha" ]; then
  say "oha: $requests and $((2 * requests)) requests"
  i1=$(counted oha-1 "$oha" -c 64 -n "$requests" --no-tui --output-format json "$base_url/ok")
  r1=$(jq '[.statusCodeDistribution[]] | add' "$work/oha-1.out")
  i2=$(counted oha-2 "$oha" -c 64 -n "$((2 * requests))" --no-tui --output-format json "$base_url/ok")
  r2=$(jq '[.statusCodeDistribution[]] | add' "$work/oha-2.out")
  rows+=("oha $(per_request "$i1" "$r1" "$i2" "$r2")")
fi

# ratio A B: A / B to two places, or n/a.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

read -r _ our_ir _ _ our_ll <<<"${rows[0]}"
day=$(date -u +%Y-%m-%d)
md=$(results_file "instructions-$day")
{
  echo "# User-space instructions per request (callgrind), $day"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); nproc: $(nproc); $(valgrind --version)"
  echo "- nginx 1 worker on CPU 0, \`location /ok { return 200 \"ok\"; }\`; 64 connections"
  echo "- wasm-slo: probe \`fast\` flow (one GET and a check per iteration), --workers 1, $requests and $((2 * requests)) iterations, WASM_SLO_INTERVAL=1h (one aggregation per run, as at full speed one falls every 70,000 requests or so)"
  builds_note
  echo "- wrk: -t1 -c64, 2 s and 4 s; oha: -c 64 -n $requests and $((2 * requests))"
  if ((${#model[@]})); then
    echo "- cache model (CPU 1's caches as the kernel lists them; size in bytes, ways, line): \`${model[*]:1}\`"
    echo
    echo "| tool | instructions/request | L1i misses | L1d misses | L2 misses | wasm-slo / tool: instructions | L2 misses |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for row in "${rows[@]}"; do
      read -r tool ir i1 d1 ll <<<"$row"
      echo "| $tool | $ir | $i1 | $d1 | $ll | $(ratio "$our_ir" "$ir") | $(ratio "$our_ll" "$ll") |"
    done
  else
    echo
    echo "| tool | instructions/request | wasm-slo / tool |"
    echo "|---|---:|---:|"
    for row in "${rows[@]}"; do
      read -r tool ir _ <<<"$row"
      echo "| $tool | $ir | $(ratio "$our_ir" "$ir") |"
    done
  fi
  echo
  echo "Per request: (count of the longer run - the shorter's) / (requests of the longer - the shorter's). Kernel time is not counted."
  if ((${#model[@]})); then
    echo "Misses are those of callgrind's model, reads and writes together; the L2 stands as the last level. Its index is the virtual address where the real L2's is physical, so lines at equal offsets in many VUs' stacks or memories may evict each other more than they would."
  fi
} >"$md"
echo
cat "$md"
echo
say "written to ${md#"$root"/}"
