#!/bin/sh
# bigsearch.sh - filtered search at DeepLesion scale against a numpy brute force:
# 20,480 lesions in DL_info.csv format (tests/e2e/bigfix.py: the real sample rows under
# new patient numbers, every type, split, noisy flag and NaN ages) with 64-d clustered
# vectors in five spaces: Flat, HNSW32, IVF256,Flat at the shipped defaults (efSearch=64,
# nprobe=16), IVF256,Flat at nprobe=1 (config search_params, the per-space knob) and
# IVF256,SQ8.
# 240 batch queries with filters keeping 0.2% to 95% of the lesions: Flat must equal the
# brute force (ids in order, ties by distance, and count); the approximate spaces must
# never be short, and their recall is printed. /metrics proves the over-fetch path, its
# approximate variant and the exact fallback ran.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
FIX="$(dirname "$0")/bigfix.py"
# Debian's python3 (python3-numpy, tools/deps.sh), not a python3 of someone's PATH
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
check "generate the 20,480-lesion fixture" "$PY" "$FIX" gen "$LSD_SHARED_DATA/DL_info_sample.csv" "$T_DIR"
check "ingest it" sh -c "'$LESIOND' ingest --csv '$T_DIR/DL_info.csv' --db '$DB' > '$T_DIR/ingest.log' 2>&1"
for sd in flat:Flat hnsw:HNSW32 ivf:IVF256,Flat ivf1:IVF256,Flat sq8:IVF256,SQ8; do
	check "import-vectors ${sd%%:*} (${sd#*:})" sh -c "'$LESIOND' import-vectors --space '${sd%%:*}' \
		--index-type '${sd#*:}' --ids '$T_DIR/ids.txt' --vectors '$T_DIR/v.npy' --db '$DB' > /dev/null"
done
printf 'search_params = ivf1:nprobe=1\n' > "$T_DIR/lesiond.conf"
start_server --config "$T_DIR/lesiond.conf" || { echo "RESULT 0 1"; exit 1; }
expect GET /v1/stats 200
jqt '.lesions == 20480 or .lesion_count == 20480 or ([.. | numbers] | index(20480) != null)'

metric() { curl -s "$BASE/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
# minimum recall@k over all 240 queries (measured 0.996, 0.956, 0.620 in the first run;
# ivf1, nprobe=1, shows what the knob costs; sq8: 8-bit codes scanned by FAISS's scalar
# quantizer, which the AVX2 binary links rebuilt with AVX2 (tools/deps.sh), candidates
# rescored exactly from the memory copy)
for sm in flat:exact hnsw:recall\>=0.97 ivf:recall\>=0.9 ivf1:recall\>=0.4 sq8:recall\>=0.85; do
	sp=${sm%%:*}
	mode=$(echo "${sm#*:}" | tr -d '\\')
	jq -c --arg s "$sp" '. + {space: $s}' "$T_DIR/queries.ndjson" > "$T_DIR/q-$sp.ndjson"
	o0=$(metric 'lesiond_search_filtered_total{path="overfetch"}')
	expect POST /v1/search/batch 200 -H 'Content-Type: application/x-ndjson' \
		--data-binary @"$T_DIR/q-$sp.ndjson"
	cp "$T_DIR/body" "$T_DIR/a-$sp.ndjson"
	o1=$(metric 'lesiond_search_filtered_total{path="overfetch"}')
	check "$sp: some queries took the over-fetch path ($o0 -> $o1)" test "${o1:-0}" -gt "${o0:-0}"
	check "$sp: answers against the numpy brute force ($mode)" \
		"$PY" "$FIX" check "$T_DIR" "$sp" "$T_DIR/a-$sp.ndjson" "$mode"
done
g=$(metric lesiond_search_overfetch_grow_total)
a=$(metric 'lesiond_search_filtered_total{path="overfetch_ann"}')
fb=$(metric 'lesiond_search_filtered_total{path="ann_fallback"}')
sub=$(metric 'lesiond_search_filtered_total{path="exact_subset"}')
echo "# metrics: exact_subset $sub, over-fetch on an approximate index $a, k' growth $g, fallback $fb"
check "the exact scan path ran" test "${sub:-0}" -gt 0
check "k' grew" test "${g:-0}" -gt 0
check "over-fetch on approximate indexes ran" test "${a:-0}" -gt 0
check "the approximate answers fell back to the exact scan (ivf1)" test "${fb:-0}" -gt 0
finish
