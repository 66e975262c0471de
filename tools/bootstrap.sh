#!/bin/sh
# Make sure the build's tools and libraries are here. What is missing is
# installed with apt-get when run as root; otherwise the script prints the
# exact command to run and exits non-zero. Silent when nothing is missing.
# `make` runs it before configuring a build directory and whenever meson or
# ninja is gone; .ci/run runs it first.
set -eu

# What the build needs: one line each, the Debian package and how to tell
# it is here (cmd:NAME, a program on PATH; pc:NAME, a pkg-config module).
# The only list of packages: add a line here for a new need.
REQUIREMENTS='
build-essential cmd:cc
g++             cmd:g++
meson           cmd:meson
ninja-build     cmd:ninja
pkg-config      cmd:pkg-config
python3         cmd:python3
libcmocka-dev   pc:cmocka
liburcu-dev     pc:liburcu
'

# The packages whose check fails, one line each.
missing_packages() {
	echo "$REQUIREMENTS" | while read -r package check; do
		[ -n "$package" ] || continue
		case $check in
		cmd:*)
			command -v "${check#cmd:}" >/dev/null 2>&1 ||
				echo "$package"
			;;
		pc:*)
			command -v pkg-config >/dev/null 2>&1 &&
				pkg-config --exists "${check#pc:}" ||
				echo "$package"
			;;
		*)
			echo "tools/bootstrap.sh: bad check '$check'" >&2
			echo "$package"
			;;
		esac
	done
}

missing=$(missing_packages | sort -u | tr '\n' ' ')
missing=${missing% }
[ -n "$missing" ] || exit 0

echo "uhmm: missing packages: $missing" >&2
if ! command -v apt-get >/dev/null 2>&1; then
	echo "uhmm: no apt-get here: install the equivalents of those" \
	     "Debian packages, then run make again" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "uhmm: run this, then make again:" >&2
	echo "sudo apt-get update && sudo apt-get install -y" \
	     "--no-install-recommends $missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# $missing is a list of words on purpose.
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

still=$(missing_packages | sort -u | tr '\n' ' ')
if [ -n "$still" ]; then
	echo "uhmm: still missing after apt-get install: $still" >&2
	exit 1
fi
