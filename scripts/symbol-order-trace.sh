#!/usr/bin/env bash
# Part of scripts/symbol-order.sh (read it first): runs a container's life
# cycle with WARD (a build whose functions each start on a page) and prints
# the page faults of its processes, as root, on a host or in the test VM.
#   symbol-order-trace.sh WARD DIR
# Prints the tracepoint's lines. Address space randomization is off for
# every command here, so WARD sits at one address in all of them. With
# WARD_TRACE_DROP set, WARD is dropped from the page cache before each verb.
set -euo pipefail
ward=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
tracing=/sys/kernel/tracing
mountpoint -q $tracing || mount -t tracefs tracefs $tracing
inst=$tracing/instances/ward-symbol-order
mkdir -p "$dir"
"$here/busybox-bundle.sh" "$ward" "$dir/true" /bin/true >/dev/null
"$here/busybox-bundle.sh" "$ward" "$dir/sleep" /bin/sleep 30 >/dev/null
w() { setarch -R "$ward" --root "$dir/state" "$@"; }
drop() {
  if [ -n "${WARD_TRACE_DROP-}" ]; then
    python3 -c 'import os, sys
f = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(f, 0, 0, os.POSIX_FADV_DONTNEED)' "$ward"
  fi
}
w run --bundle "$dir/true" warm

mkdir -p "$inst"
trap 'echo 0 >"$inst/events/exceptions/page_fault_user/enable"; rmdir "$inst" 2>/dev/null || true' EXIT
echo 'comm == "ward"' >"$inst/events/exceptions/page_fault_user/filter"
echo >"$inst/trace"
echo 1 >"$inst/events/exceptions/page_fault_user/enable"
step() { drop; "$@"; }
step w run --bundle "$dir/true" r
step w create --bundle "$dir/sleep" c
step w start c
step w state c >/dev/null
step w exec c /bin/true
step w pause c
step w resume c
step w ps c >/dev/null
step w list >/dev/null
step w kill c KILL
sleep 0.5
step w delete c
echo 0 >"$inst/events/exceptions/page_fault_user/enable"
cat "$inst/trace"
