#!/bin/sh
# Pages through the portal's directory with ListUsers, following
# next_page_token until the last page; prints "id<TAB>display name" per user.
# Usage: sh examples/list-users.sh [HOST:PORT] [PAGE_SIZE]
# Env: GRPCURL (default grpcurl); AUTHORIZATION (a portal token; default none).
set -eu
target=${1:-localhost:50051}
size=${2:-50}
grpcurl=${GRPCURL:-grpcurl}
token=
while :; do
  request="{\"page_size\":$size,\"page_token\":\"$token\"}"
  if [ -n "${AUTHORIZATION:-}" ]; then
    page=$("$grpcurl" -plaintext -H "authorization: $AUTHORIZATION" -d "$request" \
      "$target" onlyoffice.people.v1.PeopleService/ListUsers)
  else
    page=$("$grpcurl" -plaintext -d "$request" \
      "$target" onlyoffice.people.v1.PeopleService/ListUsers)
  fi
  # The page's users, one a line, then the next page's token on a line of its own.
  lines=$(printf '%s' "$page" | python3 -c '
import json, sys
page = json.load(sys.stdin)
for user in page.get("users", []):
    print(user["id"] + "\t" + user.get("displayName", ""))
print("next:" + page.get("nextPageToken", ""))
')
  printf '%s\n' "$lines" | sed '$d'
  token=$(printf '%s\n' "$lines" | tail -n 1 | sed 's/^next://')
  [ -n "$token" ] || break
done
