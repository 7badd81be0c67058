# Sourced by scripts (not run): starts the bundled target server, built in
# release mode, on a free loopback port.
#
#   . scripts/target-server.sh
#   start_target_server LOG     # sets $server (its pid) and $url
#   trap 'kill $server' EXIT    # the caller stops it

start_target_server() {
  local log="$1"
  ./target/release/wasm-slo-target --listen 127.0.0.1:0 >"$log" 2>&1 &
  server=$!
  url=""
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$log")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  kill "$server" 2>/dev/null || true
  echo "the target server did not start:" >&2
  cat "$log" >&2
  return 1
}
