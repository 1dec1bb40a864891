#!/usr/bin/env bash
# ward against crun and runc (and a C floor), side by side: see bench/README.md.
# usage (as root): bench/run.sh
#   RUNS=20 ROUNDS=3 WARMUP=3 MANY_RUNS=2 RSS_RUNS=15 set the counts (runs per
#   round; every scenario has ROUNDS rounds).
# Writes bench/results/{results.md,results.json,chart.svg} and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
RUNS=${RUNS:-20} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-3} MANY_RUNS=${MANY_RUNS:-2} RSS_RUNS=${RSS_RUNS:-15}

scripts/deps.sh runc crun hyperfine time gcc libc6-dev binutils python3 busybox-static libseccomp-dev
echo "bench: building ward (release)" >&2
cargo build --release -q -p ward
ward=$(scripts/cargo-bin.sh release)
crun=$(command -v crun) runc=$(command -v runc)
out=$PWD/bench/results
mkdir -p "$out"
work=$(mktemp -d /tmp/ward-bench.XXXXXX)
declare -A rtbin=([ward]=$ward [crun]=$crun [runc]=$runc)
runtimes=(crun runc ward)

. bench/hugetlb.sh
cleanup() {
  for rt in "${runtimes[@]}"; do
    [ -d "$work/state-$rt" ] || continue
    for id in $("${rtbin[$rt]}" --root "$work/state-$rt" list -q 2>/dev/null); do
      "${rtbin[$rt]}" --root "$work/state-$rt" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  hugetlb_release
  rm -rf "$work"
}
trap cleanup EXIT

hugetlb_for_crun

# One rootfs, two configs (the same for every runtime): /bin/true, and a
# long sleep to exec into. ociVersion 1.0.2: crun 1.8 refuses 1.2.0.
scripts/busybox-bundle.sh "$ward" "$work/true" /bin/true
mkdir -p "$work/sleep"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
c = json.load(open(f"{w}/true/config.json"))
c["ociVersion"] = "1.0.2"
c["root"]["path"] = f"{w}/true/rootfs"
json.dump(c, open(f"{w}/true/config.json", "w"), indent=2)
c["process"]["args"] = ["sleep", "1000000"]
json.dump(c, open(f"{w}/sleep/config.json", "w"), indent=2)
PY
gcc -O2 -o "$work/floor" bench/floor.c
gcc -O2 -o "$work/pidwait" bench/pidwait.c
for rt in "${runtimes[@]}"; do mkdir -p "$work/state-$rt"; done

{
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "versions=crun $(crun --version | head -1 | cut -d' ' -f3), runc $(runc --version | head -1 | cut -d' ' -f3), ward $(git rev-parse --short HEAD)"
} >"$work/machine"

# Noise on a shared machine comes and goes: each scenario is measured in
# ROUNDS hyperfine runs, the runtimes' order rotated between rounds, and
# report.py pools the times.
hf() { # SCENARIO WARMUP RUNS (NAME COMMAND)...
  local name=$1 warmup=$2 runs=$3; shift 3
  local pairs=("$@") n=$(($# / 2)) r i j
  for r in $(seq 0 $((ROUNDS - 1))); do
    local args=()
    for i in $(seq 0 $((n - 1))); do
      j=$(( (i + r) % n ))
      args+=(-n "${pairs[$((2 * j))]}" "${pairs[$((2 * j + 1))]}")
    done
    echo "bench: $name, round $((r + 1))/$ROUNDS" >&2
    hyperfine -N --style basic --warmup "$warmup" --runs "$runs" "${args[@]}" \
      --export-json "$work/hf-$name-$r.json" >&2
  done
}
cmd() { echo "${rtbin[$1]} --root $work/state-$1 $2"; }

# (a) run of /bin/true, and the floor
args=()
for rt in "${runtimes[@]}"; do args+=("$rt" "$(cmd "$rt" "run --bundle $work/true b-$rt")"); done
hf run "$WARMUP" "$RUNS" "${args[@]}" floor "$work/floor $work/true/rootfs /bin/true"

# (b) create, start, wait for the exit, delete
args=()
for rt in "${runtimes[@]}"; do
  args+=("$rt" "bench/lifecycle.sh ${rtbin[$rt]} $work/state-$rt $work/true l-$rt $work/pidwait")
done
hf lifecycle "$WARMUP" "$RUNS" "${args[@]}"

# (c) exec of /bin/true into a running container
args=()
for rt in "${runtimes[@]}"; do
  ${rtbin[$rt]} --root "$work/state-$rt" run --detach --bundle "$work/sleep" "x-$rt" </dev/null
  args+=("$rt" "$(cmd "$rt" "exec x-$rt /bin/true")")
done
hf exec "$WARMUP" "$RUNS" "${args[@]}"

# (e) peak RSS of the runtime process (GNU time's maximum resident set size)
for rt in "${runtimes[@]}"; do
  for i in $(seq "$RSS_RUNS"); do
    /usr/bin/time -f "$rt run %M" -a -o "$work/rss" $(cmd "$rt" "run --bundle $work/true m-$rt")
    /usr/bin/time -f "$rt exec %M" -a -o "$work/rss" $(cmd "$rt" "exec x-$rt /bin/true")
  done
done
for i in $(seq "$RSS_RUNS"); do
  /usr/bin/time -f "floor run %M" -a -o "$work/rss" "$work/floor" "$work/true/rootfs" /bin/true
done
for rt in "${runtimes[@]}"; do ${rtbin[$rt]} --root "$work/state-$rt" delete --force "x-$rt"; done

# (d) 50 containers, 2 and 10 at a time
for p in 2 10; do
  args=()
  for rt in "${runtimes[@]}"; do
    args+=("$rt" "bench/many.sh ${rtbin[$rt]} $work/state-$rt $work/true p$p-$rt- 50 $p")
  done
  hf "many$p" 1 "$MANY_RUNS" "${args[@]}"
done

# (f) the stripped binary and its dynamic libraries
for rt in "${runtimes[@]}"; do
  strip -o "$work/stripped-$rt" "${rtbin[$rt]}"
  libs=$(ldd "${rtbin[$rt]}" 2>/dev/null | awk '$1 !~ /vdso|ld-linux|statically/ {print $1}' | sort | tr '\n' ' ')
  echo "$rt $(stat -c %s "$work/stripped-$rt") $libs" >>"$work/size"
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/machine"

python3 bench/report.py "$work" "$out"
