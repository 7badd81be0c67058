#!/usr/bin/env bash
# Shared by bench/instructions.sh (sourced, not run): callgrind's cache
# model set to this machine's own caches, and callgrind's counts turned into
# figures per request.

# cache_model [CACHE_DIR]: valgrind options that simulate the level-1
# instruction and data caches and the level-2 cache of one core, with the
# sizes, ways and line sizes the kernel reports in CACHE_DIR (default: CPU
# 1's, where the bench scripts run the generators). The L2 stands as the
# last level: it is the core's own, where an L3 is shared with the other
# core (and, in a VM, with other machines), so a generator can count on the
# L2 alone. Fails, saying why, when a level is missing.
cache_model() {
  local dir=${1:-/sys/devices/system/cpu/cpu1/cache} idx level type size ways line
  local i1="" d1="" l2=""
  for idx in "$dir"/index*; do
    [ -r "$idx/level" ] || continue
    level=$(<"$idx/level")
    type=$(<"$idx/type")
    size=$(<"$idx/size")
    ways=$(<"$idx/ways_of_associativity")
    line=$(<"$idx/coherency_line_size")
    case "$size" in
      *K) size=$((${size%K} * 1024)) ;;
      *M) size=$((${size%M} * 1024 * 1024)) ;;
      *[!0-9]* | "") echo "cache size '$size' in $idx/size is not a number of K or M" >&2; return 1 ;;
    esac
    case "$level/$type" in
      1/Instruction) i1=$size,$ways,$line ;;
      1/Data) d1=$size,$ways,$line ;;
      2/Unified) l2=$size,$ways,$line ;;
    esac
  done
  [ -n "$i1" ] && [ -n "$d1" ] && [ -n "$l2" ] || {
    echo "$dir does not list an L1i, an L1d and an L2 cache (found: I1 ${i1:-none}, D1 ${d1:-none}, L2 ${l2:-none})" >&2
    return 1
  }
  echo "--cache-sim=yes --I1=$i1 --D1=$d1 --LL=$l2"
}

# per_request OUT1 REQUESTS1 OUT2 REQUESTS2: from two callgrind output files
# of one tool (a shorter and a longer run), the marginal cost per request,
# so that start-up and shutdown cancel out: "Ir I1 D1 LL", the
# instructions, then the level-1 instruction, level-1 data and last-level
# misses (reads and writes), each per request; "-" for the misses without
# a cache model, "n/a" for all when the longer run has no more requests.
per_request() {
  awk -v r1="$2" -v r2="$4" '
    /^events:/ { for (i = 2; i <= NF; i++) col[FILENAME, $i] = i - 1 }
    /^summary:/ { for (i = 2; i <= NF; i++) val[FILENAME, i - 1] = $i }
    function sum(f, names,   n, k, s, i, c) {
      n = split(names, k, " ")
      for (i = 1; i <= n; i++) {
        c = col[f, k[i]]
        if (!c) return ""
        s += val[f, c]
      }
      return s
    }
    function each(names, text,   a, b, v) {
      a = sum(f1, names); b = sum(f2, names)
      if (a == "" || b == "") return text " -"
      v = (b - a) / (r2 - r1)
      # A tool that misses (almost) never can come out a hair below zero.
      if (v > -0.05 && v < 0.05) v = 0
      return text sprintf(" %.1f", v)
    }
    END {
      f1 = ARGV[1]; f2 = ARGV[2]
      if (r2 <= r1) { print "n/a n/a n/a n/a"; exit }
      out = sprintf("%.0f", (sum(f2, "Ir") - sum(f1, "Ir")) / (r2 - r1))
      out = each("I1mr", out)
      out = each("D1mr D1mw", out)
      out = each("ILmr DLmr DLmw", out)
      print out
    }
  ' "$1" "$3"
}
