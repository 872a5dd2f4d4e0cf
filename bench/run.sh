#!/bin/sh
# run.sh BUILD - every benchmark, printing figures (never pass/fail on time).
set -u
BUILD=${1:-build/release}
LESIOND="$PWD/$BUILD/lesiond"
TMP="$PWD/build/bench"
mkdir -p "$TMP"

echo "== ingest: a 32,735-row DL_info.csv in the real format (median of 3)"
sh bench/gen_csv.sh ../shared/data/deeplesion/DL_info_sample.csv 32735 > "$TMP/DL_info_32735.csv"
for i in 1 2 3; do
	rm -f "$TMP/ingest.db" "$TMP/ingest.db-wal" "$TMP/ingest.db-shm"
	"$LESIOND" ingest --csv "$TMP/DL_info_32735.csv" --db "$TMP/ingest.db"
done | tee "$TMP/ingest.out"
awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\(/) { gsub(/\(/, "", $i); print $i } }' "$TMP/ingest.out" |
	sort -n | sed -n 2p | sed 's/^/ingest median rows\/s: /'

for b in "$BUILD"/bench/bench_*; do
	case "$b" in *.o|*.d) continue ;; esac
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || echo "(benchmark $(basename "$b") failed)"
done
for s in bench/*.sh; do
	case "$(basename "$s")" in run.sh|gen_csv.sh) continue ;; esac
	echo "== $(basename "$s")"
	sh "$s" "$BUILD" || echo "(benchmark $(basename "$s") failed)"
done
