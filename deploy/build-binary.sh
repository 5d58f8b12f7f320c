#!/bin/sh
# The container image's binary: static (musl), without the demo, built with
# profile-guided optimisation. deploy/Dockerfile builds it with this script
# and .ci/run checks the same script's binary, so the two cannot drift.
#
#   sh deploy/build-binary.sh OUT     (from any directory; OUT is where the binary goes)
#
# 1. Builds the gateway instrumented (rustc's -Cprofile-generate).
# 2. Runs it under the training workload (crates/pgo-training: the portal
#    simulator, and callers' reads, writes, lookups, refusals and SyncUsers
#    streams against Workspace and DocSpace); it writes its profile when
#    SIGTERM stops it.
# 3. Merges the profile (rustup's `llvm-tools` component) and builds the
#    gateway again with it: the compiler lays out and inlines by how the
#    code ran (BENCHMARKS.md: "the container image built profile-guided").
#
# POSIX sh: the image's builder has no bash. Where the host is not musl,
# CC_x86_64_unknown_linux_musl must name musl's C compiler (musl-gcc).
set -eu
case ${1:?usage: sh deploy/build-binary.sh OUT} in
  /*) out=$1 ;;
  *) out=$PWD/$1 ;;
esac
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
work=$PWD/target/pgo-image
# The toolchain's own llvm-profdata, as benches/gateway/pgo.sh finds it: its
# LLVM is the one that wrote the profile.
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  echo "build-binary.sh: llvm-profdata is missing: rustup component add llvm-tools" >&2
  exit 2
fi

# --target always, even on a musl host: RUSTFLAGS then reach the gateway's
# code only, not the build scripts, whose runs would write profiles too.
gateway() {
  cargo build --release --locked --target "$target" \
    -p people-gateway --no-default-features --bin people-gateway "$@"
}

rm -rf "$work/raw"
mkdir -p "$work/raw"
RUSTFLAGS="-Cprofile-generate=$work/raw" gateway --target-dir "$work/generate"
cargo build --release --locked -p pgo-training
LLVM_PROFILE_FILE="$work/raw/%p.profraw" \
  target/release/pgo-training "$work/generate/$target/release/people-gateway"
"$profdata" merge -o "$work/gateway.profdata" "$work"/raw/*.profraw
RUSTFLAGS="-Cprofile-use=$work/gateway.profdata" gateway
cp "target/$target/release/people-gateway" "$out"
