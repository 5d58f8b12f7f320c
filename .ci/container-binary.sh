#!/usr/bin/env bash
# The container image's binary, built as deploy/Dockerfile builds it (static,
# musl, no demo, mimalloc) and run with the image's allocator settings: one
# GetUser through it, over gRPC, against the canned portal stub.
# Usage: container-binary.sh GRPCURL GATEWAY_BINARY STUB_BINARY
set -euo pipefail
grpcurl=$1
gateway=$2
stub=$3
mike=1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302

ldd "$gateway" 2>&1 | grep -q -e "statically linked" -e "not a dynamic executable" \
  || { echo "$gateway is not static" >&2; exit 1; }
grep -a -q "mimalloc" "$gateway" || { echo "$gateway does not allocate with mimalloc" >&2; exit 1; }

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$stub" 127.0.0.1:0 >"$work/stub" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/stub" ] && break; sleep 0.1; done
portal=$(head -n 1 "$work/stub")

port=$(python3 "$(dirname "$0")/free-port.py")
# The image's own environment for the allocator.
read -r -a image_env <<<"$(sed -n 's/^ENV \(MIMALLOC_.*\)$/\1/p' deploy/Dockerfile)"
[ "${#image_env[@]}" -gt 0 ] || { echo "deploy/Dockerfile sets no MIMALLOC_ options" >&2; exit 1; }
env "${image_env[@]}" "$gateway" --listen "127.0.0.1:$port" \
  --portal-url "http://$portal/" --portal-product workspace >"$work/gateway" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  "$grpcurl" -plaintext "127.0.0.1:$port" list >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$work/gateway"; exit 1; }
  sleep 0.1
done
answer=$("$grpcurl" -plaintext -H "authorization: Bearer container-check" \
  -d "{\"user_id\": \"$mike\"}" "127.0.0.1:$port" onlyoffice.people.v1.PeopleService/GetUser)
echo "$answer" | grep -q '"firstName": "Mike"' || { echo "$answer"; cat "$work/gateway"; exit 1; }
echo "the container image's binary answered a GetUser"
