#!/bin/sh
# Every public header compiles alone, first in a translation unit, with
# strict warnings: no header depends on an include order. Prints TAP.
set -u
src=$1
headers=$(cd "$src/include/uhmm" && ls *.h)
set -- $headers
echo "1..$#"
n=0
for h in $headers; do
	n=$((n + 1))
	if printf '#include <uhmm/%s>\n' "$h" |
	   ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -fsyntax-only \
		-I"$src/include" -x c - 2>/tmp/uhmm-header-$$.log; then
		echo "ok $n - $h compiles alone"
	else
		echo "not ok $n - $h compiles alone"
		sed 's/^/# /' /tmp/uhmm-header-$$.log
	fi
done
rm -f /tmp/uhmm-header-$$.log
