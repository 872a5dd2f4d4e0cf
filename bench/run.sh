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

OUT="$TMP/run.out"
: > "$OUT"
{
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
} 2>&1 | tee "$OUT"

# The issue-17 goals, gathered from this run's own lines above (nothing is re-measured
# here; a line missing below means its benchmark did not print it in this run)
pick() { grep -m1 -E "$1" "$OUT" | sed 's/^ *//'; }
echo "== summary: issue 17's goals, as printed above in this run (load average now $(cut -d' ' -f1 /proc/loadavg))"
echo "-- similar by id, exact, dim 256 (goal: c32 >= 3,000 q/s and >= 0.60 of raw FAISS; c1 p50 <= 1.0 ms)"
grep -m2 -E '^ +(1|32) client\(s\):' "$OUT" | sed 's/^ */   /'
pick 'lesiond c32 / raw' | sed 's/^/   /'
echo "-- warm patch (goal: >= 20x the Python peer)"
grep -E 'lesiond / peer:' "$OUT" | sed 's/^ */   /'
echo "-- cold patches, 32 connections on distinct slices (goal: no slice decoded twice at once)"
grep -E 'decode overlaps' "$OUT" | sed 's/.*\(decodes [0-9].*\)/   \1/'
echo "-- scale (goals at 10^6: start-up <= 3 s, RSS <= 1.5x, HNSW32 or IVF p50 <= 2 ms with recall >= 0.95)"
awk '/^-- N = / { n = $0 } /start-up to ready|RSS |similar-by-id|recall@10/ && n ~ /N = 1000000 / { print }' "$OUT" |
	sed 's/^ */   /'
grep -q '^-- N = 1000000 ' "$OUT" || echo "   (10^6 not run: BENCH_SCALE_1M=1 make bench)"
