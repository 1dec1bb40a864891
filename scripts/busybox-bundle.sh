#!/usr/bin/env bash
# Makes an OCI bundle with a busybox rootfs (from Debian's busybox-static)
# in DIR, with `ward spec`'s config.json edited to run ARGS without a terminal
# (`ward spec --rootless`'s when not run as root).
# usage: busybox-bundle.sh WARD DIR [ARGS...]
set -euo pipefail
ward=$1 dir=$2
shift 2
mkdir -p "$dir/rootfs/bin"
cp /bin/busybox "$dir/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"
done
mkdir -p "$dir"/rootfs/{proc,sys,dev,tmp,etc,root}
echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/rootfs/etc/passwd"
echo 'root:x:0:' >"$dir/rootfs/etc/group"
rm -f "$dir/config.json"
if [ "$(id -u)" = 0 ]; then
  "$ward" spec --bundle "$dir"
else
  "$ward" spec --rootless --bundle "$dir"
fi
if [ $# -gt 0 ]; then
  python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
json.dump(c, open(path, "w"), indent=2)
PY
fi
