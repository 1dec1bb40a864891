#!/bin/sh
# One container's life as separate runtime calls: create, start, wait for
# the process to exit (pidwait, the same for every runtime), delete.
# usage: lifecycle.sh RUNTIME ROOT BUNDLE ID PIDWAIT
set -e
rt=$1 root=$2 bundle=$3 id=$4 pidwait=$5
"$rt" --root "$root" create --bundle "$bundle" --pid-file "$root/$id.pid" "$id"
"$rt" --root "$root" start "$id"
"$pidwait" "$(cat "$root/$id.pid")"
"$rt" --root "$root" delete "$id"
