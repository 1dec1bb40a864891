"""Part of scripts/symbol-order.sh (read it first): turns page-fault traces
of a build whose functions each start on a page into a linker symbol order.

usage: symbol-order.py BINARY OUT TRACE...
"""

import bisect
import re
import struct
import subprocess
import sys

FAULT = re.compile(r"ip=(0x[0-9a-f]+) error_code=(0x[0-9a-f]+)")
# An instruction fetch from user mode (x86's page fault error code bits).
FETCH = 0x10
# glibc's CPU variants of one string function: __memmove_evex_unaligned_erms
VARIANT = re.compile(r"^(__[a-z0-9]+?)_(sse2|ssse3|sse4_1|sse4_2|avx|avx2|evex|evex512|avx512)")


def is_rust(name):
    return name.startswith("_ZN") or name.startswith("_R")


def main():
    binary, out, traces = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(binary, "rb") as f:
        header = f.read(32)
    entry = struct.unpack_from("<Q", header, 24)[0]
    nm = subprocess.run(["nm", "-n", "-S", "--defined-only", binary],
                        check=True, capture_output=True, text=True).stdout
    syms = []
    for line in nm.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    syms.sort()
    starts = [s[0] for s in syms]

    order, seen = [], set()

    def add(name):
        if name not in seen:
            seen.add(name)
            order.append(name)

    for trace in traces:
        base = None
        for line in open(trace):
            m = FAULT.search(line)
            if not m or not int(m.group(2), 16) & FETCH:
                continue
            ip = int(m.group(1), 16)
            if base is None:
                # The first fetch of an exec'd ward is its entry point.
                if (ip - entry) % 4096:
                    continue
                base = ip - entry
            addr = ip - base
            i = bisect.bisect_right(starts, addr) - 1
            if i < 0 or addr >= syms[i][0] + max(syms[i][1], 1):
                continue
            if is_rust(syms[i][2]):
                add(syms[i][2])
                continue
            # glibc: every function of the touched page.
            page = addr & ~0xFFF
            k = bisect.bisect_right(starts, page) - 1
            while k < len(syms) and syms[k][0] < page + 4096:
                if k >= 0 and not is_rust(syms[k][2]):
                    add(syms[k][2])
                k += 1
        if base is None:
            sys.exit(f"symbol-order.py: {trace}: no fault at the entry point")

    families = {m.group(1) for n in order if (m := VARIANT.match(n))}
    for s in syms:
        m = VARIANT.match(s[2])
        if m and m.group(1) in families:
            add(s[2])
    size = {s[2]: s[1] for s in syms}
    with open(out, "w") as f:
        f.write("".join(n + "\n" for n in order))
    print(f"symbol-order.py: {len(order)} functions, "
          f"{sum(size.get(n, 0) for n in order)} bytes, in {out}")


main()
