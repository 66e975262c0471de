#!/bin/sh
# Install uhmm into a scratch directory, build each program of examples/
# against it with pkg-config alone, and run it: proves the installed
# headers, libraries and uhmm.pc (and uhmm-dmirror.pc for a program on
# the dmirror device) are enough for an outside program. Prints TAP, one
# line per example; an example's own output becomes comments.
set -eu
build=$1
src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --quiet >/dev/null
pcdir=$(dirname "$(find "$dest" -name uhmm.pc | head -n 1)")
export PKG_CONFIG_PATH="$pcdir"
export PKG_CONFIG_SYSROOT_DIR="$dest"
libdir=$(dirname "$(find "$dest" -name 'libuhmm.so*' | head -n 1)")

set -- "$src"/examples/*.c
echo "1..$#"
n=0
for example in "$@"; do
	n=$((n + 1))
	name=$(basename "$example" .c)
	# A program on the dmirror device needs its package too.
	pkgs=uhmm
	if grep -q '<uhmm/dmirror.h>' "$example"; then
		pkgs="uhmm-dmirror uhmm"
	fi
	if ${CC:-cc} -o "$dest/$name" "$example" \
		$(pkg-config --cflags --libs $pkgs) >"$dest/$name.log" 2>&1 &&
	   LD_LIBRARY_PATH="$libdir" "$dest/$name" \
		>>"$dest/$name.log" 2>&1; then
		echo "ok $n - examples/$name.c"
	else
		echo "not ok $n - examples/$name.c"
	fi
	sed 's/^/# /' "$dest/$name.log"
done
