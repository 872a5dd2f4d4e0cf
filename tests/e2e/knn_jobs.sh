#!/bin/sh
# knn_jobs.sh - black-box tests of batch kNN jobs: `lesiond knn --queries FILE` (.npy,
# .fvecs, NDJSON) against an independent NumPy brute force and against the same vectors
# sent over HTTP (NDJSON batch); --out arrays; --shard / --gallery-shard + knn-merge equal
# to the unsharded files byte for byte, with and without filters; the npz batch reply
# equal to the NDJSON reply; bad query files refused with a clear error and no output;
# read-only databases and backup directories; the README's Python example.
. "$(dirname "$0")/lib.sh"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3	# Debian's, with python3-numpy (deps.sh)
DB="$T_DIR/lesiond.db"
"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$DB" > /dev/null
# gallery: 16-d vectors for lesions 1..250, a few exact duplicates (ties broken by id);
# queries: 300 rows as .npy, .fvecs and NDJSON (the same float32 values)
$PY - "$T_DIR" <<'PY'
import numpy as np, sys, json
d = sys.argv[1]
rng = np.random.default_rng(11)
v = rng.normal(size=(250, 16)).astype("<f4")
v[200] = v[10]; v[201] = v[10]; v[150] = v[3]        # duplicates: equal distances
with open(d + "/v.fvecs", "wb") as f:
    for row in v:
        f.write(np.int32(16).tobytes() + row.tobytes())
open(d + "/ids.txt", "w").write("".join("%d\n" % i for i in range(1, 251)))
np.save(d + "/v.npy", v)
q = rng.normal(size=(300, 16)).astype("<f4")
q[5] = v[10]                                           # a query on the duplicates
np.save(d + "/q.npy", q)
with open(d + "/q.fvecs", "wb") as f:
    for row in q:
        f.write(np.int32(16).tobytes() + row.tobytes())
with open(d + "/q.ndjson", "w") as f:
    for i, row in enumerate(q):
        vals = [float(x) for x in row]
        f.write(json.dumps(vals if i % 2 else {"vector": vals}) + "\n")
        if i == 7:
            f.write("\n")                                  # blank lines are skipped
with open(d + "/http.ndjson", "w") as f:
    for row in q:
        f.write(json.dumps({"vector": [float(x) for x in row], "k": 7}) + "\n")
with open(d + "/httpf.ndjson", "w") as f:
    for row in q:
        f.write(json.dumps({"vector": [float(x) for x in row], "k": 7,
                            "filter": {"type": ["lung", "liver"], "split": "test,val"}}) + "\n")
PY
check "import-vectors" "$LESIOND" import-vectors --space builtin --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v.fvecs" --db "$DB"
K="$LESIOND knn --db $DB --k 7 --quiet"

# ---- external queries, three formats, the same answer
$K --queries "$T_DIR/q.npy" --out "$T_DIR/a" 2> "$T_DIR/a.err"
check "knn .npy: exit 0, files written" test -s "$T_DIR/a.ids.npy" -a -s "$T_DIR/a.distances.npy" -a -s "$T_DIR/a.knn.json"
check "knn .npy: nothing on stdout with --out" test -z "$($K --queries "$T_DIR/q.npy" --out "$T_DIR/a2" 2>/dev/null)"
$K --queries "$T_DIR/q.fvecs" --out "$T_DIR/b" 2> /dev/null
$K --queries "$T_DIR/q.ndjson" --out "$T_DIR/c" 2> /dev/null
check "knn .fvecs = .npy (ids, byte for byte)" cmp -s "$T_DIR/a.ids.npy" "$T_DIR/b.ids.npy"
check "knn .fvecs = .npy (distances)" cmp -s "$T_DIR/a.distances.npy" "$T_DIR/b.distances.npy"
check "knn NDJSON = .npy (ids, distances)" sh -c "cmp -s '$T_DIR/a.ids.npy' '$T_DIR/c.ids.npy' && cmp -s '$T_DIR/a.distances.npy' '$T_DIR/c.distances.npy'"
# an independent oracle: NumPy brute force in float64, order (distance, id)
$PY - "$T_DIR" > "$T_DIR/oracle.out" <<'PY'
import numpy as np, sys
d = sys.argv[1]
v = np.load(d + "/v.npy").astype(np.float64); q = np.load(d + "/q.npy").astype(np.float64)
ids = np.load(d + "/a.ids.npy"); dist = np.load(d + "/a.distances.npy")
bad = 0
assert ids.shape == (300, 7) and ids.dtype == np.int64 and dist.dtype == np.float32
for i in range(300):
    dd = ((v - q[i]) ** 2).sum(1)
    order = sorted(range(250), key=lambda j: (dd[j], j + 1))[:7]
    if [j + 1 for j in order] != list(ids[i]) or not np.allclose(dd[order], dist[i], rtol=1e-5, atol=1e-5):
        bad += 1
# row 5 is vector 10: 10, 200, 201 at distance 0, in id order
print(bad, list(ids[5][:3]), float(dist[5][0]))
PY
check "knn = NumPy brute force, ties by id ($(cat "$T_DIR/oracle.out"))" test "$(cat "$T_DIR/oracle.out")" = "0 [11, 201, 202] 0.0"
$K --queries "$T_DIR/q.npy" --format csv > "$T_DIR/a.csv" 2> /dev/null
check "knn CSV: 300 x 7 rows + header" test "$(wc -l < "$T_DIR/a.csv")" = 2101
check "knn CSV: query_id is the row" test "$(sed -n 2p "$T_DIR/a.csv" | cut -d, -f1-3)" = "0,1,$($PY -c "import numpy as n; print(n.load('$T_DIR/a.ids.npy')[0][0])")"

# ---- filters: flags = --filter JSON; checked against the HTTP search below
$K --queries "$T_DIR/q.npy" --type lung,liver --split test,val --out "$T_DIR/f" 2> /dev/null
$K --queries "$T_DIR/q.npy" --filter '{"type":["lung","liver"],"split":"test,val"}' --out "$T_DIR/f2" 2> /dev/null
check "knn filter flags = --filter JSON" sh -c "cmp -s '$T_DIR/f.ids.npy' '$T_DIR/f2.ids.npy' && cmp -s '$T_DIR/f.distances.npy' '$T_DIR/f2.distances.npy'"

# ---- shards + merge = unsharded, byte for byte
for i in 0 1 2; do for g in 0 1; do
	$K --queries "$T_DIR/q.npy" --shard $i/3 --gallery-shard $g/2 --out "$T_DIR/s$i$g" 2> /dev/null
	$K --queries "$T_DIR/q.npy" --type lung,liver --split test,val --shard $i/3 --gallery-shard $g/2 --out "$T_DIR/fs$i$g" 2> /dev/null
done; done
for g in 0 1 2 3 4; do $K --queries "$T_DIR/q.npy" --gallery-shard $g/5 --out "$T_DIR/g$g" 2> /dev/null; done
"$LESIOND" knn-merge --k 7 --out "$T_DIR/m" "$T_DIR"/s??.knn.json 2> "$T_DIR/m.err"
check "knn-merge (3 query x 2 gallery shards) = unsharded" sh -c "cmp '$T_DIR/a.ids.npy' '$T_DIR/m.ids.npy' && cmp '$T_DIR/a.distances.npy' '$T_DIR/m.distances.npy'"
"$LESIOND" knn-merge --k 7 --out "$T_DIR/fm" "$T_DIR"/fs??.ids.npy 2> /dev/null
check "knn-merge under a filter = unsharded filtered" sh -c "cmp '$T_DIR/f.ids.npy' '$T_DIR/fm.ids.npy' && cmp '$T_DIR/f.distances.npy' '$T_DIR/fm.distances.npy'"
"$LESIOND" knn-merge --k 7 --out "$T_DIR/merged_g" "$T_DIR"/g?.* 2> /dev/null
check "knn-merge (5 gallery shards, ties across shards) = unsharded" sh -c "cmp '$T_DIR/a.ids.npy' '$T_DIR/merged_g.ids.npy' && cmp '$T_DIR/a.distances.npy' '$T_DIR/merged_g.distances.npy'"
"$LESIOND" knn-merge --k 3 --out "$T_DIR/m3" "$T_DIR"/g?.knn.json 2> /dev/null
$K --queries "$T_DIR/q.npy" --out "$T_DIR/a3" --k 3 2> /dev/null
check "knn-merge --k 3 from k=7 shards = a k=3 run" sh -c "cmp '$T_DIR/a3.ids.npy' '$T_DIR/m3.ids.npy' && cmp '$T_DIR/a3.distances.npy' '$T_DIR/m3.distances.npy'"
# 60 gallery shards of ~4 vectors: -1 padding in every shard, merged back exactly
for g in $(seq 0 59); do $K --queries "$T_DIR/q.npy" --gallery-shard $g/60 --out "$T_DIR/h$g" 2> /dev/null; done
check "gallery shard with fewer than k vectors: -1 / +inf padding" $PY -c "
import numpy as n; a = n.load('$T_DIR/h7.ids.npy'); d = n.load('$T_DIR/h7.distances.npy')
assert (a[:, 4:] == -1).all() and n.isposinf(d[a == -1]).all() and (a[a >= 0] > 0).all()"
"$LESIOND" knn-merge --k 7 --out "$T_DIR/merged_h" "$T_DIR"/h*.knn.json 2> /dev/null
check "knn-merge of 60 padded gallery shards = unsharded" sh -c "cmp '$T_DIR/a.ids.npy' '$T_DIR/merged_h.ids.npy' && cmp '$T_DIR/a.distances.npy' '$T_DIR/merged_h.distances.npy'"
check "knn-merge: a missing gallery shard is an error, no output" sh -c "! '$LESIOND' knn-merge --k 7 --out '$T_DIR/bad' '$T_DIR/s00' '$T_DIR/s10' '$T_DIR/s11' '$T_DIR/s20' '$T_DIR/s21' 2> '$T_DIR/bad.err' && grep -q 'gallery shards' '$T_DIR/bad.err' && ! test -e '$T_DIR/bad.ids.npy'"
check "knn-merge: shards of different jobs refused" sh -c "! '$LESIOND' knn-merge --k 7 --out '$T_DIR/bad' '$T_DIR/s00' '$T_DIR/fs01' '$T_DIR/s10' '$T_DIR/s11' '$T_DIR/s20' '$T_DIR/s21' 2> /dev/null && ! test -e '$T_DIR/bad.ids.npy'"
check "knn-merge: k larger than the shards' refused" sh -c "! '$LESIOND' knn-merge --k 8 --out '$T_DIR/bad' '$T_DIR'/g?.knn.json 2> /dev/null"
cp "$T_DIR/g1.ids.npy" "$T_DIR/g1.keep" && head -c 1000 "$T_DIR/g1.keep" > "$T_DIR/g1.ids.npy"
check "knn-merge: a truncated shard array is refused" sh -c "! '$LESIOND' knn-merge --k 7 --out '$T_DIR/bad' '$T_DIR'/g?.knn.json 2> /dev/null && ! test -e '$T_DIR/bad.ids.npy'"
mv "$T_DIR/g1.keep" "$T_DIR/g1.ids.npy"

# ---- stored-lesion queries keep today's rules, sharded too
$K --queries all --same-patient exclude --out "$T_DIR/st" 2> /dev/null
for i in 0 1; do for g in 0 1 2; do $K --queries all --same-patient exclude --shard $i/2 --gallery-shard $g/3 --out "$T_DIR/sts$i$g" 2> /dev/null; done; done
"$LESIOND" knn-merge --k 7 --out "$T_DIR/stm" "$T_DIR"/sts??.knn.json 2> /dev/null
check "stored queries, same_patient=exclude: shards + merge = unsharded" sh -c "cmp '$T_DIR/st.ids.npy' '$T_DIR/stm.ids.npy' && cmp '$T_DIR/st.distances.npy' '$T_DIR/stm.distances.npy'"
check "same_patient with a vector file is refused" sh -c "! $K --queries '$T_DIR/q.npy' --same-patient exclude > /dev/null 2>&1"

# ---- bad files: a clear error, exit 1, no output file (nor temporary)
$PY - "$T_DIR" <<'PY'
import numpy as np, sys
d = sys.argv[1]
q = np.load(d + "/q.npy")
np.save(d + "/bad_f8.npy", q.astype("<f8"))
np.save(d + "/bad_dim.npy", q[:, :8].copy())
n = q.copy(); n[170, 3] = np.nan; np.save(d + "/bad_nan.npy", n)
raw = open(d + "/q.npy", "rb").read(); open(d + "/bad_trunc.npy", "wb").write(raw[:-10])
raw = open(d + "/q.fvecs", "rb").read(); open(d + "/bad_trunc.fvecs", "wb").write(raw[:-6])
np.save(d + "/bad_3d.npy", q.reshape(300, 4, 4))
open(d + "/bad_line.ndjson", "w").write("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]\n[1,2,oops]\n")
open(d + "/bad_len.ndjson", "w").write("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]\n[1,2,3]\n")
open(d + "/bad_nan.ndjson", "w").write("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,NaN]\n")
open(d + "/bad.txt", "w").write("1 2 3\n")
PY
for c in "bad_f8.npy:float32" "bad_dim.npy:dimension 8" "bad_nan.npy:row 170, component 3 is NaN" \
	"bad_trunc.npy:truncated" "bad_trunc.fvecs:truncated" "bad_3d.npy:3 dimensions" \
	"bad_line.ndjson:bad_line.ndjson:2:" "bad_len.ndjson:bad_len.ndjson:2: 3 numbers" \
	"bad_nan.ndjson:not a JSON number" "bad.txt:unknown query file type"; do
	f=${c%%:*}; want=${c#*:}
	$K --queries "$T_DIR/$f" --out "$T_DIR/out_$f" > /dev/null 2> "$T_DIR/err_$f"
	rc=$?
	check "bad file $f: exit 1, error says '$want' ($(head -c 160 "$T_DIR/err_$f" | tr '\n' ' '))" \
		sh -c "[ $rc = 1 ] && grep -qF -- '$want' '$T_DIR/err_$f'"
	check "bad file $f: no output file left" test -z "$(ls "$T_DIR" | grep "^out_$f")"
done

# ---- read-only: a backup directory (opened immutable, left untouched) and a database
# in a directory its user cannot write (run as nobody)
"$LESIOND" backup --db "$DB" --out "$T_DIR/bk" > /dev/null 2>&1
stat -c '%n %s %Y' "$T_DIR/bk" "$T_DIR"/bk/* > "$T_DIR/bk.before"
$K --db "$T_DIR/bk" --queries "$T_DIR/q.npy" --out "$T_DIR/fromb" 2> /dev/null
check "knn from a backup directory = from the database" sh -c "cmp '$T_DIR/a.ids.npy' '$T_DIR/fromb.ids.npy' && cmp '$T_DIR/a.distances.npy' '$T_DIR/fromb.distances.npy'"
stat -c '%n %s %Y' "$T_DIR/bk" "$T_DIR"/bk/* > "$T_DIR/bk.after"
check "the backup directory is left as it was (no -wal/-shm)" cmp -s "$T_DIR/bk.before" "$T_DIR/bk.after"
RO=$(mktemp -d) && OUT=$(mktemp -d) && cp "$T_DIR/bk/lesiond.db" "$RO/" && chmod 755 "$RO" "$OUT" && chmod 555 "$RO" && chmod 777 "$OUT"
if command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
	setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$LESIOND" knn --db "$RO/lesiond.db" \
		--queries "$T_DIR/q.npy" --k 7 --quiet --out "$OUT/x" 2> "$T_DIR/ro.err"
	check "knn as nobody on a database in a read-only directory = the same answer ($(tail -n 1 "$T_DIR/ro.err"))" \
		sh -c "cmp '$T_DIR/a.ids.npy' '$OUT/x.ids.npy' && cmp '$T_DIR/a.distances.npy' '$OUT/x.distances.npy'"
	check "nothing written beside the read-only database" test "$(ls "$RO")" = lesiond.db
else
	not_ok "setpriv or user nobody missing: the read-only case cannot be run"
fi
chmod 755 "$RO"; rm -rf "$RO" "$OUT"

# ---- HTTP: the same vectors through the NDJSON batch (search_run, another code path)
# and the npz reply
start_server || { echo "RESULT $T_PASS $((T_FAIL + 1))"; exit 1; }
curl -s -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/http.ndjson" "$BASE/v1/search/batch" > "$T_DIR/http.out"
curl -s -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/httpf.ndjson" "$BASE/v1/search/batch" > "$T_DIR/httpf.out"
expect POST "/v1/search/batch?k=7&format=npz" 200 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/q.npy"
hdr Content-Type 'application/x-npz'
hdr Transfer-Encoding chunked
cp "$T_DIR/body" "$T_DIR/r.npz"
expect POST "/v1/search/batch?k=7&type=lung,liver&split=test,val" 200 -H 'Content-Type: application/x-npy' -H 'Accept: application/x-npz' --data-binary @"$T_DIR/q.npy"
cp "$T_DIR/body" "$T_DIR/rf.npz"
$PY - "$T_DIR" > "$T_DIR/http.cmp" <<'PY'
import numpy as np, json, sys, zipfile
d = sys.argv[1]
def nd(path):
    rows = [json.loads(l) for l in open(path)]
    ids = np.full((len(rows), 7), -1, np.int64); dist = np.full((len(rows), 7), np.inf, np.float32)
    for i, r in enumerate(rows):
        for j, h in enumerate(r["results"]):
            ids[i, j] = h["lesion_id"]; dist[i, j] = np.float32(h["distance"])
    return ids, dist
out = []
for name, ndj, npz, knn in (("plain", "http.out", "r.npz", "a"), ("filtered", "httpf.out", "rf.npz", "f")):
    i1, d1 = nd(d + "/" + ndj)
    z = np.load(d + "/" + npz)
    assert sorted(zipfile.ZipFile(d + "/" + npz).namelist()) == ["distances.npy", "ids.npy"]
    i2, d2 = z["ids"], z["distances"]
    i3, d3 = np.load(d + "/" + knn + ".ids.npy"), np.load(d + "/" + knn + ".distances.npy")
    out.append("%s ndjson=npz:%s npz=knn:%s" % (name, (i1 == i2).all() and (d1 == d2).all(),
                                                 (i2 == i3).all() and (d2 == d3).all()))
print(" ".join(out))
PY
check "HTTP NDJSON = npz = knn --queries ($(cat "$T_DIR/http.cmp"))" test "$(cat "$T_DIR/http.cmp")" = "plain ndjson=npz:True npz=knn:True filtered ndjson=npz:True npz=knn:True"
# errors stay problem+json
expect POST "/v1/search/batch?k=7" 406 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/q.npy"; problem 406
expect POST "/v1/search/batch?format=npz" 422 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/bad_f8.npy"; problem 422
jqt '.detail | test("float32")'
expect POST "/v1/search/batch?format=npz" 422 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/bad_dim.npy"
jqt '.detail | test("dimension 8")'
expect POST "/v1/search/batch?format=npz" 422 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/bad_nan.npy"
jqt '.detail | test("row 170")'
expect POST "/v1/search/batch?format=npz" 422 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/bad_trunc.npy"
expect POST "/v1/search/batch?format=npz&k=0" 422 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/q.npy"
expect POST "/v1/search/batch?format=npz&space=nope" 404 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/q.npy"
expect POST "/v1/search/batch?format=npz&type=spleen" 422 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/q.npy"
expect POST "/v1/search/batch?format=npz&same_patient=exclude" 422 -H 'Content-Type: application/x-npy' --data-binary @"$T_DIR/q.npy"
expect POST "/v1/search/batch?format=npz" 406 -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/http.ndjson"
# the README's Python example, as written there
sed -n '/^```python$/,/^```$/p' "$(dirname "$0")/../../README.md" | sed '1d;$d' > "$T_DIR/example.py"
check "README Python example found" test -s "$T_DIR/example.py"
(cd "$T_DIR" && BASE="$BASE" $PY - <<'PY' > "$T_DIR/example.out" 2>&1
import numpy as np, os
src = open("example.py").read().replace("http://127.0.0.1:8080", os.environ["BASE"])
src = "\n".join(l for l in src.splitlines() if not l.startswith("queries ="))
queries = np.load("q.npy")
exec(src, {"queries": queries, "np": np})
PY
)
check "README Python example runs ($(tail -n 1 "$T_DIR/example.out"))" grep -q '^(300, 10) int64' "$T_DIR/example.out"
finish
