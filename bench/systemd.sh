#!/usr/bin/env bash
# `--systemd-cgroup run` of /bin/true under systemd: ward, crun and runc in
# one hyperfine run, in the systemd test guest (tests/vm/run --systemd:
# Debian's systemd 252 as PID 1, pure cgroup v2, TCG). Each runtime gets its
# own scope name; crun and runc reach systemd over the system bus (dbus),
# ward over systemd's private socket. Also counts ward's D-Bus requests per
# container (strace: the authentication and each method call sent).
# usage (as root, on the host): bench/systemd.sh    RUNS=20 WARMUP=3
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20} WARMUP=${WARMUP:-3}

if [ "${1-}" != --in-guest ]; then
  [ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
  scripts/deps.sh runc crun hyperfine strace busybox-static python3
  echo "bench: building ward (release)" >&2
  cargo build --release -q -p ward
  exec tests/vm/run --systemd --timeout 1200 --mem 2048 \
    --env "RUNS=$RUNS" --env "WARMUP=$WARMUP" -- bench/systemd.sh --in-guest "$(scripts/cargo-bin.sh release)"
fi

ward=$2
[ "$(cat /proc/1/comm)" = systemd ] || { echo "bench: --in-guest wants systemd as PID 1" >&2; exit 1; }
systemctl start dbus.service
work=$(mktemp -d /tmp/ward-sdbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
scripts/busybox-bundle.sh "$ward" "$work/true" /bin/true
declare -A bin=([ward]=$ward [crun]=$(command -v crun) [runc]=$(command -v runc))
args=()
for rt in crun runc ward; do
  mkdir -p "$work/$rt" "$work/state-$rt"
  # ociVersion 1.0.2: crun 1.8 refuses 1.2.0.
  python3 - "$work" "$rt" <<'PY'
import json, sys
w, rt = sys.argv[1], sys.argv[2]
c = json.load(open(f"{w}/true/config.json"))
c["ociVersion"] = "1.0.2"
c["root"]["path"] = f"{w}/true/rootfs"
c["linux"]["cgroupsPath"] = f"system.slice:bench-{rt}:true"
json.dump(c, open(f"{w}/{rt}/config.json", "w"), indent=2)
PY
  args+=(-n "$rt" "${bin[$rt]} --systemd-cgroup --root $work/state-$rt run --bundle $work/$rt t-$rt")
done
echo "== $(systemctl --version | head -1), crun $(crun --version | head -1 | cut -d' ' -f3), runc $(runc --version | head -1 | cut -d' ' -f3), $(nproc) CPUs (TCG)"
hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" "${args[@]}" --export-markdown "$work/table.md"
cat "$work/table.md"
# Every scope is gone again.
systemctl list-units --all --no-legend 'bench-*' | grep . && { echo "bench: scopes left" >&2; exit 1; }

# ward's requests on systemd's socket for one container.
strace -f -qq -s 4 -e trace=connect,write,sendto,sendmsg -o "$work/strace" \
  "$ward" --systemd-cgroup --root "$work/state-ward" run --bundle "$work/ward" t-ward
conns=$(grep -c 'systemd/private' "$work/strace" || true)
auth=$(grep -cF '"\0AUT"' "$work/strace" || true)
calls=$(grep -cF '"l\1\0\1"' "$work/strace" || true)
echo "ward: D-Bus per container (run of /bin/true): $conns connections, $auth authentications, $calls method calls (round trips: $((auth + calls)))"
