#!/bin/sh
# preload.sh - start-up from <db>.state with FAISS snapshots read on a second thread
# while the vectors load (statesnap.c, space_preload_index): an IVF,SQ8 and an HNSW32
# space beside a Flat one. A current FAISS snapshot is installed from the read-ahead and
# answers exactly as the server that wrote it did; one of another vector set (put back
# from before a write, with a current .state) is refused by the checks against the
# loaded vectors and rebuilt, and the answers then equal a server started from SQLite.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
sample_vectors 16 11 7
for sd in flat:Flat sq:IVF4,SQ8 hn:HNSW32; do
	check "import-vectors ${sd%%:*} (${sd#*:})" "$LESIOND" import-vectors --space "${sd%%:*}" \
		--index-type "${sd#*:}" --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v.fvecs" --db "$DB" --build-index
done
answers() { # OUT: similar-by-id of 40 lesions in the sq and hn spaces, ids and distances
	for sp in sq hn; do for i in $(seq 3 6 240); do
		curl -s "$BASE/v1/lesions/$i/similar?k=8&space=$sp" | jq -c '[.results[]? | [.lesion_id, .distance]]'
	done; done > "$1"
}
start_server || { echo "RESULT 0 1"; exit 1; }	# from SQLite: writes the .state
answers "$T_DIR/a0"
stop_server
check "the first stop left a state snapshot" test -s "$DB.state"
check "and FAISS snapshots of sq and hn" test -s "$DB.space-sq.faiss" -a -s "$DB.space-hn.faiss"
cp "$DB.space-sq.faiss" "$T_DIR/old-sq.faiss"; cp "$DB.space-sq.manifest" "$T_DIR/old-sq.manifest"
cp "$DB.space-hn.faiss" "$T_DIR/old-hn.faiss"; cp "$DB.space-hn.manifest" "$T_DIR/old-hn.manifest"

start_server || { echo "RESULT 0 1"; exit 1; }
check "started from the state snapshot" grep -q "state snapshot .* loaded: " "$T_DIR/server.log"
check "sq's FAISS snapshot installed from the read-ahead" \
	grep -q "space sq: loaded snapshot .*read while the vectors loaded" "$T_DIR/server.log"
check "hn's too" grep -q "space hn: loaded snapshot .*read while the vectors loaded" "$T_DIR/server.log"
answers "$T_DIR/a1"
check "its answers equal those of the server that wrote it (80 lists)" cmp -s "$T_DIR/a0" "$T_DIR/a1"
check "answers are not empty" test "$(grep -c '\[\[' "$T_DIR/a1")" = 80
# a write: lesion 9 moves into another cluster in both spaces (new state, new snapshots)
v=$(python3 -c "print('[' + ','.join(['3.25'] * 16) + ']')")
expect PUT "/v1/lesions/9/embedding?space=sq" 200 -H 'Content-Type: application/json' -d "$v"
expect PUT "/v1/lesions/9/embedding?space=hn" 200 -H 'Content-Type: application/json' -d "$v"
stop_server
# put back the FAISS snapshots from before the write: the .state is current, they are not
for s in sq hn; do cp "$T_DIR/old-$s.faiss" "$DB.space-$s.faiss"; cp "$T_DIR/old-$s.manifest" "$DB.space-$s.manifest"; done
start_server || { echo "RESULT 0 1"; exit 1; }
check "started from the (current) state snapshot" grep -q "state snapshot .* loaded: " "$T_DIR/server.log"
check "sq's stale FAISS snapshot refused and rebuilt" \
	grep -q "space sq: rebuilt from the database .*another vector set" "$T_DIR/server.log"
check "hn's too" grep -q "space hn: rebuilt from the database .*another vector set" "$T_DIR/server.log"
answers "$T_DIR/a2"
stop_server
rm -f "$DB.state" "$DB".space-*
start_server || { echo "RESULT 0 1"; exit 1; }	# from SQLite, indexes rebuilt
check "the reference server read SQLite" grep -q "state snapshot not used" "$T_DIR/server.log"
answers "$T_DIR/a3"
check "after the refusal, answers equal a server started from SQLite" cmp -s "$T_DIR/a2" "$T_DIR/a3"
check "and the write is visible (lesion 9's neighbours changed)" sh -c "! cmp -s '$T_DIR/a0' '$T_DIR/a2'"
stop_server
finish
