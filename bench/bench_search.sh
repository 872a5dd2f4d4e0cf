#!/bin/sh
# bench_search.sh BUILD - similar-lesion search at DeepLesion's size: 32,735 lesions with
# random vectors of dimension 256 and 1024 (Flat, exact). Prints single-query latency
# p50/p99 through HTTP with 1 and 32 concurrent clients (wrk), queries/s, and batch
# queries/s through POST /v1/search/batch and `lesiond knn`; at dim 256 also the raw
# FAISS C API on the same vectors in batches of 4,096 (bench_rawfaiss), the ceiling the
# c32 figure is compared with. Figures only, no pass/fail.
set -u
BUILD=${1:-build/release}
LESIOND="$PWD/$BUILD/lesiond"
T="$PWD/build/bench/search"
DUR=${BENCH_SECONDS:-10}
mkdir -p "$T"
command -v wrk > /dev/null || { apt-get install -y -qq wrk > /dev/null 2>&1 || true; }
[ -f "$PWD/build/bench/DL_info_32735.csv" ] ||
	sh bench/gen_csv.sh ../shared/data/deeplesion/DL_info_sample.csv 32735 > "$PWD/build/bench/DL_info_32735.csv"

# One OpenBLAS kernel for everything measured here (lesiond, raw FAISS, the peer): the
# one lesiond picks for itself when OPENBLAS_CORETYPE is unset. An environment that
# presets it (this machine's shell sets Haswell) would otherwise give the server one
# kernel and the raw ceiling another (SkylakeX's sgemm is ~1.3-1.8x faster here).
core=Haswell; grep -qw avx512f /proc/cpuinfo && core=SkylakeX
export OPENBLAS_CORETYPE=$core
echo "-- OpenBLAS kernel for every process of this run: $core"

# CPU accounting: clock ticks (utime + stime, /proc/PID/stat) of the server's processes
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done |
	awk '{s += $1} END {print s + 0}'; }
machine() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
HZ=$(getconf CLK_TCK)
# similar_wrk LABEL C BASE PIDS...: wrk with C clients on similar.lua; one line of figures
# (rps set)
similar_wrk() {
	label=$1; c=$2; base=$3; shift 3
	la=$(cut -d' ' -f1 /proc/loadavg); s0=$(ticks "$@"); m0=$(machine)
	/usr/bin/time -f "%U %S" -o "$T/wrk.time" wrk -t$([ $c = 1 ] && echo 1 || echo 2) -c$c \
		-d${DUR}s --latency -s "$T/similar.lua" "$base" > "$T/wrk.out" 2>&1
	s1=$(ticks "$@"); m1=$(machine)
	rps=$(awk '/Requests\/sec/ {print $2}' "$T/wrk.out")
	awk -v l="$label" -v c=$c -v la="$la" -v s=$((s1 - s0)) -v m=$((m1 - m0)) -v hz="$HZ" -v d="$DUR" \
	    -v w="$(awk '{print $1 + $2}' "$T/wrk.time")" '
		/Requests\/sec/ { rps = $2 } /requests in/ { req = $1 } $1 == "50%" { p50 = $2 }
		$1 == "99%" { p99 = $2 }
		END { if (req < 1) req = 1
		      printf "   %s%d client(s): %s queries/s, p50 %s, p99 %s; cores used: server %.2f, wrk %.2f, " \
			"rest of the machine %.2f (server %.0f us CPU a request); load %s\n", l, c, rps, p50, p99,
			s / hz / d, w / d, (m - s) / hz / d - w / d, s * 1e6 / hz / req, la }' "$T/wrk.out"
}
metric() { curl -s "$B/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

for DIM in 256 1024; do
	DB="$T/d$DIM.db"
	rm -f "$DB" "$DB"-* "$DB".space-*
	"$LESIOND" ingest --csv "$PWD/build/bench/DL_info_32735.csv" --db "$DB" > /dev/null
	python3 - "$T" "$DIM" <<'PY'
import random, struct, sys
random.seed(7)
d, dim = sys.argv[1], int(sys.argv[2])
n = 32735
with open(d + "/v.fvecs", "wb") as f:
    hdr = struct.pack("<i", dim)
    for i in range(n):
        # clustered, like real embeddings
        c = i % 64
        f.write(hdr + struct.pack("<%df" % dim, *[(c * 0.1 if (j + c) % 7 == 0 else 0) + random.random() for j in range(dim)]))
with open(d + "/ids.txt", "w") as f:
    f.write("".join("%d\n" % (i + 1) for i in range(n)))
PY
	"$LESIOND" import-vectors --space builtin --ids "$T/ids.txt" --vectors "$T/v.fvecs" --db "$DB"
	rm -f "$T/port"
	"$LESIOND" serve --db "$DB" --port 0 --port-file "$T/port" > "$T/serve.log" 2>&1 &
	PID=$!
	while [ ! -s "$T/port" ]; do sleep 0.2; done
	B="http://127.0.0.1:$(cat "$T/port")"
	until curl -sf "$B/readyz" > /dev/null; do sleep 0.2; done
	rm -f "$T/port"
	cat > "$T/similar.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/lesions/" .. ((counter * 7919) % 32735 + 1) .. "/similar?k=10")
end
LUA
	echo "-- dim $DIM: GET /v1/lesions/{id}/similar?k=10 (exact, 32,735 vectors), $DUR s each"
	if command -v wrk > /dev/null; then
		for C in 1 32; do
			b0=$(metric lesiond_search_batches_total); q0=$(metric lesiond_search_batched_queries_total)
			similar_wrk "" "$C" "$B" $PID
			[ $C = 32 ] && c32=$rps
			echo "$b0 $q0 $(metric lesiond_search_batches_total) $(metric lesiond_search_batched_queries_total)" |
				awk '$3 > $1 { printf "      coalescer: %d batches, %.1f queries a batch\n", $3 - $1, ($4 - $2) / ($3 - $1) }'
		done
		if [ -x "$BUILD/bench/bench_rawfaiss" ]; then
			# the ceiling, same vectors, same run, lesiond's BLAS environment
			OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 \
				"$BUILD/bench/bench_rawfaiss" "$T/v.fvecs" 3 > "$T/raw.out" 2>&1
			raw=$(awk '/^raw FAISS batched/ {print $NF}' "$T/raw.out")
			sed -n 's/^   batch/   in-process batch/p' "$T/raw.out" | sed 's/$/  (raw FAISS, lesiond space_search)/'
			echo "   raw FAISS C API, batches of 4,096: $raw queries/s; lesiond c32 / raw = $(echo "scale=2; ${c32:-0} / ${raw:-1}" | bc) (goal: >= 3,000 queries/s and >= 0.60)"
		fi
	else
		echo "   (wrk not available: skipped)"
	fi
	if [ "$DIM" = 256 ] && command -v wrk > /dev/null; then
		# the Python peer (bench/peer: Flask + faiss IndexFlatL2 under gunicorn), same
		# database, same queries, same run
		if set -- $(sh bench/peer/start.sh "$DB" "" "$T/peer.log"); then
			for C in 1 32; do
				similar_wrk "Python peer, " "$C" "http://127.0.0.1:$2" $1 $(pgrep -P $1)
				[ $C = 32 ] && peer32=$rps
			done
			kill -TERM $1
			while kill -0 $1 2>/dev/null; do sleep 0.1; done
			echo "   lesiond / Python peer at 32 clients: $(echo "scale=1; ${c32:-0} / ${peer32:-1}" | bc)x"
		else
			echo "   Python peer: not started"
		fi
	fi
	awk 'BEGIN { for (i = 0; i < 20000; i++) printf "{\"lesion_id\":%d,\"k\":10}\n", 1 + (i * 7919) % 32735 }' > "$T/batch.ndjson"
	s=$(date +%s.%N)
	n=$(curl -s -H 'Content-Type: application/x-ndjson' --data-binary @"$T/batch.ndjson" "$B/v1/search/batch" | wc -l)
	e=$(date +%s.%N)
	echo "   POST /v1/search/batch: $n queries in $(echo "$e - $s" | bc) s = $(echo "$n / ($e - $s)" | bc) queries/s"
	kill -TERM $PID; wait $PID 2>/dev/null
	"$LESIOND" knn --db "$DB" --space builtin --queries all --k 10 2>&1 > /dev/null | tail -n 1 | sed 's/^/   lesiond /'
done

# Approximate search: HNSW32 on the same 256-d vectors, recall@10 against the exact answer
DB="$T/hnsw.db"
rm -f "$DB" "$DB"-* "$DB".space-* "$T/port"
"$LESIOND" ingest --csv "$PWD/build/bench/DL_info_32735.csv" --db "$DB" > /dev/null
python3 - "$T" 256 <<'PY'
import random, struct, sys
random.seed(7)
d, dim = sys.argv[1], int(sys.argv[2])
with open(d + "/v.fvecs", "wb") as f:
    hdr = struct.pack("<i", dim)
    for i in range(32735):
        c = i % 64
        f.write(hdr + struct.pack("<%df" % dim, *[(c * 0.1 if (j + c) % 7 == 0 else 0) + random.random() for j in range(dim)]))
PY
s=$(date +%s.%N)
"$LESIOND" import-vectors --space builtin --ids "$T/ids.txt" --vectors "$T/v.fvecs" --db "$DB" \
	--index-type HNSW32 --build-index > /dev/null
e=$(date +%s.%N)
echo "-- dim 256, HNSW32 (efSearch default): import + index build $(echo "$e - $s" | bc) s"
"$LESIOND" knn --db "$DB" --space builtin --queries split=test --k 10 > "$T/hnsw.csv" 2> "$T/hnsw.err"
"$LESIOND" knn --db "$T/d256.db" --space builtin --queries split=test --k 10 > "$T/flat.csv" 2> /dev/null
sed 's/^/   lesiond /' "$T/hnsw.err" | tail -n 1
awk -F, 'FNR == 1 { next } NR == FNR { want[$1 "," $3] = 1; n++; next } ($1 "," $3) in want { hit++ }
	END { printf "   recall@10 of HNSW32 against exact (test-split queries): %.4f\n", hit / n }' "$T/flat.csv" "$T/hnsw.csv"
"$LESIOND" serve --db "$DB" --port 0 --port-file "$T/port" > "$T/serve.log" 2>&1 &
PID=$!
while [ ! -s "$T/port" ]; do sleep 0.2; done
B="http://127.0.0.1:$(cat "$T/port")"
until curl -sf "$B/readyz" > /dev/null; do sleep 0.2; done
if command -v wrk > /dev/null; then
	wrk -t1 -c1 -d${DUR}s --latency -s "$T/similar.lua" "$B" > "$T/wrk.out" 2>&1
	echo "   HTTP similar, 1 client: $(awk '/Requests\/sec/ {print $2}' "$T/wrk.out") queries/s, p50 $(awk '$1 == "50%" {print $2}' "$T/wrk.out"), p99 $(awk '$1 == "99%" {print $2}' "$T/wrk.out") (mode ann)"
fi
kill -TERM $PID; wait $PID 2>/dev/null
