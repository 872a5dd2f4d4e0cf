#!/bin/sh
# graph.sh - the lesion graph end to end: ingest a hand-made patient (3 studies: a lesion
# that grows, one that vanishes, one that appears, two lesions close together that both
# drift), `lesiond graph`, then the graph and track endpoints, 404s, and the graph kept
# current after a DELETE. Expected links and RECIST categories are worked out by hand in
# tests/unit/test_graph.c (the same geometry; ids here are CSV row numbers).
. "$(dirname "$0")/lib.sh"

CSV="$T_DIR/DL_info.csv"
CONF="$T_DIR/lesiond.conf"
DB="$T_DIR/lesiond.db"
# weights of the hand computation, independent of the shipped defaults
cat > "$CONF" <<CONF
graph_w_loc = 1
graph_w_size = 0.1
graph_w_embed = 0
graph_threshold = 0.1
graph_axis_y = 1
graph_axis_z = 1
graph_sequential = false
graph_align = false
CONF

echo "File_name,Patient_index,Study_index,Series_ID,Key_slice_index,Measurement_coordinates,Bounding_boxes,Lesion_diameters_Pixel_,Normalized_lesion_location,Coarse_lesion_type,Possibly_noisy,Slice_range,Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,Patient_age,Train_Val_Test" > "$CSV"
# row: patient study x y z long_mm type  (spacing 1 mm/px, so px = mm)
row() {
	awk -v p="$1" -v s="$2" -v x="$3" -v y="$4" -v z="$5" -v L="$6" -v t="$7" 'BEGIN {
		S = L * 0.6
		printf "%06d_%02d_01_050.png,%d,%d,1,50,\"100, 100, %g, 100, 110, 95, 110, %g\",", p, s, p, s, 100 + L, 95 + S
		printf "\"95, 90, %g, %g\",\"%g, %g\",\"%g, %g, %g\",%d,0,\"45, 55\",\"1, 1, 5\",\"512, 512\",\"-175, 275\",F,60,1\n", 105 + L, 110 + S, L, S, x, y, z, t
	}' >> "$CSV"
}
row 7 1 0.300 0.400 0.500 10 4   # 1  G, grows
row 7 1 0.700 0.600 0.300 20 5   # 2  V, vanishes after study 2
row 7 1 0.400 0.200 0.400 10 4   # 3  C1
row 7 1 0.430 0.200 0.400 10 4   # 4  C2
row 7 2 0.305 0.400 0.500 13 4   # 5  G
row 7 2 0.700 0.605 0.300 19 5   # 6  V
row 7 2 0.500 0.800 0.700 8 2    # 7  A, appears
row 7 2 0.418 0.200 0.400 10 4   # 8  C1 (nearer to C2's old place than C1's)
row 7 2 0.450 0.200 0.400 10 4   # 9  C2
row 7 3 0.310 0.400 0.500 17 4   # 10 G
row 7 3 0.500 0.805 0.700 9 2    # 11 A
row 7 3 0.420 0.200 0.400 10 4   # 12 C1
row 7 3 0.452 0.200 0.400 10 4   # 13 C2
row 9 1 0.300 0.400 0.500 10 4   # 14 another patient, same place: never linked

"$LESIOND" ingest --config "$CONF" --db "$DB" --csv "$CSV" > "$T_DIR/ingest.out" 2>&1
check "ingest" grep -q "14 added" "$T_DIR/ingest.out"
"$LESIOND" graph --config "$CONF" --db "$DB" > "$T_DIR/graph.out" 2>&1
check "lesiond graph counts" grep -q "2 patients, 14 lesions, 11 edges (0 dropped by the one-lesion-per-study rule), 6 tracks" "$T_DIR/graph.out"
"$LESIOND" graph --config "$CONF" --db "$DB" --patient 7 > "$T_DIR/graph1.out" 2>&1
check "lesiond graph --patient" grep -q "1 patients, 13 lesions, 11 edges" "$T_DIR/graph1.out"

# truth: tracks G=1 V=2 C1=3 C2=4 A=5, patient 9's lesion its own
printf 'lesion_id,patient,study,true_type,track_id\n1,7,1,4,1\n2,7,1,5,2\n3,7,1,4,3\n4,7,1,4,4\n5,7,2,4,1\n6,7,2,5,2\n7,7,2,2,5\n8,7,2,4,3\n9,7,2,4,4\n10,7,3,4,1\n11,7,3,2,5\n12,7,3,4,3\n13,7,3,4,4\n14,9,1,4,6\n' > "$T_DIR/truth.csv"
"$LESIOND" graph --config "$CONF" --db "$DB" --truth "$T_DIR/truth.csv" --calibrate > "$T_DIR/eval.out" 2>&1
check "eval: perfect on the hand case" grep -q "precision 1.0000 recall 1.0000 F1 1.0000; tracks recovered whole 6/6" "$T_DIR/eval.out"
check "calibrate prints config lines" grep -q "^graph_threshold = " "$T_DIR/eval.out"
# lesiond eval --graph: the same figures (in memory, nothing written), text and JSON
"$LESIOND" eval --graph --config "$CONF" --db "$DB" --truth "$T_DIR/truth.csv" > "$T_DIR/eg.out" 2>&1
check "eval --graph: perfect on the hand case" grep -q "precision 1.0000 recall 1.0000 F1 1.0000; tracks recovered whole 6/6" "$T_DIR/eg.out"
check "eval --graph: 11 true pairs" grep -q "pairs tp 11 fp 0 fn 0" "$T_DIR/eg.out"
check "eval --graph: no builtin space, no embedding term" grep -q "0 with a vector" "$T_DIR/eg.out"
"$LESIOND" eval --graph --config "$CONF" --db "$DB" --truth "$T_DIR/truth.csv" --json > "$T_DIR/eg.json" 2>/dev/null
check "eval --graph --json" jq -e '.eval.precision == 1 and .eval.recall == 1 and .eval.tracks_whole == 6 and .labelled == 14 and .params.threshold == 0.1' "$T_DIR/eg.json"
# a threshold below every true pair's cost (the smallest is 0.002) links nothing (without
# the shift vote: study 2 -> 3 moves C1 and C2 by exactly +0.002 in x, so that shift
# would link both at cost 0)
printf 'graph_w_loc = 1\ngraph_w_size = 0\ngraph_threshold = 0.001\ngraph_shift_vote = false\n' > "$T_DIR/tiny.conf"
"$LESIOND" eval --graph --config "$T_DIR/tiny.conf" --db "$DB" --truth "$T_DIR/truth.csv" --json > "$T_DIR/eg0.json" 2>/dev/null
check "eval --graph: tiny threshold links nothing" jq -e '.eval.tp == 0 and .eval.fn == 11 and .eval.recall == 0 and .eval.precision == 1 and .edges == 0' "$T_DIR/eg0.json"
printf 'graph_w_loc = 1\ngraph_w_size = 0\ngraph_threshold = 0.001\n' > "$T_DIR/tinyv.conf"
"$LESIOND" eval --graph --config "$T_DIR/tinyv.conf" --db "$DB" --truth "$T_DIR/truth.csv" --json > "$T_DIR/eg0v.json" 2>/dev/null
check "eval --graph: tiny threshold with the vote links exactly C1 and C2 of study 3" jq -e '.eval.tp == 2 and .eval.fp == 0 and .edges == 2' "$T_DIR/eg0v.json"
"$LESIOND" eval --graph --config "$CONF" --db "$DB" > /dev/null 2>&1
check "eval --graph without --truth: usage error" test $? -eq 2
"$LESIOND" eval --calibrate --config "$CONF" --db "$DB" --truth "$T_DIR/truth.csv" > /dev/null 2>&1
check "eval --calibrate without --graph: usage error" test $? -eq 2
"$LESIOND" eval --graph --calibrate --config "$CONF" --db "$DB" --truth "$T_DIR/truth.csv" > "$T_DIR/egc.out" 2>&1
check "eval --graph --calibrate prints config lines" grep -q "^graph_threshold = " "$T_DIR/egc.out"

# the real radiologist-linked pairs (../shared/data/deeplesion/same_lesion_pairs.csv):
# the earlier rule scores the issue's P 0.824 R 0.873 (tp 89 fp 19 fn 13 of 102 pairs);
# the shipped defaults (sequential, aligned, anisotropic, size) must do better
RDB="$T_DIR/real.db"
"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$RDB" > /dev/null 2>&1
"$LESIOND" eval --graph --config "$CONF" --db "$RDB" --space none --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" > "$T_DIR/real_old.out" 2>&1
printf 'graph_sequential = false\ngraph_align = false\ngraph_w_size = 0\ngraph_threshold = 0.08\ngraph_axis_y = 1\ngraph_axis_z = 1\ngraph_series_dup = false\n' > "$T_DIR/old.conf"
"$LESIOND" eval --graph --config "$T_DIR/old.conf" --db "$RDB" --space none --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" > "$T_DIR/real_old.out" 2>&1
check "real pairs, earlier rule: the issue's figures" grep -q "pairs tp 89 fp 19 fn 13; precision 0.8241 recall 0.8725" "$T_DIR/real_old.out"
check "real pairs: 84 labelled of 260" grep -q "260 lesions (84 labelled" "$T_DIR/real_old.out"
check "real pairs: every wrong link listed with its cost" test "$(grep -c '^wrong .*cost .* vs threshold' "$T_DIR/real_old.out")" -ge 1
printf 'graph_space =\n' > "$T_DIR/def.conf"
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --json > "$T_DIR/real_new.json" 2>&1
check "real pairs, defaults: P >= 0.95 and R >= 0.93 (in-sample)" jq -e '.eval.precision >= 0.95 and .eval.recall >= 0.93 and (.eval.tp + .eval.fn) == 102' "$T_DIR/real_new.json"
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval > "$T_DIR/real_cv.out" 2>&1
check "crossval: two folds measured on the other half" test "$(grep -c '^crossval fold [12]: fitted on half' "$T_DIR/real_cv.out")" -eq 2
check "crossval: the two halves add up to the 102 pairs" grep -Eq "^crossval both test halves: same-lesion pairs tp [0-9]+ fp [0-9]+ fn [0-9]+" "$T_DIR/real_cv.out"
# cross-validated (each fold fitted on its own half only). The issue's goal is P and R >=
# 0.93; the pre-registered rule (docs/graph.md, k19) measured P 0.913 R 0.824 on this
# split, so this is a regression floor at that figure rounded down, not the goal
cvpr() { sed -n 's/^crossval both test halves: .* precision \([0-9.]*\) recall \([0-9.]*\) .*/\1 \2/p' "$T_DIR/real_cv.out"; }
check "crossval pooled P >= 0.91 and R >= 0.82 ($(cvpr); the goal 0.93 is not met)" awk -v v="$(cvpr)" 'BEGIN { split(v, a, " "); exit !(a[1] >= 0.91 && a[2] >= 0.82) }'
cverr=$(sed -n 's/^crossval both test halves: same-lesion pairs tp [0-9]* fp \([0-9]*\) fn \([0-9]*\);.*/\1 \2/p' "$T_DIR/real_cv.out" | awk '{ print $1 + $2 }')
check "crossval: every wrong and missed pair of the test halves listed ($cverr)" test "$(grep -Ec '^crossval fold [12]: (missed|wrong) [0-9]+ -> [0-9]+ \(patient' "$T_DIR/real_cv.out")" -eq "$cverr"
check "crossval: the fold's fitted setting names the shift vote" test "$(grep -c '^crossval fold [12]: .* shift_vote [01] wide ' "$T_DIR/real_cv.out")" -eq 2
# repeated cross-validation (--repeats N --seed S): every repeat tests each patient once,
# so all repeats' test halves hold N x 102 true pairs; the original split is unchanged by
# it; one seed gives one result; a repeat's P and R lie between the min and the max
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval --repeats 4 --seed 3 > "$T_DIR/real_rep.out" 2>&1
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval --repeats 4 --seed 3 > "$T_DIR/real_rep2.out" 2>&1
check "repeats: one line of 4 halvings with the seed" grep -q "^crossval repeated: 4 random halvings (seed 3): precision mean " "$T_DIR/real_rep.out"
reppos=$(sed -n 's/^crossval repeated, all test halves: same-lesion pairs tp \([0-9]*\) fp [0-9]* fn \([0-9]*\);.*/\1 \2/p' "$T_DIR/real_rep.out" | awk '{ print $1 + $2 }')
check "repeats: 4 x 102 true pairs tested ($reppos)" test "$reppos" = 408
grep '^crossval \(fold\|both\)' "$T_DIR/real_rep.out" > "$T_DIR/rep_orig.txt"
grep '^crossval \(fold\|both\)' "$T_DIR/real_cv.out" > "$T_DIR/cv_orig.txt"
check "repeats: the original split as without --repeats" cmp -s "$T_DIR/rep_orig.txt" "$T_DIR/cv_orig.txt"
grep '^crossval' "$T_DIR/real_rep2.out" > "$T_DIR/rep2_cv.txt"
grep '^crossval' "$T_DIR/real_rep.out" > "$T_DIR/rep1_cv.txt"
check "repeats: one seed, one result" cmp -s "$T_DIR/rep1_cv.txt" "$T_DIR/rep2_cv.txt"
check "repeats: min <= mean <= max for P and R" awk '/^crossval repeated: / { for (i = 1; i <= NF; i++) { if ($i == "mean") m[++k] = $(i + 1); if ($i == "min") lo[k] = $(i + 1); if ($i == "max") hi[k] = $(i + 1) } } END { exit !(k == 2 && lo[1] <= m[1] && m[1] <= hi[1] && lo[2] <= m[2] && m[2] <= hi[2]) }' "$T_DIR/real_rep.out"
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval --bags 3 > "$T_DIR/real_bag.out" 2>&1
check "bags: each fit bagged over 3 bootstrap samples" grep -q "^crossval: each fit bagged: the weights most of 3 bootstrap" "$T_DIR/real_bag.out"
bagpos=$(sed -n 's/^crossval both test halves: same-lesion pairs tp \([0-9]*\) fp [0-9]* fn \([0-9]*\);.*/\1 \2/p' "$T_DIR/real_bag.out" | awk '{ print $1 + $2 }')
check "bags: still the 102 true pairs tested ($bagpos)" test "$bagpos" = 102
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --bags 3 > /dev/null 2>&1
check "bags without --crossval: usage error" test $? -eq 2
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --repeats 4 > /dev/null 2>&1
check "repeats without --crossval: usage error" test $? -eq 2
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval --repeats 0 > /dev/null 2>&1
check "repeats 0: usage error" test $? -eq 2
# the scale model (--fit scales, include/graph_fit.h; k19_preregistration Attempt 3): each
# fold fits robust per-axis and size scales on its half's links and takes the threshold
# from the chi-square quantile 0.99. Measured once, pre-registered: original split P 0.877
# R 0.559 (the goal 0.93 is not met); this is a regression floor at that figure rounded down
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval --fit scales > "$T_DIR/real_sc.out" 2>&1
check "scales: each fold prints its fitted scales" test "$(grep -c '^crossval fold [12]: scale model on [0-9]* links' "$T_DIR/real_sc.out")" -eq 2
scpr=$(sed -n 's/^crossval both test halves: .* precision \([0-9.]*\) recall \([0-9.]*\) .*/\1 \2/p' "$T_DIR/real_sc.out")
check "scales: crossval pooled P >= 0.87 and R >= 0.55 ($scpr; the goal 0.93 is not met)" awk -v v="$scpr" 'BEGIN { split(v, a, " "); exit !(a[1] >= 0.87 && a[2] >= 0.55) }'
scpos=$(sed -n 's/^crossval both test halves: same-lesion pairs tp \([0-9]*\) fp [0-9]* fn \([0-9]*\);.*/\1 \2/p' "$T_DIR/real_sc.out" | awk '{ print $1 + $2 }')
check "scales: the 102 true pairs tested ($scpos)" test "$scpos" = 102
# a fold's threshold is s_x x sqrt(chi2_4 quantile 0.99) = s_x x 3.6437 (s_x printed to 4 places)
check "scales: each fold's threshold = s_x x 3.6437" awk '/^crossval fold [12]: fitted on half/ { for (i = 1; i <= NF; i++) if ($i == "threshold") t[++n] = $(i + 1) + 0 } /^crossval fold [12]: scale model/ { for (i = 1; i <= NF; i++) if ($i == "s_x") s[++m] = $(i + 1) } END { if (n != 2 || m != 2) exit 1; for (k = 1; k <= 2; k++) { d = t[k] - s[k] * 3.6437; if (d < -0.0002 || d > 0.0002) exit 1 } }' "$T_DIR/real_sc.out"
# --calibrate --fit scales prints config lines (graph_size_quad = true among them); pasted
# into a config they give the same graph as the calibration's in-sample figure
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --calibrate --fit scales > "$T_DIR/real_scal.out" 2>&1
check "scales: calibrate prints graph_size_quad = true" grep -q '^graph_size_quad = true$' "$T_DIR/real_scal.out"
{ printf 'graph_space =\n'; grep '^graph_' "$T_DIR/real_scal.out"; } > "$T_DIR/scal.conf"
"$LESIOND" eval --graph --config "$T_DIR/scal.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" > "$T_DIR/real_scal2.out" 2>&1
scin=$(sed -n 's/^calibrate (scale model, in-sample): same-lesion pairs \(tp [0-9]* fp [0-9]* fn [0-9]*\);.*/\1/p' "$T_DIR/real_scal.out")
check "scales: the pasted config reproduces the calibration's figure ($scin)" grep -q "^graph eval: same-lesion pairs $scin;" "$T_DIR/real_scal2.out"
check "scales: the pasted config runs with size_quad 1" grep -q "size_quad 1," "$T_DIR/real_scal2.out"
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval --fit bogus > /dev/null 2>&1
check "fit bogus: usage error" test $? -eq 2
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval --fit scales --bags 3 > /dev/null 2>&1
check "fit scales with --bags: usage error" test $? -eq 2
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --fit scales > /dev/null 2>&1
check "fit without --calibrate or --crossval: usage error" test $? -eq 2
# the threshold only (--fit threshold, graph_grid_threshold; k19_preregistration Attempt 4):
# each fold keeps the config's weights and fits graph_threshold alone. Measured once,
# pre-registered: original split P 0.980 R 0.961, but 50 halvings P 0.918 (the goal 0.93 is
# not met); this is a regression floor at the original split's figure rounded down
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --crossval --fit threshold > "$T_DIR/real_th.out" 2>&1
check "threshold: both folds keep the config's weights" test "$(grep -c '^crossval fold [12]: fitted on half [01] (w_loc 1 axis 1,0.7,2 w_size 0.1 w_embed 0 shift_vote 1 wide 1 threshold' "$T_DIR/real_th.out")" -eq 2
check "threshold: each fold's threshold is the geometric middle of its run" awk '/^crossval fold [12]: fitted on half/ { for (i = 1; i <= NF; i++) if ($i == "threshold") t[++n] = $(i + 1) + 0 } /^crossval fold [12]: threshold only/ { for (i = 1; i <= NF; i++) if ($i == "from") { lo[++m] = $(i + 1); hi[m] = $(i + 3) } } END { if (n != 2 || m != 2) exit 1; for (k = 1; k <= 2; k++) { d = t[k] - sqrt(lo[k] * hi[k]); if (d < -0.0001 || d > 0.0001 || lo[k] >= hi[k]) exit 1 } }' "$T_DIR/real_th.out"
thpr=$(sed -n 's/^crossval both test halves: .* precision \([0-9.]*\) recall \([0-9.]*\) .*/\1 \2/p' "$T_DIR/real_th.out")
check "threshold: crossval pooled P >= 0.98 and R >= 0.96 ($thpr; halvings P 0.918: the goal is not met)" awk -v v="$thpr" 'BEGIN { split(v, a, " "); exit !(a[1] >= 0.98 && a[2] >= 0.96) }'
thpos=$(sed -n 's/^crossval both test halves: same-lesion pairs tp \([0-9]*\) fp [0-9]* fn \([0-9]*\);.*/\1 \2/p' "$T_DIR/real_th.out" | awk '{ print $1 + $2 }')
check "threshold: the 102 true pairs tested ($thpos)" test "$thpos" = 102
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" --calibrate --fit threshold > "$T_DIR/real_thcal.out" 2>&1
check "threshold: calibrate keeps the weights (axis_y 0.7, w_size 0.1)" sh -c "grep -q '^graph_axis_y = 0.7\$' '$T_DIR/real_thcal.out' && grep -q '^graph_w_size = 0.1\$' '$T_DIR/real_thcal.out' && grep -q '^graph_shift_vote = true\$' '$T_DIR/real_thcal.out'"
# the shift vote: patient 4's only two lesions of study 3 both moved (15 -> 18 by 0.06 in
# x): without the vote 15 -> 18 is missed, with it (the default) it is linked
printf 'graph_space =\ngraph_shift_vote = false\n' > "$T_DIR/novote.conf"
"$LESIOND" eval --graph --config "$T_DIR/novote.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" > "$T_DIR/real_novote.out" 2>&1
check "real pairs without the vote: 15 -> 18 missed" grep -q "^missed 15 -> 18 " "$T_DIR/real_novote.out"
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" > "$T_DIR/real_def.out" 2>&1
check "real pairs with the vote (default): 15 -> 18 linked" test "$(grep -c "^missed 15 -> 18 " "$T_DIR/real_def.out")" -eq 0
# the unambiguous wide links: patient 40's lung lesion 186 -> 187 (unlabelled) -> 189 is
# linked, which the pairs file (two groups, no link between them) counts as 8 wrong pairs
printf 'graph_space =\ngraph_wide = 2\n' > "$T_DIR/wide.conf"
"$LESIOND" eval --graph --config "$T_DIR/wide.conf" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" > "$T_DIR/real_wide.out" 2>&1
check "wide 2: patient 40's two groups joined (8 wrong pairs)" test "$(grep -Ec "^wrong 18[3-6] -> (189|190) " "$T_DIR/real_wide.out")" -eq 8
# held-out real patients 51-99 (tests/data/deeplesion_51, k19_preregistration attempt 5):
# 588 more official rows and 43 DLS pairs the matcher was never designed on. The pairs
# file is re-derived from the DLT entries by the committed rule; the same rule rebuilds
# the shared pairs of patients 1-50 from their entries
N51="$(dirname "$0")/../data/deeplesion_51"
DLT_PAIRS="$(dirname "$0")/../../tools/dlt_pairs.py"
python3 "$DLT_PAIRS" --rows "$LSD_SHARED_DATA/DL_info_sample.csv" --rows "$N51/DL_info_261_848.csv" \
	--entries "$N51/dlt_entries_51_120.csv" --out "$T_DIR/pairs51.csv" 2> "$T_DIR/pairs51.err"
check "held-out pairs: re-derived from the DLT entries, as committed" cmp -s "$T_DIR/pairs51.csv" "$N51/same_lesion_pairs_51.csv"
check "held-out pairs: 86 entries mapped, none dropped, each pair named both ways" sh -c "test \"\$(cat '$T_DIR/pairs51.err')\" = 'dlt_pairs: 86 entries in range (16 out of range), 0 dropped, 43 pairs'"
python3 "$DLT_PAIRS" --rows "$LSD_SHARED_DATA/DL_info_sample.csv" --entries "$N51/dlt_entries_1_50.csv" --out "$T_DIR/pairs1.csv" 2> "$T_DIR/pairs1.err"
sort -t, -k1,1n -k2,2n "$LSD_SHARED_DATA/same_lesion_pairs.csv" | cut -d, -f1-4 > "$T_DIR/shared4.csv"
check "the rule rebuilds the shared pairs of patients 1-50 (lesions and slices)" sh -c "sort -t, -k1,1n -k2,2n '$T_DIR/pairs1.csv' | cut -d, -f1-4 | cmp -s - '$T_DIR/shared4.csv'"
awk -F, -v OFS=, 'NR == 3 { $4 = $4 + 40 } { print }' "$N51/dlt_entries_51_120.csv" > "$T_DIR/moved.csv"
python3 "$DLT_PAIRS" --rows "$LSD_SHARED_DATA/DL_info_sample.csv" --rows "$N51/DL_info_261_848.csv" --entries "$T_DIR/moved.csv" > /dev/null 2> "$T_DIR/moved.err"
check "an entry 40 px off its row is dropped and named" sh -c "grep -q 'moved.csv:3: valid.json#0052 dropped: source 000060_03_01/067.png maps to 0 rows, target 000060_02_01/070.png to row 344' '$T_DIR/moved.err' && grep -q '86 entries in range (16 out of range), 1 dropped, 43 pairs' '$T_DIR/moved.err'"
check "the pair it named is reported as named one way only" grep -q "pair 344,346 named by 1 entries" "$T_DIR/moved.err"
awk -F, -v OFS=, 'NR == 2 { $10 = $3; $11 = $4; $12 = $5; $13 = $6; $14 = $7 } { print }' "$N51/dlt_entries_51_120.csv" > "$T_DIR/selfent.csv"
python3 "$DLT_PAIRS" --rows "$LSD_SHARED_DATA/DL_info_sample.csv" --rows "$N51/DL_info_261_848.csv" --entries "$T_DIR/selfent.csv" > /dev/null 2> "$T_DIR/selfent.err"
check "an entry whose two ends are one row is dropped" grep -q "selfent.csv:2: valid.json#0051 dropped: source 000060_02_01/070.png maps to row 344, target 000060_02_01/070.png to row 344" "$T_DIR/selfent.err"
printf 'file,key\nvalid.json,0001\n' > "$T_DIR/badent.csv"
python3 "$DLT_PAIRS" --rows "$LSD_SHARED_DATA/DL_info_sample.csv" --entries "$T_DIR/badent.csv" > /dev/null 2> "$T_DIR/badent.err"
check "an entries file without the header: exit status 1" test $? -eq 1
check "an entries file without the header: named with file:line" grep -q "badent.csv:1: want the header" "$T_DIR/badent.err"
R51="$T_DIR/real51.db"
{ cat "$LSD_SHARED_DATA/DL_info_sample.csv"; tail -n +2 "$N51/DL_info_261_848.csv"; } > "$T_DIR/all848.csv"
"$LESIOND" ingest --csv "$T_DIR/all848.csv" --db "$R51" > "$T_DIR/ing51.out" 2>&1
check "held-out rows: all 848 ingested" grep -q "848 rows read, 848 added" "$T_DIR/ing51.out"
"$LESIOND" realism --csv "$T_DIR/all848.csv" --pairs "$N51/same_lesion_pairs_51.csv" > "$T_DIR/realism51.md" 2>&1
check "realism on the held-out patients: its columns name the files" grep -q "^| measure | real (all848.csv + same_lesion_pairs_51.csv) | demo (100 patients, seed 1) |" "$T_DIR/realism51.md"
check "realism on the held-out patients: 61 follow-up pairs, as the graph scores" grep -q "^| follow-up pairs (same lesion, two studies) | 61 |" "$T_DIR/realism51.md"
"$LESIOND" eval --graph --config "$T_DIR/def.conf" --db "$R51" --pairs "$N51/same_lesion_pairs_51.csv" > "$T_DIR/real51.out" 2>&1
# measured once, pre-registered: tp 58 fp 0 fn 3 (P 1.000 R 0.951); a floor at it rounded down
r51=$(sed -n 's/^graph eval: same-lesion pairs tp \([0-9]*\) fp \([0-9]*\) fn \([0-9]*\); precision [0-9.]* recall \([0-9.]*\) .*/\1 \2 \3 \4/p' "$T_DIR/real51.out")
check "held-out real patients, shipped defaults: no wrong link, R >= 0.95 of 61 pairs ($r51)" awk -v v="$r51" 'BEGIN { n = split(v, a, " "); exit !(n == 4 && a[2] == 0 && a[4] >= 0.95 && a[1] + a[3] == 61) }'
check "held-out: every missed link listed with its cost" test "$(grep -c '^missed .*cost .* vs threshold' "$T_DIR/real51.out")" -eq "$(echo "$r51" | cut -d' ' -f3)"
"$LESIOND" eval --crossval --config "$CONF" --db "$RDB" --pairs "$LSD_SHARED_DATA/same_lesion_pairs.csv" > /dev/null 2>&1
check "crossval without --graph: usage error" test $? -eq 2
printf 'lesion_a,lesion_b\n5,5\n' > "$T_DIR/selfpair.csv"
"$LESIOND" eval --graph --config "$CONF" --db "$RDB" --pairs "$T_DIR/selfpair.csv" > "$T_DIR/self.out" 2>&1
check "pairs file refused: exit status 1" test $? -eq 1
check "pairs file refused: nothing but lesiond's own messages (no crash report after them)" \
	test "$(grep -vc '^lesiond eval: ' "$T_DIR/self.out")" -eq 0
check "pairs file: a lesion paired with itself is refused with file:line" grep -q "selfpair.csv:2:" "$T_DIR/self.out"

start_server --config "$CONF" || { not_ok "server start"; finish; exit 1; }

expect GET /v1/patients/7/graph 200
jqt '.patient == 7 and (.nodes | length) == 13 and (.edges | length) == 11 and .tracks == 5'
jqt '[.edges[] | [.from, .to]] | sort == [[1,5],[1,10],[2,6],[3,8],[3,12],[4,9],[4,13],[5,10],[7,11],[8,12],[9,13]]'
jqt '[.edges[] | select(.from == 4 and .to == 8)] | length == 0'
jqt '.edges[] | select(.from == 1 and .to == 5) | (.score - 0.687636 | fabs) < 1e-5 and (.components.size_ratio - 1.3 | fabs) < 1e-9 and .components.d_embed == null'
jqt '.nodes[] | select(.lesion_id == 7) | .study == 2 and .slice == 50 and .type == "abdomen" and .diameters_mm == [8, 4.8] and .location == [0.5, 0.8, 0.7]'
jqt '[.nodes[] | select(.lesion_id == 1 or .lesion_id == 5 or .lesion_id == 10) | .track] | unique | length == 1'
jqt '([.nodes[] | select(.lesion_id == 3) | .track] != [.nodes[] | select(.lesion_id == 4) | .track])'
expect GET /v1/patients/9/graph 200
jqt '(.nodes | length) == 1 and (.edges | length) == 0'

expect GET /v1/lesions/5/track 200
jqt '[.track[] | .lesion_id] == [1, 5, 10] and [.track[] | .recist] == ["BL", "SD", "PD"] and .response == "PD"'
jqt '.track[2].sum_mm == 17 and .track[2].change_from_baseline_pct == 70 and .track[2].change_from_nadir_mm == 7 and .track[1].short_mm == 7.8'
jqt '.rule | test("5 mm")'
expect GET /v1/lesions/2/track 200
jqt '[.track[] | .recist] == ["BL", "SD", "CR"] and .track[2].lesion_id == null and .track[2].study == 3 and .track[2].present == false and .response == "CR"'
expect GET /v1/lesions/11/track 200
jqt '[.track[] | .lesion_id] == [7, 11] and .response == "SD"'
expect GET /v1/lesions/14/track 200
jqt '[.track[] | .lesion_id] == [14] and .response == "BL"'

expect GET /v1/patients/12345/graph 404
problem 404
expect GET /v1/patients/abc/graph 404
expect GET /v1/lesions/999/track 404
problem 404
expect GET /v1/lesions/0/track 404
expect POST /v1/lesions/1/track 405

# deleting G's middle lesion rebuilds the patient: G keeps 1-10 (cost 0.063 < 0.1)
expect DELETE /v1/lesions/5 204
expect GET /v1/patients/7/graph 200
jqt '(.edges | length) == 9 and ([.edges[] | select(.from == 1 and .to == 10)] | length) == 1'
expect GET /v1/lesions/1/track 200
jqt '[.track[] | .lesion_id] == [1, 10] and .response == "PD"'
expect GET /v1/lesions/5/track 404
finish
