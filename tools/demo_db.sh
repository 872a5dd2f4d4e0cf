#!/bin/sh
# demo_db.sh LESIOND DIR - the demo dataset for `make run`: generate it once into DIR
# (DEMO_PATIENTS, default 100; DEMO_SEED, default 1) and import it into DIR/lesiond.db.
# The dataset is written to a temporary sibling directory and renamed into place, so an
# interrupted run never leaves a half-written demo that looks complete.
set -eu
LESIOND=$1
DIR=$2
if [ ! -f "$DIR/DL_info.csv" ]; then
	TMP="$DIR.tmp.$$"
	rm -rf "$TMP"
	trap 'rm -rf "$TMP"' EXIT INT TERM
	"$LESIOND" demo --out "$TMP" --patients "${DEMO_PATIENTS:-100}" --seed "${DEMO_SEED:-1}"
	rm -rf "$DIR"
	mkdir -p "$(dirname "$DIR")"
	mv "$TMP" "$DIR"
	trap - EXIT INT TERM
fi
"$LESIOND" ingest --csv "$DIR/DL_info.csv" --images "$DIR/Images_png" --db "$DIR/lesiond.db"
