#!/bin/sh
# crash.sh - kill -9 INSIDE a write transaction, then all-or-nothing. LSD_DEBUG_TX_PAUSE_MS
# (a test-only hook, index/store_debug.c) holds the transaction open half way through its
# rows and creates LSD_DEBUG_TX_PAUSE_FILE; the test kills the process then. Covered: a
# bulk CSV ingest (6,000 rows over 1,000 already stored), a bulk import-vectors (6,000
# vectors over 1,000), a bulk vector upload to the running daemon, and a graph rebuild.
# After each kill the database holds exactly the state before (counted with sqlite3),
# then the same operation without the pause completes.
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
FIX="$(dirname "$0")/bigfix.py"
# Debian's python3 (python3-numpy, tools/deps.sh), not a python3 of someone's PATH
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
MARK="$T_DIR/paused"
q() { sqlite3 "$DB" "$1"; }
"$PY" "$FIX" gen "$LSD_SHARED_DATA/DL_info_sample.csv" "$T_DIR" 6000 ||
	{ echo "RESULT 0 1"; exit 1; }
head -n 1001 "$T_DIR/DL_info.csv" > "$T_DIR/first.csv"
head -n 1000 "$T_DIR/ids.txt" > "$T_DIR/ids1000.txt"
"$PY" -c "import numpy as np, sys; v = np.load(sys.argv[1]); np.save(sys.argv[2], v[:1000])" \
	"$T_DIR/v.npy" "$T_DIR/v1000.npy"

# run_killed WHERE CMD...: run CMD with the pause at WHERE, kill -9 once it is inside
run_killed() {
	where=$1; shift
	rm -f "$MARK"
	LSD_DEBUG_TX_PAUSE_MS=30000 LSD_DEBUG_TX_PAUSE_AT=$where LSD_DEBUG_TX_PAUSE_FILE=$MARK \
		"$@" > "$T_DIR/killed.log" 2>&1 &
	pid=$!
	i=0
	while [ ! -f "$MARK" ] && [ $i -lt 600 ] && kill -0 $pid 2>/dev/null; do
		i=$((i + 1)); sleep 0.05
	done
	check "$where: paused inside the transaction" test -f "$MARK"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	check "$where: the process died by SIGKILL" test $? = 137
}

# ---- ingest ----
check "ingest 1,000 rows" sh -c "'$LESIOND' ingest --csv '$T_DIR/first.csv' --db '$DB' > /dev/null"
run_killed ingest "$LESIOND" ingest --csv "$T_DIR/DL_info.csv" --db "$DB"
check "ingest killed: still exactly 1,000 lesions" test "$(q 'SELECT count(*) FROM lesions')" = 1000
check "ingest killed: no lesion above id 1,000" test "$(q 'SELECT count(*) FROM lesions WHERE id > 1000')" = 0
check "ingest again, no pause" sh -c "'$LESIOND' ingest --csv '$T_DIR/DL_info.csv' --db '$DB' > /dev/null"
check "now 6,000 lesions" test "$(q 'SELECT count(*) FROM lesions')" = 6000

# ---- import-vectors ----
check "import 1,000 vectors" sh -c "'$LESIOND' import-vectors --space emb --ids '$T_DIR/ids1000.txt' --vectors '$T_DIR/v1000.npy' --db '$DB' > /dev/null"
v1=$(q "SELECT hex(vec) FROM vectors WHERE space='emb' AND lesion_id=500")
run_killed vectors "$LESIOND" import-vectors --space emb --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v.npy" --db "$DB"
check "import killed: still exactly 1,000 vectors" test "$(q "SELECT count(*) FROM vectors WHERE space='emb'")" = 1000
check "import killed: none above id 1,000" test "$(q "SELECT count(*) FROM vectors WHERE space='emb' AND lesion_id > 1000")" = 0
check "import killed: a stored vector unchanged" test "$(q "SELECT hex(vec) FROM vectors WHERE space='emb' AND lesion_id=500")" = "$v1"
check "import again, no pause" sh -c "'$LESIOND' import-vectors --space emb --ids '$T_DIR/ids.txt' --vectors '$T_DIR/v.npy' --db '$DB' > /dev/null"
check "now 6,000 vectors" test "$(q "SELECT count(*) FROM vectors WHERE space='emb'")" = 6000

# ---- a bulk upload to the daemon (NDJSON, 2,000 vectors of a new space) ----
"$PY" -c "
import numpy as np, json, sys
v = np.load(sys.argv[1])
with open(sys.argv[2], 'w') as f:
    for i in range(2000):
        f.write(json.dumps({'lesion_id': i + 1, 'vector': [float(x) for x in v[i][:16]]}) + '\n')
" "$T_DIR/v.npy" "$T_DIR/up.ndjson"
LSD_DEBUG_TX_PAUSE_MS=30000 LSD_DEBUG_TX_PAUSE_AT=vectors LSD_DEBUG_TX_PAUSE_FILE=$MARK \
	start_server || { echo "RESULT 0 1"; exit 1; }
rm -f "$MARK"
curl -s -o /dev/null -X POST -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/up.ndjson" \
	"$BASE/v1/spaces/up/vectors" &
CURL=$!
i=0
while [ ! -f "$MARK" ] && [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.05; done
check "upload: paused inside the transaction" test -f "$MARK"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
wait $CURL 2>/dev/null
check "upload killed: no vector of space up" test "$(q "SELECT count(*) FROM vectors WHERE space='up'")" = 0
start_server || { echo "RESULT 0 1"; exit 1; }
expect POST /v1/spaces/up/vectors 200 -H 'Content-Type: application/x-ndjson' --data-binary @"$T_DIR/up.ndjson"
check "upload again: 2,000 vectors" test "$(q "SELECT count(*) FROM vectors WHERE space='up'")" = 2000
stop_server

# ---- graph rebuild ----
check "graph build" sh -c "'$LESIOND' graph --db '$DB' > /dev/null 2>&1"
# the patient with the most edges
P=$(q "SELECT patient FROM graph_edges GROUP BY patient ORDER BY count(*) DESC, patient LIMIT 1")
before=$(q "SELECT count(*) || ':' || coalesce(sum(from_id * 7 + to_id), 0) FROM graph_edges WHERE patient = $P")
check "patient $P has edges ($before)" test "${before%%:*}" -ge 2
run_killed graph "$LESIOND" graph --patient "$P" --db "$DB"
after=$(q "SELECT count(*) || ':' || coalesce(sum(from_id * 7 + to_id), 0) FROM graph_edges WHERE patient = $P")
check "graph killed: patient $P's edges as before ($after)" test "$after" = "$before"
check "graph rebuild again, no pause" sh -c "'$LESIOND' graph --patient '$P' --db '$DB' > /dev/null 2>&1"
check "the same edges (deterministic)" test "$(q "SELECT count(*) || ':' || coalesce(sum(from_id * 7 + to_id), 0) FROM graph_edges WHERE patient = $P")" = "$before"
check "integrity_check ok" test "$(q 'PRAGMA integrity_check')" = ok
finish
