#!/bin/sh
# Install uhmm into a scratch directory, build examples/cpu_side.c against
# it with pkg-config alone, and run it: proves the installed headers,
# library and uhmm.pc are enough for an outside program.
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
${CC:-cc} -o "$dest/cpu_side" "$src/examples/cpu_side.c" \
	$(pkg-config --cflags --libs uhmm)
LD_LIBRARY_PATH="$libdir" UHMM_RAM=256M "$dest/cpu_side"
