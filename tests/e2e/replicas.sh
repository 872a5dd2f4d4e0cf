#!/bin/sh
# replicas.sh - a primary, two read replicas and Debian's HAProxy running the shipped
# deploy/haproxy/lesiond.cfg, all on 127.0.0.1. Checks: writes on a replica refused
# (403 naming the primary); reads spread over the three servers; 200 searches on each
# replica equal to the primary's; a lesion written through HAProxy searchable on both
# replicas within replica_max_lag; a replica killed with kill -9 under a read load with no
# failed request, catching up after a restart; 1,000 writes then a restarted replica
# (diff) and a new one (snapshot) equal to the primary row for row (lesions, vectors,
# graph); the primary restored from a backup and its log truncated: replicas take a new
# snapshot, keep answering meanwhile, and converge; a batch search (NDJSON and .npz) read
# slowly from a replica while diffs are applied is one state. Stops everything it started.
. "$(dirname "$0")/lib.sh"
T0=$(date +%s)
step() { echo "# [$(( $(date +%s) - T0 )) s] $*"; }
command -v haproxy > /dev/null || { echo "haproxy missing (make deps)"; echo "RESULT 0 1"; exit 1; }
D=$T_DIR
PIDS=""
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# node NAME PORT [serve args]: start lesiond NAME (db $D/NAME.db) and wait for /healthz
node() {
	n=$1; port=$2; shift 2
	rm -f "$D/$n.port"
	"$LESIOND" serve --db "$D/$n.db" --listen 127.0.0.1 --port "$port" --port-file "$D/$n.port" \
		"$@" >> "$D/$n.log" 2>&1 &
	eval "PID_$n=$!"
	PIDS="$PIDS $!"
	i=0
	while [ ! -s "$D/$n.port" ]; do
		i=$((i + 1)); [ $i -gt 600 ] && { echo "$n did not start"; tail "$D/$n.log"; return 1; }
		sleep 0.1
	done
	eval "P_$n=$(cat "$D/$n.port")"
}
url() { eval "echo http://127.0.0.1:\$P_$1"; }
pid() { eval "echo \$PID_$1"; }
stop() { p=$(pid "$1"); kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; }
ready() { # NAME [tries of 0.1 s]
	i=0
	until curl -fs "$(url "$1")/readyz" > /dev/null; do
		i=$((i + 1)); [ $i -gt "${2:-300}" ] && return 1; sleep 0.1
	done
}
pos() { curl -s "$(url "$1")/v1/stats" | jq -r '.replication.position'; }
# wait until replica NAME is at the primary's position (tries of 0.1 s)
caught_up() {
	i=0
	while [ "$(pos "$1")" != "$(pos p)" ]; do
		i=$((i + 1)); [ $i -gt "${2:-100}" ] && return 1; sleep 0.1
	done
}
dump() { # every replicated row, in key order (doubles printed in full)
	sqlite3 "$D/$1.db" "SELECT * FROM patients ORDER BY id; SELECT * FROM studies ORDER BY 1, 2;
		SELECT * FROM series ORDER BY 1, 2, 3;
		SELECT id, file_name, patient, study, key_slice, printf('%!.17g %!.17g %!.17g', loc_x, loc_y, loc_z),
			printf('%!.17g %!.17g', m_x11, diam_long_mm), type, split FROM lesions ORDER BY id;
		SELECT space, lesion_id, hex(vec) FROM vectors ORDER BY 1, 2;
		SELECT from_id, to_id, patient, printf('%!.17g %!.17g', score, cost), d_loc FROM graph_edges ORDER BY 1, 2;
		SELECT name, dim, metric, index_type FROM spaces ORDER BY 1;"
}
same_as_primary() { # NAME: rows and the HTTP lesion list equal the primary's
	dump p > "$D/dump.p"; dump "$1" > "$D/dump.$1"
	curl -s "$(url p)/v1/lesions?limit=1000" | jq -S .lesions > "$D/list.p"
	curl -s "$(url "$1")/v1/lesions?limit=1000" | jq -S .lesions > "$D/list.$1"
	[ -s "$D/dump.p" ] && cmp -s "$D/dump.p" "$D/dump.$1" && cmp -s "$D/list.p" "$D/list.$1"
}

# ---- the primary's data: 260 DeepLesion rows, a 16-d space, the lesion graph ----
step "the primary's data: 260 DeepLesion rows, a 16-d sp"
"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$D/p.db" > /dev/null
python3 - "$D" <<'PY'
import random, struct, sys
random.seed(15)
d = sys.argv[1]
with open(d + "/a.fvecs", "wb") as f, open(d + "/a.ids", "w") as ids:
    for i in range(1, 261):
        f.write(struct.pack("<i", 16) + struct.pack("<16f", *[random.gauss(0, 1) for _ in range(16)]))
        ids.write("%d\n" % i)
PY
"$LESIOND" import-vectors --space a --ids "$D/a.ids" --vectors "$D/a.fvecs" --db "$D/p.db" > /dev/null
"$LESIOND" graph --db "$D/p.db" > /dev/null 2>&1
check "the primary's database has graph edges" test "$(sqlite3 "$D/p.db" 'SELECT COUNT(*) FROM graph_edges')" -gt 0

node p 0 || { echo "RESULT 0 1"; exit 1; }
ready p
PRIMARY=$(url p)
node r1 0 --replica-of "$PRIMARY" && node r2 0 --replica-of "$PRIMARY/" ||
	{ echo "RESULT 0 1"; exit 1; }
check "replica 1 ready" ready r1
check "replica 2 ready" ready r2
HP=$(free_port)
LESIOND_BIND=127.0.0.1:$HP LESIOND_PRIMARY=127.0.0.1:$P_p LESIOND_REPLICA1=127.0.0.1:$P_r1 \
LESIOND_REPLICA2=127.0.0.1:$P_r2 haproxy -f deploy/haproxy/lesiond.cfg -db > "$D/haproxy.log" 2>&1 &
HAPID=$!
PIDS="$PIDS $HAPID"
H=http://127.0.0.1:$HP
i=0; until curl -fs "$H/readyz" > /dev/null; do i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.1; done
sleep 1.2	# every server's first health checks
check "haproxy answers" curl -fs "$H/v1/stats" -o /dev/null

# ---- writes on a replica are refused, naming the primary ----
step "writes on a replica are refused, naming the primar"
BASE=$(url r1)
expect POST /v1/lesions 403 -H 'Content-Type: application/json' --data '{}'
problem 403
jqt ".detail | contains(\"$PRIMARY\")"
expect DELETE /v1/lesions/3 403
expect PUT "/v1/lesions/3/embedding?space=a" 403 -H 'Content-Type: application/json' --data '[1]'
expect POST /v1/spaces/a/vectors 403 -H 'Content-Type: application/x-ndjson' --data '{}'
expect GET /v1/lesions/3 200
expect GET /v1/replication/snapshot 403
expect POST /v1/search 200 -H 'Content-Type: application/json' --data '{"lesion_id":1,"k":3,"space":"a"}'
jqt '.results | length == 3'
expect GET /v1/stats 200
jqt ".replication.role == \"replica\" and .replication.primary == \"$PRIMARY\" and (.replication.lag_seconds < 2)"
req GET /metrics
check "metrics: replica position and lag" sh -c "grep -q '^lesiond_replica_position [0-9]' '$D/body' && grep -q '^lesiond_replica_lag_seconds ' '$D/body'"
BASE=$PRIMARY
expect GET /v1/stats 200
jqt '.replication.role == "primary" and (.replication.log_id | length == 32) and .replication.position > 0'
expect GET "/v1/replication/changes?log=0123&after=0" 422
expect GET "/v1/replication/changes?log=0123456789abcdef0123456789abcdef&after=0" 410
problem 410

# ---- reads are spread over the three servers ----
step "reads are spread over the three servers"
n0p=$(grep -c 'route=similar ' "$D/p.log"); n0a=$(grep -c 'route=similar ' "$D/r1.log"); n0b=$(grep -c 'route=similar ' "$D/r2.log")
curl -s $(for i in $(seq 1 90); do echo "-o /dev/null $H/v1/lesions/$i/similar?space=a&k=5"; done)
np=$(( $(grep -c 'route=similar ' "$D/p.log") - n0p )); na=$(( $(grep -c 'route=similar ' "$D/r1.log") - n0a ))
nb=$(( $(grep -c 'route=similar ' "$D/r2.log") - n0b ))
echo "# 90 reads through haproxy: primary $np, replica1 $na, replica2 $nb"
check "reads spread: every server answered >= 20 of 90 ($np/$na/$nb)" \
	test "$np" -ge 20 -a "$na" -ge 20 -a "$nb" -ge 20 -a $((np + na + nb)) = 90

# ---- 200 searches on each replica equal the primary's ----
step "200 searches on each replica equal the primary's"
searches() { # NAME: 200 similar-by-id answers (ids 1..200, two filters), took_ms dropped
	curl -s $(for i in $(seq 1 200); do
		if [ $((i % 2)) = 0 ]; then echo "$(url "$1")/v1/lesions/$i/similar?space=a&k=10"
		else echo "$(url "$1")/v1/lesions/$i/similar?space=a&k=7&same_patient=exclude&split=train,test"; fi
	done) | jq -c 'del(.took_ms)'
}
searches p > "$D/s.p"; searches r1 > "$D/s.r1"; searches r2 > "$D/s.r2"
check "200 answers from the primary, each with results" test "$(jq -s 'map(select(.count > 0)) | length' "$D/s.p")" = 200
check "replica 1: 200 searches equal the primary's" cmp -s "$D/s.p" "$D/s.r1"
check "replica 2: 200 searches equal the primary's" cmp -s "$D/s.p" "$D/s.r2"

# ---- a lesion written through HAProxy is searchable on both replicas within 2 s ----
step "a lesion written through HAProxy is searchable on "
L=$(curl -s "$PRIMARY/v1/lesions/7" | jq -c 'del(.id,.patch_url,.image_path,.diameters_mm,.type_name,.split_name,.file_name) | .key_slice = .slice_range[0]')
VEC='[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]'
NEW=$(curl -s -X POST -H 'Content-Type: application/json' --data "$L" "$H/v1/lesions" | jq -r '.ids[0]')
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' --data "$VEC" "$H/v1/lesions/$NEW/embedding?space=a")
t0=$(date +%s%N)	# the bound runs from the primary's acknowledgement of the last write
check "lesion $NEW and its vector written through haproxy ($code)" test "$code" = 200 -o "$code" = 201 -o "$code" = 204
found() { curl -s -H 'Content-Type: application/json' --data "{\"vector\":$VEC,\"space\":\"a\",\"k\":1}" "$(url "$1")/v1/search" | jq -e ".results[0].lesion_id == $NEW" > /dev/null; }
seen1=""; seen2=""
while :; do
	now=$(date +%s%N); ms=$(( (now - t0) / 1000000 ))
	[ -z "$seen1" ] && found r1 && seen1=$ms
	[ -z "$seen2" ] && found r2 && seen2=$ms
	[ -n "$seen1" ] && [ -n "$seen2" ] && break
	[ $ms -gt 5000 ] && break
	sleep 0.02
done
echo "# lesion $NEW searchable on replica 1 after ${seen1:-never} ms, replica 2 after ${seen2:-never} ms"
check "searchable on replica 1 within 2 s (${seen1:-never} ms)" test -n "$seen1" -a "${seen1:-9999}" -le 2000
check "searchable on replica 2 within 2 s (${seen2:-never} ms)" test -n "$seen2" -a "${seen2:-9999}" -le 2000

# ---- a batch answered by a replica is one state while diffs are applied ----
# replica_batch.py moves lesion 5 on the primary every 20 ms while it reads a batch of one
# repeated query from replica 1 slowly; computed while sent, blocks differed (4 and 3
# distinct answers on the code before the fix); every answer must be the same one.
step "a batch answered by a replica is one state while "
python3 tests/e2e/replica_batch.py "$PRIMARY" "$(url r1)" 5 > "$D/batch.out" 2>&1
sed 's/^/# format answers distinct first-is-5 seconds bytes writes status: /' "$D/batch.out"
for f in ndjson npz; do
	set -- $(grep "^$f " "$D/batch.out") 0 0 0 0 0 0 0 0
	n=1024; [ $f = npz ] && n=12288
	check "replica batch ($f): $2 answers of $n, $3 distinct (one state), lesion 5 first ($4)" \
		test "$2" = $n -a "$3" = 1 -a "$4" = 1
	check "replica batch ($f): the reply took $5 s while the primary took $7 writes" \
		test "$7" -ge 20
done
set --

# ---- kill -9 a replica under a read load: no request fails; it catches up ----
step "kill -9 a replica under a read load: no request fa"
load() { # OUT: 400 GETs through haproxy, one status code a line
	curl -s -w '%{http_code}\n' $(for i in $(seq 1 400); do
		echo "-o /dev/null $H/v1/lesions/$(( (i * 37) % 250 + 1 ))/similar?space=a&k=10"; done) > "$1"
}
load "$D/load1" & L1=$!
load "$D/load2" & L2=$!
load "$D/load3" & L3=$!
sleep 0.5
kill -9 "$(pid r2)"; wait "$(pid r2)" 2>/dev/null
# writes while replica 2 is down
for i in 1 2 3 4 5; do
	curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' --data "[$i,0,0,0,0,0,0,0,0,0,0,0,0,0,0,$i]" "$H/v1/lesions/$((i + 20))/embedding?space=a"
done
curl -s -o /dev/null -X DELETE "$H/v1/lesions/255"	# not among the ids the load reads
wait $L1 $L2 $L3
cat "$D/load1" "$D/load2" "$D/load3" > "$D/load"
total=$(wc -l < "$D/load"); good=$(grep -c '^200$' "$D/load")
echo "# read load during kill -9: $good of $total answered 200 ($(sort "$D/load" | uniq -c | tr '\n' ' '))"
check "no client request failed while a replica was killed ($good/$total)" test "$total" = 1200 -a "$good" = 1200
node r2 "$P_r2" --replica-of "$PRIMARY"
check "the killed replica restarts and is ready" ready r2
check "and catches up with the primary" caught_up r2
check "it resumed from its position (one snapshot in its log: the first start's)" \
	test "$(grep -c 'fetching a snapshot' "$D/r2.log")" = 1 -a "$(grep -c 'resuming at position' "$D/r2.log")" = 1
check "replica 2 equals the primary row for row" same_as_primary r2

# ---- 1,000 writes; a restarted replica (diff) and a new one (snapshot) converge ----
step "1,000 writes; a restarted replica (diff) and a new"
stop r1
python3 - "$D" "$H" "$L" <<'PY'
import json, random, sys
d, h, tmpl = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
random.seed(1000)
out = open(d + "/writes.curl", "w")
def req(method, path, body, ctype="application/json"):
    out.write('url = "%s%s"\nrequest = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' % (h, path, method))
    if body is not None:
        out.write('header = "Content-Type: %s"\ndata = %s\n' % (ctype, json.dumps(body)))
    out.write("next\n")
dels = random.sample(range(30, 250), 200)
for i in range(1000):
    r = i % 10
    if r < 3:      # 300 lesions added (graph rebuilt for their patient)
        l = dict(tmpl); l["patient"] = 1 + i % 40; l["study"] = 1 + (i // 40) % 3
        l["normalized_location"] = [random.random(), random.random(), random.random()]
        req("POST", "/v1/lesions", json.dumps(l))
    elif r < 8:    # 500 vectors written
        req("PUT", "/v1/lesions/%d/embedding?space=a" % random.randint(1, 29),
            json.dumps([random.gauss(0, 1) for _ in range(16)]))
    else:          # 200 deletes of distinct lesions (their vectors and edges go too)
        req("DELETE", "/v1/lesions/%d" % dels.pop(), None)
PY
curl -s -K "$D/writes.curl" > "$D/writes.codes" 2> /dev/null
echo "# 1000 writes through haproxy: $(sort "$D/writes.codes" | uniq -c | tr '\n' ' ')"
check "1000 writes succeeded" test "$(grep -cE '^20[014]$' "$D/writes.codes")" = 1000
node r1 "$P_r1" --replica-of "$PRIMARY"
node r3 0 --replica-of "$PRIMARY"
check "restarted replica 1 ready" ready r1
check "new replica 3 ready" ready r3
check "replica 1 caught up" caught_up r1
check "replica 3 caught up" caught_up r3
check "replica 1 (resumed, 1000 writes as diffs) equals the primary: lesions, vectors, graph" same_as_primary r1
check "replica 3 (new, from a snapshot) equals the primary: lesions, vectors, graph" same_as_primary r3
check "replica 2 (live through the writes) equals the primary" same_as_primary r2
check "replica 3 holds graph edges" test "$(sqlite3 "$D/r3.db" 'SELECT COUNT(*) FROM graph_edges')" -gt 0
searches p > "$D/s.p"; searches r3 > "$D/s.r3"
check "replica 3: 200 searches equal the primary's after the writes" cmp -s "$D/s.p" "$D/s.r3"

# ---- the primary restored from a backup: replicas re-snapshot, answering meanwhile ----
step "the primary restored from a backup: replicas re-sn"
"$LESIOND" backup --db "$D/p.db" --out "$D/bk" > /dev/null 2>&1
curl -s -o /dev/null -X DELETE "$H/v1/lesions/1"	# after the backup: undone by the restore
check "replica 1 saw the delete" sh -c "sleep 1; curl -s -o /dev/null -w '%{http_code}' $(url r1)/v1/lesions/1 | grep -q 404"
stop p
check "restore the primary from the backup" "$LESIOND" restore --from "$D/bk" --db "$D/p.db" --force
R1=$(url r1)
( curl -s -w '%{http_code}\n' $(for i in $(seq 1 300); do echo "-o /dev/null $R1/v1/lesions/$((i % 28 + 2))"; done) > "$D/during" ) &
DL=$!
node p "$P_p" || { echo "RESULT 0 1"; exit 1; }
ready p
wait $DL
check "replica 1 answered every read while the primary was restored ($(grep -c '^200$' "$D/during")/300)" \
	test "$(grep -c '^200$' "$D/during")" = 300
i=0; until [ "$(curl -s "$(url r1)/v1/stats" | jq .replication.snapshots)" -ge 1 ] 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.1; done
check "replica 1 took a new snapshot after the restore" test "$(curl -s "$(url r1)/v1/stats" | jq .replication.snapshots)" -ge 1
check "replica 1 serves the restored state (lesion 1 back)" sh -c "sleep 0.5; curl -fs -o /dev/null $(url r1)/v1/lesions/1"
caught_up r1 100; caught_up r2 100
check "replica 1 equals the restored primary" same_as_primary r1
check "replica 2 equals the restored primary" same_as_primary r2
# replica 1's state after that reload, saved in its <db>.state at a clean stop, is what its
# next start loads: the stamps written on the reload path are truthful
stop r1
check "replica 1 wrote or kept a state snapshot at stop" test -s "$D/r1.db.state"
n0=$(grep -c "state snapshot .* loaded: " "$D/r1.log")
node r1 "$P_r1" --replica-of "$PRIMARY" && ready r1
check "replica 1 restarted from its state snapshot" test "$(grep -c "state snapshot .* loaded: " "$D/r1.log")" = $((n0 + 1))
caught_up r1 100
searches p > "$D/s2.p"; searches r1 > "$D/s2.r1"
check "replica 1 after that restart: 200 searches equal the primary's" cmp -s "$D/s2.p" "$D/s2.r1"

# ---- the log truncated past a stopped replica: it takes a new snapshot on restart ----
step "the log truncated past a stopped replica: it takes"
caught_up r3 100
stop r3
printf 'replication_log_keep = 100\n' > "$D/keep.conf"
stop p
node p "$P_p" --config "$D/keep.conf" && ready p
for i in $(seq 1 150); do
	printf 'url = "%s/v1/lesions/%d/embedding?space=a"\nrequest = "PUT"\noutput = "/dev/null"\n' "$PRIMARY" $((i % 28 + 2))
	printf 'header = "Content-Type: application/json"\ndata = "[%d,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]"\nnext\n' "$i"
done > "$D/trim.curl"
curl -s -K "$D/trim.curl" 2> /dev/null
POS3=$(sqlite3 "$D/r3.db" 'SELECT position FROM repl_follow')
first() { curl -s "$PRIMARY/v1/stats" | jq .replication.log_first; }
i=0; until [ "$(first)" -gt $((POS3 + 1)) ]; do i=$((i + 1)); [ $i -gt 120 ] && break; sleep 0.1; done
check "the primary trimmed its log past replica 3's position ($(first) > $POS3 + 1)" test "$(first)" -gt $((POS3 + 1))
node r3 "$P_r3" --replica-of "$PRIMARY"
ready r3
i=0; until [ "$(curl -s "$(url r3)/v1/stats" | jq .replication.snapshots)" -ge 1 ] 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.1; done
check "replica 3 was told the log was truncated and took a new snapshot" \
	test "$(curl -s "$(url r3)/v1/stats" | jq .replication.snapshots)" -ge 1
caught_up r3 100
check "replica 3 equals the primary" same_as_primary r3

# ---- a replica whose primary is gone: /readyz 503 beyond replica_max_lag ----
step "a replica whose primary is gone: /readyz 503 beyon"
stop p
sleep 2.6
BASE=$(url r2)
expect GET /readyz 503
jqt '.detail | contains("behind the primary")'
expect GET /v1/lesions/3 200

stop r1; stop r2; stop r3
kill "$HAPID" 2>/dev/null; wait "$HAPID" 2>/dev/null
SERVER_PID=
finish
