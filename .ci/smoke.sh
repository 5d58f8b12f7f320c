#!/usr/bin/env bash
# Runs every grpcurl command of the README's demo sections as written (with
# the README's port 50051 replaced by a free one), each section against its
# own `people-gateway --demo`: calls
# must succeed, and the README's error examples must fail with readable
# google.rpc details. Then checks what the calls changed, and that SIGTERM
# stops the server cleanly.
# Usage: smoke.sh GRPCURL GATEWAY_BINARY
set -euo pipefail
grpcurl_bin=$1
gateway=$2
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAILED: %s\n' "$*"; }
# The README's commands name the default port; they run against a free
# loopback port instead (the default may be taken, by a demo left running too).
readme_port=50051
port=$(python3 "$(dirname "$0")/free-port.py")
run_grpcurl() {
  local command=${1//localhost:$readme_port/localhost:$port}
  eval "${command/#grpcurl/\"$grpcurl_bin\"}" 2>&1
}

start_demo() {
  local log="$work/gateway-$RANDOM.log"
  "$gateway" --demo --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
  pid=$!
  # Ready when the demo has printed its instructions (bounded wait).
  for _ in $(seq 1 100); do
    grep -q "people-gateway demo" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log"
  echo "gateway did not start"
  exit 1
}

stop_demo() {
  kill -TERM "$pid"
  if wait "$pid"; then pass; else fail "gateway did not exit cleanly on SIGTERM"; fi
  pid=
}

# Runs the grpcurl lines of one README section; a line whose expected
# reason is given in the text before its block is expected to fail.
run_section() {
  local heading=$1 min_commands=${2:-3}
  local section
  section=$(awk -v heading="$heading" '$0 == heading {on=1; next} /^## /{on=0} on' README.md)
  mapfile -t commands < <(printf '%s\n' "$section" | grep '^grpcurl ')
  [ "${#commands[@]}" -ge "$min_commands" ] || { fail "README section '$heading' lost its grpcurl examples"; return; }
  for command in "${commands[@]}"; do
    local expected_reason=
    case "$command" in
      *0000000000ff*) expected_reason=PORTAL_NOT_FOUND ;;
      *'"first_name":"X"'*) expected_reason=PROFILE_FIELDS_SELF_ONLY ;;
    esac
    local output status
    set +e
    output=$(run_grpcurl "$command")
    status=$?
    set -e
    if [ -n "$expected_reason" ]; then
      if [ $status -ne 0 ] && grep -q 'google.rpc.ErrorInfo' <<<"$output" \
        && grep -q "$expected_reason" <<<"$output"; then
        pass
      else
        fail "expected $expected_reason with readable details: $command"$'\n'"$output"
      fi
    elif [ $status -eq 0 ]; then
      pass
    else
      fail "$command"$'\n'"$output"
    fi
  done
}

# Asserts that a call's output contains a pattern.
check() {
  local what=$1 pattern=$2 command=$3 output
  # Whole output first: `grep -q` in a pipe would cut a long answer short.
  output=$(run_grpcurl "$command") || true
  if grep -q -- "$pattern" <<<"$output"; then pass; else fail "$what"; fi
}

# Asserts that a call succeeds and its output lacks a pattern.
check_absent() {
  local what=$1 pattern=$2 command=$3 output
  if output=$(run_grpcurl "$command") && ! grep -q -- "$pattern" <<<"$output"; then
    pass
  else
    fail "$what"
  fi
}

mike='{"user_id":"1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302"}'
get_mike="grpcurl -plaintext -d '$mike' localhost:$readme_port onlyoffice.people.v1.PeopleService/GetUser"

start_demo
run_section "## Calling it (grpcurl, against \`--demo\`)"
check "service is listed" "onlyoffice.people.v1.PeopleService" "grpcurl -plaintext localhost:$readme_port list"
check "health is SERVING" '"SERVING"' \
  "grpcurl -plaintext -d '{\"service\":\"onlyoffice.people.v1.PeopleService\"}' localhost:$readme_port grpc.health.v1.Health/Check"
check "UpdateUser changed the title" '"title": "Head of Marketing"' "$get_mike"
check "UpdateUser kept the departments" '"name": "Marketing"' "$get_mike"
check "UpdateUser set a second department" '"name": "Sales' "$get_mike"
check "SetContacts kept the given contact" '"value": "mike@example.com"' "$get_mike"
check_absent "SetContacts replaced the rest" '"value": "mike.z"' "$get_mike"
run_section "## Finding people (ListUsers)"
check "ListUsers finds mike by his email in capitals" '"id": "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302"' \
  "grpcurl -plaintext -d '{\"email\":\"MIKE@example.com\"}' localhost:$readme_port onlyoffice.people.v1.PeopleService/ListUsers"
list="localhost:$readme_port onlyoffice.people.v1.PeopleService/ListUsers"
check "ListUsers lists the suspended user when asked for suspended users" '"id": "4f52ae60-c283-4e7f-9091-a2b3c4d5e605"' \
  "grpcurl -plaintext -d '{\"status\":\"STATUS_FILTER_DISABLED\"}' $list"
check_absent "ListUsers lists no active user when asked for suspended users" '"id": "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302"' \
  "grpcurl -plaintext -d '{\"status\":\"STATUS_FILTER_DISABLED\"}' $list"
check "ListUsers finds mike by his last name" '"id": "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302"' \
  "grpcurl -plaintext -d '{\"query\":\"zanyatski\",\"guest\":false}' $list"
check_absent "ListUsers lists no guest among full users" '"id": "2d308c4e-a061-4c5d-9e7f-8091a2b3c403"' \
  "grpcurl -plaintext -d '{\"guest\":false}' $list"
check "ListUsers lists Marketing's members" '"id": "0b1e6a2c-8d4f-4a3b-9c5d-6e7f8a9b0c01"' \
  "grpcurl -plaintext -d '{\"department_id\":\"6174c082-e4a5-4091-b2b3-c4d5e6f70807\"}' $list"
# The README's paging script, as written, lists every demo user exactly once.
listed=$(GRPCURL=$grpcurl_bin sh examples/list-users.sh "localhost:$port" 2 | cut -f1) || listed=
if [ "$(printf '%s\n' "$listed" | grep -c .)" -ge 8 ] \
  && [ "$(printf '%s\n' "$listed" | sort | uniq -d | wc -l)" -eq 0 ] \
  && grep -q "4f52ae60-c283-4e7f-9091-a2b3c4d5e605" <<<"$listed"; then
  pass
else
  fail "examples/list-users.sh did not list every demo user exactly once: $listed"
fi
grep -q '^sh examples/list-users.sh localhost:50051 2$' README.md && pass || fail "README lost the paging example"
run_section "## Many changes in one stream (SyncUsers)" 1
sync="grpcurl -plaintext -d @ localhost:$readme_port onlyoffice.people.v1.PeopleService/SyncUsers < examples/sync-users.jsonl"
check "SyncUsers answers a missing user with the unary error" '"reason":"PORTAL_NOT_FOUND"' "$sync"
check "SyncUsers refuses a repeated item id" 'item_id was already used in this stream' "$sync"
check "SyncUsers applied mike's items in order" '"location": "Berlin"' "$get_mike"
check "SyncUsers merged mike's contact" '"value": "@mikez"' "$get_mike"
stop_demo

start_demo --portal-product docspace
run_section "## Calling a DocSpace demo"
check "UpdateUser changed the first name" '"firstName": "Michael"' "$get_mike"
check "UpdateContacts merged on DocSpace" '"value": "@mike"' "$get_mike"
check "the admin let the suspended user back in" '"status": "USER_STATUS_ACTIVE"' "$get_mike"
stop_demo

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
