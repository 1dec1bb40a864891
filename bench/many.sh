#!/bin/sh
# N containers of /bin/true, `run` P at a time (xargs -P).
# usage: many.sh RUNTIME ROOT BUNDLE PREFIX N P
rt=$1 root=$2 bundle=$3 prefix=$4 n=$5 p=$6
seq "$n" | xargs -P "$p" -I{} "$rt" --root "$root" run --bundle "$bundle" "$prefix{}" >/dev/null
