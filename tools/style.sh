#!/bin/sh
# style.sh - the house style checks CI runs: banned calls, trailing space, long lines in
# C sources; the two layers (no daemon header, server/*.h, included from index/) and no
# include cycle between modules. Prints each finding as file:line: what; exit 1 if any.
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

# The layers: index/ (the library) includes no daemon header. The Makefile compiles
# index/ without -Iserver, so such an include fails to build; this names it.
for h in server/*.h; do
	hits=$(grep -nE "^#[[:space:]]*include[[:space:]]+\"$(basename "$h")\"" index/*.[ch] include/*.h || true)
	[ -n "$hits" ] && { echo "$hits" | sed "s|$|  <- daemon header $h in the library|"; bad=1; }
done

# No include cycle between modules. A module is a header and the files that implement it:
# a .c or .h belongs to the module of its own name, except the files below, which
# implement another module's header. Edges "module included-module" go to tsort, which
# names a loop when there is one.
module() {
	f=$(basename "$1")
	case "$f" in
	h_*) echo handlers ;;			# handlers.h: one file per resource
	cmd_*|main.c) echo cli ;;		# cli.h: the subcommands
	reply.c) echo http ;;			# http.h: request, reply and their helpers
	http.c) echo httpd ;;			# httpd.h: the libmicrohttpd glue
	store_*) echo store ;;			# store.h with store_int.h ...
	space_int.h|space_idmap.c|space_snap.c|space_registry.c) echo space ;;	# space_int.h
	*) echo "${f%.*}" ;;
	esac
}
edges=$(for f in index/*.[ch] server/*.[ch] include/*.h; do
	m=$(module "$f")
	for h in $(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		echo "$m $(module "$h")"
	done
done | sort -u)
loop=$(echo "$edges" | tsort 2>&1 >/dev/null | grep -v 'input contains a loop' | sed 's/^tsort: //')
if [ -n "$loop" ]; then
	echo "include cycle between modules:" $loop "(each includes the next; the last the first)"
	bad=1
fi
[ $bad = 0 ] && echo "style: clean"
exit $bad
