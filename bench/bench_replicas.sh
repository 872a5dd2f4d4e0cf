#!/bin/sh
# bench_replicas.sh BUILD - read scaling with replicas behind HAProxy, and replication lag.
#   1. similar-by-id throughput (wrk, 32 connections, 8 s a round) through HAProxy with
#      ONE replica, then with TWO, alternating for ROUNDS rounds (default 3) in one run;
#      each lesiond pinned to its own core with taskset (replica 1 on core 0, replica 2 on
#      core 1, the primary on the last core); HAProxy and wrk are not pinned (on a 2-core
#      machine they share the replicas' cores: the figure says so).
#   2. visibility lag under a steady write load: 20 vector writes a second to the primary
#      for 10 s; each acknowledged write is polled on a replica until it is visible there.
# Data: 20,000 lesions in DeepLesion's format, a 128-d space of random vectors (Flat).
set -u
BUILD=${1:-build/release}
LESIOND="$PWD/$BUILD/lesiond"
T="$PWD/build/bench/replicas"
ROUNDS=${ROUNDS:-3}
N=20000
command -v haproxy > /dev/null || { echo "haproxy missing (make deps): skipped"; exit 0; }
command -v wrk > /dev/null || apt-get install -y -qq wrk > /dev/null 2>&1 || true
command -v wrk > /dev/null || { echo "wrk not available: skipped"; exit 0; }
rm -rf "$T" && mkdir -p "$T"
PIDS=""
trap 'for p in $PIDS; do kill -9 $p 2>/dev/null; done' EXIT
NCPU=$(nproc)
LAST=$((NCPU - 1))

sh bench/gen_csv.sh ../shared/data/deeplesion/DL_info_sample.csv $N > "$T/DL_info.csv"
"$LESIOND" ingest --csv "$T/DL_info.csv" --db "$T/p.db" > /dev/null
python3 - "$T" $N <<'PY'
import random, struct, sys
t, n = sys.argv[1], int(sys.argv[2])
random.seed(5)
with open(t + "/v.fvecs", "wb") as f, open(t + "/v.ids", "w") as ids:
    for i in range(1, n + 1):
        f.write(struct.pack("<i", 128) + struct.pack("<128f", *[random.gauss(0, 1) for _ in range(128)]))
        ids.write("%d\n" % i)
PY
"$LESIOND" import-vectors --space bench --ids "$T/v.ids" --vectors "$T/v.fvecs" --db "$T/p.db" > /dev/null

start() { # NAME CORE [args]
	n=$1; core=$2; shift 2
	taskset -c "$core" "$LESIOND" serve --db "$T/$n.db" --port 0 --port-file "$T/$n.port" --threads 8 \
		"$@" > "$T/$n.log" 2>&1 &
	PIDS="$PIDS $!"
	while [ ! -s "$T/$n.port" ]; do sleep 0.1; done
	until curl -sf "http://127.0.0.1:$(cat "$T/$n.port")/readyz" > /dev/null; do sleep 0.1; done
}
start p "$LAST"
PRIMARY=http://127.0.0.1:$(cat "$T/p.port")
start r1 0 --replica-of "$PRIMARY"
start r2 "$LAST" --replica-of "$PRIMARY"
R1=127.0.0.1:$(cat "$T/r1.port")
R2=127.0.0.1:$(cat "$T/r2.port")

haproxy_cfg() { # the shipped config's defaults and checks, reads over the given replicas only
	sed -n '/^global/,/^frontend/p' deploy/haproxy/lesiond.cfg | sed '$d'
	printf 'frontend bench\n\tbind 127.0.0.1:%s\n\tdefault_backend reads\nbackend reads\n' "$1"
	printf '\tbalance roundrobin\n\toption httpchk GET /readyz\n\thttp-check expect status 200\n'
	shift
	i=0
	for s in "$@"; do i=$((i + 1)); printf '\tserver r%d %s check\n' $i "$s"; done
}
HP1=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HP2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
haproxy_cfg "$HP1" "$R1" > "$T/one.cfg"
haproxy_cfg "$HP2" "$R1" "$R2" > "$T/two.cfg"
haproxy -f "$T/one.cfg" -db > "$T/haproxy1.log" 2>&1 & PIDS="$PIDS $!"
haproxy -f "$T/two.cfg" -db > "$T/haproxy2.log" 2>&1 & PIDS="$PIDS $!"
sleep 1.5
cat > "$T/similar.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/lesions/" .. ((counter * 7919) % $N + 1) .. "/similar?space=bench&k=10")
end
LUA
rps() { wrk -t2 -c32 -d8s -s "$T/similar.lua" "http://127.0.0.1:$1" 2>&1 | tee -a "$T/wrk.out" |
	awk '/Requests\/sec/ {print $2}'; }
echo "-- similar-by-id through HAProxy (20,000 x 128 Flat, k=10; wrk -t2 -c32, 8 s a round; $NCPU cores;"
echo "   replica 1 pinned to core 0, replica 2 to core $LAST, the primary to core $LAST; HAProxy and wrk unpinned)"
: > "$T/one.rps"; : > "$T/two.rps"
for r in $(seq 1 "$ROUNDS"); do
	a=$(rps "$HP1"); b=$(rps "$HP2")
	echo "   round $r: one replica $a req/s, two replicas $b req/s"
	echo "$a" >> "$T/one.rps"; echo "$b" >> "$T/two.rps"
done
m1=$(sort -n "$T/one.rps" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
m2=$(sort -n "$T/two.rps" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "   median: one replica $m1 req/s, two replicas $m2 req/s, ratio $(echo "$m1 $m2" | awk '{printf "%.2f", $2 / $1}')x (goal >= 1.7x)"
grep -h "Non-2xx" "$T/wrk.out" | head -3

echo "-- replication lag: 20 vector writes/s to the primary for 10 s, each polled on replica 1 until visible"
python3 - "$PRIMARY" "http://$R1" <<'PY'
import json, random, sys, time, urllib.request
p, r = sys.argv[1], sys.argv[2]
random.seed(3)
lags, t_end = [], time.time() + 10
def put(i, v):
    req = urllib.request.Request("%s/v1/lesions/%d/embedding?space=bench" % (p, i), data=json.dumps(v).encode(),
                                 method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
while time.time() < t_end:
    t0 = time.time()
    i = random.randint(1, 20000)
    v = [random.gauss(0, 1) for _ in range(128)]
    put(i, v)
    acked = time.time()
    want = [float(x) for x in __import__("struct").unpack("<128f", __import__("struct").pack("<128f", *v))]
    while True:
        got = json.loads(urllib.request.urlopen("%s/v1/lesions/%d/embedding?space=bench" % (r, i)).read())
        vec = got.get("vector", got.get("embedding", got))
        if isinstance(vec, dict):
            vec = vec.get("vector")
        if vec and all(abs(a - b) < 1e-6 for a, b in zip(vec, want)):
            break
        if time.time() - acked > 10:
            break
        time.sleep(0.005)
    lags.append((time.time() - acked) * 1000)
    time.sleep(max(0, 0.05 - (time.time() - t0)))
lags.sort()
q = lambda f: lags[min(len(lags) - 1, int(f * len(lags)))]
print("   %d writes: visible on the replica after median %.0f ms, p95 %.0f ms, max %.0f ms (replica_max_lag 2 s)"
      % (len(lags), q(0.5), q(0.95), lags[-1]))
PY
curl -s "http://$R1/v1/stats" | jq -c '{replica_position: .replication.position, lag_seconds: .replication.lag_seconds, batches: .replication.batches}' | sed 's/^/   /'
