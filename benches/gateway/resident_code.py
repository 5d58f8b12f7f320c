#!/usr/bin/env python3
"""Which crates' code a running process keeps resident.

    python3 benches/gateway/resident_code.py PID [PID ...]

For each process: every page of its own executable's code that is resident
(from /proc/PID/pagemap, whose present bit any user may read), put down to
the crate with the most code on that page (symbols from `nm`), and the
totals by crate. The kernel maps a file's pages around each one a process
touches (fault-around, 64 KiB by default), so a crate's resident code is
close to all of it once any of it runs: what a process keeps resident is
mostly how much code it runs at all, not how often.

Needs python3 and nm (binutils). The bench runs it on each process of its
peak memory table once the calls are done:

    BENCH_PEAKS_ONLY=1 BENCH_RESIDENT_CODE=1 cargo bench --bench gateway
"""
import bisect
import collections
import os
import struct
import subprocess
import sys

from crates import crate_of

PAGE = 4096


def code_symbols(binary):
    """(start, size, crate) of every code symbol, sorted by start."""
    listed = subprocess.run(['nm', '-C', '-S', '--defined-only', binary],
                            capture_output=True, text=True, check=True).stdout
    symbols = []
    for line in listed.splitlines():
        fields = line.split(None, 3)
        if len(fields) == 4 and fields[2] in ('t', 'T'):
            owner = crate_of(fields[3]) or '(C code, or no path)'
            symbols.append((int(fields[0], 16), int(fields[1], 16), owner))
    symbols.sort()
    return symbols


def resident_code(pid):
    binary = os.readlink(f'/proc/{pid}/exe')
    symbols = code_symbols(binary)
    starts = [start for start, _, _ in symbols]
    by_crate, mapped_by_crate = collections.Counter(), collections.Counter()
    with open(f'/proc/{pid}/maps') as maps, open(f'/proc/{pid}/pagemap', 'rb') as pagemap:
        for mapping in maps:
            fields = mapping.split()
            if len(fields) < 6 or fields[5] != binary or 'x' not in fields[1]:
                continue
            low, high = (int(end, 16) for end in fields[0].split('-'))
            offset = int(fields[2], 16)
            for address in range(low, high, PAGE):
                pagemap.seek(address // PAGE * 8)
                present = struct.unpack('Q', pagemap.read(8))[0] >> 63
                # Symbols' addresses are the file's: a position-independent
                # executable maps its code at the same offsets.
                page = address - low + offset
                owners = collections.Counter()
                # The symbols starting on the page, and the one before them,
                # which may run into it.
                index = bisect.bisect_right(starts, page + PAGE - 1) - 1
                while index >= 0:
                    start, size, owner = symbols[index]
                    overlap = min(start + size, page + PAGE) - max(start, page)
                    if overlap > 0:
                        owners[owner] += overlap
                    if start <= page:
                        break
                    index -= 1
                owner = owners.most_common(1)[0][0] if owners else '(no symbol)'
                mapped_by_crate[owner] += PAGE
                if present:
                    by_crate[owner] += PAGE
    return binary, by_crate, mapped_by_crate


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for pid in sys.argv[1:]:
        binary, resident, mapped = resident_code(pid)
        print(f'{binary} (pid {pid}): {sum(resident.values()) // 1024:,} KiB of its '
              f'{sum(mapped.values()) // 1024:,} KiB of code resident')
        print()
        print('| crate | resident KiB | of its code KiB |')
        print('|---|---:|---:|')
        for owner, size in resident.most_common():
            if size >= 16 * 1024:
                print(f'| {owner} | {size // 1024:,} | {mapped[owner] // 1024:,} |')
        print()


if __name__ == '__main__':
    main()
