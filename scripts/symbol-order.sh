#!/usr/bin/env bash
# Regenerates crates/ward/symbol-order.txt, the order in which the linker
# lays out the release `ward` binary's functions (crates/ward/build.rs;
# docs/performance.md, "The runtime binary's layout").
#
#   scripts/symbol-order.sh            as root: builds, traces, writes the file
#   scripts/symbol-order.sh --check    says how many of the file's names the
#                                      current build still has
#
# How: a release build whose every function starts on its own page
# (LLVM's -align-all-functions=12; the symbols keep the names of the real
# build, as only the final crate's code generation changes) runs a
# container's life cycle (run, create, start, state, exec, pause, resume,
# ps, list, kill, delete) while the kernel's page_fault_user tracepoint
# records every first touch of a page: the first instruction fetched in a
# page names the function that runs. Each page must fault on its own, so
# nothing may map it early:
# - on this host (hybrid cgroups), the binary lies on a loop-mounted ext4
#   with readahead off and is dropped from the page cache before each verb;
#   a fault then brings in and maps that page alone, whatever the kernel's
#   fault-around;
# - in the test VM (pure cgroup v2, tests/vm/run), fault-around is set to
#   one page, in the guest's own kernel.
# Functions come out in the order they first ran. glibc's own functions are
# not split into sections per function, so for them every function on a
# touched page is taken, and every CPU variant of a string function that
# ran (the host and the guest pick different ones).
# Symbol names carry hashes of the compiler version and the dependencies;
# rerun this when either changes (`--check` tells). A stale file costs
# resident memory (bench/run.sh shows it), never correctness.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/crates/ward/symbol-order.txt
target=${CARGO_TARGET_DIR:-$root/target}/symbol-order
host=$(rustc -vV | sed -n 's/^host: //p')
bin=$target/$host/release/ward
cd "$root"

build() { # ARGS: extra rustc flags for the final crate
  WARD_PLAIN_LINK=1 CARGO_TARGET_DIR=$target cargo rustc -q --release -p ward \
    --bin ward -- -C strip=none "$@"
}

if [ "${1-}" = --check ]; then
  build
  have=$(nm "$bin" | awk '{print $NF}' | sort -u)
  total=$(grep -c . "$out")
  found=$(grep -cxFf <(printf '%s\n' "$have") "$out" || true)
  echo "symbol-order.txt: $found of $total names are in the current build"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "symbol-order.sh: needs root (loop device, tracefs, the test VM)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ward-symbol-order.XXXXXX")
loop=
cleanup() {
  if mountpoint -q "$work/mnt" 2>/dev/null; then umount "$work/mnt"; fi
  if [ -n "$loop" ]; then losetup -d "$loop"; fi
  rmdir /sys/kernel/tracing/instances/ward-symbol-order 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

build -C llvm-args=-align-all-functions=12
cp "$bin" "$work/ward"

# On this host.
truncate -s 64M "$work/img"
mkfs.ext4 -q "$work/img"
loop=$(losetup -f --show "$work/img")
mkdir "$work/mnt"
mount "$loop" "$work/mnt"
echo 0 >"/sys/block/${loop#/dev/}/queue/read_ahead_kb"
cp "$work/ward" "$work/mnt/ward"
sync
WARD_TRACE_DROP=1 "$root/scripts/symbol-order-trace.sh" "$work/mnt/ward" "$work/host" \
  >"$work/host.trace"

# In the test VM.
"$root/tests/vm/run" --timeout 600 --mem 2048 -- bash -c \
  'mkdir -p -m 1777 /run/t && mount -t tmpfs tmpfs /run/t && cp "$0" /run/t/ward &&
   mount -t debugfs debugfs /sys/kernel/debug &&
   echo 4096 >/sys/kernel/debug/fault_around_bytes &&
   exec "$1" /run/t/ward /run/t/trace' "$work/ward" "$root/scripts/symbol-order-trace.sh" \
  >"$work/guest.trace"

python3 "$root/scripts/symbol-order.py" "$work/ward" "$out" "$work/host.trace" "$work/guest.trace"
