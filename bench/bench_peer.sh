#!/bin/sh
# bench_peer.sh BUILD - warm lesion patches, lesiond against its Python peer (bench/peer:
# Flask + faiss + PIL under gunicorn), side by side in one run (lesiond twice: with its
# encoded-patch cache, patch_cache_mb, and without it, lesiond-0): GET
# /v1/lesions/{id}/patch.png?window=lung&size=128 with wrk -t2 -c32 for BENCH_SECONDS
# (default 10) over every lesion of the dataset, after the same load for
# BENCH_WARM_SECONDS (default 5: lesiond's slice cache, the peer's LRU of decoded slices
# in each worker; "warm" means no PNG decode in the measured loop). The
# peer runs twice: peer512 with that LRU, peer0 decoding the slice on every request (the
# plain way to write it; warm then means only the OS page cache).
# Two datasets: the synthetic demo (3 patients) and the real DeepLesion sample
# (../shared/data/deeplesion, the lesions whose key slice is there). Prints req/s, p50,
# the ratio, the CPU each server used a request, wrk's share of the cores and the load
# average. The similar-by-id comparison is in bench_search.sh. Figures only.
set -u
BUILD=${1:-build/release}
LESIOND="$PWD/$BUILD/lesiond"
T="$PWD/build/bench/peer"
DUR=${BENCH_SECONDS:-10}
WARM=${BENCH_WARM_SECONDS:-5}
REAL=../shared/data/deeplesion
mkdir -p "$T"
command -v wrk > /dev/null || { echo "wrk not available (make deps): skipped"; exit 0; }
HZ=$(getconf CLK_TCK)
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done |
	awk '{s += $1} END {print s + 0}'; }
# wrk against BASE over ids.txt; PIDS: the server's processes -> one line of figures
measure() { # LABEL BASE PIDS...
	label=$1; base=$2; shift 2
	{
		echo "ids = {"; sed 's/.*/  &,/' "$T/ids.txt"; echo "}"
		cat <<'LUA'
n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/lesions/" .. ids[(n % #ids) + 1] .. "/patch.png?window=lung&size=128")
end
LUA
	} > "$T/patch.lua"
	# warming: the same load for WARM seconds first, so that every worker of the peer
	# has decoded every slice once (5 workers x the slices x ~50 ms of PIL decoding)
	wrk -t2 -c32 -d${WARM}s -s "$T/patch.lua" "$base" > /dev/null 2>&1
	la=$(cut -d' ' -f1 /proc/loadavg); s0=$(ticks "$@")
	/usr/bin/time -f "%e %U %S" -o "$T/wrk.time" wrk -t2 -c32 -d${DUR}s --latency \
		-s "$T/patch.lua" "$base" > "$T/wrk.out" 2>&1
	s1=$(ticks "$@")
	awk -v l="$label" -v la="$la" -v s=$((s1 - s0)) -v hz="$HZ" -v d="$DUR" \
	    -v w="$(awk '{print $2 + $3}' "$T/wrk.time")" '
		/Requests\/sec/ { rps = $2 } /requests in/ { req = $1 } $1 == "50%" { p50 = $2 }
		/Non-2xx/ { bad = $NF }
		END { if (req < 1) req = 1
		      printf "   %-8s %9.0f req/s  p50 %-8s  server CPU %5.0f us/req  wrk %.2f cores  load %s%s\n",
			l, rps, p50, s * 1e6 / hz / req, w / d, la, bad ? "  (" bad " non-2xx!)" : "" }' "$T/wrk.out"
	awk '/Requests\/sec/ {print $2}' "$T/wrk.out" > "$T/rps.$label"
}
pair() { # DATASET_LABEL DB IMAGES
	rm -f "$T/port"
	"$LESIOND" serve --db "$2" --images "$3" --port 0 --port-file "$T/port" > "$T/serve.log" 2>&1 &
	PID=$!
	while [ ! -s "$T/port" ]; do sleep 0.1; done
	B="http://127.0.0.1:$(cat "$T/port")"
	until curl -sf "$B/readyz" > /dev/null; do sleep 0.1; done
	echo "-- warm patch, $1: $(wc -l < "$T/ids.txt") lesions, wrk -t2 -c32, $DUR s"
	measure lesiond "$B" $PID
	kill -TERM $PID; wait $PID 2>/dev/null
	# the same server without its encoded-patch cache: every request renders and encodes
	# from the decoded-slice cache (what "warm" meant before patch_cache_mb)
	rm -f "$T/port"
	LESIOND_PATCH_CACHE_MB=0 "$LESIOND" serve --db "$2" --images "$3" --port 0 \
		--port-file "$T/port" > "$T/serve.log" 2>&1 &
	PID=$!
	while [ ! -s "$T/port" ]; do sleep 0.1; done
	B="http://127.0.0.1:$(cat "$T/port")"
	until curl -sf "$B/readyz" > /dev/null; do sleep 0.1; done
	measure lesiond-0 "$B" $PID
	kill -TERM $PID; wait $PID 2>/dev/null
	db=$2; img=$3
	for cache in 512 0; do
		set -- $(sh bench/peer/start.sh "$db" "$img" "$T/peer.log" $cache) ||
			{ echo "   peer: not started"; return; }
		measure "peer$cache" "http://127.0.0.1:$2" $1 $(pgrep -P $1)
		kill -TERM $1
		while kill -0 $1 2>/dev/null; do sleep 0.1; done
	done
	awk 'FNR == 1 { v[++n] = $1 } END { if (v[2] > 0 && v[3] > 0)
		printf "   lesiond / peer: %.1fx against the peer with its LRU of decoded slices (peer512), " \
		       "%.1fx against the peer decoding each request (peer0); goal >= 20x\n", v[1] / v[2], v[1] / v[3] }' \
		"$T/rps.lesiond" "$T/rps.peer512" "$T/rps.peer0"
	awk 'FNR == 1 { v[++n] = $1 } END { if (v[2] > 0 && v[3] > 0)
		printf "   without the encoded-patch cache (lesiond-0, patch_cache_mb = 0): %.1fx (peer512), %.1fx (peer0)\n", \
		       v[1] / v[2], v[1] / v[3] }' "$T/rps.lesiond-0" "$T/rps.peer512" "$T/rps.peer0"
}

# synthetic demo (the same one bench_cold.sh makes)
if [ ! -f "$T/demo/DL_info.csv" ]; then
	rm -rf "$T/demo"
	"$LESIOND" demo --out "$T/demo" --patients 3 --seed 5 > /dev/null || exit 1
fi
rm -f "$T/demo.db" "$T/demo.db"-*
"$LESIOND" ingest --csv "$T/demo/DL_info.csv" --images "$T/demo/Images_png" --db "$T/demo.db" > /dev/null
sqlite3 "$T/demo.db" 'SELECT id FROM lesions ORDER BY id' > "$T/ids.txt"
pair "synthetic demo" "$T/demo.db" "$T/demo/Images_png"

# real DeepLesion slices: the sample's lesions whose key slice is in the shared data
if [ -d "$REAL/Images_png" ]; then
	rm -f "$T/real.db" "$T/real.db"-*
	"$LESIOND" ingest --csv "$REAL/DL_info_sample.csv" --db "$T/real.db" > /dev/null 2>&1
	sqlite3 -separator ' ' "$T/real.db" 'SELECT id, image_path FROM lesions ORDER BY id' |
		while read -r id p; do [ -f "$REAL/Images_png/$p" ] && echo "$id"; done > "$T/ids.txt"
	[ -s "$T/ids.txt" ] && pair "real DeepLesion slices" "$T/real.db" "$(cd "$REAL/Images_png" && pwd)"
fi
