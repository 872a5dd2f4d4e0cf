#!/bin/sh
# bench_scale.sh BUILD - how lesiond's costs grow with the number of lesions N, on one
# machine: for each N in SCALE_SIZES (default "10000 100000 1000000"; a smaller list
# makes it fit: SCALE_SIZES="10000 100000"), a DeepLesion-format DL_info.csv of N rows
# (the real sample rows repeated under new patients), N synthetic clustered 256-d
# vectors, and one database per index type (Flat, HNSW32, IVF<4*sqrt(N)>,Flat and ,SQ8:
# 8-bit codes in FAISS, candidates rescored from the exact memory copy). Prints,
# per N and index type: ingest time, import + index build time, start-up time to ready
# from snapshots (and what the log says it loaded), RSS after start-up and per lesion
# against vector + catalog bytes, similar-by-id p50/p99 through HTTP with one client
# unfiltered and with a filter keeping ~1% (type=bone), and recall@10 against Flat
# (exact) on 200 queries, filtered and not. Figures only, no pass/fail. Needs ~10 GB of
# disk and ~4 GB of memory at N = 10^6; everything is deleted at the end.
set -u
BUILD=${1:-build/release}
LESIOND="$PWD/$BUILD/lesiond"
T="$PWD/build/bench/scale"
DUR=${BENCH_SECONDS:-5}
# 10^6 takes ~15-25 min on 2 cores (ingest ~100 s, import ~75 s, IVF training and
# builds, two starts per index type): only with BENCH_SCALE_1M=1 or an explicit list
SIZES=${SCALE_SIZES:-10000 100000${BENCH_SCALE_1M:+ 1000000}}
NICE="nice -n 19"	# heavy preparation; the timed start-ups and latencies run at normal priority
load() { cut -d' ' -f1 /proc/loadavg; }
rm -rf "$T" && mkdir -p "$T"
command -v wrk > /dev/null || { echo "wrk not available (make deps): skipped"; exit 0; }
cc -O2 -o "$T/gen_vectors" bench/gen_vectors.c -lm || exit 1

serve() { # DB -> PID, B, UP (seconds from start to /readyz 200)
	rm -f "$T/port"
	t0=$(date +%s.%N)
	"$LESIOND" serve --db "$1" --port 0 --port-file "$T/port" > "$T/serve.log" 2>&1 &
	PID=$!
	while [ ! -s "$T/port" ]; do sleep 0.02; done
	B="http://127.0.0.1:$(cat "$T/port")"
	until curl -sf "$B/readyz" > /dev/null; do sleep 0.02; done
	t1=$(date +%s.%N)
	UP=$(echo "$t1 - $t0" | bc)
}
lat() { # LUA-QUERY-SUFFIX -> "p50 p99"
	cat > "$T/s.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/lesions/" .. ((counter * 7919) % $N + 1) .. "/similar?k=10$1")
end
LUA
	wrk -t1 -c1 -d${DUR}s --latency -s "$T/s.lua" "$B" > "$T/wrk.out" 2>&1
	echo "$(awk '$1 == "50%" {print $2}' "$T/wrk.out") / $(awk '$1 == "99%" {print $2}' "$T/wrk.out")"
}
answers() { # OUT: 200 unfiltered then 200 filtered queries, one id list per line
	curl -s -H 'Content-Type: application/x-ndjson' --data-binary @"$T/q.ndjson" "$B/v1/search/batch" |
		jq -c '[.results[]?.lesion_id]' > "$1"
}
recall() { # A B FIRST LAST: mean |A_i & B_i| / |A_i| over lines FIRST..LAST
	paste -d ' ' "$1" "$2" | sed -n "$3,$4p" | tr -d '[]' | awk '{
		split($1, a, ","); split($2, b, ","); n = 0; h = 0
		for (i in a) if (a[i] != "") { n++; for (j in b) if (b[j] == a[i]) { h++; break } }
		if (n) { s += h / n; q++ } } END { printf "%.4f", q ? s / q : 0 }'
}

for N in $SIZES; do
	echo "-- N = $N lesions, 256-d clustered vectors"
	sh bench/gen_csv.sh ../shared/data/deeplesion/DL_info_sample.csv "$N" > "$T/dl.csv"
	s=$(date +%s.%N)
	$NICE "$LESIOND" ingest --csv "$T/dl.csv" --db "$T/base.db" > /dev/null
	e=$(date +%s.%N)
	echo "   ingest: $(echo "$e - $s" | bc) s ($(ls -l "$T/base.db" | awk '{printf "%.0f", $5 / 1048576}') MB database)"
	rm -f "$T/dl.csv"
	"$T/gen_vectors" "$N" 256 7 > "$T/v.fvecs"
	seq 1 "$N" > "$T/ids.txt"
	awk -v n="$N" 'BEGIN { for (i = 0; i < 200; i++) printf "{\"lesion_id\":%d,\"k\":10}\n", 1 + (i * 104729) % n
		for (i = 0; i < 200; i++) printf "{\"lesion_id\":%d,\"k\":10,\"filter\":{\"type\":[\"bone\"]}}\n", 1 + (i * 104729) % n }' > "$T/q.ndjson"
	nlist=$(awk -v n="$N" 'BEGIN { x = 4 * sqrt(n); p = 1; while (p * 2 <= x) p *= 2; print p }')
	# HNSW32 at 10^6 did not finish building in 14.5 min on 2 cores (issue 17): skipped there
	TYPES="Flat HNSW32 IVF$nlist,Flat IVF$nlist,SQ8"
	[ "$N" -ge 1000000 ] && TYPES="Flat IVF$nlist,Flat IVF$nlist,SQ8"
	for IT in $TYPES; do
		DB="$T/$(echo "$IT" | tr -cd 'A-Za-z0-9').db"
		cp "$T/base.db" "$DB"
		s=$(date +%s.%N)
		$NICE "$LESIOND" import-vectors --space builtin --ids "$T/ids.txt" --vectors "$T/v.fvecs" \
			--db "$DB" --index-type "$IT" --build-index > /dev/null 2>&1
		e=$(date +%s.%N)
		serve "$DB"	# first start: reads SQLite, writes <db>.state
		UP1=$UP
		kill -TERM $PID; wait $PID 2>/dev/null
		L=$(load)
		serve "$DB"	# second start: from <db>.state and the index snapshot
		rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
		loaded=$(grep -o 'state snapshot [^ ]* loaded\|state snapshot not used\|loaded snapshot\|rebuilt from the database\|exact Flat over the memory copy' "$T/serve.log" | sed 's/ [^ ]*\.state / /' | sort -u | tr '\n' ';')
		cat_ms=$(sed -n 's/.*loaded in \([0-9]*\) ms.*/\1/p' "$T/serve.log" | head -n 1)
		echo "   $IT: import + build $(echo "$e - $s" | bc) s (nice 19); start-up to ready: from SQLite $UP1 s, from snapshots $UP s (load average $L; spaces and catalog ${cat_ms} ms; $loaded)"
		echo "      RSS $((rss / 1024)) MB = $((rss * 1024 / N)) B/lesion; vectors + catalog $((N * (1024 + 48) / 1048576)) MB = 1072 B/lesion: $(echo "scale=2; $rss * 1024 / ($N * 1072)" | bc)x"
		echo "      similar-by-id, 1 client, p50 / p99 (load average $(load)): unfiltered $(lat ''); filter type=bone (~1%, exact subset scan) $(lat '&type=bone')"
		answers "$T/ans-$IT"
		if [ "$IT" = Flat ]; then
			cp "$T/ans-Flat" "$T/exact"
		else
			echo "      recall@10 vs exact (200 queries): unfiltered $(recall "$T/exact" "$T/ans-$IT" 1 200), filtered $(recall "$T/exact" "$T/ans-$IT" 201 400)"
		fi
		kill -TERM $PID; wait $PID 2>/dev/null
		rm -f "$DB" "$DB"-* "$DB".space-* "$DB".state
	done
	rm -f "$T/base.db" "$T"/base.db-* "$T/v.fvecs"
done
rm -rf "$T"
