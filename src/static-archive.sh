#!/bin/sh
# libuhmm.a as it is installed: every object of libuhmm (the archive
# INPUT, compiled with hidden visibility) linked into one relocatable
# object whose hidden symbols are then made local, so that the archive
# defines the public API (include/uhmm/*.h) as globals and nothing else.
# A program linked with it may then use uhmm's internal names for its own
# (tests/link-clash.sh), as with libuhmm.so.
#   static-archive.sh OUTPUT INPUT
# LD, OBJCOPY and AR name the tools (default ld, objcopy, ar).
set -eu
out=$1
in=$2
obj=${out%.a}.o
rm -f "$out" "$obj"
${LD:-ld} -r -o "$obj" --whole-archive "$in"
${OBJCOPY:-objcopy} --localize-hidden "$obj"
${AR:-ar} rcs "$out" "$obj"
rm -f "$obj"
