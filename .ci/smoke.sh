#!/usr/bin/env bash
# Starts `people-gateway --demo` on its default port and runs every grpcurl
# command of the README's "Calling it" section as written, then checks that
# an error prints its google.rpc details and that SIGTERM stops the server.
# Usage: smoke.sh GRPCURL GATEWAY_BINARY
set -euo pipefail
grpcurl_bin=$1
gateway=$2
work=$(mktemp -d)
log="$work/gateway.log"

"$gateway" --demo >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# Ready when the demo has printed its instructions (bounded wait).
for _ in $(seq 1 100); do
  grep -q "people-gateway demo" "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "gateway exited early"; exit 1; }
  sleep 0.1
done
grep -q "people-gateway demo" "$log" || { cat "$log"; echo "gateway did not start"; exit 1; }

# The README's commands, exactly as a user would paste them.
section=$(awk '/^## Calling it/{on=1; next} /^## /{on=0} on' README.md)
mapfile -t commands < <(printf '%s\n' "$section" | grep '^grpcurl ')
[ "${#commands[@]}" -ge 8 ] || { echo "README lost its grpcurl examples"; exit 1; }

passed=0
failed=0
for command in "${commands[@]}"; do
  expect_error=no
  case "$command" in *0000000000ff*) expect_error=yes ;; esac
  set +e
  output=$(eval "${command/#grpcurl/\"$grpcurl_bin\"}" 2>&1)
  status=$?
  set -e
  if [ "$expect_error" = yes ]; then
    if [ $status -ne 0 ] && grep -q 'google.rpc.ErrorInfo' <<<"$output" \
      && grep -q 'PORTAL_NOT_FOUND' <<<"$output"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); printf 'FAILED (expected readable error details): %s\n%s\n' "$command" "$output"
    fi
  elif [ $status -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); printf 'FAILED: %s\n%s\n' "$command" "$output"
  fi
done

# What those calls must have shown.
check() {
  local what=$1 pattern=$2 command=$3
  if eval "${command/#grpcurl/\"$grpcurl_bin\"}" 2>&1 | grep -q -- "$pattern"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAILED: $what"
  fi
}
check "service is listed" "onlyoffice.people.v1.PeopleService" \
  "grpcurl -plaintext localhost:50051 list"
check "health is SERVING" '"SERVING"' \
  "grpcurl -plaintext -d '{\"service\":\"onlyoffice.people.v1.PeopleService\"}' localhost:50051 grpc.health.v1.Health/Check"
check "title was changed" '"title": "Head of Marketing"' \
  "grpcurl -plaintext -d '{\"user_id\":\"1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302\"}' localhost:50051 onlyoffice.people.v1.PeopleService/GetUser"
check "SetContacts left exactly the given contact" '"value": "mike@example.com"' \
  "grpcurl -plaintext -d '{\"user_id\":\"1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302\"}' localhost:50051 onlyoffice.people.v1.PeopleService/GetUser"

kill -TERM "$pid"
if wait "$pid"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAILED: gateway did not exit cleanly on SIGTERM"; cat "$log"
fi
trap 'rm -rf "$work"' EXIT

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
