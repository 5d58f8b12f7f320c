#!/usr/bin/env bash
# Instructions per call, counted by callgrind (repeatable on a noisy machine,
# unlike CPU time): one RPC through the gateway against the floor's forwarded
# GET and the translating floor's, each process profiled on its own, and the
# difference by crate (self cost, grouped by the crate of each function).
#
#   bash benches/gateway/profile.sh [RPC] [CALLS]    (defaults: GetUser 2000)
#
# Three runs of the benchmark at concurrency 16: CALLS forwarded GETs (A),
# twice as many (C), and RPC with the floor and the translating floor (B).
# Each cost is a difference of two runs, so that starting, warming up and
# stopping cancel out: a call of RPC costs the gateway (B - A) / CALLS, a
# translated GET the floor process (B - A) / CALLS, a forwarded GET
# (C - A) / CALLS. What runs by the clock (readiness probes, the log
# writer's wake-ups) is counted in proportion to how long the longer run
# took; it is small against a call. Needs valgrind and python3; writes its
# profiles under target/profile.
#
# PROFILE_CACHE=1 also simulates the caches (callgrind's --cache-sim, about
# twice as slow; profiles under target/profile-cache) and prints each one's
# instruction-cache and data-cache misses per call and its estimated cycles
# (cachegrind's own weighting: an instruction each, 10 per first-level
# miss, 100 per last-level miss): CPU time counts the misses too, which
# instructions alone do not show, and a larger program misses more.
#
# The gateway inherits the environment: RUST_LOG=off profiles it without
# its log lines and spans, so the difference is what they cost.
set -euo pipefail
cd "$(dirname "$0")/../.."
rpc=${1:-GetUser}
calls=${2:-2000}
case "$rpc" in
  GetUser | UpdateContacts | UpdateUser) ;;
  *) echo "profile.sh: RPC is GetUser, UpdateContacts or UpdateUser, not $rpc" >&2; exit 2 ;;
esac
out=${CARGO_TARGET_DIR:-target}/profile
callgrind="valgrind --tool=callgrind"
if [ "${PROFILE_CACHE:-}" = 1 ]; then
  out=$out-cache
  # Caches as on a common x86 server core, not as the machine reports them
  # (a VM may report anything): 32 KiB instruction and data caches, and an
  # 8 MiB last level.
  callgrind="$callgrind --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=8388608,16,64"
fi
mkdir -p "$out"
# shellcheck source=benches/gateway/bench_binary.sh
source benches/gateway/bench_binary.sh
bench=$(bench_binary)
for run in A B C; do
  rpcs=floor
  runs_calls=$calls
  [ "$run" = B ] && rpcs="$rpc,floor,translating"
  [ "$run" = C ] && runs_calls=$((2 * calls))
  BENCH_WRAPPER="$callgrind --callgrind-out-file=$out/$run.gateway" \
  BENCH_FLOOR_WRAPPER="$callgrind --callgrind-out-file=$out/$run.floor" \
  BENCH_RPCS=$rpcs BENCH_CONCURRENCY=16 BENCH_ROUNDS=1 BENCH_CALLS=$runs_calls \
    "$bench" --bench > "$out/$run.log" 2>&1
  for process in gateway floor; do
    callgrind_annotate --threshold=100 --inclusive=no --auto=no "$out/$run.$process" \
      > "$out/$run.$process.functions"
  done
done
python3 - "$out" "$calls" "$rpc" <<'EOF'
import re, sys
from collections import defaultdict

sys.path.insert(0, 'benches/gateway')
from crates import crate_of

out, calls, rpc = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def crate(function, file):
    """The crate whose code a function is; glibc's by its source file."""
    if 'malloc' in file:
        return 'glibc malloc'
    if file.startswith('./string'):
        return 'glibc memcpy, memcmp'
    if file.startswith('./') or file.startswith('/usr/lib'):
        return 'glibc, other'
    name = crate_of(function) or '(no symbol)'
    return "the floor's own code" if name == 'gateway' else name

# One event's column: a count with its share, a bare 0, or '.' for none.
COLUMN = re.compile(r'\s*(?:([\d,]+)(?: \([^)]*\))?(?=\s)|\.(?=\s))')

def load(path):
    """Instructions by crate, and the totals of every event recorded."""
    events, totals, by_crate = [], {}, defaultdict(int)
    for line in open(path):
        if line.startswith('Events shown:'):
            events = line.split(':', 1)[1].split()
            continue
        values, position = [], 0
        for _ in events:
            column = COLUMN.match(line, position)
            if not column:
                break
            values.append(int(column.group(1).replace(',', '')) if column.group(1) else 0)
            position = column.end()
        if not events or len(values) != len(events):
            continue
        what = re.sub(r'\s*\[[^\]]*\]$', '', line[position:]).strip()
        if what == 'PROGRAM TOTALS':
            totals = dict(zip(events, values))
        elif ':' in what:
            file, function = what.split(':', 1)
            by_crate[crate(function, file)] += values[0]
    by_crate['(all)'] = totals.get('Ir', 0)
    return by_crate, totals

(a_gw, a_gw_totals), (b_gw, b_gw_totals) = load(f'{out}/A.gateway.functions'), load(f'{out}/B.gateway.functions')
(a_fl, a_fl_totals), (b_fl, b_fl_totals) = load(f'{out}/A.floor.functions'), load(f'{out}/B.floor.functions')
c_fl, c_fl_totals = load(f'{out}/C.floor.functions')
# A read-modify-write; UpdateUser's title is for administrators, so it
# reads the caller's own profile first (as benches/gateway.rs counts).
exchanges = {'UpdateContacts': 2, 'UpdateUser': 3}.get(rpc, 1)
rows = []
for key in set(a_gw) | set(b_gw) | set(a_fl) | set(b_fl):
    gateway = (b_gw[key] - a_gw[key]) / calls / exchanges
    translating = (b_fl[key] - a_fl[key]) / calls
    floor = (c_fl[key] - a_fl[key]) / calls
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
if 'I1mr' in b_gw_totals:
    def per_exchange(before, after, count):
        return {event: (after[event] - before[event]) / count for event in after}
    measured = [
        (rpc, per_exchange(a_gw_totals, b_gw_totals, calls * exchanges)),
        ('translating floor', per_exchange(a_fl_totals, b_fl_totals, calls)),
        ('floor', per_exchange(a_fl_totals, c_fl_totals, calls)),
    ]
    misses, cycles = {}, {}
    for name, cost in measured:
        data = cost['D1mr'] + cost['D1mw']
        last = cost['ILmr'] + cost['DLmr'] + cost['DLmw']
        misses[name] = (data, last)
        cycles[name] = cost['Ir'] + 10 * (cost['I1mr'] + data) + 100 * last
    print()
    print('Simulated caches, per portal exchange (estimated cycles: instructions '
          '+ 10 per first-level miss + 100 per last-level miss):')
    print()
    print('| | instructions | instruction-cache misses | data-cache misses | last-level misses '
          '| estimated cycles | cycles / floor | cycles / translating floor |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    for name, cost in measured:
        data, last = misses[name]
        print(f"| {name} | {cost['Ir']:,.0f} | {cost['I1mr']:,.0f} | {data:,.0f} "
              f"| {last:,.0f} | {cycles[name]:,.0f} "
              f"| {cycles[name] / cycles['floor']:.2f} | {cycles[name] / cycles['translating floor']:.2f} |")
EOF
