#!/bin/sh
# dmirror built as a driver out of uhmm's tree is: install uhmm into a
# scratch directory and take dmirror out of it again, copy
# drivers/dmirror to a folder of its own (nothing of the source tree
# around it), build and install it there with make and pkg-config alone,
# then build examples/two_devices.c against the two installs with
# pkg-config and run it. Prints TAP; a failing step's log becomes
# comments and the steps after it fail too.
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
driver=$tmp/dmirror
log=$tmp/log

meson install -C "$build" --destdir "$dest" --quiet >/dev/null
find "$dest" \( -name 'libuhmm-dmirror*' -o -name uhmm-dmirror.pc \
	-o -name dmirror.h \) -exec rm -f {} +
uhmm_pcdir=$(dirname "$(find "$dest" -name uhmm.pc | head -n 1)")
uhmm_libdir=$(dirname "$(find "$dest" -name 'libuhmm.so*' | head -n 1)")
export PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_PATH="$uhmm_pcdir"

n=0
failed=0
# step DESCRIPTION COMMAND...: one TAP line; not ok once one has failed.
step() {
	desc=$1
	shift
	n=$((n + 1))
	if [ $failed = 0 ] && "$@" >"$log" 2>&1; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		[ $failed = 1 ] || sed 's/^/# /' "$log"
		failed=1
	fi
}

no_dmirror() {
	! pkg-config --exists uhmm-dmirror &&
	[ -z "$(find "$dest" -name dmirror.h -o -name 'libuhmm-dmirror*')" ]
}

# (errexit does not hold in a function called by if: hence the &&.)
build_driver() {
	cp -R "$src/drivers/dmirror" "$driver" &&
	make -C "$driver" clean &&
	make -C "$driver" CFLAGS='-O2 -Werror' &&
	make -C "$driver" install DESTDIR="$dest" PREFIX=/opt/dmirror
}

build_example() {
	export PKG_CONFIG_PATH="$dest/opt/dmirror/lib/pkgconfig:$uhmm_pcdir"
	${CC:-cc} -Werror -o "$tmp/two_devices" "$src/examples/two_devices.c" \
		$(pkg-config --cflags --libs uhmm-dmirror)
}

# The driver the program loads is the one built here.
run_example() {
	export LD_LIBRARY_PATH="$uhmm_libdir:$dest/opt/dmirror/lib"
	ldd "$tmp/two_devices" |
		grep -F "libuhmm-dmirror.so.0 => $dest/opt/dmirror/lib/" &&
	"$tmp/two_devices"
}

echo "1..4"
step "uhmm installed without dmirror" no_dmirror
step "drivers/dmirror builds out of tree with make and pkg-config" \
	build_driver
step "examples/two_devices.c builds with pkg-config uhmm-dmirror" \
	build_example
step "examples/two_devices.c runs on the out-of-tree dmirror" run_example
