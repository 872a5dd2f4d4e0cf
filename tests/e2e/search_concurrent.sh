#!/bin/sh
# search_concurrent.sh - many concurrent clients get exactly the answers of a
# single-threaded run. 20,000 lesions with 64-d clustered vectors (enough rows for the
# Flat scan to split them over two threads, which take row chunks in turn); 600 similar searches
# (unfiltered ones, coalesced into batches, and filtered ones, k 1..50, GET and POST)
# are answered first one at a time by a server with one HTTP thread and coalescing off,
# then by the default server with 32 keep-alive clients at once (three passes); every reply (minus took_ms) must
# be byte-identical, and the second server's /metrics must show batches of more than one
# query (else the concurrent path was not exercised).
. "$(dirname "$0")/lib.sh"
DB="$T_DIR/lesiond.db"
N=20000
sh "$(dirname "$0")/../../bench/gen_csv.sh" "$LSD_SHARED_DATA/DL_info_sample.csv" $N > "$T_DIR/dl.csv"
"$LESIOND" ingest --csv "$T_DIR/dl.csv" --db "$DB" > /dev/null
python3 - "$T_DIR" $N <<'PY'
import random, struct, sys
random.seed(11)
d, n = sys.argv[1], int(sys.argv[2])
cent = [[random.gauss(0, 1) for _ in range(64)] for _ in range(40)]
with open(d + "/v.fvecs", "wb") as f, open(d + "/ids.txt", "w") as ids:
    for i in range(1, n + 1):
        c = cent[random.randrange(40)]
        f.write(struct.pack("<i", 64) + struct.pack("<64f", *[x + 0.3 * random.gauss(0, 1) for x in c]))
        ids.write("%d\n" % i)
# the queries: "GET path" or "POST json"
random.seed(12)
with open(d + "/queries.txt", "w") as q:
    for j in range(600):
        lid, k = random.randint(1, n), random.randint(1, 50)
        r = j % 6
        if r < 3:
            q.write("GET /v1/lesions/%d/similar?k=%d\n" % (lid, k))
        elif r == 3:
            q.write("GET /v1/lesions/%d/similar?k=%d&type=lung,liver&same_patient=exclude\n" % (lid, k))
        elif r == 4:
            q.write('POST {"lesion_id":%d,"k":%d}\n' % (lid, k))
        else:
            q.write('POST {"lesion_id":%d,"k":%d,"filter":{"split":"test"}}\n' % (lid, k))
PY
check "import-vectors" "$LESIOND" import-vectors --space builtin --ids "$T_DIR/ids.txt" \
	--vectors "$T_DIR/v.fvecs" --db "$DB"

# run.py OUT PARALLEL: every query of queries.txt through PARALLEL keep-alive clients at
# once; the replies (minus took_ms, keys sorted) one per line in query order
cat > "$T_DIR/run.py" <<'PY'
import http.client, json, sys, threading
base, tdir, out, par = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host, port = base.split("//")[1].split(":")
qs = [l.rstrip("\n").split(" ", 1) for l in open(tdir + "/queries.txt")]
res = [None] * len(qs)
nxt = [0]
mu = threading.Lock()
def worker():
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    while True:
        with mu:
            i = nxt[0]
            nxt[0] += 1
        if i >= len(qs):
            return
        m, a = qs[i]
        if m == "GET":
            c.request("GET", a)
        else:
            c.request("POST", "/v1/search", a, {"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        try:
            j = json.loads(body)
            j.pop("took_ms", None)
            res[i] = "%d %s" % (r.status, json.dumps(j, sort_keys=True))
        except ValueError:
            res[i] = "%d unparsable" % r.status
th = [threading.Thread(target=worker) for _ in range(par)]
for t in th: t.start()
for t in th: t.join()
with open(tdir + "/" + out, "w") as f:
    for r in res:
        f.write(r + "\n")
PY

printf 'coalesce_max = 1\n' > "$T_DIR/serial.conf"
start_server --threads 1 --config "$T_DIR/serial.conf" || { echo "RESULT 0 1"; exit 1; }
python3 "$T_DIR/run.py" "$BASE" "$T_DIR" serial.txt 1
stop_server
start_server || { echo "RESULT 0 1"; exit 1; }
for pass in 1 2 3; do python3 "$T_DIR/run.py" "$BASE" "$T_DIR" concurrent$pass.txt 32; done
curl -s "$BASE/metrics" > "$T_DIR/metrics"
# The coalescer's release contract: each search stays in flight until its reply is
# written (h_search.c run_one releases it), and a leader waits for company only while
# others are in flight. After the 32 clients, and after 16 clients that send a search
# and hang up without reading, searches one at a time must never wait: the leaders'
# wait counter (lesiond_search_gathers_total) stays put. A lost release would leave
# searches in flight for ever, and every lone request would wait the gathering window.
python3 - "$BASE" <<'PY'
import socket, sys
host, port = sys.argv[1].split("//")[1].split(":")
for i in range(16):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"GET /v1/lesions/%d/similar?k=7 HTTP/1.1\r\nHost: x\r\n\r\n" % (i + 1))
    s.close()
PY
metric() { curl -s "$BASE/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
# the hung-up searches finish on the server (their replies go nowhere)
i=0
q0=$(awk '$1 == "lesiond_search_batched_queries_total" {print $2}' "$T_DIR/metrics")
while [ "$(metric lesiond_search_batched_queries_total)" -lt $((q0 + 16)) ] &&
	[ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
g0=$(metric lesiond_search_gathers_total)
lone=0
for id in 5 50 500 5000 15000 19999 7 70 700 7000; do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/lesions/$id/similar?k=5")" = 200 ] &&
		lone=$((lone + 1))
done
g1=$(metric lesiond_search_gathers_total)
echo "# searches of the hung-up clients that reached the coalescer: $(($(metric lesiond_search_batched_queries_total) - q0 - 10)) of 16"
check "lone searches after 32 clients and 16 hung-up ones never wait for company ($lone of 10 answered; leaders' waits $g0 -> $g1)" \
	test "$lone ${g0:-none}" = "10 $g1"
stop_server

check "every single-threaded answer is a 200 with results" \
	[ "$(grep -c '^200 .*"count": [1-9]' "$T_DIR/serial.txt")" = 600 ]
for pass in 1 2 3; do
	bad=$(paste -d '\n' "$T_DIR/serial.txt" "$T_DIR/concurrent$pass.txt" | awk 'NR % 2 { a = $0; next } $0 != a { n++ } END { print n + 0 }')
	check "pass $pass: 600 answers from 32 concurrent clients equal the single-threaded ones ($bad differ)" [ "$bad" = 0 ]
done
bmax=$(awk '/^lesiond_search_batch_max / {print $2}' "$T_DIR/metrics")
echo "# largest coalesced batch: $bmax"
check "concurrent unfiltered searches were batched together (largest batch $bmax > 1)" \
	[ "${bmax:-0}" -gt 1 ]
finish
