#!/usr/bin/env bash
# Pod startup latency through the CRI: ward against runc and crun as
# containerd's runtime handlers, and where each pod's time goes. See
# bench/README.md. usage (as root): bench/pods.sh
#   SEQ=20 PAR=10 ROUNDS=1 set the counts (pods in sequence per handler;
#   pods at once per handler, ROUNDS times).
# Writes bench/results/{pods.md,pods.json} and prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
export SEQ=${SEQ:-20} PAR=${PAR:-10} ROUNDS=${ROUNDS:-1}

scripts/deps.sh containerd containernetworking-plugins runc crun busybox-static gcc libc6-dev \
  iptables iproute2 util-linux protobuf-compiler
echo "bench: building ward (release) and pod-bench (profile pod-bench: release that unwinds)" >&2
cargo build --release -q -p ward
cargo build --profile pod-bench -q -p ward-cri-test --bin pod-bench
ward=$(scripts/cargo-bin.sh release) bench=$(scripts/cargo-bin.sh pod-bench pod-bench)
out=$PWD/bench/results
mkdir -p "$out"
work=$(mktemp -d /tmp/ward-pod-bench.XXXXXX)

mounted_hugetlb= made_hugetlb_dir=
cleanup() {
  if [ -n "$mounted_hugetlb" ]; then
    # Unmounted with cgroups still in it (made by whatever else ran on the
    # machine meanwhile), a v1 hierarchy lives on, mounted nowhere, and
    # containerd then can't load any task's cgroups (no stats, no OOM
    # events; docs/engines.md). Then it stays mounted, and says so.
    if [ -n "$(find /sys/fs/cgroup/hugetlb -mindepth 1 -type d -print -quit)" ]; then
      echo "bench: left the hugetlb hierarchy mounted at /sys/fs/cgroup/hugetlb: other cgroups are in it now" >&2
    else
      umount /sys/fs/cgroup/hugetlb && echo "bench: unmounted the hugetlb hierarchy it mounted" >&2
      [ -z "$made_hugetlb_dir" ] || rmdir /sys/fs/cgroup/hugetlb 2>/dev/null || true
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# crun 1.8 refuses to start on a hybrid host whose hugetlb controller is on
# the v2 side; a v1 hugetlb hierarchy makes it happy (every handler then
# sees the same hierarchies). As bench/run.sh does.
if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  echo "bench: mounting a v1 hugetlb hierarchy at /sys/fs/cgroup/hugetlb for crun (unmounted at the end)" >&2
  [ -d /sys/fs/cgroup/hugetlb ] || { mkdir /sys/fs/cgroup/hugetlb; made_hugetlb_dir=1; }
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  mounted_hugetlb=1
fi

# The timer put in front of the runtimes, CNI plugins and the shim in the
# second pass.
gcc -O2 -static -o "$work/rtwrap" bench/rtwrap.c
WARD_CRI_BIN=$ward "$bench" "$out" "$work/rtwrap"
