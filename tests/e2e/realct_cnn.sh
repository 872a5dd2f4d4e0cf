#!/bin/sh
# realct_cnn.sh - the lesion network (`train --from images`) on real CT. A CNN trained on a
# synthetic demo is moved (its space and model rows, no vectors) into a database of the
# real DeepLesion slices of ../shared/data/deeplesion (as realct.sh ingests them) and
# embeds them with `lesiond embed --space`. Patient 1 has two true same-lesion pairs
# across studies (realct.sh: 1 = 2, the retrosternal nodule; 3 = 4, the prevascular mass).
# For each of the four lesions we ask whether its true counterpart is the NEAREST of the
# other studies' lesions (1: among 2, 3, 4; 2: among 1, 4; 3: among 1, 4; 4: among 2, 3),
# in builtin and in the CNN space, and print both counts ("# real CT ... x/4").
# The ranking comes from `eval --graph --pairs` (d_embed); it is checked against distances
# computed here from the stored vectors (sqlite3 + python3), an independent path.
# CI trains a tiny demo model for one epoch (mechanics only: its figure means nothing).
# The figure in the README comes from a bigger model, run by hand:
#   REALCT_CNN_DB=/path/demo/lesiond.db REALCT_CNN_SPACE=cnn sh tests/run.sh ... or
#   LESIOND=... LSD_TEST_TMP=/tmp/x LSD_SHARED_DATA=... REALCT_CNN_DB=... sh tests/e2e/realct_cnn.sh
. "$(dirname "$0")/lib.sh"
D="$LSD_SHARED_DATA"
IMG="$D/Images_png"
RDB="$T_DIR/real.db"
SP=${REALCT_CNN_SPACE:-cnn}
if [ -n "${REALCT_CNN_DB:-}" ]; then
	SDB=$REALCT_CNN_DB
else
	SDB="$T_DIR/demo.db"
	DEMO="$T_DIR/demo"
	"$LESIOND" demo --out "$DEMO" --patients 8 --seed 11 > /dev/null 2>&1
	"$LESIOND" ingest --csv "$DEMO/DL_info.csv" --images "$DEMO/Images_png" --db "$SDB" > /dev/null 2>&1
	"$LESIOND" embed --images "$DEMO/Images_png" --db "$SDB" > /dev/null 2>&1
	check "a tiny demo CNN trains (1 epoch)" "$LESIOND" train --from images --to "$SP" \
		--labels "$DEMO/ground_truth.csv" --force --epochs 1 --width 4 --threads 2 \
		--images "$DEMO/Images_png" --db "$SDB" > "$T_DIR/train.out" 2>&1
fi
"$LESIOND" ingest --csv "$D/DL_info_sample.csv" --images "$IMG" --db "$RDB" > /dev/null 2>&1
"$LESIOND" embed --images "$IMG" --db "$RDB" > /dev/null 2>&1
sqlite3 "$RDB" "ATTACH '$SDB' AS s; INSERT INTO spaces SELECT * FROM s.spaces WHERE name = '$SP';
	INSERT INTO models SELECT * FROM s.models WHERE name = '$SP';"
check "the demo's model moved into the real database" \
	test "$(sqlite3 "$RDB" "SELECT count(*) FROM models WHERE name = '$SP'")" = 1
"$LESIOND" embed --space "$SP" --images "$IMG" --db "$RDB" > "$T_DIR/embed.out" 2>&1
NB=$(sqlite3 "$RDB" "SELECT count(*) FROM vectors WHERE space = 'builtin'")
NC=$(sqlite3 "$RDB" "SELECT count(*) FROM vectors WHERE space = '$SP'")
check "every real lesion with a builtin vector has a CNN vector ($NC of $NB)" test "$NC" = "$NB" -a "$NB" -ge 5
for id in 1 2 3 4; do
	check "lesion $id has a CNN vector" test "$(sqlite3 "$RDB" "SELECT count(*) FROM vectors WHERE space = '$SP' AND lesion_id = $id")" = 1
done

printf 'lesion_a,lesion_b\n1,2\n1,3\n1,4\n2,4\n3,4\n' > "$T_DIR/all.csv"
# first(space): how many of lesions 1..4 have their true counterpart nearest, by eval's d_embed
first() {
	printf 'graph_space = %s\n' "$1" > "$T_DIR/$1.conf"
	"$LESIOND" eval --graph --config "$T_DIR/$1.conf" --db "$RDB" --pairs "$T_DIR/all.csv" \
		> "$T_DIR/$1.pairs" 2>/dev/null
	grep '^missed' "$T_DIR/$1.pairs" | sed 's/^missed \([0-9]*\) -> \([0-9]*\) .*d_embed \([0-9.]*\),.*/\1 \2 \3/' |
		awk '{ d[$1 "-" $2] = $3 } END {
			n = (d["1-2"] < d["1-3"] && d["1-2"] < d["1-4"]) + (d["1-2"] < d["2-4"])
			n += (d["3-4"] < d["1-3"]) + (d["3-4"] < d["2-4"]); print n }'
}
# the same from the stored vectors, by python (L2 distance of the vectors as stored; with a
# second argument N, of their first N dimensions only, re-normalised: the appearance part)
first_py() {
	sqlite3 "$RDB" "SELECT lesion_id, hex(vec) FROM vectors WHERE space = '$1' AND lesion_id <= 4" |
		python3 -c '
import sys, struct
n = int(sys.argv[1])
v = {}
for line in sys.stdin:
    i, h = line.strip().split("|")
    b = bytes.fromhex(h)
    x = struct.unpack("<%df" % (len(b) // 4), b)[: n or None]
    s = sum(t * t for t in x) ** 0.5
    v[int(i)] = [t / s for t in x]
d = lambda a, b: sum((x - y) ** 2 for x, y in zip(v[a], v[b]))
print(int(d(1, 2) < min(d(1, 3), d(1, 4))) + int(d(1, 2) < d(2, 4)) + int(d(3, 4) < d(1, 3)) + int(d(3, 4) < d(2, 4)))' "${2:-0}"
}
FB=$(first builtin)
FC=$(first "$SP")
check "builtin: every pair has embedding evidence" test "$(grep -c 'd_embed [0-9]' "$T_DIR/builtin.pairs")" -eq 5
check "CNN: every pair has embedding evidence" test "$(grep -c 'd_embed [0-9]' "$T_DIR/$SP.pairs")" -eq 5
check "builtin ranking ($FB/4) agrees with the stored vectors' distances" test "$FB" = "$(first_py builtin)"
check "CNN ranking ($FC/4) agrees with the stored vectors' distances" test "$FC" = "$(first_py "$SP")"
# the appearance parts alone: builtin's first 194 dimensions (docs/descriptor.md), the
# network's own embedding (the space's vector before the appended location and size)
ND=$(sqlite3 "$RDB" "SELECT params FROM models WHERE name = '$SP'" | sed 's/.*"dim":\([0-9]*\).*/\1/')
AB=$(first_py builtin 194)
AC=$(first_py "$SP" "$ND")
echo "# real CT, patient 1: true counterpart nearest among the other studies' lesions:" \
	"builtin $FB/4, CNN space $SP $FC/4; appearance alone: builtin $AB/4, network ($ND dims)" \
	"$AC/4 (model from $SDB)"
grep '^missed' "$T_DIR/$SP.pairs" | sed 's/^/# /'
finish
