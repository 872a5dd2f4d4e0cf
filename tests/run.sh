#!/bin/sh
# run.sh BUILD [all|unit|e2e] - run every unit test binary and every black-box script
# (or only one of the two kinds), add up their "RESULT passed failed" lines and print the
# closing line "N passed, N failed".
# Exit status 1 when anything failed or a test program died without a RESULT line.
set -u
BUILD=${1:-build/release}
KIND=${2:-all}
case "$KIND" in all|unit|e2e) ;; *) echo "run.sh: kind is all, unit or e2e"; exit 2 ;; esac
export LESIOND="$PWD/$BUILD/lesiond"
export LSD_SHARED_DATA="${LSD_SHARED_DATA:-$(cd .. && pwd)/shared/data/deeplesion}"
export LSD_TEST_TMP="${LSD_TEST_TMP:-$PWD/build/test/$(basename "$BUILD")}"
rm -rf "$LSD_TEST_TMP" && mkdir -p "$LSD_TEST_TMP"
passed=0
failed=0
log="$LSD_TEST_TMP/run.log"

tally() { # name, output file, exit status
	r=$(grep '^RESULT ' "$2" | tail -n 1)
	if [ -z "$r" ]; then
		echo "not ok - $1 died (exit $3) before reporting"
		tail -n 20 "$2"
		failed=$((failed + 1))
		return
	fi
	p=$(echo "$r" | cut -d' ' -f2)
	f=$(echo "$r" | cut -d' ' -f3)
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" != 0 ] || [ "$3" != 0 ]; then
		grep -v '^ok - ' "$2" | grep -v '^RESULT' | tail -n 40
		[ "$f" = 0 ] && { echo "not ok - $1 exit $3"; failed=$((failed + 1)); }
	fi
	echo "$1: $p passed, $f failed"
}

for t in "$BUILD"/tests/test_*; do
	[ "$KIND" = e2e ] && break
	case "$t" in *.o|*.d) continue ;; esac
	[ -x "$t" ] || continue
	out="$LSD_TEST_TMP/$(basename "$t").out"
	"$t" > "$out" 2>&1
	tally "$(basename "$t")" "$out" $?
done
for t in tests/e2e/*.sh; do
	[ "$KIND" = unit ] && break
	[ "$(basename "$t")" = lib.sh ] && continue
	out="$LSD_TEST_TMP/$(basename "$t").out"
	sh "$t" > "$out" 2>&1
	tally "$(basename "$t")" "$out" $?
done
for t in tests/e2e/*.mjs; do
	[ "$KIND" = unit ] && break
	[ -f "$t" ] || continue
	out="$LSD_TEST_TMP/$(basename "$t").out"
	node "$t" > "$out" 2>&1
	tally "$(basename "$t")" "$out" $?
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
