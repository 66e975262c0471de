#!/bin/sh
# Every public header compiles alone, first in a translation unit, with
# strict warnings: no header depends on an include order. Prints TAP.
set -u
src=$1
# uhmm's own and the drivers' (drivers/*/include/uhmm, above uhmm's).
headers=$(cd "$src" && ls include/uhmm/*.h drivers/*/include/uhmm/*.h)
set -- $headers
echo "1..$#"
n=0
for path in $headers; do
	n=$((n + 1))
	h=$(basename "$path")
	if printf '#include <uhmm/%s>\n' "$h" |
	   ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -fsyntax-only \
		-I"$src/${path%/uhmm/*}" -I"$src/include" -x c - \
		2>/tmp/uhmm-header-$$.log; then
		echo "ok $n - $h compiles alone"
	else
		echo "not ok $n - $h compiles alone"
		sed 's/^/# /' /tmp/uhmm-header-$$.log
	fi
done
rm -f /tmp/uhmm-header-$$.log
