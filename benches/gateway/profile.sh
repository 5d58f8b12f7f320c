#!/usr/bin/env bash
# Instructions per call, counted by callgrind (repeatable on a noisy machine,
# unlike CPU time): one RPC through the gateway against the floor's forwarded
# GET and the translating floor's, each process profiled on its own, and the
# difference by crate (self cost, grouped by the crate of each function).
#
#   bash benches/gateway/profile.sh [RPC] [CALLS]    (defaults: GetUser 2000)
#
# Two runs of the benchmark at concurrency 16: the floor alone (A), then RPC,
# the floor and the translating floor (B). A call of RPC costs the gateway
# (B - A) / CALLS; a translated GET costs the floor process (B - A) / CALLS; a
# forwarded GET what is left of A after the warm-up's translated GETs.
# Needs valgrind and python3; writes its profiles under target/profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
rpc=${1:-GetUser}
calls=${2:-2000}
out=target/profile
mkdir -p "$out"
cargo bench --bench gateway --no-run --locked 2>/dev/null
bench=$(ls -t target/release/deps/gateway-* | grep -v '\.d$' | head -1)
for run in A B; do
  rpcs=floor
  [ "$run" = B ] && rpcs="$rpc,floor,translating"
  BENCH_WRAPPER="valgrind --tool=callgrind --callgrind-out-file=$out/$run.gateway" \
  BENCH_FLOOR_WRAPPER="valgrind --tool=callgrind --callgrind-out-file=$out/$run.floor" \
  BENCH_RPCS=$rpcs BENCH_CONCURRENCY=16 BENCH_ROUNDS=1 BENCH_CALLS=$calls \
    "$bench" --bench > "$out/$run.log" 2>&1
  for process in gateway floor; do
    callgrind_annotate --threshold=100 --inclusive=no --auto=no "$out/$run.$process" \
      > "$out/$run.$process.functions"
  done
done
python3 - "$out" "$calls" "$rpc" <<'EOF'
import re, sys
from collections import defaultdict

out, calls, rpc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
WARM_UP = 200  # calls of each RPC before the measured ones (benches/gateway.rs)

def crate(function, file):
    if 'malloc' in file:
        return 'glibc malloc'
    if file.startswith('./string'):
        return 'glibc memcpy, memcmp'
    if file.startswith('./') or file.startswith('/usr/lib'):
        return 'glibc, other'
    name = re.match(r'<*([A-Za-z_][A-Za-z0-9_]*)::', function)
    name = name.group(1) if name else '(no symbol)'
    if name in ('core', 'alloc', 'std', '__rustc'):
        return 'Rust std (inlined)'
    return "the floor's own code" if name == 'gateway' else name

def load(path):
    total, by_crate = 0, defaultdict(int)
    for line in open(path):
        m = re.match(r'\s*([\d,]+) \([^)]*\)\s+(.*)$', line)
        if not m:
            continue
        cost = int(m.group(1).replace(',', ''))
        what = re.sub(r'\s*\[[^\]]*\]$', '', m.group(2)).strip()
        if what == 'PROGRAM TOTALS':
            total = cost
        elif ':' in what:
            file, function = what.split(':', 1)
            by_crate[crate(function, file)] += cost
    by_crate['(all)'] = total
    return by_crate

a_gw, b_gw = load(f'{out}/A.gateway.functions'), load(f'{out}/B.gateway.functions')
a_fl, b_fl = load(f'{out}/A.floor.functions'), load(f'{out}/B.floor.functions')
exchanges = 2 if rpc in ('UpdateContacts', 'UpdateUser') else 1  # a read-modify-write
rows = []
for key in set(a_gw) | set(b_gw) | set(a_fl) | set(b_fl):
    gateway = (b_gw[key] - a_gw[key]) / calls / exchanges
    translating = (b_fl[key] - a_fl[key]) / calls
    floor = (a_fl[key] - WARM_UP * translating) / (calls + WARM_UP)
    rows.append((gateway, translating, floor, key))
rows.sort(key=lambda row: (row[3] != '(all)', -row[0]))
gateway, translating, floor, _ = rows[0]
print(f'{rpc}: {gateway * exchanges:,.0f} instructions per call, {exchanges} portal exchange(s); '
      f'the floor {floor:,.0f} per forwarded GET, the translating floor {translating:,.0f} per translated GET')
print(f'ratios per exchange: to the floor {gateway / floor:.2f}, '
      f'to the translating floor {gateway / translating:.2f}; '
      f'the translating floor to the floor {translating / floor:.2f}')
print()
print(f'| crate (self cost) | {rpc} per exchange | translating floor | floor | {rpc} − translating floor |')
print('|---|---:|---:|---:|---:|')
for gateway, translating, floor, key in rows:
    if max(abs(gateway), abs(translating), abs(floor)) >= 1000:
        print(f'| {key} | {gateway:,.0f} | {translating:,.0f} | {floor:,.0f} | {gateway - translating:,.0f} |')
EOF
