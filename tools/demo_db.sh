#!/bin/sh
# demo_db.sh LESIOND DIR - make the demo database `make run` serves, once.
# Generates the synthetic DeepLesion dataset (lesiond demo) into DIR when it is missing,
# via a temporary directory renamed into place so a half-written demo is never used,
# then imports it. Until `lesiond demo` exists in this build, falls back to the real
# sample rows in ../shared/data/deeplesion (metadata only, no images).
set -eu
LESIOND=$1
DIR=$2
if [ ! -f "$DIR/DL_info.csv" ]; then
	rm -rf "$DIR.tmp"
	if "$LESIOND" demo --out "$DIR.tmp" --patients "${DEMO_PATIENTS:-100}" --seed "${DEMO_SEED:-1}"; then
		rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
	else
		echo "demo_db: lesiond demo unavailable; using the shared DeepLesion sample rows" >&2
		rm -rf "$DIR.tmp" "$DIR" && mkdir -p "$DIR/Images_png"
		cp ../shared/data/deeplesion/DL_info_sample.csv "$DIR/DL_info.csv"
	fi
fi
rm -f "$DIR/lesiond.db.tmp"
"$LESIOND" ingest --csv "$DIR/DL_info.csv" --images "$DIR/Images_png" --db "$DIR/lesiond.db"
