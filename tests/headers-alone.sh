#!/bin/sh
# Every public header compiles alone, first in a translation unit, with
# strict warnings, as ISO C11 (no GNU extensions, no feature-test macro:
# a header must not depend on the includer's _GNU_SOURCE) and as C++17:
# no header depends on an include order, a dialect or a language.
# Prints TAP, two lines per header.
#   headers-alone.sh SRC [BUILD]   BUILD holds the generated headers
set -u
src=$1
build=${2:-}
# uhmm's own and the drivers' (drivers/*/include/uhmm, above uhmm's),
# and the ones the build generates from a .h.in.
headers=$(cd "$src" && ls include/uhmm/*.h drivers/*/include/uhmm/*.h)
generated=
if [ -n "$build" ]; then
	generated=$(cd "$build" && ls include/uhmm/*.h 2>/dev/null)
fi
set -- $headers $generated
echo "1..$(($# * 2))"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
# try LANGUAGE DESCRIPTION COMPILER FLAGS...: one TAP line for $h.
try() {
	lang=$1 desc=$2
	shift 2
	n=$((n + 1))
	if printf '#include <uhmm/%s>\n' "$h" |
	   "$@" -Wall -Wextra -Werror -pedantic -fsyntax-only \
		-I"$dir" ${build:+-I"$build/include"} -I"$src/include" \
		-x "$lang" - >"$log" 2>&1; then
		echo "ok $n - $h compiles alone as $desc"
	else
		echo "not ok $n - $h compiles alone as $desc"
		sed 's/^/# /' "$log"
	fi
}
for path in $headers $generated; do
	h=$(basename "$path")
	case " $generated " in
	*" $path "*) dir=$build/${path%/uhmm/*} ;;
	*) dir=$src/${path%/uhmm/*} ;;
	esac
	try c C11 ${CC:-cc} -std=c11
	try c++ C++17 ${CXX:-g++} -std=c++17
done
