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

. bench/hugetlb.sh
cleanup() {
  hugetlb_release
  rm -rf "$work"
}
trap cleanup EXIT
hugetlb_for_crun

# The timer put in front of the runtimes, CNI plugins and the shim in the
# second pass.
gcc -O2 -static -o "$work/rtwrap" bench/rtwrap.c
WARD_CRI_BIN=$ward "$bench" "$out" "$work/rtwrap"
