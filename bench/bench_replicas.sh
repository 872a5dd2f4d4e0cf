#!/bin/sh
# bench_replicas.sh BUILD - read scaling with replicas behind HAProxy, and replication lag.
#   1. similar-by-id throughput (wrk, 32 connections, 8 s a round) through HAProxy with
#      ONE replica, then with TWO, alternating for ROUNDS rounds (default 3) in one run;
#      each lesiond pinned to its own core with taskset (replica 1 on core 0, replica 2 on
#      core 1, the primary on the last core); HAProxy (nbthread 1: no thread hand-offs) and
#      wrk are not pinned: on a 2-core machine they share the replicas' cores. Every round
#      prints the CPU each process took (utime + stime from /proc/PID/stat, per request),
#      so the figure can be read per lesiond CPU-second as well.
#      Run at two sizes: DeepLesion's (32,735 lesions x 256-d, PERF.md's standard size) and
#      a cheap query (20,000 x 128), where HAProxy + wrk cost a third of lesiond's CPU.
#   2. visibility lag under a steady write load: 20 vector writes a second to the primary
#      for 10 s; each acknowledged write is polled on a replica until it is visible there.
# Data: N lesions in DeepLesion's format, a DIM-d space of random vectors (Flat).
set -u
BUILD=${1:-build/release}
if [ -z "${N:-}" ]; then	# both sizes, the lag after the second
	N=32735 DIM=256 LAG=0 sh "$0" "$BUILD"
	N=20000 DIM=128 sh "$0" "$BUILD"
	exit 0
fi
LESIOND="$PWD/$BUILD/lesiond"
T="$PWD/build/bench/replicas"
ROUNDS=${ROUNDS:-3}
N=${N:-20000}
DIM=${DIM:-128}
WRK_THREADS=${WRK_THREADS:-2}
HAPROXY_THREADS=${HAPROXY_THREADS:-1}
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
python3 - "$T" $N $DIM <<'PY'
import random, struct, sys
t, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(5)
with open(t + "/v.fvecs", "wb") as f, open(t + "/v.ids", "w") as ids:
    for i in range(1, n + 1):
        f.write(struct.pack("<i", d) + struct.pack("<%df" % d, *[random.gauss(0, 1) for _ in range(d)]))
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
	sed -n '/^global/,/^frontend/p' deploy/haproxy/lesiond.cfg | sed '$d' |
		sed "s/^global\$/global\\n\\tnbthread $HAPROXY_THREADS/"
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
haproxy -f "$T/one.cfg" -db > "$T/haproxy1.log" 2>&1 & H1PID=$!; PIDS="$PIDS $!"
haproxy -f "$T/two.cfg" -db > "$T/haproxy2.log" 2>&1 & H2PID=$!; PIDS="$PIDS $!"
sleep 1.5
cat > "$T/similar.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/lesions/" .. ((counter * 7919) % $N + 1) .. "/similar?space=bench&k=10")
end
LUA
# CPU accounting: clock ticks (utime + stime, /proc/PID/stat) of each process over a round
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }	# busy ticks, all cores (no iowait)
HZ=$(getconf CLK_TCK)
rps() { # PORT HAPROXY_PID -> "req/s lesiond_ms_per_req haproxy_ms wrk_ms rest_ms" (CPU ms a request)
	r1a=$(ticks "$R1PID"); r2a=$(ticks "$R2PID"); pa=$(ticks "$PPID_"); ha=$(ticks "$2"); ma=$(machine)
	/usr/bin/time -f "%U %S" -o "$T/wrk.time" wrk -t"$WRK_THREADS" -c32 -d8s -s "$T/similar.lua" \
		"http://127.0.0.1:$1" > "$T/wrk.round" 2>&1
	r1b=$(ticks "$R1PID"); r2b=$(ticks "$R2PID"); pb=$(ticks "$PPID_"); hb=$(ticks "$2"); mb=$(machine)
	cat "$T/wrk.round" >> "$T/wrk.out"
	req=$(awk '/requests in/ {print $1}' "$T/wrk.round")
	awk -v rps="$(awk '/Requests\/sec/ {print $2}' "$T/wrk.round")" -v req="$req" -v hz="$HZ" \
	    -v l=$((r1b - r1a + r2b - r2a + pb - pa)) -v h=$((hb - ha)) -v m=$((mb - ma)) \
	    -v w="$(awk '{print $1 + $2}' "$T/wrk.time")" \
	    'BEGIN { if (req < 1) req = 1; ms = 1000 / hz / req;
		printf "%s %.3f %.3f %.3f %.3f %.1f\n", rps, l * ms, h * ms, w * 1000 / req,
		       (m - l - h) * ms - w * 1000 / req, m / hz / 8 }'
}
R1PID=$(pgrep -f -- "--port-file $T/r1.port" | head -1)
R2PID=$(pgrep -f -- "--port-file $T/r2.port" | head -1)
PPID_=$(pgrep -f -- "--port-file $T/p.port" | head -1)
echo "-- similar-by-id through HAProxy ($N x $DIM Flat, k=10; wrk -t$WRK_THREADS -c32, 8 s a round; $NCPU cores;"
echo "   replica 1 pinned to core 0, replica 2 to core $LAST, the primary to core $LAST; HAProxy (nbthread $HAPROXY_THREADS) and wrk unpinned)"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   CPU ms a request: lesiond (all three), haproxy, wrk, rest of the machine (other processes)"
: > "$T/one.rps"; : > "$T/two.rps"
for r in $(seq 1 "$ROUNDS"); do
	a=$(rps "$HP1" "$H1PID"); b=$(rps "$HP2" "$H2PID")
	echo "$a" | awk -v r=$r '{printf "   round %d  one replica: %8s req/s  lesiond %.3f  haproxy %.3f  wrk %.3f  rest %.3f  (machine busy %.2f of %d cores)\n", r, $1, $2, $3, $4, $5, $6, '"$NCPU"'}'
	echo "$b" | awk -v r=$r '{printf "   round %d two replicas: %8s req/s  lesiond %.3f  haproxy %.3f  wrk %.3f  rest %.3f  (machine busy %.2f of %d cores)\n", r, $1, $2, $3, $4, $5, $6, '"$NCPU"'}'
	echo "$a" >> "$T/one.rps"; echo "$b" >> "$T/two.rps"
done
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
med() { sort -n "$1" | awk -v c="$2" '{a[NR]=$c} END {print a[int((NR+1)/2)]}'; }
m1=$(med "$T/one.rps" 1); m2=$(med "$T/two.rps" 1)
echo "   median: one replica $m1 req/s, two replicas $m2 req/s, ratio $(echo "$m1 $m2" | awk '{printf "%.2f", $2 / $1}')x (goal >= 1.7x)"
# the same rounds per lesiond CPU-second: req/s divided by the lesiond cores it got
awk '{print $1 * $2 / 1000}' "$T/one.rps" > "$T/one.cores"; awk '{print $1 * $2 / 1000}' "$T/two.rps" > "$T/two.cores"
echo "$m1" | awk -v l="$(med "$T/two.rps" 2)" '{printf "   per lesiond CPU-second: two replicas with a whole core each would answer 2 x 1000 / %.3f ms = %.0f req/s, %.2fx the one-replica median\n", l, 2000 / l, 2000 / l / $1}'
echo "   lesiond cores busy (median): one replica $(med "$T/one.cores" 1), two replicas $(med "$T/two.cores" 1);" \
     "lesiond CPU ms a request (median): $(med "$T/one.rps" 2) and $(med "$T/two.rps" 2)"
grep -h "Non-2xx" "$T/wrk.out" | head -3

[ "${LAG:-1}" = 0 ] && exit 0
echo "-- replication lag: 20 vector writes/s to the primary for 10 s, each polled on replica 1 until visible"
python3 - "$PRIMARY" "http://$R1" $N $DIM <<'PY'
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
    i = random.randint(1, int(sys.argv[3]))
    d = int(sys.argv[4])
    v = [random.gauss(0, 1) for _ in range(d)]
    put(i, v)
    acked = time.time()
    want = [float(x) for x in __import__("struct").unpack("<%df" % d, __import__("struct").pack("<%df" % d, *v))]
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
