#!/bin/sh
# bench_knn.sh BUILD - batch kNN jobs at DeepLesion's size, side by side in one run:
# 32,735 gallery vectors x 256 (clustered, embedding-like), 100,000 external queries, k=10:
#   - raw FAISS: IndexFlatL2 batched search through the C API (bench_faiss_raw), with
#     OpenBLAS/OpenMP threads as they come (all cores) and with one thread;
#   - `lesiond knn --queries q.npy --out` (whole process: open, load, search, write .npy);
#   - POST /v1/search/batch with the .npy body, format=npz (client wall time).
# Runs interleaved, 3 rounds, medians; lesiond's figures as a share of raw FAISS's best.
# Then the peak RSS of `lesiond knn` for 10^5 and 10^6 queries (bounded: the same).
# Figures only, no pass/fail. BENCH_KNN_ROUNDS (3), BENCH_KNN_QUERIES (100000),
# BENCH_KNN_BIG=0 skips 10^6.
set -u
BUILD=${1:-build/release}
LESIOND="$PWD/$BUILD/lesiond"
RAW="$PWD/$BUILD/bench/bench_faiss_raw"
T="$PWD/build/bench/knn"
ROUNDS=${BENCH_KNN_ROUNDS:-3}
NQ=${BENCH_KNN_QUERIES:-100000}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
mkdir -p "$T"
[ -f "$PWD/build/bench/DL_info_32735.csv" ] ||
	sh bench/gen_csv.sh ../shared/data/deeplesion/DL_info_sample.csv 32735 > "$PWD/build/bench/DL_info_32735.csv"
# the CPU path lesiond picks for itself (server/main.c), for raw FAISS too
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
	if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
	elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi

$PY - "$T" "$NQ" <<'PY'
import numpy as np, sys
d, nq = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
dim, n = 256, 32735
centres = rng.normal(0, 1, size=(1024, dim)).astype("<f4")
def draw(m):
    return (centres[rng.integers(0, 1024, m)] + rng.normal(0, 0.6, size=(m, dim))).astype("<f4")
g = draw(n)
with open(d + "/g.fvecs", "wb") as f:
    f.write(np.hstack([np.full((n, 1), dim, "<i4").view("<f4"), g]).tobytes())
open(d + "/ids.txt", "w").write("".join("%d\n" % (i + 1) for i in range(n)))
np.save(d + "/q.npy", draw(nq))
# a small gallery and 10^5 / 10^6 queries for the memory figure
gs = draw(2000)
with open(d + "/gs.fvecs", "wb") as f:
    f.write(np.hstack([np.full((2000, 1), dim, "<i4").view("<f4"), gs]).tobytes())
open(d + "/ids_s.txt", "w").write("".join("%d\n" % (i + 1) for i in range(2000)))
PY
DB="$T/knn.db"
rm -f "$DB" "$DB"-* "$DB".space-*
"$LESIOND" ingest --csv "$PWD/build/bench/DL_info_32735.csv" --db "$DB" > /dev/null
"$LESIOND" import-vectors --space builtin --ids "$T/ids.txt" --vectors "$T/g.fvecs" --db "$DB" > /dev/null
"$LESIOND" knn --db "$DB" --queries split=test --k 1 --format none --quiet 2> /dev/null	# warm the page cache
rm -f "$T/port"
"$LESIOND" serve --db "$DB" --port 0 --port-file "$T/port" > "$T/serve.log" 2>&1 &
PID=$!
while [ ! -s "$T/port" ]; do sleep 0.2; done
B="http://127.0.0.1:$(cat "$T/port")"
until curl -sf "$B/readyz" > /dev/null; do sleep 0.2; done

wall() { # command... : wall seconds of the whole command
	s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc
}
echo "-- $NQ queries x 32,735 vectors, dim 256, k=10, exact; $ROUNDS rounds, medians (the machine is shared: noisy)"
: > "$T/times"
for r in $(seq 1 "$ROUNDS"); do
	echo "raw_all $(wall "$RAW" "$T/g.fvecs" "$T/q.npy" 10)" >> "$T/times"
	echo "raw_1 $(wall env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$RAW" "$T/g.fvecs" "$T/q.npy" 10)" >> "$T/times"
	echo "knn $(wall "$LESIOND" knn --db "$DB" --queries "$T/q.npy" --k 10 --quiet --out "$T/res")" >> "$T/times"
	echo "npz $(wall curl -sf -o "$T/res.npz" -H 'Content-Type: application/x-npy' --data-binary @"$T/q.npy" "$B/v1/search/batch?k=10&format=npz")" >> "$T/times"
done
"$RAW" "$T/g.fvecs" "$T/q.npy" 10 | sed 's/^/   (one raw run: /; s/$/)/'
"$LESIOND" knn --db "$DB" --queries "$T/q.npy" --k 10 --quiet --out "$T/res" 2>&1 | tail -n 1 | sed 's/^/   (one lesiond run: /; s/$/)/'
kill -TERM $PID; wait $PID 2>/dev/null
$PY - "$T/times" "$NQ" <<'PY'
import statistics, sys
nq = int(sys.argv[2])
t = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    t.setdefault(k, []).append(float(v))
m = {k: statistics.median(v) for k, v in t.items()}
best = min(m["raw_all"], m["raw_1"])
names = {"raw_all": "raw FAISS C API, all threads (whole process incl. reading files)",
         "raw_1": "raw FAISS C API, 1 thread (whole process)",
         "knn": "lesiond knn --queries q.npy --out (whole process)",
         "npz": "POST /v1/search/batch, .npy in, .npz out (client wall)"}
for k in ("raw_all", "raw_1", "knn", "npz"):
    print("   %-66s %6.2f s  %7.0f queries/s  %5.0f%% of raw FAISS's best" %
          (names[k], m[k], nq / m[k], 100 * best / m[k]))
PY
$PY -c "
import numpy as np, io
z = np.load('$T/res.npz'); i = np.load('$T/res.ids.npy'); d = np.load('$T/res.distances.npy')
print('   npz reply = knn files:', bool((z['ids'] == i).all() and (z['distances'] == d).all()))"

echo "-- peak RSS of lesiond knn (2,000 x 256 gallery, k=10, --out): memory must not grow with the queries"
rm -f "$T/s.db" "$T/s.db"-* "$T/s.db".space-*
"$LESIOND" ingest --csv "$PWD/build/bench/DL_info_32735.csv" --db "$T/s.db" > /dev/null
"$LESIOND" import-vectors --space builtin --ids "$T/ids_s.txt" --vectors "$T/gs.fvecs" --db "$T/s.db" > /dev/null
SIZES="100000 1000000"
[ "${BENCH_KNN_BIG:-1}" = 0 ] && SIZES="100000"
for n in $SIZES; do
	$PY - "$T" "$n" <<'PY'
import numpy as np, sys
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
with open(d + "/qs.npy", "wb") as f:                   # written in blocks: ~1 GB at 10^6
    f.write(b"\x93NUMPY\x01\x00" + (118).to_bytes(2, "little"))
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 256), }" % n
    f.write((h + " " * (117 - len(h)) + "\n").encode())
    for i in range(0, n, 100000):
        f.write(rng.normal(0, 1, size=(min(100000, n - i), 256)).astype("<f4").tobytes())
PY
	$PY - "$LESIOND" "$T" "$n" <<'PY'
import resource, subprocess, sys, time
lesiond, d, n = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.time()
subprocess.run([lesiond, "knn", "--db", d + "/s.db", "--queries", d + "/qs.npy", "--k", "10",
                "--quiet", "--out", d + "/rs"], check=True, stderr=subprocess.DEVNULL)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("   %9s queries: peak RSS %6.1f MB, %.1f s (query file %.0f MB, outputs %.0f MB)" %
      ("{:,}".format(int(n)), rss / 1024, time.time() - t, int(n) * 1024 / 1e6, int(n) * 120 / 1e6))
PY
done
rm -f "$T/qs.npy" "$T/rs".*
