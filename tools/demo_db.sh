#!/bin/sh
# demo_db.sh LESIOND DIR - make the demo database `make run` serves, once.
# Generates the synthetic DeepLesion dataset (lesiond demo) into DIR when it is missing,
# in a temporary directory renamed into place so a half-written demo is never used; then
# imports it, computes the built-in descriptor and builds the lesion graph. Each step is
# idempotent (ingest of the same file changes nothing, embed resumes, graph rebuilds).
set -eu
LESIOND=$1
DIR=$2
if [ ! -f "$DIR/DL_info.csv" ]; then
	rm -rf "$DIR.tmp"
	"$LESIOND" demo --out "$DIR.tmp" --patients "${DEMO_PATIENTS:-100}" --seed "${DEMO_SEED:-1}"
	rm -rf "$DIR"
	mv "$DIR.tmp" "$DIR"
fi
"$LESIOND" ingest --csv "$DIR/DL_info.csv" --images "$DIR/Images_png" --db "$DIR/lesiond.db"
"$LESIOND" embed --images "$DIR/Images_png" --db "$DIR/lesiond.db"
"$LESIOND" graph --db "$DIR/lesiond.db"
