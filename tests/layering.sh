#!/bin/sh
# The layers of src/ (README.md, "Layout") as include rules, in TAP:
#  - src/mm includes no header of src/migrate, and of src/cpu only the
#    seam header cpu/arch.h (the calls mm makes into the host binding);
#  - src/lib, the libraries, includes nothing of the other layers;
#  - src/hmm and src/notifier include nothing of src/migrate or src/cpu;
#  - src/cpu includes nothing of src/migrate.
set -u
src=$1/src
n=0
# check DESCRIPTION FORBIDDEN-PREFIXES ALLOWED-HEADER DIRECTORY...
check() {
	desc=$1 forbidden=$2 allowed=$3
	shift 3
	n=$((n + 1))
	bad=$(cd "$src" && grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"($forbidden)" \
		-r "$@" | grep -vF "#include \"$allowed\"")
	if [ -z "$bad" ]; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		echo "$bad" | sed 's/^/# /'
	fi
}
echo "1..5"
check "src/mm includes nothing of src/migrate" 'migrate/' - mm
check "src/mm includes of src/cpu only cpu/arch.h" 'cpu/' cpu/arch.h mm
check "src/lib includes no other layer" 'mm/|cpu/|migrate/|hmm/|notifier/' - lib
check "src/hmm and src/notifier include nothing of src/migrate or src/cpu" \
	'migrate/|cpu/' - hmm notifier
check "src/cpu includes nothing of src/migrate" 'migrate/' - cpu
