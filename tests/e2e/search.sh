#!/bin/sh
# search.sh - black-box tests of similar-lesion search: every query form and filter, the
# batch endpoint (order, streaming, a bad line among good ones, a 100,000-query job with
# bounded memory), lesiond knn, and every 4xx case.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$DB" > /dev/null
# random 16-d vectors for lesions 1..250 (251..260 get none), written as .fvecs
python3 - "$T_DIR" <<'PY'
import random, struct, sys
random.seed(5)
d = sys.argv[1]
with open(d + "/v.fvecs", "wb") as f, open(d + "/ids.txt", "w") as ids, open(d + "/vecs.txt", "w") as t:
    for i in range(1, 251):
        v = [random.gauss(0, 1) for _ in range(16)]
        f.write(struct.pack("<i", 16) + struct.pack("<16f", *v))
        ids.write("%d\n" % i)
        t.write(" ".join(repr(struct.unpack("<f", struct.pack("<f", x))[0]) for x in v) + "\n")
PY
check "import-vectors" "$LESIOND" import-vectors --space builtin --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v.fvecs" --db "$DB"
start_server || { echo "RESULT 0 1"; exit 1; }

# expected neighbours of lesion 1 computed here (squared L2, query excluded)
python3 - "$T_DIR" > "$T_DIR/expect1.txt" <<'PY'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1] + "/vecs.txt")]
q = rows[0]
d = sorted((sum((a - b) ** 2 for a, b in zip(q, r)), i + 1) for i, r in enumerate(rows) if i)
print(" ".join(str(i) for _, i in d[:5]))
PY
expect GET "/v1/lesions/1/similar?k=5" 200
jqt '.count == 5 and .mode == "exact" and (.took_ms | type == "number") and .space == "builtin"'
jqt "[.results[].lesion_id] == [$(sed 's/ /,/g' "$T_DIR/expect1.txt")]"
jqt '[.results[].rank] == [1,2,3,4,5] and ([.results[].distance] | . == sort)'
jqt 'all(.results[]; .lesion_id != 1 and .patch_url == "/v1/lesions/\(.lesion_id)/patch.png" and (.lesion.patient | type == "number"))'
expect GET "/v1/lesions/1/similar" 200
jqt '.count == 10'
# filters: every result satisfies them
expect GET "/v1/lesions/10/similar?k=20&type=lung,liver&split=test,val" 200
jqt 'all(.results[]; (.lesion.type == 5 or .lesion.type == 4) and (.lesion.split >= 2))'
expect GET "/v1/lesions/10/similar?k=50&same_patient=exclude" 200
p10=$(curl -s "$BASE/v1/lesions/10" | jq .patient)
jqt "all(.results[]; .lesion.patient != $p10)"
expect GET "/v1/lesions/10/similar?k=50&same_patient=only" 200
jqt "all(.results[]; .lesion.patient == $p10)"
expect GET "/v1/lesions/10/similar?k=5&min_diam_mm=20&max_diam_mm=40" 200
jqt 'all(.results[]; .lesion.diameters_mm[0] >= 20 and .lesion.diameters_mm[0] <= 40)'
expect GET "/v1/lesions/10/similar?k=5&patient=999" 200
jqt '.count == 0 and .results == []'
# filtered answers against a brute force here (csv module + the vectors): ids in order
# and the count, for filters of every kind (the check above only says each one passes)
oracle() { # QUERY_ID K QUERYSTRING -> the expected ids, comma-separated
	python3 - "$LSD_SHARED_DATA/DL_info_sample.csv" "$T_DIR/vecs.txt" "$@" <<'PY'
import csv, sys
from urllib.parse import parse_qs
rows = list(csv.reader(open(sys.argv[1], newline="")))[1:]
vec = [list(map(float, l.split())) for l in open(sys.argv[2])]
qid, k, q = int(sys.argv[3]), int(sys.argv[4]), {a: b[0] for a, b in parse_qs(sys.argv[5]).items()}
T = ["bone", "abdomen", "mediastinum", "liver", "lung", "kidney", "soft_tissue", "pelvis"]
S = ["train", "val", "test"]
def ok(i):
    r = rows[i - 1]
    t, age = int(r[9]), None if r[16] == "NaN" else float(r[16])
    d = float(r[7].split(",")[0]) * float(r[12].split(",")[0])
    if i == qid or i > len(vec):
        return False
    if "type" in q and (t < 1 or T[t - 1] not in q["type"].split(",")): return False
    if "split" in q and S[int(r[17]) - 1] not in q["split"].split(","): return False
    if "min_diam_mm" in q and d < float(q["min_diam_mm"]): return False
    if "max_diam_mm" in q and d > float(q["max_diam_mm"]): return False
    if "gender" in q and r[15] != q["gender"]: return False
    if "min_age" in q and (age is None or age < float(q["min_age"])): return False
    if "max_age" in q and (age is None or age > float(q["max_age"])): return False
    if q.get("same_patient") == "exclude" and r[1] == rows[qid - 1][1]: return False
    if q.get("same_patient") == "only" and r[1] != rows[qid - 1][1]: return False
    return True
qv = vec[qid - 1]
c = sorted((sum((a - b) ** 2 for a, b in zip(qv, vec[i - 1])), i) for i in range(1, len(rows) + 1) if ok(i))
print(",".join(str(i) for _, i in c[:k]))
PY
}
for fq in "10 20 type=lung,liver&split=test,val" "10 5 min_diam_mm=20&max_diam_mm=40" \
	"7 10 min_age=50&max_age=70&gender=M" "33 30 same_patient=exclude&split=train" \
	"33 10 same_patient=only" "120 50 type=bone,abdomen,mediastinum,kidney,soft_tissue,pelvis"; do
	set -- $fq
	want=$(oracle "$1" "$2" "$3")
	expect GET "/v1/lesions/$1/similar?k=$2&$3" 200
	jqt "[.results[].lesion_id] == [$want] and .count == ([$want] | length)"
done
# POST forms
expect POST /v1/search 200 -H 'Content-Type: application/json' --data '{"lesion_id":1,"k":5}'
jqt "[.results[].lesion_id] == [$(sed 's/ /,/g' "$T_DIR/expect1.txt")]"
V=$(head -n 1 "$T_DIR/vecs.txt" | sed 's/ /,/g')
expect POST /v1/search 200 -H 'Content-Type: application/json' --data "{\"vector\":[$V],\"k\":3}"
jqt '.results[0].lesion_id == 1 and .results[0].distance < 1e-6'
expect POST /v1/search 200 -H 'Content-Type: application/json' --data '{"lesion_id":3,"k":4,"filter":{"type":["bone","lung"],"same_patient":"exclude"}}'
jqt 'all(.results[]; .lesion.type == 1 or .lesion.type == 5)'
# reply bytes: each similar reply (GET and POST, k=50, every lesion with a vector) is
# byte for byte the writer's format, rendered here from its own parsed values: keys in
# order, no spaces, integers plain, every other number the shortest of %.6g .. %.17g
# that reads back as the same double (json.c jw_num). Independent of the CPU's rounding
# of the distances, so it pins the format, not the floats.
for i in $(seq 1 7 250); do
	curl -s "$BASE/v1/lesions/$i/similar?k=50"
	echo
	curl -s -H 'Content-Type: application/json' --data "{\"lesion_id\":$i,\"k\":50}" "$BASE/v1/search"
	echo
done > "$T_DIR/bytes.txt"
python3 - "$T_DIR/bytes.txt" > "$T_DIR/bytes.out" <<'PY2'
import json, sys
def num(x):
    if isinstance(x, bool) or isinstance(x, int):
        return json.dumps(x)
    for p in range(6, 18):
        s = "%.*g" % (p, x)
        if float(s) == x:
            break
    return s
def w(v):
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + w(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(w(x) for x in v) + "]"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return num(v)
    return json.dumps(v, ensure_ascii=False)
n = bad = floats = 0
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    v = json.loads(line)
    n += 1
    floats += sum(isinstance(r["distance"], float) for r in v["results"])
    if w(v) != line:
        bad += 1
        sys.stderr.write("differs: %s\n" % line[:300])
print(n, bad, floats > 1000)
PY2
check "similar replies: bytes are the writer's format ($(cat "$T_DIR/bytes.out"))" test "$(cat "$T_DIR/bytes.out")" = "72 0 True"
# 4xx
expect GET "/v1/lesions/1/similar?k=0" 422; problem 422
expect GET "/v1/lesions/1/similar?k=1001" 422
expect GET "/v1/lesions/1/similar?k=abc" 422
expect GET "/v1/lesions/1/similar?space=nope" 404; problem 404
expect GET "/v1/lesions/255/similar" 404
jqt '.detail | test("no vector")'
expect GET "/v1/lesions/99999/similar" 404
expect GET "/v1/lesions/x/similar" 404
expect GET "/v1/lesions/1/similar?same_patient=maybe" 422
expect GET "/v1/lesions/1/similar?type=spleen" 422
expect POST /v1/search 415 -H 'Content-Type: text/plain' --data '{}'
expect POST /v1/search 400 -H 'Content-Type: application/json' --data '{"lesion_id":'
expect POST /v1/search 400 -H 'Content-Type: application/json' --data '{"k":3}'
expect POST /v1/search 422 -H 'Content-Type: application/json' --data '{"vector":[1,2,3]}'
jqt '.detail | test("16")'
expect POST /v1/search 422 -H 'Content-Type: application/json' --data '{"lesion_id":1,"k":5000}'
expect POST /v1/search 422 -H 'Content-Type: application/json' --data '{"lesion_id":1,"colour":1}'
expect POST /v1/search 422 -H 'Content-Type: application/json' --data '{"lesion_id":1,"filter":{"split":"holiday"}}'
expect GET /v1/search 405

# batch: order, a bad line among good ones, chunked streaming
printf '%s\n' '{"lesion_id":1,"k":5}' 'not json' '{"lesion_id":2,"k":2,"space":"nope"}' '' '{"lesion_id":3,"k":1}' > "$T_DIR/b.ndjson"
expect POST /v1/search/batch 200 -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/b.ndjson"
hdr Transfer-Encoding chunked
hdr Content-Type 'application/x-ndjson'
check "batch: one line per query, in order" test "$(jq -s -c '[.[].line]' "$T_DIR/body")" = "[1,2,3,5]"
check "batch: good lines answered" test "$(jq -s -c '[.[0].results[].lesion_id]' "$T_DIR/body")" = "[$(sed 's/ /,/g' "$T_DIR/expect1.txt")]"
check "batch: bad lines get error objects" test "$(jq -s -c '[.[1].error.status, .[2].error.status]' "$T_DIR/body")" = "[400,404]"
expect POST /v1/search/batch 415 -H 'Content-Type: text/csv' --data-binary @"$T_DIR/b.ndjson"
# 100,000 queries: answered in order, server memory bounded
rss0=$(awk '/VmRSS/ {print $2}' /proc/$SERVER_PID/status)
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "{\"lesion_id\":%d,\"k\":1}\n", 1 + i % 250 }' > "$T_DIR/big.ndjson"
curl -s -N -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/big.ndjson" "$BASE/v1/search/batch" |
	awk 'BEGIN { bad = 0 } { n++; if (index($0, "\"line\":" n ",") != 2) bad++ } END { print n, bad }' > "$T_DIR/big.out"
rss1=$(awk '/VmRSS/ {print $2}' /proc/$SERVER_PID/status)
check "100,000-query batch: 100,000 lines in order ($(cat "$T_DIR/big.out"))" test "$(cat "$T_DIR/big.out")" = "100000 0"
check "100,000-query batch: server RSS grew < 200 MB (${rss0} kB -> ${rss1} kB)" test $((rss1 - rss0)) -lt 204800
stop_server

# lesiond knn: same neighbours as the API, no server
"$LESIOND" knn --db "$DB" --space builtin --queries all --k 5 > "$T_DIR/knn.csv" 2> "$T_DIR/knn.err"
check "knn: exit 0" test $? = 0
check "knn: CSV header" test "$(head -n 1 "$T_DIR/knn.csv")" = "query_id,rank,lesion_id,distance"
check "knn: 250 queries x 5" test "$(tail -n +2 "$T_DIR/knn.csv" | wc -l)" = 1250
check "knn: lesion 1's neighbours equal the API's" test "$(awk -F, '$1 == 1 { printf "%s ", $3 }' "$T_DIR/knn.csv")" = "$(cat "$T_DIR/expect1.txt") "
"$LESIOND" knn --db "$DB" --queries split=test --k 3 --format ndjson --same-patient exclude > "$T_DIR/knn.ndjson" 2>/dev/null
check "knn: ndjson, test split only" jq -e -s 'length > 0 and all(.[]; (.results | length) == 3)' "$T_DIR/knn.ndjson"
check "knn: unknown space is an error" sh -c "! '$LESIOND' knn --db '$DB' --space nope > /dev/null 2>&1"
finish
