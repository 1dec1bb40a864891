#!/usr/bin/env bash
# Checkpoint and restore, ward against runc on the same bundle, in the test
# VM (Debian's 6.1 kernel, where Debian's criu 3.17 works; it doesn't on
# this host's kernel). usage (as root): bench/checkpoint.sh
#   RUNS=5 WARMUP=1 set the counts (per runtime and container);
#   KINDS="idle mem" the containers (one of them for a quicker look).
# Two containers: 256 MiB of touched memory (a static C program), and an
# idle one (sleep). For each: checkpoint, then restore -d, then delete,
# RUNS times per runtime, the runtimes alternating. Wall time of each
# command; the runtime's own share is its wall time less CRIU's (the last
# timestamp of CRIU's log, which counts from CRIU's start); the images'
# size. A third column, "ward, empty netns", is ward with --empty-ns network
# on both commands: what runc always asks CRIU for (its network namespace
# comes back empty, lo down), where ward's default restores the namespace
# as it was. Writes bench/results/checkpoint.md (from the guest's output).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
RUNS=${RUNS:-5} WARMUP=${WARMUP:-1} KINDS=${KINDS:-idle mem}

if [ "${WARD_BENCH_IN_VM:-}" != 1 ]; then
  scripts/deps.sh runc criu gcc libc6-dev busybox-static python3 iptables
  echo "bench: building ward (release)" >&2
  cargo build --release -q -p ward
  tests/vm/run --setup
  # The guest's writes stay in the guest: the table comes back on stdout.
  log=$(mktemp /tmp/ward-crbench-log.XXXXXX)
  trap 'rm -f "$log"' EXIT
  tests/vm/run --timeout 3000 --mem 2048 --env WARD_BENCH_IN_VM=1 \
    --env WARD_BENCH_WARD="$(scripts/cargo-bin.sh release)" \
    --env RUNS="$RUNS" --env WARMUP="$WARMUP" --env KINDS="$KINDS" -- bench/checkpoint.sh | tee "$log"
  mkdir -p bench/results
  sed -n '/^=== results$/,$p' "$log" | tail -n +2 >bench/results/checkpoint.md
  [ -s bench/results/checkpoint.md ] || { echo "bench: no results came back" >&2; exit 1; }
  echo "bench: wrote bench/results/checkpoint.md" >&2
  exit 0
fi

# The guest has no rustc for cargo-bin.sh: the host names the binary.
ward=$WARD_BENCH_WARD runc=$(command -v runc)
declare -A rtbin=([ward]=$ward [ward-emptyns]=$ward [runc]=$runc)
declare -A rtflags=([ward]="" [ward-emptyns]="--empty-ns network" [runc]="")
runtimes=(ward ward-emptyns runc)
work=$(mktemp -d /tmp/ward-crbench.XXXXXX)
cleanup() {
  for rt in "${runtimes[@]}"; do
    for id in $("${rtbin[$rt]}" --root "$work/state-$rt" list -q 2>/dev/null); do
      "${rtbin[$rt]}" --root "$work/state-$rt" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/memtest.c" <<'C'
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    size_t n = (size_t)atoi(argv[1]) << 20;
    unsigned char *p = malloc(n);
    for (size_t i = 0; i < n; i += 4096) p[i] = (unsigned char)(i >> 12) | 1;
    for (;;) pause();
}
C
gcc -static -O1 -o "$work/memtest" "$work/memtest.c"
scripts/busybox-bundle.sh "$ward" "$work/b" sleep 1000000 >/dev/null
cp "$work/memtest" "$work/b/rootfs/bin/memtest"
python3 - "$work/b" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(f"{d}/config.json"))
c["ociVersion"] = "1.0.2"
c["root"]["path"] = f"{d}/rootfs"
# runc 1.1.5 (Debian) and ward read the same file; /tmp on a tmpfs of the
# container's own is dumped by both alike.
json.dump(c, open(f"{d}/idle.json", "w"), indent=2)
c["process"]["args"] = ["memtest", "256"]
json.dump(c, open(f"{d}/mem.json", "w"), indent=2)
PY

# ms since the epoch.
now() { date +%s%3N; }
# CRIU's time in ms: the last "(SS.ffffff)" timestamp of its log.
criu_ms() {
  python3 - "$1" <<'PY'
import re, sys
t = 0.0
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\((\d+\.\d+)\)", line)
    if m:
        t = float(m.group(1))
print(int(t * 1000))
PY
}

# The container's stdio: pipes, as engines give it (a file outside the
# container's mounts is what runc's dump can't take).
sink() { cat >/dev/null; }

results=$work/results.tsv
: >"$results"
round() {
  local kind=$1 rt=$2 n=$3 record=$4
  local bin=${rtbin[$rt]} root=$work/state-$rt id="cr-$kind-$rt-$n" img=$work/img-$rt
  local flags
  read -ra flags <<<"${rtflags[$rt]}"
  cp "$work/b/$kind.json" "$work/b/config.json"
  "$bin" --root "$root" run -d --bundle "$work/b" "$id" < <(sleep 1000000) > >(sink) 2>&1
  if [ "$kind" = mem ]; then
    # Wait until the 256 MiB are touched (RSS of the container's init).
    local pid
    pid=$("$bin" --root "$root" state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    for _ in $(seq 600); do
      [ "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")" -ge 262144 ] && break
      sleep 0.1
    done
  else
    sleep 0.5
  fi
  rm -rf "$img"; mkdir -p "$img"
  local t0 t1 t2 t3
  t0=$(now)
  "$bin" --root "$root" checkpoint "${flags[@]}" --image-path "$img" "$id"
  t1=$(now)
  local size
  size=$(du -sb "$img" | cut -f1)
  local cdump
  cdump=$(criu_ms "$img/dump.log")
  t2=$(now)
  "$bin" --root "$root" restore -d "${flags[@]}" --image-path "$img" --bundle "$work/b" "$id" < <(sleep 1000000) > >(sink) 2>&1
  t3=$(now)
  local crest
  crest=$(criu_ms "$img/restore.log")
  "$bin" --root "$root" delete --force "$id"
  if [ "$record" = 1 ]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$rt" $((t1 - t0)) "$cdump" $((t3 - t2)) "$crest" "$size" >>"$results"
  fi
  echo "bench: $kind $rt #$n: checkpoint $((t1 - t0)) ms (criu $cdump), restore $((t3 - t2)) ms (criu $crest), images $size bytes" >&2
}

for kind in $KINDS; do
  case $kind in idle | mem) ;; *) echo "bench: KINDS: no container kind $kind (idle, mem)" >&2; exit 1 ;; esac
  for n in $(seq "$WARMUP"); do
    for rt in "${runtimes[@]}"; do round "$kind" "$rt" "w$n" 0; done
  done
  for n in $(seq "$RUNS"); do
    # Rotating which goes first.
    case $((n % 3)) in
      1) order="ward ward-emptyns runc" ;;
      2) order="runc ward ward-emptyns" ;;
      *) order="ward-emptyns runc ward" ;;
    esac
    for rt in $order; do round "$kind" "$rt" "$n" 1; done
  done
done

echo "=== results"
python3 - "$results" "$(uname -r)" "$(criu --version | head -1)" "$("$runc" --version | head -1)" "$RUNS" <<'PY'
import statistics, sys
path, kernel, criu, runc, runs = sys.argv[1:6]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
data = {}
for kind, rt, ck, ckc, rs, rsc, size in rows:
    d = data.setdefault((kind, rt), {"ck": [], "ckc": [], "rs": [], "rsc": [], "size": []})
    for k, v in zip(("ck", "ckc", "rs", "rsc", "size"), (ck, ckc, rs, rsc, size)):
        d[k].append(int(v))
def s(v):
    return f"{min(v)} / {statistics.median(v):.0f}"
print(f"Checkpoint and restore in the test VM (kernel {kernel}, {criu}, {runc}), "
      f"{runs} runs each, min / median in ms:\n")
print("| container | runtime | checkpoint | its own share | restore | its own share | images |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for kind, label in (("mem", "256 MiB touched"), ("idle", "idle (sleep)")):
    for rt in ("ward", "ward-emptyns", "runc"):
        d = data.get((kind, rt))
        if not d:
            continue
        own_ck = [a - b for a, b in zip(d["ck"], d["ckc"])]
        own_rs = [a - b for a, b in zip(d["rs"], d["rsc"])]
        name = {"ward-emptyns": "ward, empty netns"}.get(rt, rt)
        print(f"| {label} | {name} | {s(d['ck'])} | {s(own_ck)} | {s(d['rs'])} | {s(own_rs)} | "
              f"{statistics.median(d['size']) / 1048576:.1f} MiB |")
print()
for kind, label in (("mem", "256 MiB"), ("idle", "idle")):
    r = data.get((kind, "runc"))
    for rt, name in (("ward", "ward"), ("ward-emptyns", "ward with an empty netns")):
        w = data.get((kind, rt))
        if w and r:
            ck = statistics.median(w["ck"]) / statistics.median(r["ck"])
            rs = statistics.median(w["rs"]) / statistics.median(r["rs"])
            print(f"- {label}: {name} / runc, median checkpoint {ck:.2f}x, restore {rs:.2f}x")
PY
