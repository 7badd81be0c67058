#!/usr/bin/env bash
# Shared by the bench scripts (sourced, not run): messages, durations, the
# Debian/rustup installs, the release builds of wasm-slo and the probe
# component, a scratch directory, nginx as the reference server on
# 127.0.0.1 pinned to CPU 0, and /usr/bin/time (or an RSS sampler) around
# a command.
# The sourcing script sets `root` (the repository) and `install` (yes/no).

# die MESSAGE: exits with `die_status` (1 unless the sourcing script set it).
die() { echo "$(basename "$0"): $*" >&2; exit "${die_status:-1}"; }
say() { echo "==> $*" >&2; }

# usage: prints the sourcing script's header comment (its --help) and exits.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; }

# need_two_cpus: the server runs on CPU 0 and the generator on CPU 1.
need_two_cpus() {
  (($(nproc) >= 2)) || die "needs at least 2 CPUs (server on CPU 0, generator on CPU 1); nproc = $(nproc)"
}

# metric JSON NAME FIELD: FIELD of a wasm-slo results file's metric NAME,
# summed over its series (tags); 0 when there is none.
metric() {
  jq -r --arg n "$2" --arg f "$3" '[.metrics[] | select(.name == $n) | .values[$f] // 0] | add // 0' "$1"
}

# int_in NAME VALUE MIN MAX: VALUE if it is a whole number in MIN..MAX, else
# dies naming the option NAME.
int_in() {
  [[ $2 =~ ^[0-9]+$ ]] && (($2 >= $3 && $2 <= $4)) || die "bad $1: $2 ($3..$4)"
  echo "$2"
}

# seconds VALUE [MIN MAX]: "10s", "10" -> 10; "1m" -> 60. Bounded (by
# default 1 s to 10 min) so a typo cannot run for hours.
seconds() {
  local v=$1 min=${2:-1} max=${3:-600} n
  case "$v" in
    *m) n=${v%m}; [[ $n =~ ^[0-9]+$ ]] || die "bad duration: $v"; n=$((n * 60)) ;;
    *s) n=${v%s}; [[ $n =~ ^[0-9]+$ ]] || die "bad duration: $v" ;;
    *) n=$v; [[ $n =~ ^[0-9]+$ ]] || die "bad duration: $v" ;;
  esac
  ((n >= min && n <= max)) || die "duration must be between ${min}s and ${max}s: $v"
  echo "$n"
}


# ---------------------------------------------------------------- tools
apt_updated=no
apt() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "apt-get needs root (or sudo) to install: $*"
    sudo=sudo
  fi
  if [ "$apt_updated" = no ]; then
    say "apt-get update"
    $sudo apt-get update -qq >&2
    apt_updated=yes
  fi
  say "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

need_pkg() { # need_pkg COMMAND PACKAGE
  if ! command -v "$1" >/dev/null && ! [ -x "$1" ]; then
    [ "$install" = yes ] || die "$1 is missing (install the Debian package $2, or drop --no-install)"
    command -v apt-get >/dev/null || die "$1 is missing and there is no apt-get to install $2"
    apt "$2"
    command -v "$1" >/dev/null || [ -x "$1" ] || die "$1 still missing after installing $2"
  fi
}


# need_base: the tools every bench script uses.
need_base() {
  need_pkg taskset util-linux
  need_pkg /usr/bin/time time
  need_pkg jq jq
  need_pkg nginx nginx
  need_pkg curl curl
}

# need_oha: sets oha to bench/.tools/bin/oha, built from crates.io when
# missing (the scripts' --with-oha).
need_oha() {
  oha=$root/bench/.tools/bin/oha
  [ -x "$oha" ] && return
  [ "$install" = yes ] || die "oha is not built yet (bench/.tools/bin/oha); drop --no-install to build it"
  say "building oha from crates.io (cargo install oha --locked, at low priority; takes minutes)"
  nice -n 10 cargo install oha --locked --root "$root/bench/.tools" >&2 ||
    die "cargo install oha failed (see above); run without --with-oha to skip oha"
}

# build: the wasm32-wasip2 target, then release builds; sets slo, probe and builds.
# The probe is built with the cargo profile $probe_profile (default
# release): `guest` is the workspace's profile for scenarios (opt-level "s",
# stripped), whose smaller read-only data means fewer resident pages per VU.
build() {
  if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    [ "$install" = yes ] || die "the wasm32-wasip2 Rust target is missing (rustup target add wasm32-wasip2)"
    rustup target add wasm32-wasip2 >&2
  fi

  local profile=${probe_profile:-release}
  say "building wasm-slo (release) and the probe component (profile $profile)"
  cargo build --release -q -p wasm-slo >&2
  cargo build --profile "$profile" -q --target wasm32-wasip2 -p probe >&2
  slo=$root/target/release/wasm-slo
  probe=$root/target/wasm32-wasip2/$profile/probe.wasm
  # Row name and binary of each runner build measured: the plain one, until
  # build_pgo adds the PGO build.
  slo_pgo=""
  builds=(wasm-slo "$slo")
  [ -x "$slo" ] || die "no $slo after the build"
  [ -f "$probe" ] || die "no $probe after the build"
}

# build_pgo: the runner built with PGO by scripts/build-pgo.sh (a no-op when
# the sources have not changed since its last build); sets slo_pgo, and
# `builds` to both builds' rows.
build_pgo() {
  local flags=()
  [ "$install" = yes ] || flags=(--no-install)
  say "building the runner with PGO (scripts/build-pgo.sh; trains against the bundled target server)"
  "$root/scripts/build-pgo.sh" "${flags[@]}" >&2 ||
    die "scripts/build-pgo.sh failed (see above); --no-pgo measures the plain build"
  slo_pgo=$root/target/pgo/wasm-slo
  builds=(wasm-slo "$slo_pgo" wasm-slo-nopgo "$slo")
}

# builds_note: the results files' line saying which build each row is.
builds_note() {
  if [ -n "${slo_pgo:-}" ]; then
    echo "- wasm-slo: the runner built with PGO (\`scripts/build-pgo.sh\`); wasm-slo-nopgo: the plain \`cargo build --release\`"
  else
    echo "- wasm-slo: the runner's plain \`cargo build --release\` (--no-pgo)"
  fi
}

# ---------------------------------------------------------------- nginx
work=$(mktemp -d "${TMPDIR:-/tmp}/wasm-slo-bench.XXXXXX")
nginx_pid=""
# Other background processes of the sourcing script, stopped on exit.
bg_pids=()
cleanup() {
  local pid
  for pid in "${bg_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
      echo "$p"
      return
    fi
  done
  die "found no free port"
}

start_nginx() {
  local port attempt
  mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location /ok { return 200 "ok"; }
  }
}
EOF
    taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" \
      >"$work/nginx/logs/stdout.log" 2>&1 &
    nginx_pid=$!
    for _ in $(seq 50); do
      if curl -sf -o /dev/null "http://127.0.0.1:$port/ok"; then
        base_url="http://127.0.0.1:$port"
        say "nginx (pid $nginx_pid, CPU 0) on $base_url"
        return
      fi
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=""
    say "nginx did not start on port $port (attempt $attempt): $(tail -n 2 "$work/nginx/logs/error.log" 2>/dev/null)"
  done
  die "nginx did not start; see the messages above"
}


# ---------------------------------------------------------------- helpers
day=$(date -u +%Y-%m-%d)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
[ -n "$cpu_model" ] || cpu_model=unknown
cores=$(nproc)
mkdir -p "$root/bench/results"

# results_file NAME: where a run writes its Markdown, bench/results/NAME.md,
# or NAME-2.md, NAME-3.md ... when earlier runs of the day hold those: a
# second run never overwrites the first (say, on another machine).
results_file() {
  local base=$root/bench/results/$1 n=2
  local path=$base.md
  while [ -e "$path" ]; do
    path=$base-$n.md
    n=$((n + 1))
  done
  echo "$path"
}

# timed NAME CMD...: runs CMD under /usr/bin/time, stdout to $work/NAME.out,
# stderr to $work/NAME.err, "%e %U %S %M" to $work/NAME.time; keeps going on
# failure (returns CMD's status).
timed() {
  local name=$1
  shift
  local rc=0
  /usr/bin/time -o "$work/$name.time" -f "%e %U %S %M" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  return $rc
}

# sample_rss NAME CMD...: runs CMD under /usr/bin/time in the background,
# samples its VmRSS every 50 ms and its PSS and map count once RSS holds
# steady near its peak (0 if it never held for a second);
# writes "peak_kib pss_kib maps ms_to_98%_of_peak wall_s user_s sys_s" to
# $work/NAME.summary. Returns CMD's status.
sample_rss() {
  local name=$1
  shift
  local start now rss peak=0 pss=0 maps=0 rc=0 tpid pid="" last_rise measured=0
  start=$(date +%s%N)
  last_rise=$start
  /usr/bin/time -o "$work/$name.time" -f "%e %U %S %M" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  tpid=$!
  : >"$work/$name.rss"
  while kill -0 "$tpid" 2>/dev/null; do
    # /usr/bin/time's child is env, which execs wasm-slo in place.
    [ -n "$pid" ] || pid=$(pgrep -P "$tpid" | head -n 1 || true)
    rss=""
    [ -z "$pid" ] || rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$rss" ]; then
      now=$(date +%s%N)
      echo "$(((now - start) / 1000000)) $rss" >>"$work/$name.rss"
      if ((rss > peak)); then
        ((rss <= peak + peak / 100)) || last_rise=$now
        peak=$rss
      fi
      # PSS walks every page table under the process's mmap lock, which
      # would slow the very instantiation being timed: read it (and the map
      # count) once RSS has held within 1 % for a second, and again only
      # after RSS grew 2 % past that reading.
      if ((now - last_rise >= 1000000000 && peak > measured + measured / 50)); then
        pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
        maps=$(wc -l <"/proc/$pid/maps" 2>/dev/null || echo 0)
        measured=$peak
      fi
    fi
    sleep 0.05
  done
  wait "$tpid" || rc=$?
  local wall user sys max up
  read -r wall user sys max <"$work/$name.time" || true
  up=$(awk -v p="$peak" '$2 >= 0.98 * p { print $1; exit }' "$work/$name.rss")
  echo "$peak ${pss:-0} $maps ${up:-0} ${wall:-0} ${user:-0} ${sys:-0}" >"$work/$name.summary"
  return $rc
}
