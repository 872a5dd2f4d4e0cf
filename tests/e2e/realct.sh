#!/bin/sh
# realct.sh - real CT: the 97 real DeepLesion 16-bit slices of ../shared/data/deeplesion/
# Images_png (patient 1's three studies with full context, a few slices of patients 7,
# 16 and 47) through ingest, the built-in descriptor, the renderer and the lesion graph.
#  - rendering: whole slices of patient 1's three studies in two windows, compared pixel
#    by pixel with values computed by realct.py (its own PNG decoder and the window
#    formula), not by lesiond;
#  - the descriptor: every lesion whose key slice is present gets a vector, none fails
#    (the expected count is found here by looking for the files);
#  - the graph with the embedding term on patient 1. Its truth is our reading of the
#    images (no radiologist link covers patient 1): lesions 1 (study 1) and 2 (study 2)
#    are the small retrosternal nodule at the aortic arch, 3 (study 2, 15 mm lower) and
#    4 (study 3) the larger prevascular mass. Study 2's normalised location is shifted
#    by ~0.2 in y and ~0.1 in z against studies 1 and 3, so location alone ranks a wrong
#    pair (1 -> 4, 0.064) nearest and links nothing; the checks below record that the
#    embedding distance ranks the true counterpart first for lesions 1, 2 and 4, and
#    that the embedding-led links (graph_embed_link) link both true pairs.
. "$(dirname "$0")/lib.sh"
D="$LSD_SHARED_DATA"
IMG="$D/Images_png"
DB="$T_DIR/lesiond.db"
PY="python3 $(dirname "$0")/realct.py"

"$LESIOND" ingest --csv "$D/DL_info_sample.csv" --images "$IMG" --db "$DB" > "$T_DIR/ingest.out" 2>&1
check "ingest of the real rows" grep -q "260 added" "$T_DIR/ingest.out"
# key slices present, found here: File_name 000001_01_01_109.png -> 000001_01_01/109.png
WANT=$(tail -n +2 "$D/DL_info_sample.csv" | cut -d, -f1 |
	sed 's/^\(.*\)_\([0-9]*\.png\)$/\1\/\2/' | while read -r f; do
		[ -f "$IMG/$f" ] && echo "$f"; done | wc -l)
check "some real key slices are present" test "$WANT" -ge 5
"$LESIOND" embed --images "$IMG" --db "$DB" > "$T_DIR/embed.out" 2>&1
check "embed: a descriptor for every lesion with its key slice, none failed" \
	grep -q "260 lesions: $WANT descriptors computed, 0 reused, $((260 - WANT)) without images, 0 failed" "$T_DIR/embed.out"

CONF="$T_DIR/lesiond.conf"
printf 'graph_space = builtin\ngraph_w_embed = 0.1\n' > "$CONF"
start_server --config "$CONF" --images "$IMG" || { not_ok "server start"; finish; exit 1; }
for s in 000001_01_01/109 000001_02_01/014 000001_03_01/088; do
	for w in "-175 275" "-1350 150"; do
		set -- $w
		curl -s -o "$T_DIR/r.png" "$BASE/v1/slices/$s.png?window=$1,$2"
		$PY "$IMG/$s.png" "$T_DIR/r.png" "$1" "$2" > "$T_DIR/cmp.out" 2>&1
		check "slice $s window $1,$2 equals the independent computation ($(cat "$T_DIR/cmp.out"))" \
			test $? -eq 0
	done
done
# the check above can fail: a window off by 5 HU is caught
curl -s -o "$T_DIR/r.png" "$BASE/v1/slices/000001_01_01/109.png?window=-170,275"
$PY "$IMG/000001_01_01/109.png" "$T_DIR/r.png" -175 275 > /dev/null 2>&1
check "the comparison notices a wrong window" test $? -eq 1
# every real descriptor is finite and unit length
for id in 1 2 3 4; do
	expect GET "/v1/lesions/$id/embedding?space=builtin" 200
	jqt '(.vector | length) == 199 and ([.vector[] | select(isnan or isinfinite)] | length) == 0 and (([.vector[] | . * .] | add) - 1 | fabs) < 1e-4'
done
stop_server

# patient 1, embedding term on: every cross-study pair listed with its costs
printf 'lesion_a,lesion_b\n1,2\n1,3\n1,4\n2,4\n3,4\n' > "$T_DIR/all.csv"
"$LESIOND" eval --graph --config "$CONF" --db "$DB" --pairs "$T_DIR/all.csv" > "$T_DIR/p1.out" 2>/dev/null
de() { grep "^missed $1 -> $2 " "$T_DIR/p1.out" | sed 's/.*d_embed \([0-9.]*\),.*/\1/'; }
dl() { grep "^missed $1 -> $2 " "$T_DIR/p1.out" | sed 's/.*d_loc \([0-9.]*\),.*/\1/'; }
check "patient 1: every pair has embedding evidence" test "$(grep -c 'd_embed [0-9]' "$T_DIR/p1.out")" -eq 5
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
check "location alone ranks the wrong pair 1->4 nearest ($(dl 1 4) < $(dl 1 2))" lt "$(dl 1 4)" "$(dl 1 2)"
check "embedding: lesion 1's true counterpart 2 nearer than 3 ($(de 1 2) < $(de 1 3))" lt "$(de 1 2)" "$(de 1 3)"
check "embedding: lesion 1's true counterpart 2 nearer than 4 ($(de 1 2) < $(de 1 4))" lt "$(de 1 2)" "$(de 1 4)"
check "embedding: lesion 4's true counterpart 3 nearer than 2 ($(de 3 4) < $(de 2 4))" lt "$(de 3 4)" "$(de 2 4)"
cat "$T_DIR/p1.out" | grep -E "^(missed|wrong)" | sed 's/^/# /'
# what the embedding adds: embedding-led links (graph_embed_link) join an unmatched pair
# that is mutually nearest in the embedding and passes the gates (raw displacement
# <= 0.25: 1 -> 2 is 0.22, 3 -> 4 0.246). Location alone links neither true pair, the
# additive term neither (it only adds cost); the links make both, and no wrong one.
printf 'lesion_a,lesion_b\n1,2\n3,4\n' > "$T_DIR/p1truth.csv"
"$LESIOND" eval --graph --config "$CONF" --db "$DB" --pairs "$T_DIR/p1truth.csv" --json > "$T_DIR/p1add.json" 2>/dev/null
check "patient 1, additive embedding term: no true pair linked" jq -e '.eval.tp == 0 and .eval.fn == 2' "$T_DIR/p1add.json"
printf 'graph_space = builtin\ngraph_embed_link = true\n' > "$T_DIR/elink.conf"
"$LESIOND" eval --graph --config "$T_DIR/elink.conf" --db "$DB" --pairs "$T_DIR/p1truth.csv" --json > "$T_DIR/p1link.json" 2>/dev/null
check "patient 1, embedding-led links: both true pairs, nothing wrong" jq -e '.eval.tp == 2 and .eval.fp == 0 and .eval.fn == 0 and .params.embed_link == true' "$T_DIR/p1link.json"
printf 'graph_space =\ngraph_embed_link = true\n' > "$T_DIR/elink0.conf"
"$LESIOND" eval --graph --config "$T_DIR/elink0.conf" --db "$DB" --pairs "$T_DIR/p1truth.csv" --json > "$T_DIR/p1nolink.json" 2>/dev/null
check "patient 1, embedding-led links without vectors: nothing linked" jq -e '.eval.tp == 0' "$T_DIR/p1nolink.json"
finish
