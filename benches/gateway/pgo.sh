#!/usr/bin/env bash
# The gateway and the floor, each built with profile-guided optimisation
# (rustc's -Cprofile-generate / -Cprofile-use) and measured against each
# other: the floor changed the same way as the gateway.
#
#   bash benches/gateway/pgo.sh bench [VAR=value ...]   # then the bench, e.g. BENCH_RPCS=GetUser,floor
#   bash benches/gateway/pgo.sh profile GetUser         # then profile.sh (PROFILE_CACHE=1 too)
#   bash benches/gateway/pgo.sh build                   # only the builds
#
# 1. Builds the bench binary (the floor and the client) and the gateway's
#    production build instrumented, under target/pgo/generate.
# 2. Trains both on one short run of this benchmark (every RPC at every
#    concurrency, 2,000 calls, one round): each process writes its profile
#    when it exits on SIGTERM; the gateway's and the floor's are kept apart
#    (the bench's own process is the floor's binary, its profile joins the
#    floor's).
# 3. Merges each with llvm-profdata (rustup's `llvm-tools` component) and
#    builds the gateway (target/pgo/gateway) and the bench binary
#    (target/pgo/floor) with its own profile.
# 4. Runs the bench or profile.sh with that bench binary and BENCH_GATEWAY
#    set to that gateway.
#
# The profiles are kept (target/pgo/*.profdata) and used again by the next
# call; delete them to train again after the code changed. Trained on the
# benchmark itself, so it shows what the layout can win at best; a
# deployment would train on its own calls.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-bench}
shift || true
root=$PWD/target/pgo
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  echo "pgo.sh: llvm-profdata is missing: rustup component add llvm-tools" >&2
  exit 2
fi
export CARGO_INCREMENTAL=0

# shellcheck source=benches/gateway/bench_binary.sh
source benches/gateway/bench_binary.sh

if [ ! -f "$root/gateway.profdata" ] || [ ! -f "$root/floor.profdata" ]; then
  raw=$root/raw
  rm -rf "$raw"
  mkdir -p "$raw/gateway" "$raw/floor" "$raw/other"
  trainer=$(CARGO_TARGET_DIR=$root/generate RUSTFLAGS="-Cprofile-generate=$raw/other" bench_binary)
  # The bench builds the instrumented gateway itself (target/pgo/generate/production).
  CARGO_TARGET_DIR=$root/generate RUSTFLAGS="-Cprofile-generate=$raw/other" \
  LLVM_PROFILE_FILE="$raw/other/%m-%p.profraw" \
  BENCH_WRAPPER="env LLVM_PROFILE_FILE=$raw/gateway/%m-%p.profraw" \
  BENCH_FLOOR_WRAPPER="env LLVM_PROFILE_FILE=$raw/floor/%m-%p.profraw" \
  BENCH_ROUNDS=1 BENCH_CALLS=2000 BENCH_PEAK_RUNS=1 \
    "$trainer" --bench > "$root/train.log" 2>&1
  # The bench's own process is the floor's binary: its profile is the
  # client's half of the same program.
  signature=$(basename "$(ls "$raw"/floor/*.profraw | head -1)" | cut -d- -f1)
  "$profdata" merge -o "$root/gateway.profdata" "$raw"/gateway/*.profraw
  "$profdata" merge -o "$root/floor.profdata" "$raw"/floor/*.profraw "$raw"/other/"$signature"-*.profraw
fi

gateway_flags="-Cprofile-use=$root/gateway.profdata"
floor_flags="-Cprofile-use=$root/floor.profdata"
# The production build, as the bench's `build()` makes it.
RUSTFLAGS=$gateway_flags cargo build --release --locked --no-default-features \
  -p people-gateway --bin people-gateway --target-dir "$root/gateway"
export CARGO_TARGET_DIR=$root/floor RUSTFLAGS=$floor_flags
floor=$(bench_binary)
export BENCH_GATEWAY=$root/gateway/release/people-gateway
case "$what" in
  build) echo "gateway: $BENCH_GATEWAY"; echo "floor and bench: $floor" ;;
  bench) env "$@" "$floor" --bench ;;
  profile) bash benches/gateway/profile.sh "$@" ;;
  *) echo "pgo.sh: bench, profile or build, not $what" >&2; exit 2 ;;
esac
