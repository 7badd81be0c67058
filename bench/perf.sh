#!/usr/bin/env bash
# Shared by bench/profile.sh (sourced, not run): turns the samples of a
# `perf record -e cpu-clock` profile into shares of time by where the code
# came from. `perf report` names the function a sample fell in; with
# inlining (and PGO inlines hyper, tokio and the runner into wasmtime's host
# call) that function holds many crates' code, so each sample's address is
# looked up in the binary's debug info (`addr2line -i`), and the sample goes
# to the innermost frame from a named crate or from this repository.

# Hex to number and back in awk: Debian's awk (mawk) has no strtonum, and
# its printf clamps %x and %d to 32 bits. Addresses (47 bits) are exact in
# awk's doubles.
hex_awk='
  function hex(s,   v, i) {
    s = tolower(s); sub(/^0x/, "", s); v = 0
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v
  }
  function tohex(v,   s, d) {
    s = ""
    do { d = v % 16; s = substr("0123456789abcdef", d + 1, 1) s; v = (v - d) / 16 } while (v > 0)
    return s
  }'

# exec_bias BINARY: the executable LOAD segment's virtual address minus its
# file offset (decimal): a sampled address's file offset plus this is the
# address the debug info knows.
exec_bias() {
  readelf -lW "$1" | awk "$hex_awk"'
    $1 == "LOAD" && $0 ~ / R E | RWE | E / {
      printf "%.0f\n", hex($3) - hex($2); found = 1; exit
    }
    END { if (!found) exit 1 }' ||
    { echo "no executable LOAD segment in $1" >&2; return 1; }
}

# binary_addresses BINARY BIAS < `perf script --show-mmap-events -F ip,dso`:
# "ADDRESS COUNT" (hex, as the debug info knows it) for every sampled
# address in BINARY, from where its text was mapped in the run.
binary_addresses() {
  awk -v bin="$1" -v bias="$2" "$hex_awk"'
    /PERF_RECORD_MMAP2/ && index($0, " " bin) && / r-xp / {
      # [0xSTART(0xLEN) @ 0xPGOFF ...]
      match($0, /\[0x[0-9a-f]+\(0x[0-9a-f]+\) @ 0x[0-9a-f]+/)
      split(substr($0, RSTART + 1, RLENGTH - 1), f, /[(@ )]+/)
      start = hex(f[1]); pgoff = hex(f[3]); mapped = 1
      next
    }
    mapped && index($0, "(" bin ")") {
      n[tohex(hex($1) - start + pgoff + bias)]++
    }
    END { for (a in n) print a, n[a] }'
}

# crate_shares COUNTS TOTAL < `addr2line -i -f -C -a` output for COUNTS'
# addresses: "CRATE SAMPLES PERCENT" lines, most first, PERCENT of TOTAL
# samples. A frame's crate is read from its source path: a crates.io crate
# by its directory's name without the version, this repository as
# wasm-slo, the standard library as std. Without line info (a binary built
# without debug info, as `cargo install` builds oha, where addr2line gives
# `??` or the compilation unit's name) it is read from the function's name:
# its first path segment. An address is given to its
# innermost frame outside std, or to std when all its frames are there;
# crate names are spelt with hyphens either way.
crate_shares() {
  awk -v counts="$1" -v total="$2" '
    BEGIN {
      while ((getline line < counts) > 0) {
        split(line, f, " ")
        n[f[1]] = f[2]
      }
    }
    function crate_of(path, fn,   m) {
      if (match(path, /\/registry\/src\/[^\/]+\/[^\/]+\//)) {
        m = substr(path, RSTART, RLENGTH - 1)
        sub(/.*\//, "", m)
        sub(/-[0-9]+\.[0-9]+\.[0-9]+.*$/, "", m)
        return m
      }
      if (path ~ /^\/rustc\// || path ~ /\/library\/(core|alloc|std)\//) return "std"
      # No line info: `??`, or only the name of the compilation unit.
      if (path !~ /^\//) {
        # The first name followed by `::`: <&hyper::proto::h1::role::Client
        # as ...>::parse -> hyper; <f64 as zmij::Sealed>::f -> zmij.
        if (!match(fn, /[A-Za-z_][A-Za-z0-9_]*::/)) return "?"
        m = substr(fn, RSTART, RLENGTH - 2)
        if (m ~ /^_*rustc$/) return "std"
        gsub(/_/, "-", m)
        if (m == "core" || m == "alloc" || m == "std") return "std"
        return m
      }
      return "wasm-slo"
    }
    function settle() {
      if (addr == "") return
      by[chosen == "" ? (first == "" ? "?" : first) : chosen] += n[addr]
    }
    /^0x[0-9a-f]+$/ {
      settle()
      addr = substr($0, 3); sub(/^0+/, "", addr); if (addr == "") addr = "0"
      first = ""; chosen = ""; want_path = 0
      next
    }
    {
      # Lines alternate: function, then path:line.
      if (!want_path) { want_path = 1; fn = $0; next }
      want_path = 0
      path = $0; sub(/:[0-9?]+( \(discriminator [0-9]+\))?$/, "", path)
      c = crate_of(path, fn)
      if (first == "") first = c
      if (chosen == "" && c != "std" && c != "?") chosen = c
    }
    END {
      settle()
      for (c in by) printf "%s %d %.1f\n", c, by[c], (total > 0 ? 100 * by[c] / total : 0)
    }' | sort -k2,2nr -k1,1
}
