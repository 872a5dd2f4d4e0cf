#!/bin/sh
# vectors.sh - black-box tests of embedding spaces: PUT/GET of one vector (JSON and
# float32 octet-stream), bulk NDJSON (all or nothing, unknown ids listed), dimension and
# NaN refusals, deletes, /v1/stats; then crash safety: kill -9 in the middle of a bulk
# import, restart, every answered vector is there and no batch is half-present; and a
# truncated or foreign snapshot is detected and rebuilt from SQLite, as the log says.
. "$(dirname "$0")/lib.sh"
CSV="$LSD_SHARED_DATA/DL_info_sample.csv"
DB="$T_DIR/lesiond.db"
D=64

"$LESIOND" ingest --csv "$CSV" --db "$DB" > /dev/null || { echo "RESULT 0 1"; exit 1; }
# batch files: 25 batches of 10 lesions (ids 1..250), component j of lesion i = ((i*7+j)%13)/13
python3 - "$T_DIR" $D <<'PY'
import sys
d, dim = sys.argv[1], int(sys.argv[2])
for b in range(25):
    with open("%s/batch%02d.ndjson" % (d, b), "w") as f:
        for i in range(b * 10 + 1, b * 10 + 11):
            v = ",".join("%.6g" % (((i * 7 + j) % 13) / 13.0) for j in range(dim))
            f.write('{"lesion_id":%d,"vector":[%s]}\n' % (i, v))
PY
vec_json() { python3 -c "import sys; i=int(sys.argv[1]); print('[' + ','.join('%.6g' % (((i*7+j)%13)/13.0) for j in range($D)) + ']')" "$1"; }

start_server || { echo "RESULT 0 1"; exit 1; }
J='Content-Type: application/json'
N='Content-Type: application/x-ndjson'
O='Content-Type: application/octet-stream'

# one vector: creates the space; dimension fixed from then on
expect PUT "/v1/lesions/255/embedding?space=small&metric=ip&provenance=test%20model%201" 200 -H "$J" -d '[1,0,0.5]'
jqt '.lesion_id == 255 and .space == "small" and .dim == 3'
expect PUT "/v1/lesions/256/embedding?space=small" 422 -H "$J" -d '[1,0]'
problem 422
expect PUT "/v1/lesions/99999/embedding?space=small" 404 -H "$J" -d '[1,0,2]'
expect PUT "/v1/lesions/256/embedding?space=small" 415 -H 'Content-Type: text/plain' -d '[1,0,2]'
expect PUT "/v1/lesions/256/embedding?space=small" 400 -H "$J" -d '[1,0,'
expect PUT "/v1/lesions/256/embedding?space=small" 422 -H "$J" -d '[1,"x",2]'
expect PUT "/v1/lesions/256/embedding" 400 -H "$J" -d '[1,0,2]'
expect PUT "/v1/lesions/256/embedding?space=..%2Fx" 422 -H "$J" -d '[1,0,2]'
printf '\000\000\200\077\000\000\000\100\000\000\300\177' > "$T_DIR/nan.f32"	# 1, 2, NaN
expect PUT "/v1/lesions/256/embedding?space=small" 422 -H "$O" --data-binary @"$T_DIR/nan.f32"
printf '\000\000\200\077\000\000\000\100\000\000\100\100' > "$T_DIR/ok.f32"	# 1, 2, 3
expect PUT "/v1/lesions/256/embedding?space=small" 200 -H "$O" --data-binary @"$T_DIR/ok.f32"
expect GET "/v1/lesions/256/embedding?space=small" 200
jqt '.vector == [1,2,3]'
expect GET "/v1/lesions/257/embedding?space=small" 404
expect GET "/v1/lesions/256/embedding?space=nope" 404
expect GET /v1/stats 200
jqt '.spaces | map(select(.name == "small"))[0] | .dim == 3 and .metric == "ip" and .count == 2 and .index_type == "Flat" and .provenance == "test model 1"'
# deleting the lesion removes its vectors
expect DELETE /v1/lesions/256 204
expect GET "/v1/lesions/256/embedding?space=small" 404

# bulk: unknown ids refused whole, with their list
{ cat "$T_DIR/batch00.ndjson"; echo '{"lesion_id":70001,"vector":[0]}' | sed "s/\[0\]/$(vec_json 1)/"; echo '{"lesion_id":70002,"vector":[0]}' | sed "s/\[0\]/$(vec_json 1)/"; } > "$T_DIR/unknown.ndjson"
expect POST /v1/spaces/emb/vectors 422 -H "$N" --data-binary @"$T_DIR/unknown.ndjson"
jqt '(.detail | test("70001")) and (.detail | test("70002")) and (.detail | test("nothing was stored"))'
expect GET "/v1/lesions/1/embedding?space=emb" 404
{ head -n 3 "$T_DIR/batch00.ndjson"; echo '{"lesion_id":4,"vector":[1,2]}'; } > "$T_DIR/mixed.ndjson"
expect POST /v1/spaces/emb/vectors 422 -H "$N" --data-binary @"$T_DIR/mixed.ndjson"
{ head -n 2 "$T_DIR/batch00.ndjson"; head -n 1 "$T_DIR/batch00.ndjson"; } > "$T_DIR/dup.ndjson"
expect POST /v1/spaces/emb/vectors 422 -H "$N" --data-binary @"$T_DIR/dup.ndjson"
expect POST /v1/spaces/emb/vectors 200 -H "$N" --data-binary @"$T_DIR/batch00.ndjson"
jqt '.stored == 10 and .dim == 64'
stop_server

# ---- kill -9 in the middle of a bulk import ----
start_server || { echo "RESULT 0 1"; exit 1; }
: > "$T_DIR/answers"
(
	for b in $(seq -w 1 24); do
		st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "$N" \
			--data-binary @"$T_DIR/batch$b.ndjson" "$BASE/v1/spaces/emb/vectors")
		echo "$b $st" >> "$T_DIR/answers"
		sleep 0.05
	done
) &
LOADER=$!
i=0
while [ "$(wc -l < "$T_DIR/answers")" -lt 8 ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.02; done
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
wait $LOADER
answered=$(awk '$2 == 200' "$T_DIR/answers" | wc -l)
check "some batches were answered before the kill ($answered)" test "$answered" -ge 8
check "some batches were not answered" test "$(awk '$2 != 200' "$T_DIR/answers" | wc -l)" -ge 1
start_server || { echo "RESULT 0 1"; exit 1; }
grep -E "space emb: (rebuilt|loaded|exact Flat)" "$T_DIR/server.log" > "$T_DIR/why" || true
check "the log says how space emb was opened: $(cat "$T_DIR/why")" test -s "$T_DIR/why"
bad=0
present_total=0
for b in $(seq -w 0 24); do
	st=$(awk -v b="$b" '$1 == b { print $2 }' "$T_DIR/answers")
	[ "$b" = 00 ] && st=200
	n=0
	first=$(( ${b#0} * 10 + 1 ))
	[ "$b" = 00 ] && first=1
	for i in $(seq $first $((first + 9))); do
		req GET "/v1/lesions/$i/embedding?space=emb"
		if [ "$ST" = 200 ]; then
			n=$((n + 1))
			want=$(vec_json $i)
			jq -e --argjson w "$want" '(.vector | length) == ($w | length) and ([.vector, $w] | transpose | all(.[0] - .[1] | fabs < 1e-6))' "$T_DIR/body" > /dev/null || bad=$((bad + 1))
		fi
	done
	present_total=$((present_total + n))
	if [ "$st" = 200 ]; then
		[ $n = 10 ] || { echo "# batch $b answered 200 but $n of 10 present"; bad=$((bad + 1)); }
	else
		[ $n = 0 ] || [ $n = 10 ] || { echo "# batch $b (status '$st') half-present: $n of 10"; bad=$((bad + 1)); }
	fi
done
check "every answered vector is back, intact; no batch is half-present" test $bad = 0
expect GET /v1/stats 200
jqt ".spaces | map(select(.name == \"emb\"))[0].count == $present_total"
stop_server
check "shutdown wrote the state snapshot" test -s "$DB.state"
check "a Flat space writes no FAISS copy of its vectors" test ! -e "$DB.space-emb.faiss"

# ---- the state snapshot: loaded when current; stale, truncated or damaged ones refused ----
start_server || { echo "RESULT 0 1"; exit 1; }
check "a current state snapshot is loaded" grep -q "state snapshot .* loaded: .* no SQLite row read" "$T_DIR/server.log"
expect GET /v1/stats 200
jqt ".spaces | map(select(.name == \"emb\"))[0].count == $present_total"
req GET "/v1/lesions/5/embedding?space=emb"
check "vectors served from the snapshot" test "$ST" = 200
# a write into the copy read from the snapshot (a mapped file page: copied on write)
expect PUT "/v1/lesions/5/embedding?space=emb" 200 -H "$J" -d "$(vec_json 6)"
req GET "/v1/lesions/5/embedding?space=emb"
check "the new vector is served" jq -e --argjson w "$(vec_json 6)" '([.vector, $w] | transpose | all(.[0] - .[1] | fabs < 1e-6))' "$T_DIR/body"
stop_server
# stale: another process changed the database after the snapshot was written
sqlite3 "$DB" "INSERT INTO meta (key, value) VALUES ('j17-stale-test', '1')"
start_server || { echo "RESULT 0 1"; exit 1; }
check "a stale state snapshot is refused" grep -q "state snapshot not used: state snapshot is stale" "$T_DIR/server.log"
expect GET /v1/stats 200
jqt ".spaces | map(select(.name == \"emb\"))[0].count == $present_total"
stop_server
check "and rewritten for the next start" grep -q "state snapshot .* written" "$T_DIR/server.log"
size=$(stat -c %s "$DB.state")
head -c $((size / 2)) "$DB.state" > "$T_DIR/trunc" && cat "$T_DIR/trunc" > "$DB.state"
start_server || { echo "RESULT 0 1"; exit 1; }
check "a truncated state snapshot is refused" grep -q "state snapshot not used: .*truncated" "$T_DIR/server.log"
expect GET /v1/stats 200
jqt ".spaces | map(select(.name == \"emb\"))[0].count == $present_total"
stop_server
size=$(stat -c %s "$DB.state")
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)-5]^=1; open(p,'wb').write(bytes(b))" "$DB.state"
start_server || { echo "RESULT 0 1"; exit 1; }
check "a damaged state snapshot is refused" grep -q "state snapshot not used: .*checksum" "$T_DIR/server.log"
req GET "/v1/lesions/5/embedding?space=emb"
check "vectors still served after reading SQLite" test "$ST" = 200
stop_server
# another process writes while the server runs: the server's own next write finds it and
# forgets its known stamp, so the stop writes no snapshot that would claim the new state
start_server || { echo "RESULT 0 1"; exit 1; }
check "the snapshot written after the SQLite start is loaded" grep -q "state snapshot .* loaded: " "$T_DIR/server.log"
sum0=$(cksum < "$DB.state")
sqlite3 "$DB" "INSERT INTO meta (key, value) VALUES ('k17s-live-1', '1')"
expect PUT "/v1/lesions/5/embedding?space=emb" 200 -H "$J" -d "$(vec_json 7)"
stop_server
check "a live server after another process's write: no snapshot at stop (known stamp cleared)" \
	grep -q "state snapshot not written: the database was changed by another process while this one ran" "$T_DIR/server.log"
check "the snapshot file is untouched" test "$(cksum < "$DB.state")" = "$sum0"
start_server || { echo "RESULT 0 1"; exit 1; }
check "the next start refuses it as stale" grep -q "state snapshot not used: state snapshot is stale" "$T_DIR/server.log"
req GET "/v1/lesions/5/embedding?space=emb"
check "and serves the server's own last write" jq -e --argjson w "$(vec_json 7)" '([.vector, $w] | transpose | all(.[0] - .[1] | fabs < 1e-6))' "$T_DIR/body"
stop_server
# the same without a write of its own: the stop sees the database moved past its stamp
start_server || { echo "RESULT 0 1"; exit 1; }
sum0=$(cksum < "$DB.state")
sqlite3 "$DB" "INSERT INTO meta (key, value) VALUES ('k17s-live-2', '1')"
stop_server
check "another process's write and none of its own: no snapshot at stop" \
	grep -q "state snapshot not written: the database changed after this process's last write" "$T_DIR/server.log"
check "the snapshot file is untouched" test "$(cksum < "$DB.state")" = "$sum0"

# ---- lesiond import-vectors: .npy and .fvecs, all or nothing ----
IDB="$T_DIR/imp.db"
"$LESIOND" ingest --csv "$CSV" --db "$IDB" > /dev/null
python3 - "$T_DIR" <<'PY'
import struct, sys
d = sys.argv[1]
def npy(path, rows, dim, val, descr="<f4"):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }" % (descr, rows, dim)
    hl = len(hdr) + 1
    while (10 + hl) % 64: hl += 1
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", hl) + (hdr.ljust(hl - 1) + "\n").encode())
        for i in range(rows):
            f.write(struct.pack("<%df" % dim, *[val(i, j) for j in range(dim)]))
npy(d + "/v.npy", 100, 8, lambda i, j: i + j / 10.0)
npy(d + "/v8.npy", 100, 8, lambda i, j: 0.0, "<f8")
npy(d + "/nan.npy", 100, 8, lambda i, j: float("nan") if i == 42 else 0.0)
npy(d + "/d4.npy", 100, 4, lambda i, j: 0.0)
with open(d + "/v.fvecs", "wb") as f:
    for i in range(100):
        f.write(struct.pack("<i", 8) + struct.pack("<8f", *[-(i + j / 10.0) for j in range(8)]))
with open(d + "/ids.txt", "w") as f:
    f.write("".join("%d\n" % (i + 101) for i in range(100)))
with open(d + "/ids_unknown.txt", "w") as f:
    f.write("".join("%d\n" % (i + 101 if i not in (5, 6) else 90000 + i) for i in range(100)))
with open(d + "/ids99.txt", "w") as f:
    f.write("".join("%d\n" % (i + 101) for i in range(99)))
PY
imp() { "$LESIOND" import-vectors --db "$IDB" "$@" > "$T_DIR/imp.out" 2>&1; }
nvec() { sqlite3 "$IDB" "SELECT count(*) FROM vectors"; }
check "import-vectors .npy" imp --space ext --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v.npy" --provenance "ext model v2"
check "import-vectors prints count and time" grep -Eq "100 vectors of dimension 8 into space ext .* ms" "$T_DIR/imp.out"
imp --space ext --ids "$T_DIR/ids_unknown.txt" --vectors "$T_DIR/v.fvecs"
check "unknown ids refused with their list" grep -q "2 lesion id(s) not in the database (nothing imported): 90005 90006" "$T_DIR/imp.out"
imp --space ext --ids "$T_DIR/ids.txt" --vectors "$T_DIR/d4.npy"
check "dimension mismatch refused" grep -q "has dimension 8" "$T_DIR/imp.out"
imp --space ext --ids "$T_DIR/ids.txt" --vectors "$T_DIR/nan.npy"
check "NaN refused, row named" grep -q "row 42 (lesion 143).*not finite" "$T_DIR/imp.out"
imp --space ext --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v8.npy"
check "float64 .npy refused" grep -q "float32" "$T_DIR/imp.out"
imp --space ext --ids "$T_DIR/ids99.txt" --vectors "$T_DIR/v.npy"
check "row/id count mismatch refused" grep -q "100 rows but" "$T_DIR/imp.out"
check "refused imports wrote nothing" test "$(nvec)" = 100
check "import-vectors .fvecs replaces" imp --space ext --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v.fvecs"
DB="$IDB" start_server || { echo "RESULT 0 1"; exit 1; }
expect GET "/v1/lesions/110/embedding?space=ext" 200
jqt '.vector[0] == -9 and (.vector[7] + 9.7 | fabs) < 1e-5'
expect GET /v1/stats 200
jqt '.spaces | map(select(.name == "ext"))[0] | .count == 100 and .dim == 8 and .provenance == "ext model v2"'
finish
