#!/bin/sh
# graph_series.sh - series duplicates (graph_series_dup, include/graph.h) end to end: one
# lesion bookmarked in two series of one study is one node of its track, the stored graph
# holds a representative -> member edge, and the track endpoint gives RECIST one point per
# study (the first series'). Hand case (spacing 1 mm/px, so px = mm):
#   1: study 1, series 1, (0.300, 0.400, 0.500), 20 mm  - the representative
#   2: study 1, series 2, (0.305, 0.400, 0.500), 22 mm  - d 0.005, ratio 1.1: duplicate of 1
#   3: study 2, series 1, (0.310, 0.400, 0.500), 24 mm  - the follow-up
#   4: study 1, series 2, (0.330, 0.400, 0.500), 20 mm  - d 0.03 > 0.02: its own lesion
# All-pairs rule, isotropic, w_size 0, threshold 0.1: with the rule, study 1 is {1, 4}
# in the matching; 1 -> 3 costs 0.01, 4 -> 3 0.02, so the assignment (0.01 + 0.1 for 4
# alone < 0.02 + 0.1 for 1 alone) links 1 -> 3: edges 1 -> 2 (duplicate), 1 -> 3; tracks
# {1, 2, 3}, {4}. Without the rule, study 1's three lesions compete for 3: 2 -> 3 (0.005)
# wins, 1 and 4 stay alone: tracks {1}, {2, 3}, {4}.
. "$(dirname "$0")/lib.sh"

CSV="$T_DIR/DL_info.csv"
CONF="$T_DIR/lesiond.conf"
DB="$T_DIR/lesiond.db"
cat > "$CONF" <<CONF
graph_w_loc = 1
graph_w_size = 0
graph_w_embed = 0
graph_threshold = 0.1
graph_axis_y = 1
graph_axis_z = 1
graph_sequential = false
graph_align = false
graph_space =
CONF
echo "File_name,Patient_index,Study_index,Series_ID,Key_slice_index,Measurement_coordinates,Bounding_boxes,Lesion_diameters_Pixel_,Normalized_lesion_location,Coarse_lesion_type,Possibly_noisy,Slice_range,Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,Patient_age,Train_Val_Test" > "$CSV"
# row: study series slice x long_mm
row() {
	awk -v s="$1" -v r="$2" -v k="$3" -v x="$4" -v L="$5" 'BEGIN {
		S = L * 0.6
		printf "000030_%02d_%02d_%03d.png,30,%d,%d,%d,\"100, 100, %g, 100, 110, 95, 110, %g\",", s, r, k, s, r, k, 100 + L, 95 + S
		printf "\"95, 90, %g, %g\",\"%g, %g\",\"%g, 0.4, 0.5\",4,0,\"45, 55\",\"1, 1, 5\",\"512, 512\",\"-175, 275\",F,60,1\n", 105 + L, 110 + S, L, S, x
	}' >> "$CSV"
}
row 1 1 50 0.300 20
row 1 2 51 0.305 22
row 2 1 50 0.310 24
row 1 2 52 0.330 20

"$LESIOND" ingest --config "$CONF" --db "$DB" --csv "$CSV" > "$T_DIR/ingest.out" 2>&1
check "ingest" grep -q "4 added" "$T_DIR/ingest.out"
printf 'lesion_id,track_id\n1,1\n2,1\n3,1\n4,2\n' > "$T_DIR/truth.csv"
"$LESIOND" eval --graph --config "$CONF" --db "$DB" --truth "$T_DIR/truth.csv" --json > "$T_DIR/dup.json" 2>&1
check "series duplicate: both cross-study pairs linked, nothing wrong" jq -e '.eval.tp == 2 and .eval.fp == 0 and .eval.fn == 0 and .tracks == 2 and .params.series_dup == true' "$T_DIR/dup.json"
cp "$CONF" "$T_DIR/nodup.conf"
echo "graph_series_dup = false" >> "$T_DIR/nodup.conf"
"$LESIOND" eval --graph --config "$T_DIR/nodup.conf" --db "$DB" --truth "$T_DIR/truth.csv" --json > "$T_DIR/nodup.json" 2>&1
check "without the rule: 2 -> 3 only, 1 -> 3 missed, 3 tracks" jq -e '.eval.tp == 1 and .eval.fn == 1 and .tracks == 3 and .params.series_dup == false' "$T_DIR/nodup.json"

"$LESIOND" graph --config "$CONF" --db "$DB" > "$T_DIR/graph.out" 2>&1
check "lesiond graph: 2 edges, 2 tracks" grep -q "1 patients, 4 lesions, 2 edges (0 dropped by the one-lesion-per-study rule), 2 tracks" "$T_DIR/graph.out"
start_server --config "$CONF" || { not_ok "server start"; finish; exit 1; }
expect GET /v1/patients/30/graph 200
jqt '[.edges[] | [.from, .to]] | sort == [[1,2],[1,3]]'
jqt '.edges[] | select(.from == 1 and .to == 2) | .score == 1 and (.components.size_ratio - 1.1 | fabs) < 1e-9'
jqt '[.nodes[] | select(.lesion_id <= 3) | .track] | unique | length == 1'
# RECIST along the track asked for by the duplicate: one point per study, 20 -> 24 mm
expect GET /v1/lesions/2/track 200
jqt '[.track[] | .lesion_id] == [1, 3] and .track[1].change_from_baseline_mm == 4 and .response == "SD"'
finish
