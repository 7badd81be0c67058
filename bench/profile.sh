#!/usr/bin/env bash
# Where wasm-slo's CPU time goes, sampled: `perf record -e cpu-clock` (a
# timer, so it works in VMs without hardware counters) while the runner
# sends the peers' load (the probe's `fast` flow, 64 VUs, one worker on
# CPU 1, nginx on CPU 0, as in bench/peers.sh).
#
# instructions.sh counts work; this measures time, stalls included: a
# function that waits on memory or on a locked instruction takes samples
# out of proportion to its instructions. The guest's compiled functions are
# named (perf reads them from the compiled module in wasm-slo's cache), and
# the runner's samples are also split by the crate whose code they ran, from
# the debug info's inlining chains (bench/perf.sh): PGO inlines hyper, tokio
# and the runner into wasmtime's host call, so a function name alone does
# not tell whose code took the time.
#
#   bench/profile.sh                 # PGO build, 64 VUs, 10 s
#   bench/profile.sh --no-pgo        # the plain release build
#   bench/profile.sh --vus 256       # another VU count
#   bench/profile.sh --with-oha      # oha's profile beside it, by crate
#
# Options:
#   --vus N           VUs (oha: connections), default 64
#   --duration D      how long to sample, default 10s
#   --no-pgo          profile the plain `cargo build --release`
#   --with-oha        also profile oha (bench/.tools/bin/oha; built if missing)
#   --top N           functions listed, default 30
#   --no-install      do not install or build anything missing
#
# Installs when missing: perf (Debian's linux-perf), binutils (addr2line,
# readelf), nginx and the bench tools from Debian's packages; the
# wasm32-wasip2 target and llvm-tools through rustup. perf must be allowed
# to sample: as root, or with kernel.perf_event_paranoid at 2 or lower.
# Writes bench/results/profile-<date>.md. Only 127.0.0.1 is ever targeted.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

vus=64
duration=10s
pgo=yes
with_oha=no
top=30
install=yes
probe_profile=release

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
# shellcheck source=bench/perf.sh
. "$root/bench/perf.sh"

while (($#)); do
  case "$1" in
    --vus) [ $# -ge 2 ] || die "--vus needs a value"; vus=$2; shift 2 ;;
    --vus=*) vus=${1#*=}; shift ;;
    --duration) [ $# -ge 2 ] || die "--duration needs a value"; duration=$2; shift 2 ;;
    --duration=*) duration=${1#*=}; shift ;;
    --top) [ $# -ge 2 ] || die "--top needs a value"; top=$2; shift 2 ;;
    --top=*) top=${1#*=}; shift ;;
    --no-pgo) pgo=no; shift ;;
    --with-oha) with_oha=yes; shift ;;
    --no-install) install=no; shift ;;
    -h | --help) usage ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done
vus=$(int_in --vus "$vus" 1 10000)
top=$(int_in --top "$top" 1 500)
seconds=$(seconds "$duration" 1 120)

need_two_cpus
need_base
need_pkg perf linux-perf
need_pkg addr2line binutils
need_pkg readelf binutils
perf record -q -e cpu-clock -o "$work/probe.data" -- true >/dev/null 2>&1 ||
  die "perf cannot sample here (kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo unknown)); run as root, or: sysctl kernel.perf_event_paranoid=2"
oha=""
[ "$with_oha" = no ] || need_oha
build
[ "$pgo" = no ] || build_pgo
bin=$(realpath "${builds[1]}")
start_nginx >/dev/null

# sampled NAME CMD...: CMD under perf at 4999 samples a second, pinned to CPU 1.
sampled() {
  local name=$1
  shift
  perf record -q -e cpu-clock -F 4999 -o "$work/$name.data" -- taskset -c 1 "$@" \
    >"$work/$name.out" 2>"$work/$name.err" ||
    die "$name failed under perf: $(tail -n 3 "$work/$name.err")"
}

# The compiled module is cached on a first run, so that the sampled run
# starts at once and perf finds the guest's functions in the cache file.
say "wasm-slo: a first run to compile and cache the probe"
taskset -c 1 "$bin" run "$probe" -e "BASE_URL=$base_url/" --flow fast --iterations 1 -q >/dev/null
say "wasm-slo: sampling ${seconds}s at $vus VUs"
sampled wasm-slo "$bin" run "$probe" -e "BASE_URL=$base_url/" --flow fast --vus "$vus" \
  --duration "${seconds}s" --workers 1 -q --out "json=$work/wasm-slo.json"
reqs=$(jq -r '.endpoints.all.total_requests' "$work/wasm-slo.json")
if [ -n "$oha" ]; then
  say "oha: sampling ${seconds}s at $vus connections"
  sampled oha "$oha" -c "$vus" -z "${seconds}s" --no-tui --output-format json "$base_url/ok"
fi

# by_group DATA: "GROUP PERCENT" of all samples: the kernel, the binary,
# the compiled scenario (wasm-slo's cache files), the C library, the vDSO.
by_group() {
  perf report -i "$1" --stdio --sort dso 2>/dev/null | awk '
    /^ *[0-9.]+%/ {
      p = $1; sub(/%/, "", p); d = $2
      if (d ~ /kernel/) g = "kernel"
      else if (d ~ /\.cwasm$/) g = "compiled scenario (wasm)"
      else if (d ~ /^libc/) g = "C library"
      else if (d ~ /vdso/) g = "vDSO (clock)"
      else if (d ~ /^ld-linux/) g = "dynamic loader"
      else g = d
      s[g] += p
    }
    END { for (g in s) printf "%s\t%.1f\n", g, s[g] }' | sort -t$'\t' -k2,2nr
}

# crates DATA BINARY: the binary's samples by crate, in % of all samples.
crates() {
  local data=$1 binary=$2 bias total
  bias=$(exec_bias "$binary")
  perf script -i "$data" --show-mmap-events -F ip,dso 2>/dev/null >"$work/script.txt"
  total=$(grep -vc PERF_RECORD "$work/script.txt" || true)
  binary_addresses "$binary" "$bias" <"$work/script.txt" >"$work/counts.txt"
  awk '{ print "0x" $1 }' "$work/counts.txt" | addr2line -i -f -C -a -e "$binary" |
    crate_shares "$work/counts.txt" "$total"
}

# functions DATA N: the N functions with the most samples.
functions() {
  perf report -i "$1" --stdio --sort dso,sym 2>/dev/null |
    awk -v n="$2" '/^ *[0-9.]+%/ && shown < n {
      p = $1; d = $2; $1 = ""; $2 = ""; $3 = ""; sub(/^ +/, "")
      if (d ~ /\.cwasm$/) d = "scenario"
      printf "| %s | %s | `%s` |\n", p, d, substr($0, 1, 140); shown++
    }'
}

day=$(date -u +%Y-%m-%d)
md=$(results_file "profile-$day")
{
  echo "# Where the CPU time goes (perf, cpu-clock samples), $day"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); nproc: $(nproc); $(perf --version)"
  echo "- nginx 1 worker on CPU 0; the generator on CPU 1; ${seconds}s at 4999 samples a second"
  echo "- wasm-slo: probe \`fast\` flow, $vus VUs, --workers 1; $reqs requests"
  if [ "$pgo" = yes ]; then
    echo "- the runner built with PGO (\`scripts/build-pgo.sh\`)"
  else
    echo "- the runner's plain \`cargo build --release\` (--no-pgo)"
  fi
  [ -z "$oha" ] || echo "- oha: -c $vus -z ${seconds}s"
  echo
  echo "## wasm-slo by where the code is"
  echo
  echo "| code | % of samples |"
  echo "|---|---:|"
  by_group "$work/wasm-slo.data" | awk -F'\t' '{ printf "| %s | %s |\n", $1, $2 }'
  echo
  echo "## The runner binary's samples by crate (innermost frame outside std)"
  echo
  if [ -n "$oha" ]; then
    echo "| crate | wasm-slo % | oha % |"
    echo "|---|---:|---:|"
    crates "$work/oha.data" "$(realpath "$oha")" >"$work/oha.crates"
    crates "$work/wasm-slo.data" "$bin" | awk -v other="$work/oha.crates" '
      BEGIN { while ((getline l < other) > 0) { split(l, f, " "); o[f[1]] = f[3] } }
      { printf "| %s | %s | %s |\n", $1, $3, ($1 in o) ? o[$1] : "-"; seen[$1] = 1 }
      END { for (c in o) if (!(c in seen)) printf "| %s | - | %s |\n", c, o[c] }'
  else
    echo "| crate | % of samples |"
    echo "|---|---:|"
    crates "$work/wasm-slo.data" "$bin" | awk '{ printf "| %s | %s |\n", $1, $3 }'
  fi
  echo
  echo "## wasm-slo's top $top functions"
  echo
  echo "| % | where | function |"
  echo "|---:|---|---|"
  functions "$work/wasm-slo.data" "$top"
  if [ -n "$oha" ]; then
    echo
    echo "## oha's top $top functions"
    echo
    echo "| % | where | function |"
    echo "|---:|---|---|"
    functions "$work/oha.data" "$top"
  fi
  echo
  [ -z "$oha" ] || echo "oha is built without debug info (\`cargo install\`), so its samples go to the crate of the function they fell in, with whatever that function inlined; wasm-slo's go to the innermost inlined frame."
  echo "Percentages are of all samples of the process (every thread; the worker takes nearly all). A sample lands on the instruction that was running or waiting, so loads that miss the caches and locked instructions (which wait for earlier stores) show up where instruction counts do not."
} >"$md"
echo
cat "$md"
echo
say "written to ${md#"$root"/}"
