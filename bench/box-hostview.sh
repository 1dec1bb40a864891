#!/usr/bin/env bash
# The host view, step by step: `ward box -- true` of several builds of
# ward-box (each a directory holding its `ward` and `ward-box`) against
# `bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all true`, side by
# side in one hyperfine run, rounds rotated and pooled (docs/box.md,
# "The host view, step by step", has the results and what each step is).
# Each build runs as `ward box -- true` with its store and RUN on the disk
# under /tmp, and with RUN on a tmpfs (what /run is on a systemd host) and
# the store on disk; and as `ward-box box -- true` (no exec of the runtime
# binary in front) with RUN on the tmpfs.
# usage (as root): bench/box-hostview.sh NAME=DIR [NAME=DIR...]
#   RUNS (default 40) runs a round, ROUNDS (3), WARMUP (5).
# Prints a table of min, median, CPU (user+sys) and ratios to bwrap.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: $0 NAME=DIR..." >&2; exit 2; }
RUNS=${RUNS:-40} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-5}
scripts/deps.sh hyperfine bubblewrap python3
work=$(mktemp -d /tmp/ward-hostview.XXXXXX)
cleanup() {
  umount "$work/tmpfs" 2>/dev/null || true
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep "^$work" | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/tmpfs"
mount -t tmpfs -o size=64m tmpfs "$work/tmpfs"
cmds=(bwrap "bwrap --ro-bind / / --dev /dev --proc /proc --unshare-all true")
for spec in "$@"; do
  name=${spec%%=*} dir=${spec#*=}
  [ -x "$dir/ward-box" ] && [ -x "$dir/ward" ] || { echo "bench: $dir has no ward and ward-box" >&2; exit 1; }
  mkdir -p "$work/$name"
  # What a person types (`ward box`, which execs ward-box), on either RUN.
  cmds+=("$name (disk)" "$dir/ward box --root $work/$name/store --runroot $work/$name/run -- true")
  cmds+=("$name (RUN tmpfs)" "$dir/ward box --root $work/$name/store2 --runroot $work/tmpfs/$name -- true")
  # ward-box called directly, without the runtime binary's exec in front.
  cmds+=("$name (RUN tmpfs, ward-box)" "$dir/ward-box --root $work/$name/store3 --runroot $work/tmpfs/$name-b box -- true")
done
n=$((${#cmds[@]} / 2))
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
  args=()
  for i in $(seq 0 $((n - 1))); do
    j=$(((i + r) % n))
    args+=(-n "${cmds[$((2 * j))]}" "${cmds[$((2 * j + 1))]}")
  done
  hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/r$r.json" "${args[@]}" >/dev/null 2>&1
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$work" "$ROUNDS" <<'PY'
import json, statistics, sys
w, rounds = sys.argv[1], int(sys.argv[2])
pool = {}
order = []
for r in range(1, rounds + 1):
    for res in json.load(open(f"{w}/r{r}.json"))["results"]:
        name = res["command"]
        if name not in pool:
            pool[name] = {"times": [], "cpu": []}
            order.append(name)
        pool[name]["times"] += res["times"]
        pool[name]["cpu"].append(res["user"] + res["system"])
order = ["bwrap"] + sorted(n for n in order if n != "bwrap")
base = pool["bwrap"]
bmin, bmed = min(base["times"]), statistics.median(base["times"])
print("| build | min | median | CPU (mean) | median / bwrap | min / bwrap |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for n in order:
    t = pool[n]["times"]
    cpu = statistics.mean(pool[n]["cpu"])
    print(f"| {n} | {min(t)*1e3:.1f} ms | {statistics.median(t)*1e3:.1f} ms | {cpu*1e3:.1f} ms | "
          f"{statistics.median(t)/bmed:.2f}x | {min(t)/bmin:.2f}x |")
PY
