#!/bin/sh
# run.sh BUILD - run every benchmark program build/<variant>/bench/bench_* in turn; each
# prints its own figures.
set -u
BUILD=${1:-build/release}
rc=0
for b in "$BUILD"/bench/bench_*; do
	case "$b" in *.o|*.d) continue ;; esac
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || rc=1
done
exit $rc
