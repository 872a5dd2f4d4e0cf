#!/bin/sh
# style.sh - the house style checks CI runs: banned calls, trailing space, long lines in
# C sources. Prints each finding as file:line: what; exit 1 if any.
set -u
bad=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
[ -n "$files" ] || files=$(find include index server tests bench tools -name '*.[ch]')
for f in $files; do
	[ -f "$f" ] || continue
	hits=$(grep -nE '\b(sprintf|strcpy|strcat|gets|atoi|atol|vsprintf)[[:space:]]*\(' "$f" |
		grep -vE '\b(snprintf|vsnprintf)\b' || true)
	[ -n "$hits" ] && { echo "$hits" | sed "s|^|$f:|; s|$|  <- banned call|"; bad=1; }
	hits=$(grep -nE '[[:space:]]+$' "$f" || true)
	[ -n "$hits" ] && { echo "$hits" | sed "s|^|$f:|; s|$|  <- trailing space|"; bad=1; }
	awk -v f="$f" '{ l = $0; gsub(/\t/, "        ", l);
		if (length(l) > 120) { print f ":" NR ": line longer than 120 columns"; b = 1 } }
		END { exit b }' "$f" || bad=1
done
[ $bad = 0 ] && echo "style: clean"
exit $bad
