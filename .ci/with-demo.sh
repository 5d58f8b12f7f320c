#!/usr/bin/env bash
# Starts `people-gateway --demo` on a free loopback port, runs the given
# command with DEMO_PORT set, and stops the gateway (SIGTERM) afterwards.
# Usage: with-demo.sh GATEWAY_BINARY COMMAND [ARGS…]
set -euo pipefail
gateway=$1
shift
port=$(python3 "$(dirname "$0")/free-port.py")
log=$(mktemp)
"$gateway" --demo --listen "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  grep -q "people-gateway demo" "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
DEMO_PORT=$port "$@"
