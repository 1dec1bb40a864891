#!/usr/bin/env bash
# Two builds of ward against each other and crun, in one run: `run` of
# /bin/true (hyperfine, the three interleaved in every round) and peak RSS
# (GNU time, the three interleaved). For a change's before and after.
# usage (as root): bench/versus.sh OLD_WARD [NEW_WARD]
#   OLD_WARD, NEW_WARD: ward binaries (NEW_WARD: this checkout's release
#   build, built here). RUNS=100 ROUNDS=3 RSS_RUNS=20 change the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ $# -ge 1 ] && [ -x "$1" ] || { echo "usage: bench/versus.sh OLD_WARD [NEW_WARD]" >&2; exit 2; }
RUNS=${RUNS:-100} ROUNDS=${ROUNDS:-3} RSS_RUNS=${RSS_RUNS:-20}
old=$(realpath "$1")
scripts/deps.sh crun hyperfine time python3 busybox-static libseccomp-dev
if [ $# -ge 2 ]; then
  new=$(realpath "$2")
else
  cargo build --release -q -p ward
  new=$(scripts/cargo-bin.sh release)
fi
crun=$(command -v crun)
work=$(mktemp -d /tmp/ward-versus.XXXXXX)
names=(crun old new)
declare -A bin=([crun]=$crun [old]=$old [new]=$new)

. bench/hugetlb.sh
cleanup() {
  for n in "${names[@]}"; do
    for id in $("${bin[$n]}" --root "$work/state-$n" list -q 2>/dev/null); do
      "${bin[$n]}" --root "$work/state-$n" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  hugetlb_release
  rm -rf "$work"
}
trap cleanup EXIT
hugetlb_for_crun
scripts/busybox-bundle.sh "$new" "$work/true" /bin/true
python3 - "$work/true/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["ociVersion"] = "1.0.2"  # crun 1.8 refuses 1.2.0
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
for n in "${names[@]}"; do mkdir -p "$work/state-$n"; done
cmd() { echo "${bin[$1]} --root $work/state-$1 run --bundle $work/true $2-$1"; }

echo "old: $old ($(stat -c %s "$old") bytes), new: $new ($(stat -c %s "$new") bytes); load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 0 $((ROUNDS - 1))); do
  args=()
  for i in 0 1 2; do
    n=${names[$(( (i + r) % 3 ))]}
    args+=(-n "$n" "$(cmd "$n" b)")
  done
  hyperfine -N --style basic --warmup 10 --runs "$RUNS" "${args[@]}" --export-json "$work/hf-$r.json" >/dev/null
done
for i in $(seq "$RSS_RUNS"); do
  for n in "${names[@]}"; do
    /usr/bin/time -f "$n %M" -a -o "$work/rss" $(cmd "$n" m)
  done
done
python3 - "$work" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
times = {}
for r in range(rounds):
    for res in json.load(open(f"{work}/hf-{r}.json"))["results"]:
        times.setdefault(res["command"], []).extend(res["times"])
rss = {}
for line in open(f"{work}/rss"):
    n, kib = line.split()
    rss.setdefault(n, []).append(int(kib))
med = {n: statistics.median(t) * 1000 for n, t in times.items()}
print("| binary | run median ms | min ms | / crun | / old | peak RSS median KiB (min-max) |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for n in ("crun", "old", "new"):
    t = times[n]
    r = rss[n]
    print(f"| {n} | {med[n]:.2f} | {min(t) * 1000:.2f} | {med[n] / med['crun']:.2f}x | "
          f"{med[n] / med['old']:.2f}x | {statistics.median(r):.0f} ({min(r)}-{max(r)}) |")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
