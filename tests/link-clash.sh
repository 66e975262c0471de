#!/bin/sh
# tests/clash-app.c, an application that defines names uhmm uses inside
# (host_init, settings...), linked with libuhmm.so and with libuhmm.a:
# both links must succeed and the program must pass. An internal name
# that libuhmm.so exported would be interposed by the application's (uhmm
# would call it); one that libuhmm.a left global would fail the static
# link with a multiple definition. Prints TAP, two lines per library.
set -u
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cflags="-I$src/include -I$build/include -pthread"
n=0

# run DESCRIPTION PROGRAM LINK-ARGS...: build PROGRAM, then run it.
run() {
	desc=$1 prog=$tmp/$2
	shift 2
	n=$((n + 1))
	if ${CC:-cc} $cflags -o "$prog" "$src/tests/clash-app.c" "$@" \
		>"$tmp/log" 2>&1; then
		echo "ok $n - links with $desc"
		n=$((n + 1))
		if LD_LIBRARY_PATH="$build" UHMM_RAM=64M "$prog" \
			>"$tmp/log" 2>&1 && ! grep -q '^not ok' "$tmp/log"; then
			echo "ok $n - runs with $desc"
		else
			echo "not ok $n - runs with $desc"
		fi
	else
		echo "not ok $n - links with $desc"
		n=$((n + 1))
		echo "not ok $n - runs with $desc # not built"
	fi
	sed 's/^/# /' "$tmp/log"
}

echo "1..4"
run libuhmm.so clash-shared -L"$build" -luhmm
run libuhmm.a clash-static "$build/libuhmm.a" $(pkg-config --libs liburcu)
