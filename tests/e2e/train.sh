#!/bin/sh
# train.sh - black-box tests of lesiond train on a small demo dataset: the refusal to
# train with labels of the evaluation split, training (progress per epoch, the model row
# in SQLite with its loss curve), determinism for a seed, eval of both spaces, the new
# space in /v1/stats and similar-lesion search, and the projection of a lesion added
# through the API into the trained space.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
D="$T_DIR/demo"
"$LESIOND" demo --out "$D" --patients 12 --seed 5 > /dev/null 2>&1
"$LESIOND" ingest --csv "$D/DL_info.csv" --db "$DB" > /dev/null 2>&1
check "embed" "$LESIOND" embed --images "$D/Images_png" --db "$DB"
N=$(($(wc -l < "$D/DL_info.csv") - 1))
check "demo has lesions" test "$N" -gt 50

# labels covering the test split: refused (exit 2) and nothing written
"$LESIOND" train --from builtin --to learned --labels "$D/ground_truth.csv" --epochs 5 \
	--db "$DB" > "$T_DIR/refused.out" 2> "$T_DIR/refused.err"
check "train refuses eval-split labels (exit 2)" test $? = 2
check "refusal says why" grep -q "test split" "$T_DIR/refused.err"
check "no space after refusal" test "$(sqlite3 "$DB" "select count(*) from spaces where name='learned'")" = 0
# bad options
"$LESIOND" train --from builtin --db "$DB" > /dev/null 2>&1
check "train without --to: exit 2" test $? = 2
"$LESIOND" train --from nope --to x --db "$DB" > /dev/null 2>&1
check "train from an unknown space fails" test $? = 1
"$LESIOND" train --from builtin --to builtin.raw --labels "$D/ground_truth.csv" --force \
	--db "$DB" > /dev/null 2>&1
check "train refuses to overwrite an untrained space" test $? = 1

check "train --force" "$LESIOND" train --from builtin --to learned --labels "$D/ground_truth.csv" \
	--force --epochs 12 --seed 3 --db "$DB" > "$T_DIR/train.out" 2> "$T_DIR/train.err"
check "one progress line per epoch" test "$(grep -c '^train: epoch' "$T_DIR/train.err")" = 12
check "summary" grep -q "^train: space learned (dim 64, linear) from builtin: $N lesions" "$T_DIR/train.out"
check "summary has the time" grep -Eq "12 epochs in [0-9.]+ s" "$T_DIR/train.out"
check "every lesion projected" test "$(sqlite3 "$DB" "select count(*) from vectors where space='learned'")" = "$N"
check "model row" test "$(sqlite3 "$DB" "select from_space || ' ' || (json_array_length(loss_curve)) || ' ' || json_extract(params, '\$.dim') || ' ' || json_extract(params, '\$.holdout_split') || ' ' || (length(weights) > 1000) from models where name='learned'")" = "builtin 12 64 3 1"
check "space provenance" test "$(sqlite3 "$DB" "select provenance from spaces where name='learned'")" = "lesiond train from builtin: dim 64, hidden 0, epochs 12, seed 3; + builtin dims 194:199 x 1.6, L2-normalised"
# the same seed again: bit-identical vectors
"$LESIOND" train --from builtin --to again --labels "$D/ground_truth.csv" --force --epochs 12 \
	--seed 3 --db "$DB" > /dev/null 2>&1
check "deterministic for a seed" test "$(sqlite3 "$DB" "select count(*) from vectors a join vectors b using (lesion_id) where a.space='learned' and b.space='again' and a.vec = b.vec")" = "$N"
# default labels: the catalog's (the demo labels val and test like DeepLesion)
check "train with catalog labels" "$LESIOND" train --from builtin --to learned_val --dim 16 \
	--hidden 8 --epochs 3 --db "$DB" > /dev/null 2>&1

"$LESIOND" eval --space builtin --truth "$D/ground_truth.csv" --json --db "$DB" 2>/dev/null > "$T_DIR/eval_b.json"
"$LESIOND" eval --space learned --truth "$D/ground_truth.csv" --json --db "$DB" 2>/dev/null > "$T_DIR/eval_l.json"
check "eval builtin" jq -e >/dev/null '.queries > 5 and .skipped == 0' "$T_DIR/eval_b.json"
check "eval learned" jq -e >/dev/null '.queries > 5 and .skipped == 0 and (.at[1].type_precision | . >= 0 and . <= 1)' "$T_DIR/eval_l.json"
echo "# builtin P@5 $(jq .at[1].type_precision "$T_DIR/eval_b.json"), learned P@5 $(jq .at[1].type_precision "$T_DIR/eval_l.json")"
# type precision at K = 1, 5, 10 recomputed here (numpy over the vectors read from SQLite
# with Python's sqlite3, types from ground_truth.csv): each test-split query ranks the
# other patients' lesions by squared L2; precision = same type among the K hits
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
for sp in builtin learned; do
	[ "$sp" = builtin ] && ej="$T_DIR/eval_b.json" || ej="$T_DIR/eval_l.json"
	check "eval $sp: type precision at 1, 5, 10 equals an independent computation" \
		"$PY" - "$DB" "$D/ground_truth.csv" "$sp" "$ej" <<'PYEOF'
import csv, json, sqlite3, sys
import numpy as np
db, truth, space, ej = sys.argv[1:5]
t = {int(r["lesion_id"]): int(r["true_type"]) for r in csv.DictReader(open(truth))}
c = sqlite3.connect(db)
dim = c.execute("SELECT dim FROM spaces WHERE name = ?", (space,)).fetchone()[0]
les = {i: (p, s) for i, p, s in c.execute("SELECT id, patient, split FROM lesions")}
rows = c.execute("SELECT lesion_id, vec FROM vectors WHERE space = ? ORDER BY lesion_id", (space,)).fetchall()
ids = np.array([r[0] for r in rows])
v = np.array([np.frombuffer(r[1], dtype="<f4", count=dim) for r in rows], dtype=np.float64)
pat = np.array([les[i][0] for i in ids])
prec = {1: [], 5: [], 10: []}
for qi, q in enumerate(ids):
    if les[q][1] != 3 or t.get(q, -1) < 1:
        continue
    d = ((v - v[qi]) ** 2).sum(axis=1)
    d[pat == pat[qi]] = np.inf
    order = [j for j in np.argsort(d, kind="stable") if np.isfinite(d[j])][:10]
    for K in prec:
        ht = [t.get(ids[j], -1) for j in order[:K]]
        known = [x for x in ht if x >= 1]
        if known:
            prec[K].append(sum(x == t[q] for x in known) / len(known))
e = json.load(open(ej))
got = [a["type_precision"] for a in e["at"]]
want = [float(np.mean(prec[K])) for K in (1, 5, 10)]
print("# %s: lesiond %s, here %s" % (space, ["%.4f" % x for x in got], ["%.4f" % x for x in want]))
sys.exit(0 if all(abs(a - b) <= 0.005 for a, b in zip(got, want)) else 1)
PYEOF
done

start_server --images "$D/Images_png" || { echo "RESULT $T_PASS $((T_FAIL + 1))"; exit 1; }
expect GET /v1/stats 200
jqt "any(.spaces[]; .name == \"learned\" and .dim == 69 and .count == $N and (.provenance | startswith(\"lesiond train from builtin\")))"
expect GET "/v1/lesions/$N/similar?space=learned&k=5" 200
jqt '.count == 5 and .space == "learned" and ([.results[].distance] | . == sort)'
jq -c '[.results[].lesion_id]' "$T_DIR/body" > "$T_DIR/before.json"
# delete the last lesion and add it again: it is embedded into builtin and projected into
# learned, so it finds the same neighbours as before under its new id
curl -s "$BASE/v1/lesions/$N" | jq 'del(.id)' > "$T_DIR/lesion.json"
expect DELETE "/v1/lesions/$N" 204
expect GET "/v1/lesions/$N/similar?space=learned&k=5" 404
expect POST /v1/lesions 201 -H 'Content-Type: application/json' --data @"$T_DIR/lesion.json"
NEW=$(jq '.ids[0] // .id' "$T_DIR/body")
check "new id" test "$NEW" -ge "$N"
expect GET "/v1/lesions/$NEW/similar?space=learned&k=5" 200
jqt "[.results[].lesion_id] == $(cat "$T_DIR/before.json")"
expect GET "/v1/lesions/$NEW/similar?space=learned_val&k=3" 200
expect GET /v1/stats 200
jqt "any(.spaces[]; .name == \"learned\" and .count == $N)"
stop_server
check "projected vector stored in SQLite" test "$(sqlite3 "$DB" "select count(*) from vectors where space='learned' and lesion_id=$NEW")" = 1
finish
